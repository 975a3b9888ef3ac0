"""Requests to the PostQued API and to presigned storage, with the one retry loop both share.

Only this package (and `pqdrop.storage`) sees httpx; its exceptions become pqdrop's error tree
here. The API key goes in the Authorization header of API calls and nowhere else: the presigned
storage upload goes through `pqdrop.storage`, which carries no credentials.

What the API sends is bounded (issue 21): a reply is read to MAX_REPLY_BYTES and no further, and
every request ends by its whole-request deadline (`deadlines`), whatever pace the server answers at.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from pqdrop.descriptors import Identity
from pqdrop.errors import ApiUnavailable, ConfigError, Interrupted, KeyInText, RateLimited, TransientError
from pqdrop.postqued.deadlines import Deadline, Deadlines, GuardedBackend
from pqdrop.postqued.ratelimit import Category, RateLimiter, backoff_delay, pause
from pqdrop.postqued.replies import decode_json, error_from_reply
from pqdrop.postqued.storage import Storage
from pqdrop.postqued.types import DEFAULT_RETRY, Progress, RetryPolicy, UploadTicket
from pqdrop.secrecy import SECRETS
from pqdrop.tally import TALLY

USER_AGENT = "pqdrop/0.1"
# Far above any reply PostQued sends (a few KiB); a 300 MB or endless one is the API's fault, not a memory to grow.
MAX_REPLY_BYTES = 8 * 1024 * 1024
DEFAULT_DEADLINE_SECONDS = 60.0  # [postqued].request_deadline_seconds
# A request that carries a file (v1's photo upload) may take this long per byte on top of its deadline.
BODY_FLOOR_BYTES_PER_SECOND = 32 * 1024

T = TypeVar("T")


class Transport:
    """Sends API requests under their rate buckets and PUTs bytes to storage; safe to share between threads."""

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
        stop: threading.Event | None = None,
    ) -> None:
        """`stop`, once set, ends a retry's backoff, the bandwidth cap's wait and a request in flight with Interrupted.

        `timeout_seconds` bounds each wait for a byte, `deadline_seconds` a whole API request.
        """
        timeout = httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        common = {"User-Agent": USER_AGENT}
        SECRETS.add(api_key)  # from here on no body, status file or status.log line of this process carries it
        self.deadlines = Deadlines(stop=stop)
        self._deadline_seconds = deadline_seconds
        try:
            self._api = httpx.Client(
                base_url=base_url, timeout=timeout, headers={**common, "Authorization": f"Bearer {api_key}"}
            )
        except httpx.InvalidURL as exc:
            raise ConfigError(f"postqued.base_url {base_url!r} is not a usable URL: {exc}") from exc
        _guard(self._api, self.deadlines)
        # Presigned URLs are signed by the URL itself; the key must never reach storage.
        self._storage = Storage(timeout_seconds=timeout_seconds, attempts=retry.attempts,
                                base_seconds=retry.base_seconds, cap_seconds=retry.cap_seconds, sleep=sleep, rng=rng,
                                stop=stop, deadlines=self.deadlines)
        self._limiter = limiter
        self._retry = retry
        self._sleep = sleep
        self._stop = stop
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._api.close()
        self._storage.close()

    def call(
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
        """Send one API request under its rate bucket, retrying passing failures.

        A body or parameter holding the API key is never sent (KeyInText): the key goes in its header only.
        """

        where = f"{method} {path}"
        leak = SECRETS.where(json_body) or SECRETS.where(params) or SECRETS.where([*(files or {}).values()])
        if leak is not None:
            raise KeyInText(f"{where}: the request's {leak} holds the API key; pqdrop never sends it in a "
                            "text, so nothing was sent")
        seconds = self._deadline_seconds + _body_bytes(files) / BODY_FLOOR_BYTES_PER_SECOND

        def once() -> dict[str, Any]:
            with self._limiter.slot(category), self.deadlines.request(where, seconds) as deadline:
                try:
                    request = self._api.build_request(method, path, json=json_body, params=params, headers=headers,
                                                      files=files)
                    reply = self._api.send(request, stream=True)
                    try:
                        content = _read_bounded(reply, where)
                    finally:
                        reply.close()
                except httpx.TransportError as exc:
                    TALLY.add("api_requests", category=str(category), outcome="unreachable")
                    raise self._broken_off(exc, deadline) from exc
            TALLY.add("api_requests", category=str(category), outcome=outcome(reply.status_code))
            return _decode(reply.status_code, reply.headers, content, where)

        return self.retrying(once, category)

    def _broken_off(self, exc: httpx.TransportError, deadline: Deadline) -> Exception:
        """Why a request ended without its reply, in pqdrop's words: stopping, too slow, or unreachable."""
        if deadline.stopped or (self._stop is not None and self._stop.is_set()):
            return Interrupted()
        if deadline.expired:
            return ApiUnavailable(
                f"{deadline.what}: PostQued at {self._api.base_url} did not finish answering within "
                f"{self._deadline_seconds:g} s ([postqued].request_deadline_seconds); it is sending too slowly"
            )
        return ApiUnavailable(f"{deadline.what}: cannot reach {self._api.base_url}: {_describe(exc)}")

    def put_to_storage(
        self,
        ticket: UploadTicket,
        path: Path,
        size: int,
        progress: Progress | None = None,
        *,
        max_rate: float = 0.0,
        valid_until: float | None = None,
        identity: Identity | None = None,
    ) -> None:
        """Send the file to the ticket's presigned URL with exactly the signed method and headers.

        `max_rate` (bytes/s, 0 = none) caps this and every concurrent upload of the client together.
        """
        self._storage.bandwidth.set_rate(max_rate)
        self._storage.put(ticket.method, ticket.url, ticket.headers, path, size, progress, valid_until=valid_until,
                          identity=identity)
        TALLY.add("uploads")
        TALLY.add("upload_bytes", size)

    @property
    def base_url(self) -> str:
        return str(self._api.base_url)

    def retrying(
        self, attempt: Callable[[], T], category: Category | None, *, only: type[TransientError] | None = None
    ) -> T:
        """Run `attempt` until it returns, retrying passing failures: the one retry loop of the client.

        A 429 moves the category's window on (the next acquire waits); anything else passing backs off here.
        With `only`, other failures leave at once (the calls inside `attempt` have retried them already).
        """
        error: TransientError | None = None
        for number in range(self._retry.attempts):
            try:
                return attempt()
            except (RateLimited, ApiUnavailable) as exc:
                if only is not None and not isinstance(exc, only):
                    raise
                error = exc
                if isinstance(exc, RateLimited) and category is not None:
                    self._limiter.back_off(category, exc.retry_after)
                elif number + 1 < self._retry.attempts:
                    self._pause(self._backoff(number))
        assert error is not None, "RetryPolicy.attempts must be at least 1"
        raise error

    def _pause(self, seconds: float) -> None:
        pause(seconds, self._sleep, self._stop)

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self._retry.base_seconds, cap=self._retry.cap_seconds, rng=self._rng)


def outcome(status: int) -> str:
    """A reply's status as /metrics counts it: ok, rate_limited (429), refused (other 4xx), server_error."""
    if status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    return "refused" if status < 500 else "server_error"


def _guard(client: httpx.Client, deadlines: Deadlines) -> None:
    """Route every connection of `client` (direct, or through a proxy the environment names) through
    GuardedBackend. httpx takes no network backend, so its pools' is wrapped in place."""
    transports = [client._transport, *client._mounts.values()]  # noqa: SLF001 - see the docstring
    for transport in transports:
        if transport is None:  # a no_proxy host: it goes through client._transport
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            raise RuntimeError("this httpx/httpcore keeps no _pool._network_backend: pqdrop's request deadlines "
                               "cannot be enforced; use httpcore 1.x (pyproject.toml)")
        pool._network_backend = GuardedBackend(backend, deadlines)  # type: ignore[union-attr]  # noqa: SLF001


def _read_bounded(reply: httpx.Response, where: str) -> bytes:
    """The reply's body, read to MAX_REPLY_BYTES (decoded) and no further: past it the reply is the API's fault."""
    too_big = ApiUnavailable(
        f"{where}: PostQued's reply is larger than {MAX_REPLY_BYTES // (1024 * 1024)} MiB, far more than any it "
        "sends; it was not read further", status=reply.status_code,
    )
    declared = reply.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
        raise too_big
    pieces: list[bytes] = []
    total = 0
    for piece in reply.iter_bytes():
        total += len(piece)
        if total > MAX_REPLY_BYTES:
            raise too_big
        pieces.append(piece)
    return b"".join(pieces)


def _body_bytes(files: Mapping[str, Any] | None) -> int:
    """How many bytes a multipart request carries (its files' data)."""
    total = 0
    for value in (files or {}).values():
        data = value[1] if isinstance(value, tuple) else value
        if isinstance(data, bytes | bytearray):
            total += len(data)
    return total


def _decode(status: int, headers: httpx.Headers, content: bytes, where: str) -> dict[str, Any]:
    """The JSON body of a successful reply, or the matching error of pqdrop's tree."""
    if 200 <= status < 300:
        if not content:
            return {}
        payload = decode_json(content)
        if payload is None:
            raise ApiUnavailable(f"{where}: the reply is not JSON", status=status)
        return payload if isinstance(payload, dict) else {"items": payload}
    body = decode_json(content)
    raise error_from_reply(status, body if isinstance(body, dict) else {}, headers, where)


def _describe(exc: httpx.TransportError) -> str:
    """A short cause without the request URL, which for storage carries a signature."""
    return f"{type(exc).__name__}: {exc}".split(" for url ")[0]
