"""What every dialect of the PostQued API offers: the one interface the pipeline, tracker and commands use."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pqdrop.descriptors import Identity
from pqdrop.errors import ApiRejected
from pqdrop.names import for_api
from pqdrop.postqued.storage import send_with_fresh_sessions
from pqdrop.postqued.tickets import BadTicket, check_ticket
from pqdrop.postqued.transport import Transport
from pqdrop.postqued.types import Account, Api, Progress, PublishState, TargetState, UploadTicket


class Dialect(ABC):
    """Paths, request bodies and reply parsing of one API version, over a shared transport."""

    api: Api

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._lock = threading.RLock()
        self._accounts: dict[str, tuple[Account, ...]] = {}

    # --- whether the server speaks this dialect ---------------------------------------------

    @abstractmethod
    def probe(self) -> None:
        """One authenticated call that only a server of this dialect answers; raises its refusal."""

    # --- uploads ------------------------------------------------------------------------------

    @abstractmethod
    def start_upload(self, filename: str, content_type: str, size: int) -> UploadTicket:
        """Open a presigned upload session."""

    @abstractmethod
    def complete_upload(
        self, ticket: UploadTicket, *, filename: str, content_type: str, size: int, width: int | None,
        height: int | None, duration_ms: int | None,
    ) -> dict[str, Any]:
        """Tell the API the bytes are in storage, with the media's measured properties."""

    def put_to_storage(
        self, ticket: UploadTicket, path: Path, size: int, progress: Progress | None = None, *,
        max_rate: float = 0.0, valid_until: float | None = None, identity: Identity | None = None,
    ) -> None:
        self.transport.put_to_storage(ticket, path, size, progress, max_rate=max_rate, valid_until=valid_until,
                                      identity=identity)

    def presigned_upload(
        self, path: Path, content_type: str, size: int, *, width: int | None, height: int | None,
        duration_ms: int | None, progress: Progress | None = None, max_rate: float = 0.0,
        identity: Identity | None = None,
    ) -> str:
        """start → presigned PUT → complete with the measured properties; returns the contentId.

        A URL gone stale before or during the PUT (a retry, the bandwidth cap) gets a fresh session (issue 16).
        """

        def send(ticket: UploadTicket, valid_until: float | None) -> None:
            self.put_to_storage(ticket, path, size, progress, max_rate=max_rate, valid_until=valid_until,
                                identity=identity)

        filename = for_api(path.name)  # UTF-8 JSON: a Latin-1 `caf\xe9.mp4` goes as `café.mp4`
        ticket = send_with_fresh_sessions(lambda: self.checked_upload(filename, content_type, size), send)
        self.complete_upload(ticket, filename=filename, content_type=content_type, size=size, width=width,
                             height=height, duration_ms=duration_ms)
        return ticket.content_id

    def checked_upload(self, filename: str, content_type: str, size: int) -> UploadTicket:
        """An upload session whose ticket pqdrop will send to (tickets.py); a bad one is asked for again,
        with backoff, and if PostQued keeps handing bad ones the item fails with its words."""

        def attempt() -> UploadTicket:
            ticket = self.start_upload(filename, content_type, size)
            check_ticket(ticket, str(self.transport.base_url), f"{self.api} upload session for {filename}")
            return ticket

        try:
            return self.transport.retrying(attempt, None, only=BadTicket)
        except BadTicket as exc:
            raise ApiRejected(f"{exc.message}; PostQued handed such a ticket each time it was asked, so the file "
                              "was not sent", code=BadTicket.code) from exc

    def upload_video(
        self, path: Path, content_type: str, size: int, *, width: int, height: int, duration_ms: int,
        progress: Progress | None = None, max_rate: float = 0.0, identity: Identity | None = None,
    ) -> str:
        """A video's three steps; returns the contentId."""
        return self.presigned_upload(path, content_type, size, width=width, height=height, duration_ms=duration_ms,
                                     progress=progress, max_rate=max_rate, identity=identity)

    @abstractmethod
    def upload_photo(
        self, path: Path, content_type: str, size: int, *, width: int, height: int, max_rate: float = 0.0,
        identity: Identity | None = None,
    ) -> str:
        """Send one photo; returns its contentId."""

    def upload_image(self, path: Path, content_type: str) -> str:
        """A photo whose size is not measured yet (the v1 multipart call needs none)."""
        return self.upload_photo(path, content_type, path.stat().st_size, width=0, height=0)

    @abstractmethod
    def delete_content(self, content_id: str) -> None: ...

    # --- accounts -----------------------------------------------------------------------------

    def platform_accounts(self, platform: str = "tiktok") -> tuple[Account, ...]:
        """The accounts of one platform this key can post to, fetched once per client."""
        with self._lock:
            if platform not in self._accounts:
                self._accounts[platform] = self._fetch_accounts(platform)
            return self._accounts[platform]

    @abstractmethod
    def _fetch_accounts(self, platform: str) -> tuple[Account, ...]: ...

    def accounts(self) -> tuple[Account, ...]:
        """Every account the key can post to, of any platform the dialect lists (v1: TikTok's)."""
        return self.platform_accounts("tiktok")

    def creator_info(self, account_id: str) -> Mapping[str, Any] | None:
        """TikTok's creator info for an account as the API gives it; None where the dialect has none (v1)."""
        return None

    # --- publishing ---------------------------------------------------------------------------

    @abstractmethod
    def publish(
        self, content_ids: Sequence[str], targets: Sequence[Mapping[str, Any]], idempotency_key: str,
        *, dry_run: bool = False,
    ) -> PublishState:
        """Publish or schedule; every retry sends the same key and the same body."""

    @abstractmethod
    def publish_status(self, publish_id: str) -> PublishState: ...

    @abstractmethod
    def cancel(self, publish_id: str) -> PublishState:
        """Cancel a whole publish request that has not been dispatched."""

    @abstractmethod
    def cancel_target(self, publish_id: str, target_id: str) -> PublishState:
        """Cancel one pending or scheduled target of a request."""

    can_reschedule = False  # v2 PATCHes a target; v1 has no such call (a new time is a cancel and a new publish)

    @abstractmethod
    def reschedule_target(self, target_id: str, dispatch_at: str | None) -> TargetState:
        """Move one scheduled target to `dispatch_at` (None: now), as the API reports it after."""

    @abstractmethod
    def reschedule(self, publish_id: str, target_id: str, dispatch_at: str | None) -> PublishState:
        """Move one target to another dispatchAt (an offset-bearing ISO 8601 instant; None = now)."""
