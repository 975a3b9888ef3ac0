"""A misbehaving PostQued on loopback: forwards to a real sandbox and spoils the replies a test names.

Spoils: a reply trickled one byte at a time (body, or status line and headers), a 300 MB reply, an
endless chunked one, and an upload ticket rewritten (its URL, its headers). Each spoiled reply is
recorded: how many bytes went out and whether the client hung up before its end.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

PIECE = b"\0" * 65536
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server"}


@dataclass
class Spoiled:
    """One reply the meddler spoiled."""

    method: str
    path: str
    sent: int = 0  # bytes of the (spoiled) body written
    hung_up: bool = False  # the client closed before the reply's end
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


Spoil = Callable[["_Handler", httpx.Response, Spoiled], None]


class Meddler:
    """A loopback HTTP server in front of `upstream`; `spoil(method, pattern, how)` arms a misbehaviour."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.closing = threading.Event()
        self.spoiled: list[Spoiled] = []
        self._rules: list[tuple[str, re.Pattern[str], Spoil]] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30.0)
        meddler = self

        class Handler(_Handler):
            owner = meddler

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def spoil(self, method: str, pattern: str, how: Spoil) -> None:
        with self._lock:
            self._rules.append((method, re.compile(pattern), how))

    def rule_for(self, method: str, path: str) -> Spoil | None:
        with self._lock:
            return next((how for m, pattern, how in self._rules if m == method and pattern.fullmatch(path)), None)

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> Meddler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    owner: Meddler
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        """Quiet: the tests read what was spoiled, not an access log."""

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        skipped = ("host", "content-length")
        headers = {name: value for name, value in self.headers.items() if name.lower() not in skipped}
        reply = self.owner._client.request(self.command, self.owner.upstream + self.path, content=body, headers=headers)
        path = self.path.split("?", 1)[0]
        how = self.owner.rule_for(self.command, path)
        self.close_connection = True
        if how is None:
            self.send(reply.status_code, reply.content, reply.headers)
            return
        spoiled = Spoiled(self.command, path)
        self.owner.spoiled.append(spoiled)
        spoiled.started.set()
        try:
            how(self, reply, spoiled)
        except (BrokenPipeError, ConnectionResetError):
            spoiled.hung_up = True
        finally:
            spoiled.ended.set()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def send(self, status: int, content: bytes, headers: httpx.Headers | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or httpx.Headers()).items():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(content)

    def head(self, status: int, extra: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} OK", "Content-Type: application/json", "Connection: close",
                 *(f"{name}: {value}" for name, value in extra.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- the spoils ---------------------------------------------------------------------------------


def trickle_body(pace: float) -> Spoil:
    """The true reply, its body one byte every `pace` seconds."""

    def how(handler: _Handler, reply: httpx.Response, spoiled: Spoiled) -> None:
        handler.wfile.write(handler.head(reply.status_code, {"Content-Length": str(len(reply.content))}))
        for index in range(len(reply.content)):
            handler.wfile.write(reply.content[index:index + 1])
            handler.wfile.flush()
            spoiled.sent += 1
            if handler.owner.closing.wait(pace):
                return
        _hung_up_at_end(handler, spoiled, len(reply.content))

    return how


def trickle_head(pace: float) -> Spoil:
    """The status line and headers one byte every `pace` seconds (the body never comes first)."""

    def how(handler: _Handler, reply: httpx.Response, spoiled: Spoiled) -> None:
        head = handler.head(reply.status_code, {"Content-Length": str(len(reply.content)), "X-Padding": "p" * 200})
        for index in range(len(head)):
            handler.wfile.write(head[index:index + 1])
            handler.wfile.flush()
            if handler.owner.closing.wait(pace):
                return
        handler.wfile.write(reply.content)
        spoiled.sent = len(reply.content)
        _hung_up_at_end(handler, spoiled, len(reply.content))

    return how


def huge(declared: int = 300_000_000) -> Spoil:
    """A 200 reply declaring `declared` bytes and sending zeros until the client hangs up or all went."""

    def how(handler: _Handler, reply: httpx.Response, spoiled: Spoiled) -> None:
        handler.wfile.write(handler.head(200, {"Content-Length": str(declared)}))
        while spoiled.sent < declared and not handler.owner.closing.is_set():
            handler.wfile.write(PIECE[: declared - spoiled.sent])
            spoiled.sent += min(len(PIECE), declared - spoiled.sent)

    return how


def endless(limit: int = 400 * 1024 * 1024) -> Spoil:
    """A chunked 200 reply of zeros that ends only after `limit` bytes (or when the client hangs up)."""

    def how(handler: _Handler, reply: httpx.Response, spoiled: Spoiled) -> None:
        handler.wfile.write(handler.head(200, {"Transfer-Encoding": "chunked"}))
        chunk = f"{len(PIECE):x}\r\n".encode() + PIECE + b"\r\n"
        while spoiled.sent < limit and not handler.owner.closing.is_set():
            handler.wfile.write(chunk)
            spoiled.sent += len(PIECE)
        handler.wfile.write(b"0\r\n\r\n")

    return how


def ticket(rewrite: Callable[[dict[str, Any]], None]) -> Spoil:
    """The true start-upload reply with its `upload` object rewritten by `rewrite`."""

    def how(handler: _Handler, reply: httpx.Response, spoiled: Spoiled) -> None:
        body = reply.json()
        if reply.is_success:
            rewrite(body["upload"])
        handler.send(reply.status_code, json.dumps(body).encode(), reply.headers)

    return how


def _hung_up_at_end(handler: _Handler, spoiled: Spoiled, length: int) -> None:
    """Whether the client closed before all `length` bytes went: a last write after its close fails."""
    handler.wfile.flush()
    if spoiled.sent < length:
        spoiled.hung_up = True
