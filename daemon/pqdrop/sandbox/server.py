"""The sandbox over HTTP: a ThreadingHTTPServer on loopback in front of SandboxState.

This is the thin shell: it parses requests, streams bodies, applies faults, and renders
replies; every decision is made in `state.py`.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseServer, TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from pqdrop.sandbox.faults import Faults
from pqdrop.sandbox.images import ImageReceiver
from pqdrop.sandbox.multipart import MultipartError, MultipartParser, boundary_of
from pqdrop.sandbox.openapi import OPENAPI
from pqdrop.sandbox.ratelimit import DEFAULT_RATE_LIMITS
from pqdrop.sandbox.records import KeyStatus
from pqdrop.sandbox.refusal import Refusal, invalid
from pqdrop.sandbox.routes import checked_api, find_route
from pqdrop.sandbox.snapshot import STATE_FILE, StateFile
from pqdrop.sandbox.state import PRESIGN_SECONDS, STORAGE_PREFIX, SandboxState
from pqdrop.sandbox.storage import BodySink, remove_stored
from pqdrop.sandbox.v2 import Call, V2Api
from pqdrop.sandbox.validation import MAX_IMAGE_BYTES

CHUNK_BYTES = 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024
MULTIPART_SLACK_BYTES = 64 * 1024  # room for part headers and boundaries around a 20 MB image
IDLE_TIMEOUT_SECONDS = 60.0  # an idle keep-alive connection is closed after this long
FAULT_CODES = {429: "RATE_LIMITED", 401: "UNAUTHORIZED", 403: "FORBIDDEN"}  # the codes PostQued itself uses
POLL_SECONDS = 0.01  # how quickly stop() is noticed; tests start and stop many sandboxes


@dataclass
class Reply:
    """A successful reply: status, JSON body (None for an empty body) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _DropReply(Exception):
    """Close the connection without answering (the lost-reply fault)."""


class _Server(ThreadingHTTPServer):
    """The socket server, holding the Sandbox its handlers serve."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can stall for seconds.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.sandbox.tls is None:
            return connection, address
        # The handshake happens on the handler's first read, in its own thread, not in the accept loop.
        return self.sandbox.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-reply, or refusing the certificate, is normal for a test server;
        # only real bugs get a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection: routes each request to an action and renders its reply."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server
    _unread: int | None = 0  # body bytes not yet read; None when the length is unknown

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without TCP_NODELAY, Nagle's algorithm
        # meets the client's delayed ACK and every reply stalls for ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    @property
    def sandbox(self) -> Sandbox:
        """The Sandbox this server belongs to."""
        return self.server.sandbox

    # -- the request cycle -----------------------------------------------------------

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        self._unread = _content_length(self.headers)
        try:
            if not path.startswith("/_sandbox/"):
                self._misbehave(path)
            reply = self._serve(path, query)
            if self.command != "GET" and not path.startswith("/_sandbox/"):
                self.sandbox.keep()  # on disk before the client hears of it, as a real service would
            self._send(reply)
        except Refusal as refusal:
            self._send_refusal(refusal, as_xml=path.startswith(STORAGE_PREFIX))
        except _DropReply:
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self._send_refusal(Refusal(500, "INTERNAL_ERROR", "The sandbox failed; see its stderr"), as_xml=False)
            raise

    def _misbehave(self, path: str) -> None:
        """Apply the slow-server and failed-reply faults."""
        if self.sandbox.faults.delay_seconds > 0:
            time.sleep(self.sandbox.faults.delay_seconds)
        status = self.sandbox.faults.take_failure(path)
        if status is not None:
            code = FAULT_CODES.get(status) or HTTPStatus(status).phrase.upper().replace(" ", "_").replace("-", "_")
            headers = {"Retry-After": "1"} if status == 429 else {}
            raise Refusal(status, code, f"Sandbox fault: this request was answered {status} on purpose", headers)

    def _serve(self, path: str, query: str) -> Reply:
        """Find the route, check key and quota, run the action."""
        route, match = find_route(self.command, path, self.sandbox.api)
        if route.action.startswith("control_"):
            self.sandbox.state.control(self.headers.get("Authorization"))
        if route.category is None:
            action: Callable[[re.Match[str], str, str], Reply] = getattr(self, "_" + route.action)
            return action(match, "", query)
        state = self.sandbox.state
        api_key = state.authenticate(self.headers.get("Authorization"))
        verdict = state.take_quota(api_key, route.category)
        limit_headers = verdict.headers()
        if not verdict.allowed:
            message = f"Too many {route.category} requests; retry in {verdict.retry_after} s"
            raise Refusal(429, "RATE_LIMITED", message, limit_headers)
        try:
            run = partial(self._v2, route.action) if route.action[:3] == "v2_" else getattr(self, "_" + route.action)
            reply: Reply = run(match, api_key, query)
        except Refusal as refusal:
            refusal.headers = {**limit_headers, **refusal.headers}
            raise
        reply.headers = {**limit_headers, **reply.headers}
        return reply

    # -- API actions -----------------------------------------------------------------

    def _upload(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(201, self.sandbox.state.begin_upload(api_key, self._read_json(), self.sandbox.url))

    def _complete(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(200, self.sandbox.state.complete_upload(api_key, self._read_json()))

    def _upload_image(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        length = self._require_length()
        if length > MAX_IMAGE_BYTES + MULTIPART_SLACK_BYTES:
            raise Refusal(413, "PAYLOAD_TOO_LARGE", f"file: images may be at most {MAX_IMAGE_BYTES} bytes (20 MB)")
        try:
            boundary = boundary_of(self.headers.get("Content-Type", ""))
        except MultipartError as exc:
            raise invalid(f"body: {exc}") from exc
        receiver = ImageReceiver(self.sandbox.storage_dir)
        try:
            parser = MultipartParser(boundary, receiver.open_part)
            for chunk in self._body_chunks(length):
                parser.feed(chunk)
            parser.close()
            image = receiver.finish()
            reply = self.sandbox.state.add_image(
                api_key, image.filename, image.content_type, image.sink.size, image.sink.sha256, image.picture
            )
            image.sink.keep(reply["key"])
        except MultipartError as exc:
            raise invalid(f"body: {exc}") from exc
        finally:
            receiver.discard()
        return Reply(201, reply)

    def _accounts(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        platform = dict(parse_qsl(query)).get("platform")
        return Reply(200, self.sandbox.state.accounts(platform))

    def _publish(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        body = self._read_json()
        outcome = self.sandbox.state.publish(api_key, self.headers.get("Idempotency-Key"), body)
        if self.sandbox.faults.take_publish_drop():
            raise _DropReply()
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Reply(outcome.status, outcome.body, headers)

    def _publish_status(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(200, self.sandbox.state.publish_status(api_key, match["id"]))

    def _cancel(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(200, self.sandbox.state.cancel_publish(api_key, match["id"]))

    def _delete_content(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        reply = self.sandbox.state.delete_content(api_key, match["id"])
        remove_stored(self.sandbox.storage_dir, reply["key"])
        return Reply(200, reply)

    def _v2(self, action: str, match: re.Match[str], api_key: str, query: str) -> Reply:
        body = self._read_json() if self.command in ("POST", "PATCH") and self._unread else {}
        ident = match.groupdict().get("id") or ""
        call = Call(action, ident, dict(parse_qsl(query)), body, self.headers.get("Idempotency-Key"), self.sandbox.url)
        status, reply = self.sandbox.v2.handle(api_key, call)
        if action == "v2_publish" and not body.get("dryRun") and self.sandbox.faults.take_publish_drop():
            raise _DropReply()
        if action == "v2_delete_content":  # the bytes go with the content, as v1's delete does
            remove_stored(self.sandbox.storage_dir, self.sandbox.state.content_key(ident))
        return Reply(status, reply)

    def _ping(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(200, {"pong": "it worked!"})

    def _openapi(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(200, OPENAPI)

    def _storage_put(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        """Receive a presigned upload, streaming it through a hash (and to disk with a storage folder)."""
        started = time.perf_counter()
        seen = {"path": match["key"], "headers": dict(self.headers.items()), "query": query}
        index = self.sandbox.state.note_storage_put(seen)  # refused ones too: tests check what reached storage
        content = self.sandbox.state.authorize_put(
            STORAGE_PREFIX + match["key"],
            dict(parse_qsl(query)),
            has_authorization="Authorization" in self.headers,
            content_type=self.headers.get("Content-Type"),
            content_length=self._unread,
        )
        sink = BodySink(self.sandbox.storage_dir)
        throttle = self.sandbox.faults.storage_bytes_per_second
        try:
            for chunk in self._body_chunks(content.declared_size):
                sink.write(chunk)
                if throttle:
                    time.sleep(len(chunk) / throttle)  # a slow uplink, for tests that need an upload in flight
            sink.keep(content.key)
        finally:
            sink.discard()
        self.sandbox.state.record_upload(content.content_id, sink.size, sink.sha256, sink.head)
        # Headers in to last body byte in: the PUT's wire time as storage saw it (bench/upload.py).
        self.sandbox.state.finish_storage_put(
            index, contentId=content.content_id, receivedSize=sink.size, wireSeconds=time.perf_counter() - started
        )
        return Reply(200, None, {"ETag": f'"{sink.sha256[:32]}"'})

    # -- sandbox controls ------------------------------------------------------------

    def _control_state(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        return Reply(200, self.sandbox.state_summary())

    def _control_faults(self, match: re.Match[str], api_key: str, query: str) -> Reply:
        control = self._read_json()
        try:
            self.sandbox.faults.apply(control)
            if "set_key" in control:
                self.sandbox.set_key(str(control["set_key"]["key"]), control["set_key"]["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid(f"faults: {exc}") from exc
        return Reply(200, {"ok": True, "faults": self.sandbox.faults.snapshot()})

    # -- bodies ----------------------------------------------------------------------

    def _require_length(self) -> int:
        if self._unread is None:
            raise Refusal(411, "LENGTH_REQUIRED", "Send the body with a Content-Length header")
        return self._unread

    def _read_json(self) -> dict[str, Any]:
        length = self._require_length()
        if length > MAX_JSON_BYTES:
            raise Refusal(413, "PAYLOAD_TOO_LARGE", f"JSON bodies may be at most {MAX_JSON_BYTES} bytes")
        raw = b"".join(self._body_chunks(length))
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise invalid("body: not valid JSON") from exc
        if not isinstance(body, dict):
            raise invalid("body: must be a JSON object")
        return body

    def _body_chunks(self, length: int) -> Iterator[bytes]:
        """The next `length` body bytes in chunks of at most CHUNK_BYTES, never all at once."""
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise ConnectionError("the client closed the connection before sending the whole body")
            remaining -= len(chunk)
            self._unread = (self._unread or 0) - len(chunk)
            yield chunk

    def _discard_unread(self) -> None:
        """Read away a body nobody consumed, so the connection can carry the next request."""
        if self._unread is None:
            self.close_connection = True
            return
        try:
            for _ in self._body_chunks(self._unread):
                pass
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    # -- replies ---------------------------------------------------------------------

    def _send(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self._write(reply.status, data, "application/json", reply.headers)

    def _send_refusal(self, refusal: Refusal, *, as_xml: bool) -> None:
        if as_xml:
            # Presigned URLs point at object storage, which answers in S3's XML error format.
            xml = f"<Error><Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message></Error>"
            data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + xml.encode()
            self._write(refusal.status, data, "application/xml", refusal.headers)
        else:
            self._write(refusal.status, json.dumps(refusal.body()).encode(), "application/json", refusal.headers)

    def _write(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        self._discard_unread()
        if status == 429:
            self.sandbox.state.note_rate_limited()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path without its query: presigned signatures stay out of logs, as do all headers.
        if self.sandbox.log_requests:
            sys.stderr.write(f"sandbox: {self.command} {self.path.partition('?')[0]} -> {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        if self.sandbox.log_requests:
            sys.stderr.write(f"sandbox: {format % args}\n")


def _content_length(headers: Message) -> int | None:
    """The declared body length: 0 without a body, None when unknown (chunked or malformed)."""
    if "Transfer-Encoding" in headers:
        return None
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


class Sandbox:
    """A PostQued-compatible server on loopback: `start()` serves in a thread, `serve_forever()` blocks."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = ("pq_sandbox",),
        rate_limits: Mapping[str, int] = DEFAULT_RATE_LIMITS,
        window_seconds: float = 60.0,
        processing_seconds: float = 0.5,
        storage_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        *,
        log_requests: bool = False,
        presign_seconds: int = PRESIGN_SECONDS,
        tls: ssl.SSLContext | None = None,
        api: str = "both",
        workspaces: tuple[str, ...] = ("Main",),
        state_dir: str | Path | None = None,
    ) -> None:
        self.api = checked_api(api)
        api_keys = tuple(api_keys)
        self.host = host
        self.port = port
        self.tls = tls  # a server-side context: serve HTTPS (bench/upload.py makes a self-signed one)
        self.storage_dir = None if storage_dir is None else Path(storage_dir)
        self.log_requests = log_requests
        self.state = SandboxState(
            api_keys=api_keys,
            rate_limits=rate_limits,
            window_seconds=window_seconds,
            processing_seconds=processing_seconds,
            presign_seconds=presign_seconds,
            clock=clock,
        )
        # Kept on disk when given a folder (`pqdrop try`, `pqdrop sandbox --state DIR`); else forgotten at stop.
        self.v2 = V2Api(self.state, workspaces)
        self.state_file = None if state_dir is None else StateFile(Path(state_dir) / STATE_FILE)
        if self.state_file is not None:
            self.state_file.load(self.state, self.v2, api_keys)
        self.faults = Faults()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        """The base URL, such as http://127.0.0.1:8123 (the API lives under /v1/); binds the port if need be."""
        server = self.bind()._server
        assert server is not None
        return f"{'https' if self.tls else 'http'}://{self.host}:{server.server_port}"

    def set_key(self, key: str, status: KeyStatus) -> None:
        """Treat `key` as "ok", "revoked" or "subscription_required" from now on."""
        self.state.set_key(key, status)

    def keep(self) -> None:
        """Write the state to its file, when it has one."""
        if self.state_file is not None:
            self.state_file.save(self.state, self.v2)

    def state_summary(self) -> dict[str, Any]:
        """What GET /_sandbox/state returns: publishes, contents, counters and the armed faults."""
        return {**self.state.summary(), "faults": self.faults.snapshot(), "api": self.api}

    def bind(self) -> Sandbox:
        """Open the listening socket (so `url` is known) without serving yet."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
        return self

    def start(self) -> Sandbox:
        """Serve in a daemon thread and return at once."""
        server = self.bind()._server
        assert server is not None
        if self._thread is None:
            self._serving = True
            self._thread = threading.Thread(target=self._serve, args=(server,), name="pqdrop-sandbox", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stop() is called elsewhere or KeyboardInterrupt."""
        server = self.bind()._server
        assert server is not None
        self._serving = True
        try:
            self._serve(server)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving and close the listening socket; safe to call twice."""
        server = self._server
        if server is None:
            return
        if self._serving:
            server.shutdown()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self, server: BaseServer) -> None:
        try:
            server.serve_forever(poll_interval=POLL_SECONDS)
        finally:
            self._serving = False

    def _close(self) -> None:
        if self._server is not None:
            self._server.server_close()
            self._server = None
