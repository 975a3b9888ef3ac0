"""The presigned storage PUT: a file's bytes to the URL the API signed, and nothing else.

The URL is its own credential, so this client carries no API key; a refusal's reason keeps
only the storage error's code and message, never the signature storage echoes back.

It uses the standard library's `http.client` rather than httpx (which serves the API): a body
handed to httpx is copied chunk by chunk through its layers, while here the socket is ours, so
plain HTTP goes out with `socket.sendfile` (the kernel copies page cache to socket) and TLS
with large writes from one reused buffer (issue 16: the PUT cost 2-2.5x curl's CPU).

A PUT keeps moving or ends (issue 21): each MiB must be taken in within `timeout_seconds`, and the
reply must be in within as long again; a `Watchman` shuts the socket when it is not, or when the
process is told to stop, so a store that reads or answers one byte a second cannot hold a worker.
"""

from __future__ import annotations

import contextlib
import html
import http.client
import json
import math
import os
import random
import re
import socket
import ssl
import threading
import time
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from pqdrop.descriptors import Identity, Refused, reopen
from pqdrop.errors import (
    ApiRejected,
    ApiUnavailable,
    Interrupted,
    MediaError,
    RateLimited,
    TransientError,
    UploadUrlStale,
)
from pqdrop.postqued.bandwidth import Bandwidth
from pqdrop.postqued.deadlines import Deadline, Deadlines, Watchman
from pqdrop.postqued.ratelimit import backoff_delay, pause

USER_AGENT = "pqdrop/0.1"
PIECE_BYTES = 1024 * 1024  # one sendfile call, one TLS write and one progress report (and stop check) each
REPLY_BYTES = 64 * 1024  # enough of an error body for its code and message
SESSIONS = 3  # upload sessions per media before a refused URL fails the item
EXPIRY_MARGIN_SECONDS = 2.0  # a URL this close to its end is treated as expired: the PUT would race it
MAX_RETRY_AFTER_SECONDS = 120.0  # a longer Retry-After from storage defers the item instead of blocking a worker
# Refusals that say the URL, not the upload, is no longer good (S3, R2, GCS wordings).
STALE_CODES = frozenset({"SignatureDoesNotMatch", "ExpiredToken", "TokenRefreshRequired", "RequestExpired"})

Progress = Callable[[int, int], None]


def open_media(path: Path, identity: Identity | None) -> BinaryIO:
    """The media file opened for its upload: never through a link, and the very file probed when `identity` is
    given; MediaError naming the file otherwise (a swap is the item's trouble, never retried against storage)."""
    try:
        return reopen(path, identity)
    except Refused as exc:
        raise MediaError(f"{path.name} {exc.reason}", code="MEDIA_SWAPPED") from None
    except FileNotFoundError:
        raise MediaError(f"{path.name} is gone: it was removed while its item was being posted") from None


def read_media(path: Path, size: int, identity: Identity | None) -> bytes:
    """A photo's bytes for a multipart upload, from the file probed: `size` of them, as measured."""
    with open_media(path, identity) as stream:
        return stream.read(size)


class Presigned(Protocol):
    """What an upload session hands over for the PUT."""

    @property
    def url(self) -> str: ...


Ticket = TypeVar("Ticket", bound=Presigned)


class Storage:
    """Sends files to presigned URLs with exactly the signed method and headers."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 30.0,
        attempts: int = 5,
        base_seconds: float = 0.5,
        cap_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        bandwidth: Bandwidth | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        """`stop`, once set, breaks an upload off at once (mid-piece, mid-wait for the cap) or its backoff."""
        self._stop = stop
        self.deadlines = deadlines or Deadlines(stop=stop, monotonic=monotonic)
        self._timeout = timeout_seconds
        self._attempts = attempts
        self._base_seconds = base_seconds
        self._cap_seconds = cap_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        # One bucket for every upload of the process: concurrent workers share the cap.
        self.bandwidth = bandwidth or Bandwidth(0)
        self._tls: ssl.SSLContext | None = None  # made on first HTTPS use: loading the CA store costs ~20 ms

    def close(self) -> None:
        """Nothing stays open between uploads; kept for symmetry with the API client."""

    def put(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        path: Path,
        size: int,
        progress: Progress | None = None,
        *,
        valid_until: float | None = None,
        identity: Identity | None = None,
    ) -> None:
        """Send the file to `url`, retrying passing failures with the whole file.

        `valid_until` (on this object's monotonic clock) is when the URL stops being good; past it
        the PUT is not tried and UploadUrlStale asks the caller for a new session.
        """
        error: TransientError | None = None
        for attempt in range(self._attempts):
            if valid_until is not None and self._monotonic() > valid_until - EXPIRY_MARGIN_SECONDS:
                raise UploadUrlStale(
                    f"the presigned URL for {path.name} outlived its stated lifetime before the upload",
                    first_attempt=attempt == 0, unsent=True,
                )
            # Opened before connecting: a file gone or unreadable here is the item's trouble, not storage's.
            stream = open_media(path, identity)
            try:
                with stream:
                    status, reason_body, reply_headers = self._send(method, url, headers, stream, size, progress,
                                                                     path.name)
            except ApiUnavailable as exc:  # storage stopped taking the file in, or answering
                error = exc
                wait = self._backoff(attempt)
            except (OSError, http.client.HTTPException) as exc:
                error = ApiUnavailable(f"upload of {path.name} to storage broke off: {_describe(exc)}")
                wait = self._backoff(attempt)
            else:
                if 200 <= status < 300:
                    return
                reason = storage_reason(status, reason_body, url)
                wait = self._backoff(attempt)
                if status in (408, 429):
                    # A busy or slow-reading store: its own Retry-After is the wait (RFC 9110 10.2.3).
                    wait = retry_after_seconds(reply_headers, default=wait)
                    error = RateLimited(f"storage answered HTTP {status} for {path.name}: {reason}",
                                        retry_after=wait, status=status)
                    if wait > MAX_RETRY_AFTER_SECONDS:
                        raise error
                elif status < 500:
                    message = f"storage refused the upload of {path.name}: HTTP {status} {reason}"
                    if is_stale_refusal(status, reason):
                        raise UploadUrlStale(message, status=status, first_attempt=attempt == 0)
                    raise ApiRejected(message, status=status, code="STORAGE_REFUSED")
                else:
                    error = ApiUnavailable(f"storage answered HTTP {status} for {path.name}", status=status)
            if attempt + 1 < self._attempts:
                pause(wait, self._sleep, self._stop)
        assert error is not None
        raise error

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self._base_seconds, cap=self._cap_seconds, rng=self._rng)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], stream: BinaryIO, size: int, progress: Progress | None,
        name: str = "the file",
    ) -> tuple[int, str, Mapping[str, str]]:
        """One PUT of the open file on a new connection: status, the start of the reply body, reply headers.

        Storage that stops taking the file in or answering for `timeout_seconds` ends it as ApiUnavailable.
        """
        with self.deadlines.request(f"upload of {name}", self._timeout) as deadline:
            try:
                answer = self._send_guarded(method, url, headers, stream, size, progress, deadline)
            except (OSError, http.client.HTTPException) as exc:
                self._cut_short(deadline, name, exc)
                raise
            # A reply cut short mid-headers reads as complete to http.client (EOF ends the headers).
            self._cut_short(deadline, name, None)
            return answer

    def _cut_short(self, deadline: Deadline, name: str, cause: BaseException | None) -> None:
        """Raise why the watchman shut the socket, if it did: a stop, or storage stalled."""
        if deadline.stopped:
            raise Interrupted() from cause
        if deadline.expired:
            raise ApiUnavailable(
                f"upload of {name} to storage stalled: nothing moved for {self._timeout:g} s "
                "([postqued].timeout_seconds); storage is taking the file in or answering too slowly"
            ) from cause

    def _send_guarded(
        self, method: str, url: str, headers: Mapping[str, str], stream: BinaryIO, size: int, progress: Progress | None,
        deadline: Deadline,
    ) -> tuple[int, str, Mapping[str, str]]:
        connection, target = self._connect(url)
        try:
            connection.connect()
            assert connection.sock is not None
            with Watchman(connection.sock, deadline, self.deadlines):
                return self._exchange(connection, method, target, headers, stream, size, progress, deadline)
        finally:
            connection.close()

    def _exchange(
        self, connection: http.client.HTTPConnection, method: str, target: str, headers: Mapping[str, str],
        stream: BinaryIO, size: int, progress: Progress | None, deadline: Deadline,
    ) -> tuple[int, str, Mapping[str, str]]:
        """The request on a connected socket, its body, and the start of the reply."""
        connection.putrequest(method, target, skip_host="host" in _lower(headers), skip_accept_encoding=True)
        for name, value in headers.items():
            if name.lower() != "content-length":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(size))
        if "user-agent" not in _lower(headers):
            connection.putheader("User-Agent", USER_AGENT)
        connection.endheaders()
        sock = connection.sock
        assert sock is not None
        # Storage may answer before the body is in (S3 does for a bad signature) and close;
        # that early answer says more than the broken pipe.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send_body(sock, stream, size, progress, deadline)
        deadline.at = self.deadlines.monotonic() + self._timeout  # the whole reply within one timeout
        reply = connection.getresponse()
        body = reply.read(REPLY_BYTES).decode("utf-8", "replace")
        return reply.status, body, dict(reply.getheaders())

    def _send_body(
        self, sock: socket.socket, stream: BinaryIO, size: int, progress: Progress | None, deadline: Deadline
    ) -> None:
        """The file's bytes under the bandwidth cap: sendfile on plain sockets, big writes on TLS."""
        plain = not isinstance(sock, ssl.SSLSocket)
        buffer = None if plain else memoryview(bytearray(min(PIECE_BYTES, max(size, 1))))
        if plain:
            os.posix_fadvise(stream.fileno(), 0, size, os.POSIX_FADV_SEQUENTIAL)
        sent = 0
        while sent < size:
            # The cap's wait is ours, not storage's: no deadline runs through it, and each piece
            # then gets a whole timeout to go out.
            deadline.at = math.inf
            piece = self.bandwidth.take(min(PIECE_BYTES, size - sent), self._stop)
            deadline.at = self.deadlines.monotonic() + self._timeout
            if self._stop is not None and self._stop.is_set():
                raise Interrupted
            if buffer is None:
                done = sock.sendfile(stream, sent, piece)
                if done == 0:
                    raise ConnectionError("the file ended before its stated size; was it changed while uploading?")
            else:
                done = stream.readinto(buffer[:piece]) or 0  # type: ignore[attr-defined]
                if done == 0:
                    raise ConnectionError("the file ended before its stated size; was it changed while uploading?")
                sock.sendall(buffer[:done])
            sent += done
            if progress is not None:
                progress(sent, size)

    def _connect(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        """A connection to the store (or its proxy from the environment) and the request target."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        proxy = proxy_for(url)
        if parts.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
            if proxy is None:
                return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls), target
            proxy_host, proxy_port, proxy_headers = proxy
            tunnel = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=self._timeout, context=self._tls)
            tunnel.set_tunnel(host, port, headers=proxy_headers)  # CONNECT through the proxy, TLS end to end
            return tunnel, target
        connection: http.client.HTTPConnection
        if proxy is None:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        else:
            proxy_host, proxy_port, proxy_headers = proxy
            connection = _ProxiedConnection(proxy_host, proxy_port, timeout=self._timeout, proxy_headers=proxy_headers)
            target = url  # a plain-HTTP proxy takes the absolute URL (RFC 9112 3.2.2)
        return connection, target


class _ProxiedConnection(http.client.HTTPConnection):
    """A plain-HTTP connection through a forward proxy, adding its credentials to every request."""

    def __init__(self, host: str, port: int, *, timeout: float, proxy_headers: Mapping[str, str]) -> None:
        super().__init__(host, port, timeout=timeout)
        self._proxy_headers = dict(proxy_headers)

    def endheaders(self, message_body: object = None, *, encode_chunked: bool = False) -> None:
        for name, value in self._proxy_headers.items():
            self.putheader(name, value)
        super().endheaders(message_body, encode_chunked=encode_chunked)  # type: ignore[arg-type]


def send_with_fresh_sessions(
    open_session: Callable[[], Ticket],
    send: Callable[[Ticket, float | None], None],
    *,
    sessions: int = SESSIONS,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> Ticket:
    """Open an upload session and send to it; a URL gone stale gets a new session, not a failure.

    `send(ticket, valid_until)` gets the monotonic instant the URL's stated lifetime ends. A URL
    refused at its very first attempt in a fresh session is not stale but wrong for this upload
    (a header storage will not take): a new session would only repeat it, so that refusal stands.
    """
    for session in range(sessions):
        ticket = open_session()
        lifetime = url_lifetime(ticket.url, clock())
        valid_until = None if lifetime is None else monotonic() + lifetime
        try:
            send(ticket, valid_until)
        except UploadUrlStale as exc:
            refused_at_once = exc.first_attempt and not exc.unsent and session > 0
            if refused_at_once or session + 1 == sessions:
                raise
            continue
        return ticket
    raise AssertionError("unreachable: the last session either returns or raises")


def url_lifetime(url: str, now: float) -> float | None:
    """Seconds a presigned URL has left by its own terms (SigV4 X-Amz-Date + X-Amz-Expires, GCS's
    X-Goog-*, or an absolute `Expires`), or None when it states none."""
    query = {name.lower(): value for name, value in parse_qsl(urlsplit(url).query)}
    for vendor in ("amz", "goog"):
        lifetime = _number(query.get(f"x-{vendor}-expires"))
        if lifetime is None:
            continue
        try:
            signed = datetime.strptime(query.get(f"x-{vendor}-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return lifetime
        left = signed.timestamp() + lifetime - now
        # Left <= 0 on a URL just handed over means our clock runs ahead of storage's: trust the lifetime.
        return min(left, lifetime) if left > 0 else lifetime
    expires = _number(query.get("expires"))
    if expires is not None and expires - now > 0:
        return expires - now
    return None


def is_stale_refusal(status: int, reason: str) -> bool:
    """Whether storage refused the URL itself as expired or badly signed: a new session may fix it."""
    if status not in (400, 401, 403):
        return False
    code = reason.partition(":")[0].strip()
    return code in STALE_CODES or "expired" in reason.lower()


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    """Seconds from a Retry-After header, as a number or an HTTP date (RFC 9110 10.2.3)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return default
    number = _number(value)
    if number is not None:
        return max(0.0, number)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def proxy_for(url: str) -> tuple[str, int, dict[str, str]] | None:
    """The forward proxy the environment names for `url` (http_proxy, https_proxy, no_proxy), if any."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    found = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if found.scheme != "http":
        raise ApiUnavailable(f"{parts.scheme}_proxy: only http:// proxies are supported for uploads, not {found.scheme}://")
    headers = {}
    if found.username is not None:
        credentials = f"{unquote(found.username)}:{unquote(found.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + b64encode(credentials).decode()
    return found.hostname or "", found.port or 80, headers


def storage_reason(status: int, body: str, signed_url: str) -> str:
    """Why storage refused, from its JSON or S3-style XML error: code and message only.

    S3 echoes the signature it was given (<SignatureProvided>, <StringToSign>), and a
    presigned signature is a credential until it expires, so the rest of the body is never shown.
    """
    code, message = "", ""
    try:
        payload = json.loads(body)
    except ValueError:
        code, message = _xml_text(body, "Code"), _xml_text(body, "Message")
    else:
        if isinstance(payload, dict):
            code, message = str(payload.get("code") or ""), str(payload.get("error") or payload.get("message") or "")
    reason = ": ".join(part for part in (code, message) if part) or _phrase(status)
    for _, value in parse_qsl(urlsplit(signed_url).query):
        if len(value) >= 8:
            reason = reason.replace(value, "[redacted]")
    return reason[:300]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no reason given"


def _xml_text(body: str, element: str) -> str:
    found = re.search(rf"<{element}>([^<]*)</{element}>", body)
    return html.unescape(found.group(1)).strip() if found else ""


def _describe(exc: BaseException) -> str:
    """A short cause; the URL, which carries a signature, is never part of it."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _lower(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers}
