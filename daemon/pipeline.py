"""One item's way from the inbox to sent/ or failed/: validate, upload, publish, follow, file.

The pure parts (what to send, which key, what the outcome is) are plain functions; the
`Pipeline` class only sequences them around the API client and the outbox.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from daemon.config import Config, DefaultsConfig
from daemon.errors import AccountBlocked, InboxError, ItemError, MediaError, PqdropError, TransientError
from daemon.inbox import Item
from daemon.lifecycle import ItemState, failure_reason, outcome_of, waits_for_dispatch
from daemon.media import MediaInfo, probe
from daemon.outbox import append_status_log, file_item
from daemon.postqued import Account, PostQued, PublishState
from daemon.sidecar import Sidecar, Target, default_sidecar, parse_sidecar
from daemon.tiktok import PHOTO_LIMITS

Clock = Callable[[], datetime]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Prepared:
    """An item whose sidecar and media have been read and checked."""

    item: Item
    sidecar: Sidecar
    media: tuple[MediaInfo, ...]


@dataclass(frozen=True)
class Uploaded:
    """One media file in PostQued's storage."""

    content_id: str
    sha256: str
    info: MediaInfo


@dataclass
class Result:
    """What happened to one item; `state` decides the folder it is filed in."""

    name: str
    state: ItemState
    publish_id: str | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    message: str | None = None
    status_file: Path | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Carries items through the steps, using one API client and one inbox."""

    def __init__(
        self,
        config: Config,
        client: PostQued,
        *,
        clock: Clock = now_utc,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._config = config
        self._inbox = config.inbox.path
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._stop = stop or threading.Event()
        self._progress = progress

    def process(self, item: Item) -> Result:
        """Take one item to its end; passing and account-wide errors propagate, the item stays put."""
        try:
            prepared = prepare_item(self._inbox, item, self._config.defaults, self._clock())
            result = self._post(prepared)
        except (TransientError, AccountBlocked):
            raise
        except ItemError as exc:
            result = Result(item.name, ItemState.FAILED, error_code=exc.code, message=exc.message)
        self._file(item, result)
        return result

    def _post(self, prepared: Prepared) -> Result:
        name = prepared.item.name
        accounts = self._resolve_accounts(prepared)
        self._log(name, ItemState.UPLOADING)
        uploaded = [self._upload(info) for info in prepared.media]
        targets = [target_body(target, accounts[target.account]) for target in prepared.sidecar.targets]
        key = idempotency_key([media.sha256 for media in uploaded], targets, prepared.sidecar.repost)
        self._log(name, ItemState.PUBLISHING, idempotencyKey=key)
        state = self._client.publish([media.content_id for media in uploaded], targets, key)
        self._log(name, ItemState.FOLLOWING, publishId=state.publish_id)
        state = self._follow(state)
        result = result_from_state(name, state, key)
        result.media = [media_record(media) for media in uploaded]
        return result

    def _resolve_accounts(self, prepared: Prepared) -> dict[str, Account]:
        resolved: dict[str, Account] = {}
        for target in prepared.sidecar.targets:
            known = self._client.platform_accounts(target.platform)
            resolved[target.account] = find_account(target.account, known, prepared.sidecar.path or prepared.item.name)
        return resolved

    def _upload(self, info: MediaInfo) -> Uploaded:
        if info.kind == "image":
            content_id, sha256 = self._client.upload_image(info.path, info.mime)
            return Uploaded(content_id, sha256, info)
        if info.duration_ms is None:
            raise MediaError(f"{info.path.name}: the video's duration could not be read")
        ticket = self._client.start_upload(info.path.name, info.mime, info.size)
        progress = None
        if self._progress is not None:
            report = self._progress
            progress = lambda sent, total: report(info.path.name, sent, total)  # noqa: E731
        sha256 = self._client.put_to_storage(ticket, info.path, info.size, progress)
        self._client.complete_upload(
            ticket,
            filename=info.path.name,
            content_type=info.mime,
            size=info.size,
            width=info.width,
            height=info.height,
            duration_ms=info.duration_ms,
        )
        return Uploaded(ticket.content_id, sha256, info)

    def _follow(self, state: PublishState) -> PublishState:
        """Poll until every target is final or only waits for its dispatchAt, within follow_seconds."""
        deadline = time.monotonic() + self._config.postqued.follow_seconds
        delay = 1.0
        while not state.settled and not waits_for_dispatch(state, self._clock()):
            if time.monotonic() + delay > deadline or self._stop.is_set():
                break
            self._sleep(delay)
            delay = min(delay * 1.5, 10.0)
            state = self._client.publish_status(state.publish_id)
        return state

    def _file(self, item: Item, result: Result) -> None:
        status = status_document(result, self._clock())
        result.status_file = file_item(self._inbox, item.paths, item.name, result.state.folder, status)
        self._log(item.name, result.state, publishId=result.publish_id, error=status.get("error"))

    def _log(self, name: str, state: ItemState, **fields: Any) -> None:
        record = {"item": name, "state": str(state), **{k: v for k, v in fields.items() if v is not None}}
        append_status_log(self._inbox, record, self._clock())


def prepare_item(inbox: Path, item: Item, defaults: DefaultsConfig, now: datetime) -> Prepared:
    """Read and check an item's sidecar and media without talking to the API."""
    if item.problem:
        raise InboxError(f"{item.name}: {item.problem}")
    sidecar = parse_sidecar(inbox / item.sidecar, defaults, now) if item.sidecar else default_sidecar(defaults)
    media = tuple(probe_inside(inbox, rel) for rel in item.media)
    check_media_set(item.name, media)
    return Prepared(item, sidecar, media)


def probe_inside(inbox: Path, rel: PurePosixPath) -> MediaInfo:
    """Probe a media file, refusing links and anything that resolves outside the inbox."""
    path = inbox / rel
    if path.is_symlink() or not path.resolve().is_relative_to(inbox.resolve()):
        raise InboxError(f"{rel}: resolves outside the inbox or is a link; pqdrop only uploads files that live in it")
    return probe(path)


def check_media_set(name: str, media: Sequence[MediaInfo]) -> None:
    """One post is one video, or one to 35 photos (TikTok's photo post limit); never a mix."""
    videos = [info for info in media if info.kind == "video"]
    images = [info for info in media if info.kind == "image"]
    if not media:
        raise MediaError(f"{name}: no media file found; add a video or photos beside the sidecar")
    if videos and images:
        raise MediaError(f"{name}: mixes a video with photos; a post is one video or a set of photos")
    if len(videos) > 1:
        raise MediaError(f"{name}: holds {len(videos)} videos; a post carries exactly one video")
    if len(images) > PHOTO_LIMITS.max_count:
        raise MediaError(f"{name}: holds {len(images)} photos; TikTok takes at most {PHOTO_LIMITS.max_count} per post")


def find_account(wanted: str, known: Sequence[Account], where: Any) -> Account:
    """The account named by username (with or without @, any case) or by id."""
    bare = wanted.lstrip("@").casefold()
    for account in known:
        if account.id == wanted or account.username.lstrip("@").casefold() == bare:
            return account
    names = ", ".join(account.username for account in known) or "none"
    raise ItemError(
        f"{_display(where)}: account: {wanted!r} is not an account this API key can post to (available: {names})",
        code="ACCOUNT_UNKNOWN",
    )


def target_body(target: Target, account: Account) -> dict[str, Any]:
    """The publish request's JSON for one target."""
    return {
        "platform": target.platform,
        "accountId": account.id,
        "intent": target.intent,
        "caption": target.caption,
        "dispatchAt": _iso_z(target.dispatch_at) if target.dispatch_at else None,
        "options": dict(target.options),
    }


def idempotency_key(media_sha256: Sequence[str], targets: Sequence[Mapping[str, Any]], repost: bool = False) -> str:
    """A key derived from the content and the targets, so a twin pqdrop on the same folder gets the same one."""
    canonical = json.dumps(
        {"media": list(media_sha256), "targets": list(targets), "repost": repost}, sort_keys=True, separators=(",", ":")
    )
    return "pqdrop-" + hashlib.sha256(canonical.encode()).hexdigest()[:48]


def result_from_state(name: str, state: PublishState, key: str) -> Result:
    """Turn the last publish report into the item's result."""
    outcome = outcome_of(state)
    result = Result(name, outcome, publish_id=state.publish_id, idempotency_key=key)
    result.targets = [
        {
            "id": target.id,
            "accountId": target.account_id,
            "status": target.status,
            "dispatchAt": target.dispatch_at,
            **({"reason": target.reason} if target.reason else {}),
            **({"postId": target.post_id} if target.post_id else {}),
            **({"url": target.url} if target.url else {}),
        }
        for target in state.targets
    ]
    if outcome is ItemState.FAILED:
        result.error_code = "PLATFORM_FAILED"
        result.message = failure_reason(state)
    return result


def media_record(media: Uploaded) -> dict[str, Any]:
    info = media.info
    return {
        "file": info.path.name,
        "contentId": media.content_id,
        "sha256": media.sha256,
        "mime": info.mime,
        "width": info.width,
        "height": info.height,
        **({"durationMs": info.duration_ms} if info.duration_ms is not None else {}),
    }


def status_document(result: Result, now: datetime) -> dict[str, Any]:
    """The NAME.status.json body."""
    document: dict[str, Any] = {"item": result.name, "state": str(result.state), "updatedAt": _iso_z(now)}
    if result.publish_id:
        document["publishId"] = result.publish_id
    if result.idempotency_key:
        document["idempotencyKey"] = result.idempotency_key
    if result.targets:
        document["targets"] = result.targets
    if result.media:
        document["media"] = result.media
    if result.state is ItemState.FAILED:
        document["error"] = {"code": result.error_code or "FAILED", "message": result.message or "failed"}
    return document


def describe_error(exc: PqdropError) -> str:
    return f"{exc.code}: {exc.message}"


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _display(where: Any) -> str:
    return where.name if isinstance(where, Path) else str(where)
