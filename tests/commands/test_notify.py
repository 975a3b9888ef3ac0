"""`pqdrop notify --test`: a test message through every notifier, which worked, and the exit code."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from tests.schedule.test_notifier import Receiver

from pqdrop.commands import main


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_with(tmp_path: Path, notify: dict[str, object] | None) -> str:
    document: dict[str, object] = {"inbox": {"path": "inbox"}, "state": {"dir": "state"},
                                   "defaults": {"timezone": "Europe/Berlin"}}
    if notify is not None:
        document["notify"] = notify
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(document))
    return str(path)


def test_notify_test_says_which_notifier_worked_and_exits_1_when_one_did_not(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTQUED_API_KEY", "pq_live_secret_1234")
    down = f"json://127.0.0.1:{closed_port()}/down"
    path = config_with(tmp_path, {"urls": [receiver.url("up"), down], "timeout_seconds": 3})
    assert main(["--config", path, "notify", "--test"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [f"json://127.0.0.1:{receiver.port}/up", "ok"]
    assert out[1].startswith(f"json://127.0.0.1:{down.split(':')[2]}") and "FAILED" in out[1]
    assert out[2].startswith("1 of 2 notifier(s) did not take it")
    [message] = receiver.received
    assert message["title"] == "pqdrop: test message"
    assert "this notifier reaches you" in message["message"] and "CET" in message["message"]
    assert "pq_live_secret_1234" not in str(message)


def test_notify_test_exits_0_when_every_notifier_took_it(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "command.json"
    path = config_with(tmp_path, {"urls": [receiver.url()], "command": f"cat > {out_file}"})
    assert main(["--config", path, "notify", "--test"]) == 0
    out = capsys.readouterr().out
    assert [line.split() for line in out.splitlines()[:2]] == [[f"json://127.0.0.1:{receiver.port}/hook", "ok"],
                                                                ["command", "ok"]]
    assert out.splitlines()[-1] == "all 2 notifier(s) took the test message; look for it where each one delivers"
    assert '"title": "pqdrop: test message"' in out_file.read_text()
    assert len(receiver.received) == 1


def test_notify_test_without_a_notifier_says_what_to_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_with(tmp_path, None)
    assert main(["--config", path, "notify", "--test"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("no notifier is configured: add a [notify] section with urls = [\"ntfys://your-topic\"]")
    assert path in out and "docs/how-to/notifications.md" in out


def test_notify_without_test_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--config", config_with(tmp_path, None), "notify"])
    assert exit_.value.code == 2
    assert "--test" in capsys.readouterr().err
