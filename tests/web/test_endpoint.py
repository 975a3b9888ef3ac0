"""`[http] listen` on a real `pqdrop run`: what each route answers, over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import REPO, Observed, Running, make_client, sidecar, wait_until, write_config

from pqdrop.commands.run import endpoint
from pqdrop.config import load_config
from pqdrop.errors import ConfigError
from pqdrop.inbox.items import Plan
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.postqued.deadlines import OVERDUE_GRACE_SECONDS
from pqdrop.sandbox import Sandbox
from pqdrop.service.daemon import Service
from pqdrop.service.workers import Workers
from pqdrop.web.server import Endpoint, loopback_host


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_endpoint_answers_get_and_head_and_refuses_every_other_method(
    observe: Callable[..., Observed],
) -> None:
    daemon = observe()
    health = daemon.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    head = httpx.head(daemon.url + "/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"):
        refused = httpx.request(method, daemon.url + "/status.json", content=b"{}")
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD"), method
    missing = daemon.get("/admin")
    assert missing.status_code == 404 and "/status.json" in missing.text
    page = daemon.get("/")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"
    assert "pq_sandbox" not in daemon.output() + page.text  # the key shows nowhere


def test_status_json_is_what_pqdrop_status_json_prints_and_metrics_count_one_post(
    observe: Callable[..., Observed], inbox: Path, tmp_path: Path,
) -> None:
    daemon = observe()
    clip = make_video(tmp_path / "clip.mp4")
    sidecar(inbox / "clip.md")
    (inbox / "clip.mp4").write_bytes(clip.read_bytes())
    sidecar(inbox / "bad.md", "privacyLevel: EVERYONE\n")
    (inbox / "bad.mp4").write_bytes(clip.read_bytes())
    wait_until(lambda: (inbox / "sent" / "clip.status.json").exists() and (inbox / "failed" / "bad.status.json")
               .exists(), 60)
    served = daemon.get("/status.json")
    assert served.headers["content-type"] == "application/json"
    printed = daemon.pqdrop("status", "--json")
    assert printed.returncode == 0, printed.stderr
    assert served.json() == json.loads(printed.stdout)
    assert [row["name"] for row in served.json()["recentlySent"]] == ["clip"]
    assert [row["name"] for row in served.json()["failed"]] == ["bad"]

    metrics = daemon.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    values = samples(metrics.text)
    assert values[("pqdrop_healthy", ())] == 1.0
    assert values[("pqdrop_items", (("state", "sent"),))] == 1.0
    assert values[("pqdrop_items", (("state", "failed"),))] == 1.0
    assert values[("pqdrop_items", (("state", "waiting"),))] == 0.0
    assert values[("pqdrop_uploads_total", ())] == 1.0  # bad.mp4 failed before its upload
    assert values[("pqdrop_upload_bytes_total", ())] == clip.stat().st_size
    assert values[("pqdrop_api_requests_total", (("category", "publish"), ("outcome", "ok")))] == 1.0
    assert values[("pqdrop_api_requests_total", (("category", "upload"), ("outcome", "ok")))] >= 1.0
    assert not any(name == "pqdrop_api_rate_limited_total" for name, _ in values)  # no 429 happened


def test_a_429_is_counted_by_category(observe: Callable[..., Observed], inbox: Path, tmp_path: Path,
                                      sandbox: Sandbox) -> None:
    daemon = observe()
    sandbox.faults.fail_next(1, 429, "/v1/content/publish")
    sidecar(inbox / "clip.md")
    make_video(inbox / "clip.mp4")
    wait_until(lambda: (inbox / "sent" / "clip.status.json").exists(), 60)
    values = samples(daemon.get("/metrics").text)
    assert values[("pqdrop_api_rate_limited_total", (("category", "publish"),))] == 1.0
    assert values[("pqdrop_api_requests_total", (("category", "publish"), ("outcome", "rate_limited")))] == 1.0


def test_a_listen_address_taken_by_another_program_ends_run_with_exit_2_naming_the_key(
    tmp_path: Path, inbox: Path, sandbox: Sandbox,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, sandbox.url, http={"listen": f"127.0.0.1:{port}"})
        done = subprocess.run([sys.executable, "-m", "pqdrop", "run", "--config", str(config)], cwd=REPO,
                              capture_output=True, text=True, timeout=60, env={"POSTQUED_API_KEY": "pq_sandbox",
                                                                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert f'[http] listen = "127.0.0.1:{port}": cannot listen there: Address already in use' in done.stderr
    assert "choose another port" in done.stderr


@pytest.mark.parametrize("written", ["8787", "localhost", "127.0.0.1:99999", ":8787"])
def test_a_listen_that_is_not_host_and_port_is_refused_with_an_example(tmp_path: Path, written: str) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", http={"listen": written})
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert "http.listen" in refused.value.message
    assert '"127.0.0.1:8787"' in refused.value.message


def test_an_ipv6_listen_address_is_read_as_host_and_port(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", http={"listen": "[::1]:8787"}))
    assert config.http.address == ("::1", 8787)
    assert load_config(write_config(tmp_path, "http://127.0.0.1:9")).http.address is None  # off by default


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_pqdrop_health_asks_the_running_daemon_and_says_what_healthz_said(
    observe: Callable[..., Observed], tmp_path: Path,
) -> None:
    daemon = observe(http={"listen": f"127.0.0.1:{free_port()}"})
    asked = daemon.pqdrop("health")
    assert (asked.returncode, asked.stdout) == (0, "ok\n")
    assert daemon.stop() == 0
    unanswered = daemon.pqdrop("health")
    assert unanswered.returncode == 1
    assert f"nothing answers at {daemon.url}/healthz: Connection refused" in unanswered.stdout


def test_pqdrop_health_without_a_port_to_ask_says_what_to_set(tmp_path: Path, sandbox: Sandbox) -> None:
    def health() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pqdrop", "health", "--config", str(config)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)

    config = write_config(tmp_path, sandbox.url)
    asked = health()
    assert asked.returncode == 2
    assert f"{config}: [http] listen is not set" in asked.stderr
    assert 'listen = "127.0.0.1:8787"' in asked.stderr
    config = write_config(tmp_path, sandbox.url, http={"listen": "127.0.0.1:0"})
    asked = health()
    assert asked.returncode == 2
    assert "give it a fixed port (e.g. 8787)" in asked.stderr


def test_healthz_turns_503_while_a_worker_is_stuck_past_its_request_deadline_and_200_after(
    start: Callable[..., Running],
) -> None:
    running = start({"http": {"listen": "127.0.0.1:0"}})
    stuck, release = threading.Event(), threading.Event()

    def hang() -> None:
        # Stuck where no request guard reaches (a resolver, a disk): its deadline passed long ago.
        with running.service.client.deadlines.request("GET /v1/platform-accounts", -OVERDUE_GRACE_SECONDS - 1):
            stuck.set()
            release.wait(30)

    with endpoint(running.runner) as served:  # the daemon's own wiring of the endpoint to its Service
        assert isinstance(served, Endpoint)
        assert httpx.get(served.url + "/healthz").status_code == 200
        try:
            running.service._submit("clip", hang)  # type: ignore[arg-type]
            assert stuck.wait(10)
            unhealthy = httpx.get(served.url + "/healthz")
            assert (unhealthy.status_code, unhealthy.text) == (
                503, "unhealthy: clip: stuck in a request past its deadline\n")
            values = samples(httpx.get(served.url + "/metrics").text)
            assert values[("pqdrop_healthy", ())] == 0.0
        finally:
            release.set()
        wait_until(lambda: httpx.get(served.url + "/healthz").status_code == 200)
        assert httpx.get(served.url + "/healthz").text == "ok\n"


def test_an_upload_in_flight_shows_its_progress_on_the_page_and_in_metrics(
    observe: Callable[..., Observed], inbox: Path,
) -> None:
    # pqdrop's own bandwidth cap: this 3 MB clip takes about eight seconds (a slow server would not do:
    # loopback's socket buffers take the whole file at once, and pqdrop would be done sending).
    daemon = observe(upload={"max_rate": 400_000})
    sidecar(inbox / "clip.md")
    size = make_video(inbox / "clip.mp4", seconds=10, width=1080, height=1920).stat().st_size

    def uploading() -> bool:
        values = samples(daemon.get("/metrics").text)
        return values.get(("pqdrop_upload_sent_bytes", (("file", "clip.mp4"),)), 0.0) > 0

    wait_until(uploading, 30)
    values = samples(daemon.get("/metrics").text)
    assert values[("pqdrop_upload_size_bytes", (("file", "clip.mp4"),))] == size
    assert 0.0 < values[("pqdrop_upload_progress_ratio", (("file", "clip.mp4"),))] < 1.0
    assert values[("pqdrop_items", (("state", "in_flight"),))] == 1.0
    wait_until(lambda: "<progress" in daemon.get("/").text, 30)  # the page reads the daemon's uploads file
    page = daemon.get("/").text
    assert '<section id="in-flight"><h2>In flight <span class="count">(1)</span>' in page
    assert f"of {size / 1e6:.1f} MB" in page
    wait_until(lambda: (inbox / "sent" / "clip.status.json").exists(), 60)
    values = samples(daemon.get("/metrics").text)
    assert not any(name.startswith("pqdrop_upload_s") or name == "pqdrop_upload_progress_ratio"
                   for name, _ in values)  # nothing in flight any more
    assert values[("pqdrop_uploads_total", ())] == 1.0


def test_an_endpoint_on_loopback_refuses_a_host_header_that_is_not_loopback(observe: Callable[..., Observed]) -> None:
    """DNS rebinding: a page elsewhere points its own name at 127.0.0.1 to read the status page."""
    daemon = observe()
    for host in ("evil.example", "evil.example:80", "192.168.1.10:8787"):
        refused = httpx.get(daemon.url + "/status.json", headers={"Host": host})
        assert refused.status_code == 403, host
        assert "answers only to a loopback address" in refused.text
        assert "inbox" not in refused.text
    for host in ("127.0.0.1", "localhost:8787", "LOCALHOST", "[::1]:8787", "127.0.0.2:1", ""):  # "": none sent
        assert httpx.get(daemon.url + "/healthz", headers={"Host": host}).status_code == 200, host


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:8787", True), ("localhost", True), ("[::1]", True), ("[::1]:8787", True), ("::1", True),
    ("nas.local:8787", False), ("127.0.0.1.evil.example", False), ("[::ffff:8.8.8.8]:1", False), ("", False),
])
def test_loopback_host_reads_a_host_header_with_or_without_its_port(host: str, loopback: bool) -> None:
    assert loopback_host(host) is loopback


def test_an_inbox_gone_away_is_said_by_the_page_while_health_and_metrics_still_answer(
    observe: Callable[..., Observed], inbox: Path,
) -> None:
    daemon = observe()
    away = inbox.with_name("inbox-unmounted")
    inbox.rename(away)  # the share unmounted under the daemon
    try:
        for path in ("/", "/status.json"):
            said = daemon.get(path)
            assert (said.status_code, said.text) == (
                503, f"the inbox {inbox} is not there (unmounted share?); pqdrop waits for it to return\n"), path
        assert daemon.get("/healthz").status_code == 200  # the loop turns: a restart would not bring the share back
        values = samples(daemon.get("/metrics").text)
        assert values[("pqdrop_healthy", ())] == 1.0
        assert not any(name == "pqdrop_items" for name, _ in values)  # no false zeros
    finally:
        away.rename(inbox)
    assert daemon.get("/status.json").json()["inbox"] == str(inbox)


def test_healthz_turns_503_while_the_loop_stands_still_and_200_once_it_comes_round_again(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, http={"listen": "127.0.0.1:0"}))
    journal, client, stop, wake = Journal(config.state.dir), make_client(config), threading.Event(), threading.Event()
    workers = Workers(config, client, journal, stop=stop)
    service = Service(workers, wake, loop_stall_seconds=1.0)
    held, release = threading.Event(), threading.Event()
    look = workers.look

    def look_on_a_hung_share(*args: Any) -> Plan:
        # The loop's look at the inbox blocks, as a hard-mounted NFS share does when its server is gone.
        if held.is_set():
            release.wait(30)
        return look(*args)

    monkeypatch.setattr(workers, "look", look_on_a_hung_share)
    loop = threading.Thread(target=service.run, daemon=True)
    try:
        with endpoint(service) as served:
            assert isinstance(served, Endpoint)
            loop.start()
            wait_until(lambda: httpx.get(served.url + "/healthz").status_code == 200)
            held.set()
            wait_until(lambda: httpx.get(served.url + "/healthz").status_code == 503)
            assert httpx.get(served.url + "/healthz").text.startswith("unhealthy: the loop has not come round for ")
            held.clear()
            release.set()
            wait_until(lambda: httpx.get(served.url + "/healthz").status_code == 200)
    finally:
        release.set()
        stop.set()
        wake.set()
        loop.join(15)
        workers.close()
        client.close()
        journal.close()
