"""`pqdrop run` tells through Apprise as a real process: a failure reaches the receiver with what to do, never
the key, and SIGTERM stops it cleanly, saying so, even while a notifier hangs (issue 23)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.commands.test_cli import user_env  # noqa: F401 - the fixture
from tests.conftest import SANDBOX_KEY, sidecar, wait_until, write_config
from tests.schedule.test_notifier import Receiver

from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox


@pytest.mark.parametrize("hanging", [False, True], ids=["answering", "hanging"])
def test_run_tells_a_failure_through_apprise_and_stops_on_sigterm(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str], hanging: bool  # noqa: F811
) -> None:
    release = threading.Event()
    receiver = Receiver(hang=release if hanging else None)
    config = write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()], "timeout_seconds": 30})
    make_video(inbox / "bad.mp4", seconds=1)
    sidecar(inbox / "bad.md", "intent: nope\n")
    make_video(inbox / "good.mp4", width=362, seconds=1)
    sidecar(inbox / "good.md")
    err = tmp_path / "run.err"
    try:
        with err.open("w") as stderr, subprocess.Popen(
            [sys.executable, "-m", "pqdrop", "run", "--config", str(config)], env=user_env, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        ) as process:
            try:
                wait_until(lambda: (inbox / "sent" / "good.status.json").exists(), 60)
                if hanging:
                    wait_until(receiver.holding.is_set, 30)  # the message is on its way and held there
                else:
                    wait_until(lambda: len(receiver.received) == 1, 30)
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    finally:
        release.set()
        receiver.close()
    said = err.read_text().splitlines()
    assert any("stopping on SIGTERM" in line for line in said)
    assert said[-1].endswith("INFO    stopped")
    assert (inbox / "failed" / "bad.status.json").exists()
    if not hanging:
        [message] = receiver.received
        assert message["title"] == "pqdrop: bad failed"
        assert "`pqdrop retry bad`" in message["message"]
        assert SANDBOX_KEY not in json.dumps(message) and SANDBOX_KEY not in err.read_text()
