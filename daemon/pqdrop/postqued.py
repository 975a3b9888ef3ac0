"""The PostQued v1 API client: uploads, accounts, publishing and publish status.

Only this module sees httpx; its exceptions become pqdrop's error tree here. The API key
goes in the Authorization header of API calls and nowhere else: the presigned storage
upload goes through `pqdrop.storage`, which carries no credentials.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pqdrop.errors import (
    ApiAccountBlocked,
    ApiError,
    ApiRejected,
    ApiUnavailable,
    ConfigError,
    RateLimited,
    TransientError,
)
from pqdrop.names import for_api
from pqdrop.ratelimit import Category, RateLimiter, backoff_delay
from pqdrop.storage import Progress, Storage
from pqdrop.tiktok import is_tiktok_code, tiktok_error

USER_AGENT = "pqdrop/0.1"
NOT_IN_V1 = "NOT_IN_V1"  # the code of what only the v2 API can do
TERMINAL_TARGET_STATES = frozenset({"sent", "published", "failed", "canceled"})
TERMINAL_REQUEST_STATES = frozenset({"completed", "partial_failed", "failed", "canceled"})


@dataclass(frozen=True)
class UploadTicket:
    """What `POST /v1/content/upload` hands back: where and how to PUT the bytes."""

    content_id: str
    key: str
    url: str
    method: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Account:
    """A platform account the key may post to."""

    id: str
    username: str
    platform: str
    display_name: str = ""


@dataclass(frozen=True)
class TargetState:
    """One target of a publish request as the API last reported it."""

    id: str
    account_id: str
    status: str
    dispatch_at: str | None = None
    reason: str | None = None
    code: str | None = None  # the platform's code for a failure, e.g. TikTok's picture_size_check_failed
    post_id: str | None = None
    url: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_TARGET_STATES


@dataclass(frozen=True)
class PublishState:
    """A publish request and its targets."""

    publish_id: str
    status: str
    targets: tuple[TargetState, ...] = field(default_factory=tuple)

    @property
    def settled(self) -> bool:
        """True when no target can change any more."""
        return all(target.terminal for target in self.targets) or self.status in TERMINAL_REQUEST_STATES


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently passing failures are retried within one call."""

    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0


class PostQued:
    """A synchronous PostQued client, safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limiter: RateLimiter,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        timeout = httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        common = {"User-Agent": USER_AGENT}
        try:
            self._api = httpx.Client(
                base_url=base_url, timeout=timeout, headers={**common, "Authorization": f"Bearer {api_key}"}
            )
        except httpx.InvalidURL as exc:
            raise ConfigError(f"postqued.base_url {base_url!r} is not a usable URL: {exc}") from exc
        # Presigned URLs are signed by the URL itself; the key must never reach storage.
        self._storage = Storage(
            timeout_seconds=timeout_seconds,
            attempts=retry.attempts,
            base_seconds=retry.base_seconds,
            cap_seconds=retry.cap_seconds,
            sleep=sleep,
            rng=rng,
        )
        self._limiter = limiter
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._accounts: dict[str, tuple[Account, ...]] = {}

    def close(self) -> None:
        self._api.close()
        self._storage.close()

    def __enter__(self) -> PostQued:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- uploads -----------------------------------------------------------------------

    def start_upload(self, filename: str, content_type: str, size: int) -> UploadTicket:
        """Open a presigned upload session for a video."""
        body = {"filename": filename, "contentType": content_type, "fileSize": size}
        reply = self._call("upload", "POST", "/v1/content/upload", json_body=body)
        return parse_upload_ticket(reply)

    def put_to_storage(
        self,
        ticket: UploadTicket,
        path: Path,
        size: int,
        progress: Progress | None = None,
        *,
        max_rate: float = 0.0,
        valid_until: float | None = None,
    ) -> None:
        """Send the file to the ticket's presigned URL with exactly the signed method and headers.

        `max_rate` (bytes/s, 0 = none) caps this and every concurrent upload of the client together.
        """
        self._storage.bandwidth.set_rate(max_rate)
        self._storage.put(ticket.method, ticket.url, ticket.headers, path, size, progress, valid_until=valid_until)

    def complete_upload(
        self,
        ticket: UploadTicket,
        *,
        filename: str,
        content_type: str,
        size: int,
        width: int,
        height: int,
        duration_ms: int,
    ) -> dict[str, Any]:
        """Tell the API the bytes are in storage, with the video's measured properties."""
        body = {
            "contentId": ticket.content_id,
            "key": ticket.key,
            "filename": filename,
            "contentType": content_type,
            "size": size,
            "width": width,
            "height": height,
            "durationMs": duration_ms,
        }
        return self._call("upload", "POST", "/v1/content/upload/complete", json_body=body)

    def upload_image(self, path: Path, content_type: str) -> str:
        """Send a photo as multipart form data; returns its contentId."""
        data = path.read_bytes()  # photos are at most 20 MB by TikTok's rules
        files = {"file": (for_api(path.name), data, content_type)}  # UTF-8, whatever the bytes on disk
        reply = self._call("upload", "POST", "/v1/content/upload-image", files=files)
        return _content_id(reply)

    # --- accounts ----------------------------------------------------------------------

    def platform_accounts(self, platform: str = "tiktok") -> tuple[Account, ...]:
        """The accounts this key can post to, fetched once per client."""
        if platform not in self._accounts:
            reply = self._call("read", "GET", "/v1/platform-accounts", params={"platform": platform})
            self._accounts[platform] = tuple(parse_account(raw) for raw in reply.get("accounts", []))
        return self._accounts[platform]

    # --- publishing --------------------------------------------------------------------

    def publish(
        self, content_ids: Sequence[str], targets: Sequence[Mapping[str, Any]], idempotency_key: str
    ) -> PublishState:
        """Publish or schedule; every retry sends the same key and the same body."""
        body = {"contentIds": list(content_ids), "targets": [dict(target) for target in targets]}
        reply = self._call(
            "publish", "POST", "/v1/content/publish", json_body=body, headers={"Idempotency-Key": idempotency_key}
        )
        return parse_publish_state(reply)

    def publish_status(self, publish_id: str) -> PublishState:
        reply = self._call("read", "GET", f"/v1/content/publish/{publish_id}")
        return parse_publish_state(reply)

    def cancel_publish(self, publish_id: str) -> PublishState:
        """Cancel every target of a pending or scheduled publish; refused (409) once one is processing or done."""
        reply = self._call("delete", "DELETE", f"/v1/content/publish/{publish_id}")
        return parse_publish_state(reply)

    cancel = cancel_publish

    def reschedule(self, publish_id: str, target_id: str, dispatch_at: str | None) -> PublishState:
        """Move one scheduled target to `dispatch_at` (None: now). v1 has no such call and refuses (NOT_IN_V1);
        a new time is then a cancel and a new publish, which the editor does, written ahead (issue 15)."""
        raise ApiRejected(f"publish {publish_id}: PostQued v1 cannot move target {target_id}; cancel and publish "
                          "again", code=NOT_IN_V1)

    def delete_content(self, content_id: str) -> None:
        self._call("delete", "DELETE", f"/v1/content/{content_id}")

    # --- the one place requests go out -------------------------------------------------

    def _call(
        self,
        category: Category,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one API request under its rate bucket, retrying passing failures."""
        for attempt in range(self._retry.attempts):
            self._limiter.acquire(category)
            try:
                reply = self._api.request(method, path, json=json_body, params=params, headers=headers, files=files)
                return _decode(reply, method, path)
            except RateLimited as exc:
                self._limiter.back_off(category, exc.retry_after)
                error: TransientError = exc
            except ApiUnavailable as exc:
                error = exc
                if attempt + 1 < self._retry.attempts:
                    self._sleep(self._backoff(attempt))
            except httpx.TransportError as exc:
                error = ApiUnavailable(f"{method} {path}: cannot reach {self._api.base_url}: {_describe(exc)}")
                if attempt + 1 < self._retry.attempts:
                    self._sleep(self._backoff(attempt))
        raise error

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self._retry.base_seconds, cap=self._retry.cap_seconds, rng=self._rng)


def _decode(reply: httpx.Response, method: str, path: str) -> dict[str, Any]:
    """The JSON body of a successful reply, or the matching error of pqdrop's tree."""
    if reply.is_success:
        if not reply.content:
            return {}
        try:
            payload = reply.json()
        except json.JSONDecodeError as exc:
            raise ApiUnavailable(f"{method} {path}: the reply is not JSON", status=reply.status_code) from exc
        return payload if isinstance(payload, dict) else {"items": payload}
    raise error_from_reply(reply.status_code, _error_body(reply), reply.headers, f"{method} {path}")


def error_from_reply(status: int, body: Mapping[str, Any], headers: Mapping[str, str], where: str) -> ApiError:
    """Map a failed reply to the error that says what to do next."""
    code = str(body.get("code") or f"HTTP_{status}")
    message = f"{where}: {body.get('error') or body.get('message') or f'HTTP {status}'} ({code})"
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(headers), code=code)
    if status >= 500:
        return ApiUnavailable(message, status=status, code=code)
    if is_tiktok_code(code):  # TikTok's own answer, relayed: a cap waits, a bad post fails, a lost login pauses
        return tiktok_error(status, code, message)
    if status in (401, 403) or code == "SUBSCRIPTION_REQUIRED":
        return ApiAccountBlocked(message, status=status, code=code)
    return ApiRejected(message, status=status, code=code)


def retry_after_seconds(headers: Mapping[str, str], default: float = 1.0) -> float:
    """Seconds to wait after a 429, from Retry-After or the X-RateLimit-Reset header."""
    for name in ("Retry-After", "X-RateLimit-Reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return default


def parse_upload_ticket(reply: Mapping[str, Any]) -> UploadTicket:
    """Read the start-upload reply; the storage key may sit at `key` or at `upload.key`."""
    upload = reply.get("upload") or {}
    key = reply.get("key") or upload.get("key")
    url = upload.get("url")
    if not (reply.get("contentId") and key and url):
        raise ApiUnavailable("POST /v1/content/upload: the reply lacks contentId, key or upload.url")
    return UploadTicket(
        content_id=str(reply["contentId"]),
        key=str(key),
        url=str(url),
        method=str(upload.get("method") or "PUT").upper(),
        headers={str(name): str(value) for name, value in (upload.get("headers") or {}).items()},
    )


def parse_account(raw: Mapping[str, Any]) -> Account:
    return Account(
        id=str(raw.get("id", "")),
        username=str(raw.get("username", "")),
        platform=str(raw.get("platform", "tiktok")),
        display_name=str(raw.get("displayName") or raw.get("display_name") or ""),
    )


def parse_publish_state(reply: Mapping[str, Any]) -> PublishState:
    targets = tuple(parse_target_state(raw) for raw in reply.get("targets") or [])
    return PublishState(
        publish_id=str(reply.get("publishId", "")), status=str(reply.get("status", "")), targets=targets
    )


def parse_target_state(raw: Mapping[str, Any]) -> TargetState:
    error = raw.get("error")
    reason = raw.get("reason") or (error.get("message") or error.get("error") if isinstance(error, dict) else error)
    return TargetState(
        id=str(raw.get("id", "")),
        account_id=str(raw.get("accountId", "")),
        status=str(raw.get("status", "")),
        dispatch_at=raw.get("dispatchAt"),
        reason=str(reason) if reason else None,
        code=_optional_str(error.get("code") if isinstance(error, dict) else raw.get("failReason")),
        post_id=_optional_str(raw.get("postId") or raw.get("platformPostId")),
        url=_optional_str(raw.get("url") or raw.get("postUrl")),
    )


def _content_id(reply: Mapping[str, Any]) -> str:
    content_id = reply.get("contentId") or (reply.get("content") or {}).get("id")
    if not content_id:
        raise ApiUnavailable("POST /v1/content/upload-image: the reply lacks contentId")
    return str(content_id)


def _error_body(reply: httpx.Response) -> dict[str, Any]:
    try:
        payload = reply.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _describe(exc: httpx.TransportError) -> str:
    """A short cause without the request URL, which for storage carries a signature."""
    return f"{type(exc).__name__}: {exc}".split(" for url ")[0]


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
