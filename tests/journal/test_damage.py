"""A damaged journal is said once, plainly, with its own exit code, and is not restarted into forever (issue 21)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, wait_until, write_config

from pqdrop.errors import EXIT_DAMAGED, JournalDamaged
from pqdrop.journal.store import JOURNAL_FILE, Journal
from pqdrop.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items()
            if key not in ("PQDROP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
    return {**kept, "POSTQUED_API_KEY": SANDBOX_KEY}


def test_a_journal_that_is_not_a_database_is_damaged_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / JOURNAL_FILE).write_bytes(b"not a database at all, " * 400)
    with pytest.raises(JournalDamaged) as refused:
        Journal(state)
    message = refused.value.message
    assert message.startswith(f"the journal {state / JOURNAL_FILE} is damaged (SQLite: file is not a database)")
    assert f"mv {state / JOURNAL_FILE} {state / JOURNAL_FILE}.damaged" in message
    assert "restore it from a backup" in message
    assert "items in processing/ go back to the inbox and are posted again" in message


def test_once_on_a_damaged_journal_exits_65_once_not_75_try_again_later(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox.url)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / JOURNAL_FILE).write_bytes(os.urandom(8192))
    done = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config)], env=env(), cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_DAMAGED == 65, done.stderr
    assert "try again later" not in done.stderr
    assert done.stderr.count("is damaged") == 1


def _cut_short(journal: Path) -> None:
    for path in journal.parent.glob(f"{JOURNAL_FILE}*"):  # the file, and any -journal (or an old -wal, -shm)
        os.truncate(path, 0)


def _deleted(journal: Path) -> None:
    journal.unlink()


def _replaced(journal: Path) -> None:
    other = journal.with_name("restored.tmp")
    other.write_bytes(journal.read_bytes())  # even a good copy: it is not the file pqdrop writes
    other.replace(journal)


def _overwritten(journal: Path) -> None:
    size = journal.stat().st_size
    with journal.open("r+b") as stream:  # in place, the same size: a bad disk, a bad copy over it
        stream.write(os.urandom(size))


DAMAGE = {
    "cut short": (_cut_short, "is damaged (the file was cut short to 0 bytes)"),
    "deleted": (_deleted, "was deleted while pqdrop ran"),
    "replaced": (_replaced, "was replaced by another file while pqdrop ran"),
    "overwritten": (_overwritten, "is damaged (SQLite: file is not a database)"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_journal_damaged_under_a_running_daemon_ends_it_with_65_saying_so(
    tmp_path: Path, sandbox: Sandbox, damage: str
) -> None:
    harm, words = DAMAGE[damage]
    config = write_config(tmp_path, sandbox.url)
    (tmp_path / "inbox").mkdir()
    log = tmp_path / "pqdrop.log"
    with log.open("wb") as output:
        daemon = subprocess.Popen([sys.executable, "-m", "pqdrop", "run", "--config", str(config)], env=env(),
                                  cwd=REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "watching" in log.read_text(), 60)
        harm(tmp_path / "state" / JOURNAL_FILE)
        code = daemon.wait(timeout=60)  # the loop looks at every turn (a poll every 0.2 s here)
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    output = log.read_text()
    assert code == EXIT_DAMAGED, output  # the old daemon died of SIGBUS (-7) on the cut -shm, or went on
    assert words in output
    assert output.count(words) == 1
    assert "Traceback" not in output
