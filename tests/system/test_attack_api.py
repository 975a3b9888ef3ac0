"""An API and a store that misbehave (issue 21): huge, endless and trickling replies, bad upload tickets,
and a stop asked for mid-request. Each case is a real server on loopback (tests/meddler.py, or a socket
here) in front of, or instead of, the real sandbox.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, wait_until, write_config
from tests.meddler import Meddler, endless, huge, ticket, trickle_body, trickle_head

from pqdrop.config import Config, load_config
from pqdrop.errors import ApiRejected, ApiUnavailable
from pqdrop.media.mediagen import make_video
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.deadlines import OVERDUE_GRACE_SECONDS
from pqdrop.postqued.ratelimit import RateLimiter
from pqdrop.postqued.storage import Storage
from pqdrop.postqued.transport import MAX_REPLY_BYTES
from pqdrop.postqued.types import RetryPolicy
from pqdrop.sandbox import Sandbox
from pqdrop.service.systemd import Pulse
from pqdrop.service.workers import Workers

REPO = Path(__file__).resolve().parents[2]
ACCOUNTS = r"/v1/platform-accounts"
UPLOAD = r"/v1/content/upload"


@pytest.fixture
def meddler(sandbox: Sandbox) -> Iterator[Meddler]:
    with Meddler(sandbox.url) as server:
        yield server


def client_of(config: Config, *, deadline: float = 60.0, timeout: float = 10.0, attempts: int = 1) -> PostQued:
    return PostQued(config.postqued.base_url, SANDBOX_KEY, limiter=RateLimiter.of(config.postqued.rate_limits),
                    retry=RetryPolicy(attempts=attempts, base_seconds=0.05, cap_seconds=0.2),
                    timeout_seconds=timeout, deadline_seconds=deadline, api=config.postqued.api)


def config_at(tmp_path: Path, base_url: str, **postqued: Any) -> Config:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return load_config(write_config(tmp_path, base_url, postqued=postqued))


# --- replies too big -----------------------------------------------------------------------------


@pytest.mark.parametrize("spoil", [huge(), endless()], ids=["300 MB declared", "endless chunked"])
def test_a_reply_past_the_size_limit_fails_as_the_apis_fault_without_growing_memory(
    meddler: Meddler, tmp_path: Path, spoil: Callable[..., None]
) -> None:
    meddler.spoil("GET", ACCOUNTS, spoil)
    with client_of(config_at(tmp_path, meddler.url)) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ApiUnavailable) as refused:
                client.accounts()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "reply is larger than 8 MiB" in refused.value.message
    assert refused.value.message.startswith("GET /v1/platform-accounts: ")
    assert peak < 3 * MAX_REPLY_BYTES  # the old client held all 300 MB
    [spoiled] = meddler.spoiled
    assert spoiled.ended.wait(10)
    assert spoiled.sent < 300_000_000  # the client hung up; it did not read on


# --- replies too slow ----------------------------------------------------------------------------


@pytest.mark.parametrize("spoil", [trickle_body(0.1), trickle_head(0.1)], ids=["body", "status line and headers"])
def test_a_reply_trickling_in_byte_by_byte_ends_at_the_request_deadline_and_names_it(
    meddler: Meddler, tmp_path: Path, spoil: Callable[..., None]
) -> None:
    # Each byte comes well within the 10 s read timeout: only the whole-request deadline ends it.
    meddler.spoil("GET", ACCOUNTS, spoil)
    with client_of(config_at(tmp_path, meddler.url), deadline=1.0, timeout=10.0) as client, \
            pytest.raises(ApiUnavailable) as refused:
        client.accounts()
    assert refused.value.message == (
        f"GET /v1/platform-accounts: PostQued at {meddler.url} did not finish answering within 1 s "
        "([postqued].request_deadline_seconds); it is sending too slowly"
    )
    [spoiled] = meddler.spoiled
    assert spoiled.ended.wait(10)
    assert spoiled.hung_up  # the client left before the reply's end


def test_a_trickling_reply_is_retried_with_backoff_and_then_given_up(meddler: Meddler, tmp_path: Path) -> None:
    meddler.spoil("GET", ACCOUNTS, trickle_body(0.1))
    with client_of(config_at(tmp_path, meddler.url), deadline=0.5, attempts=3) as client, \
            pytest.raises(ApiUnavailable, match="request_deadline_seconds"):
        client.accounts()
    assert len(meddler.spoiled) == 3


class TricklingStore:
    """Storage that takes the whole file in, then answers one byte every `pace` seconds."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self.closing = threading.Event()
        self.hung_up = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/bucket/clip.mp4?X-Pq-Signature=abcdef0123456789"

    def _serve(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                head, _, body = received.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += connection.recv(1 << 20)
                try:
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"p" * 100 + b"\r\n\r\n":
                        connection.send(bytes([byte]))
                        if self.closing.wait(self.pace):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    self.hung_up.set()
                    continue
                self.hung_up.set() if connection.recv(1) == b"" else None

    def close(self) -> None:
        self.closing.set()
        self._listener.close()


def test_a_store_that_answers_one_byte_at_a_time_stalls_the_put_which_says_so(tmp_path: Path) -> None:
    store = TricklingStore(pace=0.1)
    video = tmp_path / "clip.bin"
    video.write_bytes(os.urandom(300_000))
    try:
        storage = Storage(timeout_seconds=1.0, attempts=1)
        with pytest.raises(ApiUnavailable) as stalled:
            storage.put("PUT", store.url, {}, video, video.stat().st_size)
    finally:
        store.close()
    assert stalled.value.message == (
        "upload of clip.bin to storage stalled: nothing moved for 1 s ([postqued].timeout_seconds); "
        "storage is taking the file in or answering too slowly"
    )
    assert "abcdef0123456789" not in stalled.value.message


# --- upload tickets ------------------------------------------------------------------------------


def _set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def rewrite(upload: dict[str, Any]) -> None:
        for name, value in fields.items():
            upload[name] = value(upload) if callable(value) else value
    return rewrite


BAD_TICKETS = {
    "file": (_set(url="file:///etc/passwd"), "an upload URL of scheme 'file' ('file:///etc/passwd')"),
    "ftp": (_set(url=lambda u: "ftp" + u["url"][4:]), "an upload URL of scheme 'ftp'"),
    "a line break in a header": (_set(headers={"Content-Type": "video/mp4\r\nX-Evil: 1"}),
                                 "the upload header Content-Type PostQued handed holds a line break"),
    "a bad port": (_set(url="http://127.0.0.1:99999/x"), "is not a usable URL (Port out of range 0-65535)"),
    "garbage": (_set(url="http://[::1/x"), "is not a usable URL (Invalid IPv6 URL)"),
    "no host": (_set(url="https:///x"), "names no host or port to send to"),
    "plain http elsewhere": (_set(url="http://192.0.2.7/bucket/x"), "a plain http:// upload URL"),
}


@pytest.mark.parametrize("case", list(BAD_TICKETS))
def test_a_bad_upload_ticket_is_asked_for_again_then_fails_with_the_apis_words(
    meddler: Meddler, tmp_path: Path, case: str
) -> None:
    rewrite, words = BAD_TICKETS[case]
    meddler.spoil("POST", UPLOAD, ticket(rewrite))
    video = make_video(tmp_path / "clip.mp4")
    with client_of(config_at(tmp_path, meddler.url), attempts=3) as client, pytest.raises(ApiRejected) as refused:
        client.upload_video(video, "video/mp4", video.stat().st_size, width=360, height=640, duration_ms=1000)
    assert refused.value.code == "BAD_UPLOAD_TICKET"
    assert words in refused.value.message
    assert refused.value.message.startswith("v1 upload session for clip.mp4: ")
    assert refused.value.message.endswith("PostQued handed such a ticket each time it was asked, so the file was "
                                          "not sent")
    assert len(meddler.spoiled) == 3  # asked again, with backoff, before giving up
    assert "X-Pq-Signature" not in refused.value.message


def test_a_good_ticket_after_a_bad_one_sends_the_file(meddler: Meddler, tmp_path: Path, sandbox: Sandbox) -> None:
    spoiled = [0]

    def once_bad(upload: dict[str, Any]) -> None:
        spoiled[0] += 1
        if spoiled[0] == 1:
            upload["url"] = "file:///etc/passwd"

    meddler.spoil("POST", UPLOAD, ticket(once_bad))
    video = make_video(tmp_path / "clip.mp4")
    with client_of(config_at(tmp_path, meddler.url), attempts=3) as client:
        content_id = client.upload_video(video, "video/mp4", video.stat().st_size, width=360, height=640,
                                         duration_ms=1000)
    assert sandbox.state_summary()["contents"][content_id]["size"] == video.stat().st_size


def test_once_fails_an_item_whose_ticket_stays_bad_into_failed_with_the_apis_words(
    meddler: Meddler, tmp_path: Path
) -> None:
    meddler.spoil("POST", UPLOAD, ticket(_set(headers={"X-Amz-Meta": "a\r\nb"})))
    config = config_at(tmp_path, meddler.url)
    make_video(config.inbox.path / "clip.mp4")
    sidecar(config.inbox.path / "clip.md")
    done = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config.source)],
                          env=_env(), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the upload header X-Amz-Meta PostQued handed holds a line break" in done.stdout
    assert "unexpected error" not in done.stdout + done.stderr
    assert "local file trouble" not in done.stdout
    assert sorted(path.name for path in (config.inbox.path / "failed").iterdir()) == [
        "clip.md", "clip.mp4", "clip.status.json"]
    assert not (config.inbox.path / "processing").exists()  # nothing left behind there


# --- a stop mid-request, a stuck worker ------------------------------------------------------------


@pytest.mark.parametrize("command", ["once", "run"])
def test_sigterm_ends_the_process_within_ten_seconds_while_a_request_trickles(
    meddler: Meddler, tmp_path: Path, command: str
) -> None:
    # A 300 s deadline and a 30 s read timeout: neither ends the request; only the stop may.
    meddler.spoil("POST", UPLOAD, trickle_body(1.0))
    config = config_at(tmp_path, meddler.url, timeout_seconds=30.0, request_deadline_seconds=300.0)
    make_video(config.inbox.path / "clip.mp4")
    sidecar(config.inbox.path / "clip.md")
    log = tmp_path / "pqdrop.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "pqdrop", command, "--config", str(config.source)],
                                   env=_env(), cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until(lambda: bool(meddler.spoiled) and meddler.spoiled[0].sent >= 2, 60)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)  # the promise: within 10 s of SIGTERM, even mid-request
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text()
    assert code == 0, output
    if command == "once":
        assert "clip  waiting  stopped at step uploading; resumes there on the next start" in output
    assert meddler.spoiled[0].ended.wait(10)
    assert meddler.spoiled[0].hung_up


def test_a_worker_past_its_request_deadline_is_overdue_and_holds_the_watchdog_beat(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = config_at(tmp_path, sandbox.url)
    beats: list[str] = []
    stuck, release = threading.Event(), threading.Event()
    from pqdrop.journal.store import Journal

    with client_of(config) as client:
        journal = Journal(config.state.dir)
        workers = Workers(config, client, journal, pulse=Pulse(beat_seconds=1e-9, send=beats.append))
        try:
            def hang() -> None:
                # Somewhere no guard reaches (a resolver, a disk): the deadline passed long ago.
                with client.deadlines.request("GET /v1/platform-accounts", -OVERDUE_GRACE_SECONDS - 1):
                    stuck.set()
                    release.wait(30)

            workers._submit("clip", hang)  # type: ignore[arg-type]
            assert stuck.wait(10)
            assert workers.overdue() == ["clip"]
            assert workers.stuck() == "stuck: clip in GET /v1/platform-accounts past its deadline"
            workers.pulse.beat()
            assert "WATCHDOG=1" not in beats  # systemd sees the stuck worker and restarts the unit
            release.set()
            wait_until(lambda: workers.overdue() == [])
            workers.pulse.beat()
            assert beats == ["WATCHDOG=1"]
        finally:
            release.set()
            workers.close()
            journal.close()


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PQDROP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
    env["POSTQUED_API_KEY"] = SANDBOX_KEY
    return env


def test_the_deadline_holds_through_a_proxy_the_environment_names_and_beside_no_proxy(
    meddler: Meddler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx mounts a transport per proxy and None per no_proxy host: every one of them is guarded.
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    meddler.spoil("GET", ACCOUNTS, trickle_body(0.1))
    with client_of(config_at(tmp_path, meddler.url), deadline=1.0) as client, \
            pytest.raises(ApiUnavailable, match="request_deadline_seconds"):
        client.accounts()
