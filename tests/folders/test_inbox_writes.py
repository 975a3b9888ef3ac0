"""What pqdrop writes inside the synced inbox, when the inbox is not as pqdrop would have it.

A symlink, a folder or a file of the user's under a name pqdrop writes (status.log, SCHEDULE.md,
sent/), a read-only remount, a umask: real files, real `pqdrop once` and `pqdrop run` processes
against the real sandbox.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, write_config
from tests.system.test_service_protocol import Manager, start

from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox

PQDROP = [sys.executable, "-m", "pqdrop"]
LATER = "dispatchAt: 2030-06-01T18:00:00Z\n"
LENGTHS = itertools.count()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    scrubbed = ("PQDROP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")
    home = tmp_path / "home"
    home.mkdir()
    return {**{k: v for k, v in os.environ.items() if k not in scrubbed},
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "POSTQUED_API_KEY": SANDBOX_KEY}


@pytest.fixture
def manager() -> Iterator[Manager]:
    manager = Manager(abstract=False)
    yield manager
    manager.close()


def once(tmp_path: Path, sandbox: Sandbox, env: dict[str, str], *prefix: str,
         umask: int = -1) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    if not config.exists():
        write_config(tmp_path, sandbox.url)
    return subprocess.run([*prefix, *PQDROP, "once", "--config", str(config)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=90, check=False, umask=umask)


def drop(inbox: Path, name: str, frontmatter: str = "") -> None:
    # Each item its own media (its own length), so none is held as a repeat of another.
    make_video(inbox / f"{name}.mp4", width=720, height=1280, seconds=1 + next(LENGTHS) / 10)
    sidecar(inbox / f"{name}.md", frontmatter)


def status_lines(inbox: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()]


def read_only(inbox: Path) -> tuple[str, ...]:
    """A prefix running the command in a mount namespace where `inbox` is bound read-only (as a NAS remounts)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a read-only bind mount needs root and unshare")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode().strip()}")
    script = f'mount --bind "{inbox}" "{inbox}" && mount -o remount,ro,bind "{inbox}" && exec "$0" "$@"'
    return ("unshare", "-m", "sh", "-c", script)


# --- status.log ------------------------------------------------------------------------------------


def test_a_status_log_symlink_is_never_followed_the_item_is_sent_and_the_link_said_once(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    (inbox / "status.log").symlink_to("../outside/victim.txt")
    drop(inbox, "clip")
    drop(inbox, "other")

    result = once(tmp_path, sandbox, env)

    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert os.readlink(inbox / "status.log") == "../outside/victim.txt"
    assert json.loads((inbox / "sent" / "clip.status.json").read_text())["state"] == "published"
    assert json.loads((inbox / "sent" / "other.status.json").read_text())["state"] == "published"
    said = [line for line in result.stderr.splitlines() if "status.log" in line]
    assert len(said) == 1, result.stderr
    assert f"{inbox}/status.log: it is a symbolic link, not a file" in said[0]
    assert "move it away" in said[0]
    assert "Traceback" not in result.stderr


def test_a_status_log_folder_costs_no_item_no_traceback_and_stays_as_it_was(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    (inbox / "status.log").mkdir()
    (inbox / "status.log" / "mine.txt").write_text("notes")
    drop(inbox, "clip")

    result = once(tmp_path, sandbox, env)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert json.loads((inbox / "sent" / "clip.status.json").read_text())["state"] == "published"
    assert not (inbox / "processing").exists()
    assert sorted(p.name for p in (inbox / "status.log").iterdir()) == ["mine.txt"]
    said = [line for line in result.stderr.splitlines() if "status.log" in line]
    assert len(said) == 1 and "it is a folder, not a file" in said[0], result.stderr


def test_a_line_a_person_left_without_its_newline_keeps_every_record_one_json_line(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    (inbox / "status.log").write_text('{"item": "old", "state": "published"}\n# my note, no newline')
    drop(inbox, "clip")

    result = once(tmp_path, sandbox, env)

    assert result.returncode == 0, result.stderr
    lines = (inbox / "status.log").read_text().splitlines()
    assert lines[:2] == ['{"item": "old", "state": "published"}', "# my note, no newline"]
    records = [json.loads(line) for line in lines[2:]]
    assert [record["state"] for record in records if record["item"] == "clip"][-1] == "published"


# --- umask -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o007, 0o660), (0o022, 0o644)])
def test_status_files_and_schedule_take_0666_less_the_umask_as_any_new_file_does(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path, umask: int, mode: int
) -> None:
    drop(inbox, "clip")
    drop(inbox, "later", LATER)

    result = once(tmp_path, sandbox, env, umask=umask)

    assert result.returncode == 0, result.stderr
    written = [inbox / "sent" / "clip.status.json", inbox / "scheduled" / "later.status.json",
               inbox / "SCHEDULE.md", inbox / "status.log"]
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in written} == {
        path.name: oct(mode) for path in written}
    assert not [path.name for path in inbox.rglob(".*pqdrop-tmp")]


# --- SCHEDULE.md -----------------------------------------------------------------------------------


def test_a_users_own_schedule_md_is_never_overwritten_and_check_names_the_reserved_name(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    make_video(inbox / "SCHEDULE.mp4", width=720, height=1280, seconds=1)
    mine = "---\ncaption: my schedule video\n---\nThe plan for the week\n"
    (inbox / "SCHEDULE.md").write_text(mine)
    drop(inbox, "later", LATER)

    result = once(tmp_path, sandbox, env)

    assert (inbox / "SCHEDULE.md").read_text() == mine
    assert json.loads((inbox / "scheduled" / "later.status.json").read_text())["state"] == "scheduled"
    assert (inbox / "SCHEDULE.mp4").exists()
    said = [line for line in result.stderr.splitlines() if "SCHEDULE.md" in line and "never overwrites" in line]
    assert len(said) == 1, result.stderr
    assert "rename it" in said[0]

    check = subprocess.run([*PQDROP, "check", "--config", str(tmp_path / "config.toml")], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, check=False)
    row = next(line for line in check.stdout.splitlines() if "SCHEDULE" in line)
    assert row.startswith("FAIL  SCHEDULE:"), check.stdout
    assert "SCHEDULE.md is the name of pqdrop's schedule in the inbox root" in row
    assert "no sidecar: add SCHEDULE.md" not in row


def test_a_schedule_md_folder_leaves_run_running_and_is_said_once(
    tmp_path: Path, sandbox: Sandbox, manager: Manager, inbox: Path
) -> None:
    (inbox / "SCHEDULE.md").mkdir()
    process, _, err = start(tmp_path, sandbox, manager, watch="poll")
    try:
        manager.read_until("READY=1", 20)
        drop(inbox, "later", LATER)
        deadline = time.monotonic() + 30
        while not (inbox / "scheduled" / "later.status.json").exists():
            assert time.monotonic() < deadline and process.poll() is None, err.read_text()
            time.sleep(0.1)
        manager.drain(2.0)  # several turns of the loop, each wanting to write the schedule
        assert process.poll() is None, err.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = err.read_text()
    assert "Traceback" not in log
    assert log.count(f"SCHEDULE.md in {inbox} is a folder: pqdrop never overwrites it") == 1, log
    assert (inbox / "SCHEDULE.md").is_dir() and not any((inbox / "SCHEDULE.md").iterdir())


# --- a file where a filing folder goes -------------------------------------------------------------


@pytest.mark.parametrize(("folder", "frontmatter"), [("sent", ""), ("scheduled", LATER)])
def test_a_file_named_like_a_filing_folder_holds_the_item_unposted_twice_until_it_is_moved_away(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path, folder: str, frontmatter: str
) -> None:
    (inbox / folder).write_text("my notes, not a folder\n")
    drop(inbox, "clip", frontmatter)

    first = once(tmp_path, sandbox, env)

    assert "Traceback" not in first.stderr
    assert first.returncode == 1, first.stderr  # README: local file trouble, the item waits
    row = next(line for line in first.stdout.splitlines() if line.startswith("clip"))
    assert "waiting" in row
    assert f"not filed yet: {folder} in {inbox} is a file, not a folder; move it away" in row
    assert (inbox / folder).read_text() == "my notes, not a folder\n"
    claims = list((inbox / "processing").iterdir())
    assert [sorted(p.name for p in claim.iterdir()) for claim in claims if claim.is_dir()] == [
        [".pqdrop-filing", "clip.md", "clip.mp4"]]
    waiting = [line for line in status_lines(inbox) if line["item"] == "clip" and line["state"] == "waiting"]
    assert [line["reason"] for line in waiting] == [
        f"{folder} in {inbox} is a file, not a folder; move it away: pqdrop needs a {folder}/ folder there, "
        "and never moves or deletes what you put there"]
    assert len(sandbox.state_summary()["publishes"]) == 1
    shown = subprocess.run([*PQDROP, "status", "--json", "--config", str(tmp_path / "config.toml")], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    in_flight = {row["name"]: row for row in json.loads(shown.stdout)["inFlight"]}
    assert in_flight["clip"]["step"] == "filing"
    assert in_flight["clip"]["lastError"].startswith(f"{folder} in {inbox} is a file, not a folder; move it away")

    (inbox / folder).rename(tmp_path / f"{folder}.txt")
    second = once(tmp_path, sandbox, env)

    assert second.returncode == 0, second.stderr
    status = json.loads((inbox / folder / "clip.status.json").read_text())
    assert status["state"] == ("scheduled" if frontmatter else "published")
    assert sorted(p.name for p in (inbox / folder).iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    assert len(sandbox.state_summary()["publishes"]) == 1
    assert not (inbox / "processing").exists()


@pytest.mark.slow
def test_run_retries_filing_each_round_says_why_in_status_and_files_once_the_file_is_moved(
    tmp_path: Path, sandbox: Sandbox, manager: Manager, inbox: Path
) -> None:
    (inbox / "sent").write_text("mine\n")
    process, _, err = start(tmp_path, sandbox, manager, watch="poll")
    try:
        manager.read_until("READY=1", 20)
        drop(inbox, "clip")
        wanted = f"1 waiting to be filed (clip: sent in {inbox} is a file, not a folder; move it away"
        deadline = time.monotonic() + 30
        while not any(wanted in line for line in manager.lines("STATUS=")):
            assert time.monotonic() < deadline and process.poll() is None, (err.read_text(), manager.lines("STATUS="))
            manager.drain(0.2)
        manager.drain(6.0)  # at least one more try (every 5 s): said once all the same
        (inbox / "sent").rename(tmp_path / "sent.txt")
        deadline = time.monotonic() + 30
        while not (inbox / "sent" / "clip.status.json").exists():
            assert time.monotonic() < deadline and process.poll() is None, err.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = err.read_text()
    assert "Traceback" not in log
    assert log.count("clip: waits to be filed: sent in") == 1, log
    assert json.loads((inbox / "sent" / "clip.status.json").read_text())["state"] == "published"
    assert len(sandbox.state_summary()["publishes"]) == 1


def test_a_file_named_processing_ends_once_with_exit_2_naming_it_and_leaves_it(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    (inbox / "processing").write_text("mine\n")
    drop(inbox, "clip")

    result = once(tmp_path, sandbox, env)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"pqdrop: processing in {inbox} is a file, not a folder; move it away: pqdrop needs a processing/ folder "
        "there, and never moves or deletes what you put there")
    assert "Traceback" not in result.stderr
    assert (inbox / "processing").read_text() == "mine\n"
    assert sorted(p.name for p in inbox.iterdir()) == ["clip.md", "clip.mp4", "processing"]


# --- a read-only inbox ---------------------------------------------------------------------------


def test_a_read_only_inbox_ends_once_with_75_and_one_line_naming_the_inbox_and_the_cause(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    drop(inbox, "clip")

    result = once(tmp_path, sandbox, env, *read_only(inbox))

    assert result.returncode == 75, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"pqdrop: cannot write in the inbox {inbox}: Read-only file system ({inbox}/processing); try again later"]
    assert sorted(p.name for p in inbox.iterdir()) == ["clip.md", "clip.mp4"]
    assert sandbox.state_summary()["publishes"] == []


def test_run_on_a_read_only_inbox_keeps_running_says_so_and_posts_once_it_is_writable(
    tmp_path: Path, sandbox: Sandbox, manager: Manager, inbox: Path
) -> None:
    drop(inbox, "clip")
    process, _, err = start(tmp_path, sandbox, manager, prefix=read_only(inbox), watch="poll")
    try:
        manager.read_until("READY=1", 20)
        wanted = f"STATUS=cannot write in the inbox {inbox}: Read-only file system ({inbox}/processing)"
        deadline = time.monotonic() + 20
        while not any(line.startswith(wanted) for line in manager.lines("STATUS=")):
            assert time.monotonic() < deadline, manager.lines("STATUS=")
            manager.drain(0.2)
        manager.drain(1.0)
        assert process.poll() is None, err.read_text()
        assert sorted(p.name for p in inbox.iterdir()) == ["clip.md", "clip.mp4"]
        # The share comes back writable: in the daemon's own mount namespace, as its admin would remount it.
        subprocess.run(["nsenter", "-t", str(process.pid), "-m", "mount", "-o", "remount,rw,bind", str(inbox)],
                       check=True, timeout=10)
        deadline = time.monotonic() + 30
        while not (inbox / "sent" / "clip.status.json").exists():
            assert time.monotonic() < deadline and process.poll() is None, err.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = err.read_text()
    assert "Traceback" not in log
    assert log.count(f"cannot write in the inbox {inbox}: Read-only file system") == 1, log
    assert json.loads((inbox / "sent" / "clip.status.json").read_text())["state"] == "published"


@pytest.mark.slow
def test_an_inbox_turning_read_only_under_run_leaves_items_in_place_and_posts_them_once_writable(
    tmp_path: Path, sandbox: Sandbox, manager: Manager, inbox: Path
) -> None:
    prefix = read_only(inbox)
    bound = ("unshare", "-m", "sh", "-c", f'mount --bind "{inbox}" "{inbox}" && exec "$0" "$@"')
    assert prefix[:3] == bound[:3]
    process, _, err = start(tmp_path, sandbox, manager, prefix=bound, watch="poll")

    def remount(mode: str) -> None:  # as the NAS does it, in the daemon's own mount namespace
        subprocess.run(["nsenter", "-t", str(process.pid), "-m", "mount", "-o", f"remount,{mode},bind", str(inbox)],
                       check=True, timeout=10)

    try:
        manager.read_until("READY=1", 20)
        remount("ro")
        drop(inbox, "clip")  # this side of the mount still writes: the sync tool delivers
        time.sleep(4.0)  # many looks at 0.2 s, each finding the item ready and the inbox refusing the claim
        assert process.poll() is None, err.read_text()
        assert sorted(p.name for p in inbox.iterdir()) == ["clip.md", "clip.mp4", "processing"]
        assert [p.name for p in (inbox / "processing").iterdir() if p.is_dir()] == []
        remount("rw")
        deadline = time.monotonic() + 30
        while not (inbox / "sent" / "clip.status.json").exists():
            assert time.monotonic() < deadline and process.poll() is None, err.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = err.read_text()
    assert log.count("clip: will try again after a filesystem error: [Errno 30] Read-only file system") == 1, log
    assert json.loads((inbox / "sent" / "clip.status.json").read_text())["state"] == "published"
    assert len(sandbox.state_summary()["publishes"]) == 1
    journal = sqlite3.connect(tmp_path / "state" / "journal.sqlite3")
    try:
        states = [row[0] for row in journal.execute("SELECT state FROM items WHERE name = 'clip'")]
    finally:
        journal.close()
    assert states == ["done"]  # no claim left behind per refused try


def test_retry_on_a_read_only_inbox_says_so_in_one_line_and_moves_nothing(
    tmp_path: Path, sandbox: Sandbox, env: dict[str, str], inbox: Path
) -> None:
    write_config(tmp_path, sandbox.url)
    (inbox / "failed").mkdir()
    (inbox / "failed" / "typo.mp4").write_bytes(b"video")
    (inbox / "failed" / "typo.md").write_text("---\n---\ncaption\n")
    status = {"state": "failed", "files": ["typo.mp4", "typo.md"], "error": {"code": "SIDECAR", "message": "bad"}}
    (inbox / "failed" / "typo.status.json").write_text(json.dumps(status))

    result = subprocess.run([*read_only(inbox), *PQDROP, "retry", "typo", "--force", "--config",
                             str(tmp_path / "config.toml")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1] == (  # after what still fails: "video" is no video (--force)
        f"typo: cannot move it back into the inbox {inbox}: Read-only file system ({inbox}/failed/typo.mp4); "
        "run `pqdrop retry` again once the inbox can be written")
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["typo.md", "typo.mp4", "typo.status.json"]
