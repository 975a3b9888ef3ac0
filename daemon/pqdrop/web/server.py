"""The endpoint over HTTP: a ThreadingHTTPServer on its own threads, bound only where `[http] listen` says.

Only GET and HEAD are answered (405 for anything else): nothing here changes anything. Each request
reads what it shows when it comes (the status document, the loop's health), so the daemon's loop
never waits on a browser, and an idle daemon with nobody looking does nothing here at all.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pqdrop.errors import ConfigError
from pqdrop.names import json_text, shown
from pqdrop.web.metrics import CONTENT_TYPE, exposition
from pqdrop.web.page import Upload, render_page

log = logging.getLogger("pqdrop")

# A client that connects and says nothing (or reads nothing) gives up its thread after this long.
REQUEST_TIMEOUT_SECONDS = 10.0
# Every answer: never cached (it is a look at now), never sniffed, and no script or frame of any kind
# runs on the page, whatever a file's name holds (names are escaped as well).
SAFE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
}


class NotNow(Exception):
    """What a view cannot show now, and why (an inbox that is not there): answered 503 with the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Views:
    """What the endpoint shows, each read when asked for."""

    health: Callable[[], Sequence[str]]  # why the daemon is unhealthy now; empty when it is healthy
    document: Callable[[], Mapping[str, Any]]  # `pqdrop status --json`'s document
    uploads: Callable[[], Sequence[Upload]] = tuple  # uploads in flight
    items: Callable[[], Mapping[str, int]] = dict  # items by state, for /metrics


class Endpoint:
    """Bound when made (so a taken port is said before the daemon says READY), served after `start`."""

    def __init__(self, address: tuple[str, int], views: Views) -> None:
        host, port = address
        server_class = _IPv6Server if ":" in host else _Server
        try:
            self._server = server_class((host, port), _handler(views, loopback_only=_is_loopback(host)))
        except OSError as exc:
            raise ConfigError(
                f"[http] listen = \"{_written(host, port)}\": cannot listen there: {exc.strerror or exc}; "
                "choose another port (or address), or stop what uses it"
            ) from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="pqdrop-http", daemon=True)

    @property
    def url(self) -> str:
        """Where the endpoint answers, with the port the system picked for port 0."""
        host, port = self._server.server_address[:2]
        return f"http://{_written(str(host), int(port))}"

    def start(self) -> Endpoint:
        self._thread.start()
        log.info("status page, health and metrics on %s/", self.url)
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _written(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser's open keep-alive connection never holds up the daemon's stop


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler(views: Views, loopback_only: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.views = views
    Handler.loopback_only = loopback_only
    return Handler


def loopback_host(host_header: str) -> bool:
    """Whether a Host header names this machine's loopback: 127.x.y.z, [::1] or localhost, any port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    else:
        host = host.rpartition(":")[0] if host.count(":") == 1 else host
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "localhost.")


class _Handler(BaseHTTPRequestHandler):
    views: Views
    loopback_only = False
    timeout = REQUEST_TIMEOUT_SECONDS
    server_version = "pqdrop"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._answer(body=False)

    def __getattr__(self, name: str) -> Any:
        # Every other method (POST, PUT, DELETE, PATCH, OPTIONS, anything made up) is refused the same way.
        if name.startswith("do_"):
            return self._refuse
        raise AttributeError(name)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                   b"read-only: only GET and HEAD are answered here\n", {"Allow": "GET, HEAD"}, body=True)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        host = self.headers.get("Host", "").strip()
        if self.loopback_only and host and not loopback_host(host):  # a browser always sends Host; curl -0 may not
            # DNS rebinding: a web page the user opens elsewhere points its own name at 127.0.0.1 and reads
            # this page with it. An endpoint on loopback answers only to a loopback name (Syncthing's GUI does
            # the same host check).
            self._send(HTTPStatus.FORBIDDEN, "text/plain; charset=utf-8",
                       b"this endpoint listens on loopback and answers only to a loopback address "
                       b"(127.0.0.1, [::1] or localhost) in the Host header; a reverse proxy in front passes "
                       b"one (nginx: proxy_set_header Host 127.0.0.1)\n", {}, body=body)
            return
        try:
            status, content_type, payload = self._route(path)
        except NotNow as exc:
            status, content_type = HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8"
            payload = f"{shown(exc.message)}\n".encode()
        except Exception as exc:  # noqa: BLE001 - a look that fails answers 500 and says why; the daemon goes on
            log.warning("status endpoint: %s failed: %s: %s", path, type(exc).__name__, exc)
            status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8"
            payload = f"cannot show {path} now: {type(exc).__name__}: {exc}\n".encode()
        self._send(status, content_type, payload, {}, body=body)

    def _route(self, path: str) -> tuple[HTTPStatus, str, bytes]:
        views = self.views
        if path == "/healthz":
            problems = list(views.health())
            if problems:
                text = "unhealthy: " + "; ".join(problems) + "\n"
                return HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", text.encode()
            return HTTPStatus.OK, "text/plain; charset=utf-8", b"ok\n"
        if path == "/metrics":
            try:
                items = views.items()
            except NotNow:
                items = {}  # the inbox is away: no item counts rather than a failed scrape or false zeros
            return HTTPStatus.OK, CONTENT_TYPE, exposition(items, views.uploads(), views.health())
        if path == "/status.json":
            return HTTPStatus.OK, "application/json", (json_text(views.document(), indent=2) + "\n").encode()
        if path in ("/", "/index.html"):
            page = render_page(views.document(), views.uploads(), views.health())
            return HTTPStatus.OK, "text/html; charset=utf-8", page.encode()
        listing = json.dumps(["/", "/status.json", "/healthz", "/metrics"])
        return HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", f"no such page; there are {listing}\n".encode()

    def _send(self, status: HTTPStatus, content_type: str, payload: bytes, extra: Mapping[str, str], *,
              body: bool) -> None:
        self.send_response(status)
        for name, value in {**SAFE_HEADERS, **extra, "Content-Type": content_type,
                            "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        # A scrape every 15 s must not become a log line every 15 s (idle means idle): debug only.
        log.debug("status endpoint: %s %s", self.address_string(), format % args)
