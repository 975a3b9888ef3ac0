"""The presigned PUT against the real sandbox over HTTP: what storage receives, the bandwidth cap,
stale URLs and fresh upload sessions."""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_client, sidecar, write_config

from pqdrop.config import load_config
from pqdrop.errors import EXIT_OK, ApiRejected, ApiUnavailable, MediaError, UploadUrlStale
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.ratelimit import Category, RateLimiter
from pqdrop.postqued.storage import Storage, is_stale_refusal, send_with_fresh_sessions, url_lifetime
from pqdrop.postqued.types import RetryPolicy, UploadTicket
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import Workers, once

API_KEY = "pq_storage_test"
GENEROUS: dict[Category, int] = {"upload": 1000, "read": 1000, "publish": 1000, "delete": 1000}
FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05)


class ShiftedClock:
    """Wall time plus an offset the test moves: the sandbox's view of time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def sandbox(clock: ShiftedClock) -> Iterator[Sandbox]:
    with Sandbox(api_keys=(API_KEY,), processing_seconds=0.05, clock=clock) as server:
        yield server


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[PostQued]:
    with PostQued(sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY, timeout_seconds=10) as api:
        yield api


def blob(path: Path, size: int) -> Path:
    """`size` bytes of one random MiB repeated: real bytes, cheap to write."""
    block = os.urandom(1024 * 1024)
    with path.open("wb") as stream:
        for start in range(0, size, len(block)):
            stream.write(block[: min(len(block), size - start)])
    return path


def video_puts(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every presigned PUT as storage saw it, refused ones too."""
    return list(sandbox.state_summary()["storage_puts"])


def test_the_put_reaches_storage_with_a_content_length_never_chunked_and_without_the_key(
    sandbox: Sandbox, client: PostQued, tmp_path: Path
) -> None:
    path = blob(tmp_path / "clip.mp4", 9 * 1024 * 1024 + 17)  # more than two pieces, not a whole number
    size = path.stat().st_size
    ticket = client.start_upload(path.name, "video/mp4", size)
    client.put_to_storage(ticket, path, size)
    [put] = video_puts(sandbox)
    headers = {name.lower(): value for name, value in put["headers"].items()}
    assert headers["content-length"] == str(size)
    assert "transfer-encoding" not in headers
    assert "authorization" not in headers
    assert headers["content-type"] == "video/mp4"
    assert API_KEY not in repr(put)
    assert (put["contentId"], put["receivedSize"]) == (ticket.content_id, size)


def test_a_file_gone_before_its_put_fails_its_item_without_a_request_or_a_retry(
    sandbox: Sandbox, client: PostQued, tmp_path: Path
) -> None:
    # Removed from processing/ while its item was posted (a carousel's next photo, in v2): the item's
    # trouble, never "storage unreachable" (which retried five times and made `once` exit 3).
    path = blob(tmp_path / "gone.mp4", 4096)
    ticket = client.start_upload(path.name, "video/mp4", 4096)
    path.unlink()
    with pytest.raises(MediaError) as caught:
        client.put_to_storage(ticket, path, 4096)
    assert caught.value.message == "gone.mp4 is gone: it was removed while its item was being posted"
    assert video_puts(sandbox) == []


@pytest.mark.slow
def test_an_upload_capped_at_40_mb_s_takes_at_least_4_75_s_for_200_mb_at_the_server(
    sandbox: Sandbox, client: PostQued, tmp_path: Path
) -> None:
    path = blob(tmp_path / "big.mp4", 200_000_000)
    ticket = client.start_upload(path.name, "video/mp4", 200_000_000)
    client.put_to_storage(ticket, path, 200_000_000, max_rate=40_000_000)
    [put] = video_puts(sandbox)
    assert put["receivedSize"] == 200_000_000
    assert put["wireSeconds"] >= 4.75  # a cap only slows; how near 5.0 s it lands is a bench figure


def test_two_concurrent_uploads_share_one_cap(sandbox: Sandbox, client: PostQued, tmp_path: Path) -> None:
    paths = [blob(tmp_path / f"clip{index}.mp4", 20_000_000) for index in range(2)]
    tickets = [client.start_upload(path.name, "video/mp4", 20_000_000) for path in paths]
    started = time.monotonic()
    threads = [
        threading.Thread(target=client.put_to_storage, args=(ticket, path, 20_000_000), kwargs={"max_rate": 20_000_000})
        for ticket, path in zip(tickets, paths, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 MB at 20 MB/s together: about 2 s; each alone at the full cap would take 1 s.
    assert time.monotonic() - started >= 1.9
    assert [put["receivedSize"] for put in video_puts(sandbox)] == [20_000_000] * 2


def test_a_url_refused_as_expired_raises_upload_url_stale(
    sandbox: Sandbox, client: PostQued, clock: ShiftedClock, tmp_path: Path
) -> None:
    path = blob(tmp_path / "clip.mp4", 1000)
    ticket = client.start_upload(path.name, "video/mp4", 1000)
    clock.offset += 901  # the sandbox signs for 900 s
    with pytest.raises(UploadUrlStale) as caught:
        client.put_to_storage(ticket, path, 1000)
    assert (caught.value.status, caught.value.first_attempt, caught.value.unsent) == (403, True, False)
    assert "HTTP 403 AccessDenied: Request has expired" in caught.value.message


def test_a_url_past_its_stated_lifetime_is_not_sent(sandbox: Sandbox, client: PostQued, tmp_path: Path) -> None:
    path = blob(tmp_path / "clip.mp4", 1000)
    ticket = client.start_upload(path.name, "video/mp4", 1000)
    with pytest.raises(UploadUrlStale) as caught:
        client.put_to_storage(ticket, path, 1000, valid_until=time.monotonic() - 1)
    assert caught.value.unsent
    assert video_puts(sandbox) == []


def test_a_short_lived_url_states_its_lifetime_and_expires(clock: ShiftedClock, tmp_path: Path) -> None:
    with Sandbox(api_keys=(API_KEY,), presign_seconds=30, clock=clock) as sandbox, PostQued(
        sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY
    ) as client:
        path = blob(tmp_path / "clip.mp4", 1000)
        ticket = client.start_upload(path.name, "video/mp4", 1000)
        lifetime = url_lifetime(ticket.url, clock())
        assert lifetime is not None and 28 <= lifetime <= 30
        clock.offset += 31
        with pytest.raises(UploadUrlStale):
            client.put_to_storage(ticket, path, 1000)


def test_a_second_session_is_opened_when_a_lifetime_runs_out_before_the_put(
    sandbox: Sandbox, client: PostQued, tmp_path: Path
) -> None:
    path = blob(tmp_path / "clip.mp4", 1000)
    now = [0.0]
    storage = Storage(monotonic=lambda: now[0])
    opened: list[UploadTicket] = []

    def open_session() -> UploadTicket:
        opened.append(client.start_upload(path.name, "video/mp4", 1000))
        return opened[-1]

    def send(ticket: UploadTicket, valid_until: float | None) -> None:
        if len(opened) == 1:
            now[0] += 1000.0  # the first ticket waited 1,000 s (behind the bandwidth cap) before its PUT
        storage.put(ticket.method, ticket.url, ticket.headers, path, 1000, valid_until=valid_until)

    sent = send_with_fresh_sessions(open_session, send, monotonic=lambda: now[0])
    assert sent is opened[1]
    assert [put["contentId"] for put in video_puts(sandbox)] == [sent.content_id]  # the stale URL was never tried
    assert sandbox.state.contents[sent.content_id]["receivedSize"] == 1000


def test_a_refusal_a_new_session_cannot_fix_still_fails(sandbox: Sandbox, client: PostQued, tmp_path: Path) -> None:
    path = blob(tmp_path / "clip.mov", 1000)
    sessions: list[UploadTicket] = []

    def open_session() -> UploadTicket:
        ticket = client.start_upload(path.name, "video/mp4", 1000)
        sessions.append(ticket)
        return replace(ticket, headers={"Content-Type": "video/quicktime"})  # not what was signed

    with pytest.raises(ApiRejected) as caught:
        send_with_fresh_sessions(open_session, lambda ticket, until: client.put_to_storage(ticket, path, 1000))
    assert "SignatureDoesNotMatch" in caught.value.message
    assert len(sessions) == 2  # one retry with a new session, then the refusal stands
    assert len(video_puts(sandbox)) == 2


def test_a_url_expired_before_a_retry_leads_to_a_second_session_and_the_item_is_sent(
    sandbox: Sandbox, clock: ShiftedClock, tmp_path: Path
) -> None:
    config = load_config(write_config(tmp_path, sandbox.url))
    inbox = config.inbox.path
    inbox.mkdir()
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    sandbox.faults.fail_next(1, status=503, path_prefix="/storage/")

    def pause(seconds: float) -> None:
        clock.offset += 1000.0  # the retry comes 1,000 s later; the URL lived 900 s

    limiter = RateLimiter(GENEROUS)
    journal = Journal(config.state.dir)
    with PostQued(sandbox.url, API_KEY, limiter=limiter, retry=FAST_RETRY, sleep=pause) as client, Workers(
        config, client, journal, stop=threading.Event()
    ) as workers:
        code, _ = once(workers)
    journal.close()
    assert code == EXIT_OK
    assert (inbox / "sent" / "clip.mp4").exists()
    videos = [content for content in sandbox.state.contents.values() if content["type"] == "video"]
    assert sorted(content["status"] for content in videos) == ["awaiting_upload", "ready"]
    puts = video_puts(sandbox)
    assert [put.get("receivedSize") for put in puts] == [None, (inbox / "sent" / "clip.mp4").stat().st_size]


@pytest.mark.parametrize(
    ("status", "reason", "stale"),
    [
        (403, "AccessDenied: Request has expired", True),
        (403, "SignatureDoesNotMatch: The request signature we calculated does not match", True),
        (400, "ExpiredToken: The provided token has expired.", True),
        (403, "AccessDenied: Access Denied", False),
        (404, "NoSuchUpload: The upload session does not exist or was deleted", False),
        (500, "InternalError: expired", False),
    ],
)
def test_stale_refusals_are_told_apart_from_others(status: int, reason: str, stale: bool) -> None:
    assert is_stale_refusal(status, reason) is stale


@pytest.mark.parametrize(
    ("query", "lifetime"),
    [
        ("X-Amz-Date=20261201T120000Z&X-Amz-Expires=900&X-Amz-Signature=ab", 600.0),  # signed 5 min ago
        ("X-Amz-Date=20261201T121000Z&X-Amz-Expires=900&X-Amz-Signature=ab", 900.0),  # our clock runs behind
        ("X-Amz-Date=20261201T100000Z&X-Amz-Expires=900&X-Amz-Signature=ab", 900.0),  # ahead: trust the lifetime
        ("x-goog-date=20261201T120000Z&x-goog-expires=3600", 3300.0),
        ("Expires=1796128500&Signature=ab", 1800.0),
        ("Signature=ab", None),
    ],
)
def test_url_lifetime_reads_what_the_url_states(query: str, lifetime: float | None) -> None:
    now = 1796126700.0  # 2026-12-01T12:05:00Z
    assert url_lifetime(f"https://bucket.example/key?{query}", now) == lifetime


def test_fresh_sessions_stop_after_three(tmp_path: Path) -> None:
    opened: list[int] = []

    def open_session() -> UploadTicket:
        opened.append(len(opened))
        return UploadTicket(str(len(opened)), "k", "https://s.example/k", "PUT", {})

    def send(ticket: UploadTicket, valid_until: float | None) -> None:
        raise UploadUrlStale("stale", unsent=True)

    with pytest.raises(UploadUrlStale):
        send_with_fresh_sessions(open_session, send)
    assert opened == [0, 1, 2]


def test_make_client_uploads_without_a_cap_by_default(tmp_path: Path, sandbox: Sandbox) -> None:
    config = load_config(write_config(tmp_path, sandbox.url))
    assert config.upload.max_rate == 0.0
    with make_client(config, key=API_KEY) as api:
        path = blob(tmp_path / "clip.mp4", 4_000_000)
        ticket = api.start_upload(path.name, "video/mp4", 4_000_000)
        api.put_to_storage(ticket, path, 4_000_000)
    assert video_puts(sandbox)[0]["receivedSize"] == 4_000_000



@pytest.fixture
def proxy() -> Iterator[list[dict[str, Any]]]:
    """A forward proxy on loopback that answers every request itself and records what it got."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received = len(self.rfile.read(length))
            seen.append({"target": self.path, "headers": dict(self.headers.items()), "received": received})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    seen.append({"port": server.server_port})
    try:
        yield seen
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_the_put_goes_through_the_proxy_the_environment_names(
    proxy: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = proxy.pop(0)["port"]
    monkeypatch.setenv("http_proxy", f"http://user:s%40cret@127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    path = blob(tmp_path / "clip.mp4", 3000)
    url = "http://storage.example/bucket/clip.mp4?X-Amz-Expires=900&X-Amz-Signature=abc"
    Storage().put("PUT", url, {"Content-Type": "video/mp4"}, path, 3000)
    [request] = proxy
    assert request["target"] == url  # a forward proxy takes the absolute URL
    assert request["headers"]["Host"] == "storage.example"
    assert request["headers"]["Proxy-Authorization"] == "Basic dXNlcjpzQGNyZXQ="  # user:s@cret
    assert request["received"] == 3000


def test_no_proxy_sends_the_put_straight_to_storage(
    sandbox: Sandbox, client: PostQued, proxy: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = proxy.pop(0)["port"]
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    path = blob(tmp_path / "clip.mp4", 3000)
    ticket = client.start_upload(path.name, "video/mp4", 3000)
    client.put_to_storage(ticket, path, 3000)
    assert proxy == []
    assert video_puts(sandbox)[0]["receivedSize"] == 3000


def test_a_reloaded_max_rate_caps_the_next_upload(sandbox: Sandbox, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, sandbox.url))
    inbox = config.inbox.path
    inbox.mkdir()
    video = make_video(inbox / "clip.mp4", seconds=1)
    with video.open("ab") as stream:  # padded to 4 MB: the probe reads the headers and tolerates a tail
        stream.write(os.urandom(4_000_000 - video.stat().st_size))
    sidecar(inbox / "clip.md")
    journal = Journal(config.state.dir)
    with PostQued(sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY) as api, Workers(
        config, api, journal, stop=threading.Event()
    ) as workers:
        capped = load_config(write_config(tmp_path, sandbox.url, upload={"max_rate": "2 MB/s"}))
        assert workers.reconfigure(capped) == []  # no restart needed
        code, _ = once(workers)
    journal.close()
    assert code == EXIT_OK
    [put] = video_puts(sandbox)
    assert put["receivedSize"] == 4_000_000
    assert put["wireSeconds"] >= 1.9  # 4 MB at 2 MB/s is 2 s less one piece


def test_a_storage_429_is_retried_after_its_retry_after(sandbox: Sandbox, tmp_path: Path) -> None:
    pauses: list[float] = []
    path = blob(tmp_path / "clip.mp4", 3000)
    with PostQued(sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY, sleep=pauses.append) as api:
        ticket = api.start_upload(path.name, "video/mp4", 3000)
        sandbox.faults.fail_next(1, status=429, path_prefix="/storage/")  # the sandbox says Retry-After: 1
        api.put_to_storage(ticket, path, 3000)
    assert pauses == [1.0]
    assert sandbox.state.contents[ticket.content_id]["receivedSize"] == 3000


def test_a_storage_408_is_retried_not_failed(sandbox: Sandbox, tmp_path: Path) -> None:
    path = blob(tmp_path / "clip.mp4", 3000)
    with PostQued(sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY) as api:
        ticket = api.start_upload(path.name, "video/mp4", 3000)
        sandbox.faults.fail_next(2, status=408, path_prefix="/storage/")
        api.put_to_storage(ticket, path, 3000)
    assert sandbox.state.contents[ticket.content_id]["receivedSize"] == 3000


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with openssl as an admin would."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_the_put_over_https_delivers_every_byte_to_a_trusted_store(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # how a private CA is trusted, for both clients
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    path = blob(tmp_path / "clip.mp4", 3 * 1024 * 1024 + 5)
    size = path.stat().st_size
    with Sandbox(api_keys=(API_KEY,), tls=context) as sandbox, PostQued(
        sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY
    ) as api:
        assert sandbox.url.startswith("https://")
        ticket = api.start_upload(path.name, "video/mp4", size)
        api.put_to_storage(ticket, path, size)
        content = sandbox.state.contents[ticket.content_id]
    assert (content["receivedSize"], content["sha256"]) == (size, hashlib.sha256(path.read_bytes()).hexdigest())


def test_an_untrusted_store_is_refused_without_sending(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    path = blob(tmp_path / "clip.mp4", 3000)
    with Sandbox(api_keys=(API_KEY,), tls=context) as sandbox:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with PostQued(sandbox.url, API_KEY, limiter=RateLimiter(GENEROUS), retry=FAST_RETRY) as api:
            ticket = api.start_upload(path.name, "video/mp4", 3000)
        monkeypatch.delenv("SSL_CERT_FILE")  # storage's own trust: the system store, which lacks this one
        with pytest.raises(ApiUnavailable) as caught:
            Storage(attempts=1).put("PUT", ticket.url, ticket.headers, path, 3000)
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
    assert [put for put in sandbox.state.storage_puts if "receivedSize" in put] == []
