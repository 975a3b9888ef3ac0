"""The error tree in practice, with real failures: a passing trouble of the machine is retried, never fatal.

A journal that cannot be opened (a file where the state dir should be, a full disk) and a twin
holding the owner lock end the process with EXIT_TEMPFAIL, which the systemd units restart; a
failure of the journal after it opened defers the item at hand and the daemon goes on.
"""

from __future__ import annotations

import configparser
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, write_config

from pqdrop.errors import EXIT_DAMAGED, EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE, JournalError
from pqdrop.inbox.items import Item
from pqdrop.journal.store import JOURNAL_FILE, Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import Workers, once

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "systemd").glob("*.service"))


def pqdrop(
    *args: str, config: Path, prefix: tuple[str, ...] = (), timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NOTIFY_", "WATCHDOG_", "JOURNAL_"))}
    env["POSTQUED_API_KEY"] = SANDBOX_KEY
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pqdrop", *args, "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """No file of this process may grow past `limit` bytes (the kernel's RLIMIT_FSIZE): a disk that is full.

    Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as one on a full disk fails with ENOSPC.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


# Room for a rollback journal's header, none for the first page it saves: the journal's next write fails
# before it changes the file, as on a full disk (the journal keeps a rollback journal, issue 21).
JOURNAL_ROOM = 1024


# --- the journal cannot be opened: exit 75, not 2 -------------------------------------------------


def test_a_file_where_the_state_dir_should_be_exits_75_naming_it(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox.url)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "state").write_text("a file, not a folder")
    result = pqdrop("once", config=config)
    assert result.returncode == EXIT_TEMPFAIL, result.stderr
    assert f"[state].dir {tmp_path / 'state'}: cannot open the journal" in result.stderr
    assert "try again later" in result.stderr


def test_a_full_disk_when_the_journal_is_made_exits_75(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox.url)
    (tmp_path / "inbox").mkdir()
    # Room for small files (the rate budget, a first database page), none for the journal's first transaction.
    result = pqdrop("once", config=config, prefix=("prlimit", "--fsize=4096"))
    assert result.returncode == EXIT_TEMPFAIL, result.stderr
    assert f"[state].dir {tmp_path / 'state'}: cannot open the journal" in result.stderr


@pytest.mark.slow
def test_a_twin_holding_the_owner_lock_exits_75(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path, sandbox.url)
    (tmp_path / "inbox").mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NOTIFY_", "WATCHDOG_"))}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "pqdrop", "run", "--config", str(config)],
        env={**env, "POSTQUED_API_KEY": SANDBOX_KEY}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not list((tmp_path / "inbox" / "processing").glob(".owner-*")):
            assert time.monotonic() < deadline and daemon.poll() is None, "the first pqdrop never took its lock"
            time.sleep(0.05)
        result = pqdrop("once", config=config)
    finally:
        daemon.terminate()
        daemon.communicate(timeout=20)
    assert result.returncode == EXIT_TEMPFAIL, result.stderr
    assert "another pqdrop with the same [state].dir is already working on" in result.stderr


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_the_units_restart_after_a_passing_trouble_and_only_usage_stops_them(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(unit)
    service = parser["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"].split() == [str(EXIT_USAGE), str(EXIT_DAMAGED)]
    assert str(EXIT_TEMPFAIL) not in service.get("SuccessExitStatus", "").split()


# --- the journal fails after it opened: the item waits, the daemon goes on -------------------------


def test_a_full_disk_under_the_open_journal_is_a_journal_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    try:
        item = Item("clip", (PurePosixPath("clip.mp4"),), None)
        journal.begin_claim("first", "first~own~tok", item)
        with file_size_limit(JOURNAL_ROOM), pytest.raises(JournalError, match=JOURNAL_FILE):
            journal.begin_claim("second", "second~own~tok", item)
        assert [record.name for record in journal.unfinished()] == ["first"]  # the failed write left nothing
    finally:
        journal.close()


def test_a_journal_failing_under_an_item_defers_it_and_the_next_round_posts_it(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "clip.mp4", width=720, height=1280, seconds=1)
    sidecar(inbox / "clip.md")
    assert once(service)[0] == EXIT_OK  # the first item goes through
    make_video(inbox / "later.mp4", width=720, height=1272, seconds=1)
    sidecar(inbox / "later.md")
    with file_size_limit(JOURNAL_ROOM):
        code, round_ = once(service)
    # Local trouble, not the account's: waits like it, but `once` never exits 3 for it (issue 12).
    assert round_.local == {"later": f"journal {service.config.state.dir / JOURNAL_FILE}: disk I/O error"}
    assert code == EXIT_FAILED and round_.deferred == {}
    assert (inbox / "later.mp4").exists()  # not claimed: nothing moved while the journal could not say so
    code, round_ = once(service)
    assert code == EXIT_OK
    assert [(result.name, str(result.state)) for result in round_.results] == [("later", "published")]
    assert (inbox / "sent" / "later.mp4").exists()


def test_no_error_raised_by_pqdrop_writes_a_line_feed_into_its_message() -> None:
    """A message goes through `shown` into logs, status files and tables, where a line feed reads as a literal \\n."""
    import ast

    package = Path(__file__).resolve().parents[1] / "daemon" / "pqdrop"
    found = []
    for path in sorted(package.rglob("*.py")):
        if "sandbox" in path.parts:  # the sandbox answers as the service does; its texts are not pqdrop's messages
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                found += [f"{path.relative_to(package)}:{node.lineno}" for part in ast.walk(node.exc)
                          if isinstance(part, ast.Constant) and isinstance(part.value, str) and "\n" in part.value]
    assert found == []
