"""Notifications: a command and a URL, in the background; a bad notifier never stalls posting."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_client, sidecar, write_config

from pqdrop.config import NotifyConfig, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.schedule.notify import Notifier, event_of
from pqdrop.service.workers import EXIT_FAILED, Workers, once


def wait_for(path: Path, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


def test_a_failure_runs_the_command_with_the_event_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    notifier = Notifier(NotifyConfig(command=f"cat > {out}"))
    notifier.send(event_of("clip", "failed", None, "clip.md: intent: bad"))
    notifier.close()
    assert json.loads(wait_for(out)) == {"item": "clip", "state": "failed", "publishId": None,
                                         "reason": "clip.md: intent: bad"}


def test_states_not_asked_for_are_not_sent(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    notifier = Notifier(NotifyConfig(command=f"cat > {out}", on=("failed",)))
    notifier.send(event_of("clip", "published", "p1", None))
    notifier.close()
    assert not out.exists()


def test_the_command_does_not_see_the_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTQUED_API_KEY", "pq_secret_value")
    out = tmp_path / "env.txt"
    notifier = Notifier(NotifyConfig(command=f"env > {out}"))
    notifier.send(event_of("clip", "failed", None, "why"))
    notifier.close()
    text = wait_for(out)
    assert "pq_secret_value" not in text
    assert "PQDROP_ITEM=clip" in text and "PQDROP_STATE=failed" in text


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        _Recorder.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_url_receives_the_event_as_json(webhook: str) -> None:
    notifier = Notifier(NotifyConfig(url=webhook, on=("failed", "published")))
    notifier.send(event_of("clip", "published", "p1", None))
    notifier.close()
    assert _Recorder.received == [{"item": "clip", "state": "published", "publishId": "p1", "reason": None}]


def test_a_hanging_or_failing_notifier_does_not_stall_posting(tmp_path: Path, sandbox: Sandbox) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, notify={
        "command": f"{sys.executable} -c 'import time; time.sleep(30)'",
        "url": "http://127.0.0.1:9/unreachable", "timeout_seconds": 1.0}))
    inbox = config.inbox.path
    inbox.mkdir()
    for number in range(3):
        make_video(inbox / f"bad-{number}.mp4", width=360 + 2 * number, height=640, seconds=1)
        sidecar(inbox / f"bad-{number}.md", "intent: nope\n")
    journal = Journal(config.state.dir)
    began = time.monotonic()
    with make_client(config) as client, Workers(config, client, journal) as service:
        code, round_ = once(service)
        finished = time.monotonic() - began
    journal.close()
    assert code == EXIT_FAILED and len(round_.results) == 3
    assert finished < 10, "the queue waited for the notifier"


def test_a_reload_applies_new_notify_and_worker_settings_to_the_running_workers(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    out = tmp_path / "after-reload.json"
    before = load_config(write_config(tmp_path, sandbox.url, notify={"command": f"cat > {tmp_path / 'before.json'}"}))
    after = load_config(write_config(tmp_path, sandbox.url, notify={"command": f"cat > {out}"},
                                     postqued={"workers": 1}))
    before.inbox.path.mkdir()
    journal = Journal(before.state.dir)
    with make_client(before) as client, Workers(before, client, journal) as workers:
        assert workers.capacity == before.postqued.workers != 1
        assert workers.reconfigure(after) == []  # nothing of these waits for a restart
        assert workers.capacity == 1
        make_video(before.inbox.path / "clip.mp4", seconds=1)
        sidecar(before.inbox.path / "clip.md", "intent: nonsense\n")
        assert once(workers)[0] == EXIT_FAILED
    journal.close()
    assert json.loads(wait_for(out))["item"] == "clip"
    assert not (tmp_path / "before.json").exists()
