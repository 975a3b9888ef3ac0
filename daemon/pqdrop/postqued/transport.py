"""Requests to the PostQued API and to presigned storage, with the one retry loop both share.

Only this package (and `pqdrop.storage`) sees httpx; its exceptions become pqdrop's error tree
here. The API key goes in the Authorization header of API calls and nowhere else: the presigned
storage upload goes through `pqdrop.storage`, which carries no credentials.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from pqdrop.errors import ApiUnavailable, ConfigError, RateLimited, TransientError
from pqdrop.postqued.ratelimit import Category, RateLimiter, backoff_delay, pause
from pqdrop.postqued.replies import decode_json, error_from_reply
from pqdrop.postqued.storage import Storage
from pqdrop.postqued.types import DEFAULT_RETRY, Progress, RetryPolicy, UploadTicket
from pqdrop.tally import TALLY

USER_AGENT = "pqdrop/0.1"

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
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """`stop`, once set, ends a retry's backoff and the bandwidth cap's wait at once with Interrupted."""
        timeout = httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        common = {"User-Agent": USER_AGENT}
        try:
            self._api = httpx.Client(
                base_url=base_url, timeout=timeout, headers={**common, "Authorization": f"Bearer {api_key}"}
            )
        except httpx.InvalidURL as exc:
            raise ConfigError(f"postqued.base_url {base_url!r} is not a usable URL: {exc}") from exc
        # Presigned URLs are signed by the URL itself; the key must never reach storage.
        self._storage = Storage(timeout_seconds=timeout_seconds, attempts=retry.attempts,
                                base_seconds=retry.base_seconds, cap_seconds=retry.cap_seconds, sleep=sleep, rng=rng,
                                stop=stop)
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
        """Send one API request under its rate bucket, retrying passing failures."""

        def once() -> dict[str, Any]:
            try:
                with self._limiter.slot(category):
                    reply = self._api.request(method, path, json=json_body, params=params, headers=headers, files=files)
            except httpx.TransportError as exc:
                TALLY.add("api_requests", category=str(category), outcome="unreachable")
                raise ApiUnavailable(f"{method} {path}: cannot reach {self._api.base_url}: {_describe(exc)}") from exc
            TALLY.add("api_requests", category=str(category), outcome=outcome(reply.status_code))
            return _decode(reply, method, path)

        return self.retrying(once, category)

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
        TALLY.add("uploads")
        TALLY.add("upload_bytes", size)

    def retrying(self, attempt: Callable[[], T], category: Category | None) -> T:
        """Run `attempt` until it returns, retrying passing failures: the one retry loop of the client.

        A 429 moves the category's window on (the next acquire waits); anything else passing backs off here.
        """
        error: TransientError | None = None
        for number in range(self._retry.attempts):
            try:
                return attempt()
            except RateLimited as exc:
                error = exc
                if category is not None:
                    self._limiter.back_off(category, exc.retry_after)
                elif number + 1 < self._retry.attempts:
                    self._pause(self._backoff(number))
            except ApiUnavailable as exc:
                error = exc
                if number + 1 < self._retry.attempts:
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


def _decode(reply: httpx.Response, method: str, path: str) -> dict[str, Any]:
    """The JSON body of a successful reply, or the matching error of pqdrop's tree."""
    if reply.is_success:
        if not reply.content:
            return {}
        payload = decode_json(reply.content)
        if payload is None:
            raise ApiUnavailable(f"{method} {path}: the reply is not JSON", status=reply.status_code)
        return payload if isinstance(payload, dict) else {"items": payload}
    body = decode_json(reply.content)
    raise error_from_reply(reply.status_code, body if isinstance(body, dict) else {}, reply.headers, f"{method} {path}")


def _describe(exc: httpx.TransportError) -> str:
    """A short cause without the request URL, which for storage carries a signature."""
    return f"{type(exc).__name__}: {exc}".split(" for url ")[0]
