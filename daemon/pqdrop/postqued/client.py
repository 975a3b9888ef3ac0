"""The PostQued client: one interface over the v1 and v2 dialects, and `auto`, which asks the server.

`auto` decides once (or takes the answer the journal remembers) and then speaks that dialect; a
server that answers it with 410, or with 404 on a route every server of it has, is spoken to in
the other dialect from then on (issue 14).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pqdrop.descriptors import Identity
from pqdrop.errors import ApiAccountBlocked, ApiRejected, PqdropError
from pqdrop.postqued.deadlines import Deadlines
from pqdrop.postqued.dialect import Dialect
from pqdrop.postqued.ratelimit import RateLimiter
from pqdrop.postqued.transport import DEFAULT_DEADLINE_SECONDS, Transport
from pqdrop.postqued.types import (
    DEFAULT_RETRY,
    Account,
    Api,
    Progress,
    PublishState,
    RetryPolicy,
    TargetState,
    UploadTicket,
)
from pqdrop.postqued.v1 import V1
from pqdrop.postqued.v2 import V2

log = logging.getLogger("pqdrop")

T = TypeVar("T")
Remember = Callable[[Api], None]


class PostQued:
    """A synchronous PostQued client, safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limiter: RateLimiter,
        timeout_seconds: float = 30.0,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        api: Api | str = Api.V1,
        workspace: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._transport = Transport(base_url, api_key, limiter=limiter, timeout_seconds=timeout_seconds,
                                    deadline_seconds=deadline_seconds, retry=retry,
                                    sleep=sleep, rng=rng, stop=stop)
        self.setting = Api(api)
        self._workspace = workspace
        self._lock = threading.Lock()
        self._dialects: dict[Api, Dialect] = {}
        self._current: Api | None = None if self.setting is Api.AUTO else self.setting
        self._remember: Remember | None = None

    def close(self) -> None:
        self._transport.close()

    @property
    def deadlines(self) -> Deadlines:
        """Every thread's request in flight and when it must end: the loop's way to see a stuck worker."""
        return self._transport.deadlines

    def __enter__(self) -> PostQued:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- which dialect ------------------------------------------------------------------------

    def remember_with(self, remembered: Api | None, remember: Remember) -> None:
        """Under `auto`, take the dialect the journal remembers (if any) and store every new answer there."""
        with self._lock:
            self._remember = remember
            if self.setting is Api.AUTO and self._current is None and remembered in (Api.V1, Api.V2):
                self._current = remembered

    @property
    def api(self) -> Api:
        """The dialect spoken (asking the server first under `auto`)."""
        return self.dialect().api

    def dialect(self) -> Dialect:
        with self._lock:
            if self._current is None:
                self._current = detect(self._dialect_for(Api.V1), self._dialect_for(Api.V2))
                log.debug("PostQued speaks %s here ([postqued].api = \"auto\")", self._current)
                if self._remember is not None:
                    self._remember(self._current)
            return self._dialect_for(self._current)

    def connect(self) -> Api:
        """Settle the dialect and (v2) the workspace now, so a config to fix stops the start (ConfigError)."""
        dialect = self.dialect()
        if isinstance(dialect, V2):
            dialect.workspace_id()
        return dialect.api

    def _dialect_for(self, api: Api) -> Dialect:
        if api not in self._dialects:
            self._dialects[api] = V2(self._transport, self._workspace) if api is Api.V2 else V1(self._transport)
        return self._dialects[api]

    def _run(self, operation: Callable[[Dialect], T], *, route: bool = False) -> T:
        """Run one operation in the spoken dialect; under `auto`, switch once if the server says it is gone.

        `route` marks calls whose 404 can only mean the route itself is missing (no id in the path).
        """
        dialect = self.dialect()
        try:
            return operation(dialect)
        except ApiRejected as exc:
            if self.setting is not Api.AUTO or not (exc.status == 410 or (route and exc.status == 404)):
                raise
            other = Api.V2 if dialect.api is Api.V1 else Api.V1
            log.warning("PostQued answered %s with HTTP %s; speaking %s from now on", dialect.api, exc.status, other)
            with self._lock:
                self._current = other
                if self._remember is not None:
                    self._remember(other)
            return operation(self._dialect_for(other))

    # --- uploads ------------------------------------------------------------------------------

    def start_upload(self, filename: str, content_type: str, size: int) -> UploadTicket:
        return self._run(lambda d: d.start_upload(filename, content_type, size), route=True)

    def put_to_storage(
        self, ticket: UploadTicket, path: Path, size: int, progress: Progress | None = None, *,
        max_rate: float = 0.0, valid_until: float | None = None, identity: Identity | None = None,
    ) -> None:
        """Send the file to the ticket's presigned URL (`max_rate` bytes/s shared by the client's uploads, 0 = none);
        with `identity`, only the very file first looked at (descriptors.py), else MediaError."""
        self.dialect().put_to_storage(ticket, path, size, progress, max_rate=max_rate, valid_until=valid_until,
                                      identity=identity)

    def complete_upload(
        self, ticket: UploadTicket, *, filename: str, content_type: str, size: int, width: int | None,
        height: int | None, duration_ms: int | None,
    ) -> dict[str, Any]:
        return self.dialect().complete_upload(ticket, filename=filename, content_type=content_type, size=size,
                                              width=width, height=height, duration_ms=duration_ms)

    def upload_video(
        self, path: Path, content_type: str, size: int, *, width: int, height: int, duration_ms: int,
        progress: Progress | None = None, max_rate: float = 0.0, identity: Identity | None = None,
    ) -> str:
        """start → presigned PUT (a fresh session for a stale URL) → complete, with the measured properties."""
        return self._run(lambda d: d.upload_video(path, content_type, size, width=width, height=height,
                                                  duration_ms=duration_ms, progress=progress, max_rate=max_rate,
                                                  identity=identity),
                         route=True)

    def upload_photo(
        self, path: Path, content_type: str, size: int, *, width: int, height: int, max_rate: float = 0.0,
        identity: Identity | None = None,
    ) -> str:
        """v2: the presigned three steps; v1: the multipart call. Returns the contentId."""
        return self._run(lambda d: d.upload_photo(path, content_type, size, width=width, height=height,
                                                  max_rate=max_rate, identity=identity), route=True)

    def upload_image(self, path: Path, content_type: str) -> str:
        return self._run(lambda d: d.upload_image(path, content_type), route=True)

    def delete_content(self, content_id: str) -> None:
        self._run(lambda d: d.delete_content(content_id))

    # --- accounts -----------------------------------------------------------------------------

    def platform_accounts(self, platform: str = "tiktok") -> tuple[Account, ...]:
        """The accounts of one platform the key can post to, fetched once per client."""
        return self._run(lambda d: d.platform_accounts(platform), route=True)

    def accounts(self) -> tuple[Account, ...]:
        """Every account the key can post to (v2: of every platform; v1: TikTok's)."""
        return self._run(lambda d: d.accounts(), route=True)

    def creator_info(self, account_id: str) -> Mapping[str, Any] | None:
        """TikTok's creator info (v2; the raw reply, camelCase or snake_case); None in v1, which cannot tell."""
        return self._run(lambda d: d.creator_info(account_id))

    # --- publishing ---------------------------------------------------------------------------

    def publish(
        self, content_ids: Sequence[str], targets: Sequence[Mapping[str, Any]], idempotency_key: str,
        *, dry_run: bool = False,
    ) -> PublishState:
        """Publish or schedule (or only validate, `dry_run`, v2); every retry sends the same key and body."""
        return self._run(lambda d: d.publish(content_ids, targets, idempotency_key, dry_run=dry_run), route=True)

    def publish_status(self, publish_id: str) -> PublishState:
        return self._run(lambda d: d.publish_status(publish_id))

    def cancel(self, publish_id: str) -> PublishState:
        """Cancel a whole request (v1: DELETE the request; v2: POST …/cancel); returns its state after."""
        return self._run(lambda d: d.cancel(publish_id))

    cancel_publish = cancel

    def cancel_target(self, publish_id: str, target_id: str) -> PublishState:
        """Cancel one pending or scheduled target (v1 only when it is the request's only one)."""
        return self._run(lambda d: d.cancel_target(publish_id, target_id))

    @property
    def can_reschedule(self) -> bool:
        """Whether the spoken dialect moves a target in time (v2); in v1 a new time is a cancel and a new publish."""
        return self.dialect().can_reschedule

    def reschedule_target(self, target_id: str, dispatch_at: str | None) -> TargetState:
        """Move one scheduled target to `dispatch_at` (None: now); v1 refuses (NOT_SUPPORTED)."""
        return self._run(lambda d: d.reschedule_target(target_id, dispatch_at))

    def reschedule(self, publish_id: str, target_id: str, dispatch_at: str | None) -> PublishState:
        """Move one target to `dispatch_at` (ISO 8601 with offset; None = now). v2 only; v1 refuses (NOT_IN_V1)."""
        return self._run(lambda d: d.reschedule(publish_id, target_id, dispatch_at))


def detect(v1: Dialect, v2: Dialect) -> Api:
    """Ask the server: `GET /v2/ping` takes no key, so an authenticated v2 call must follow (reference A2)."""
    try:
        v2.transport.call("read", "GET", "/v2/ping")
    except ApiRejected as exc:
        if exc.status in (404, 410):
            return Api.V1
        raise
    try:
        v2.probe()
    except ApiRejected as exc:
        if exc.status in (404, 410):
            return Api.V1
        raise
    except ApiAccountBlocked as refused:
        # A key v2 refuses may still be a v1 key of a server that keeps both.
        try:
            v1.probe()
        except PqdropError:
            raise refused from None
        return Api.V1
    return Api.V2
