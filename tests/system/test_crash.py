"""Exactly once, nothing lost (issue 3): real `pqdrop` processes, killed with real signals.

Every test runs the CLI as a subprocess against a sandbox served from this process, so a
SIGKILL really cuts the daemon off mid-step: half-written journal transactions, uploads
broken off, publishes accepted whose reply never arrived, moves half done. What must hold
afterwards is checked from the outside: the sandbox's publishes and the bytes on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.conftest import SANDBOX_KEY, write_config

from pqdrop.journal.store import JOURNAL_FILE
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.tiktok import Profile

REPO = Path(__file__).resolve().parents[2]
# Plenty of quota on both sides: these tests are about crashes, not pacing (test_ratelimit covers that).
GENEROUS_LIMITS = {"upload": 10_000, "read": 10_000, "publish": 10_000, "delete": 10_000}
SETTLED = ("done", "returned", "tracking")  # journal states the pipeline has finished with

T = TypeVar("T")


# --- the daemon as a process ------------------------------------------------------------------


class Daemon:
    """One `pqdrop` process in its own process group, its output appended to a log file."""

    def __init__(self, config: Path, log: Path, command: str = "run") -> None:
        self.config = config
        self.log = log
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.log_offset = 0

    def start(self) -> Daemon:
        env = {key: value for key, value in os.environ.items()
               if key not in ("PQDROP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
        env["POSTQUED_API_KEY"] = SANDBOX_KEY
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pqdrop", self.command, "--config", str(self.config)],
                stdout=output, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """What this start of the process has written so far."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as stream:
            stream.seek(self.log_offset)
            return stream.read().decode("utf-8", "replace")

    def watching(self) -> bool:
        """True once the daemon has started its loop (it logs the watch mode first, then sweeps)."""
        return "watching" in self.output()

    def kill(self) -> None:
        """SIGKILL the whole process group: no handler runs, nothing is flushed or closed."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.running:
            self.kill()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Every daemon a test starts; whatever is still running at the end is killed."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.close()


@pytest.fixture
def crash_sandbox() -> Iterator[Sandbox]:
    """A sandbox whose targets take 0.5 s per step, so following spans several polls."""
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=0.5, rate_limits=GENEROUS_LIMITS) as server:
        # Twenty posts to one account pass TikTok's daily cap of 15; these tests are about crashes, not caps.
        server.state.tiktok.set_profile("@mybrand", Profile(daily_posts=100))
        yield server


def crash_config(tmp_path: Path, sandbox: Sandbox, name: str = "config.toml", state: str = "state",
                 inbox: dict[str, Any] | None = None) -> Path:
    path = write_config(
        tmp_path, sandbox.url,
        postqued={"follow_seconds": 20.0, "timeout_seconds": 10.0, "rate_limits": GENEROUS_LIMITS},
        state={"dir": state}, accounts={"@mybrand": {"daily_posts": 100}}, inbox=inbox or {},
    )
    return path if path.name == name else path.rename(path.with_name(name))


# --- polling ------------------------------------------------------------------------------------


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.01) -> T:
    """Poll until `probe` returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# --- what is on disk and in the sandbox -----------------------------------------------------------


def make_clip(path: Path, base: bytes, tag: str) -> Path:
    """A real MP4 made unique by a trailing `free` box carrying `tag` (players and probe skip it)."""
    payload = tag.encode()
    path.write_bytes(base + struct.pack(">I4s", 8 + len(payload), b"free") + payload)
    return path


def write_sidecar(path: Path, caption: str, frontmatter: str = "") -> Path:
    path.write_text(f"---\n{frontmatter}---\n{caption}\n", encoding="utf-8")
    return path


def drop_in(inbox: Path, files: dict[str, bytes]) -> None:
    """Deliver files the way a sync tool does: write under a hidden name, then rename into place."""
    for name, data in files.items():
        temporary = inbox / f".{name}.incoming"
        temporary.write_bytes(data)
        os.rename(temporary, inbox / name)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def user_files(inbox: Path) -> Counter[str]:
    """sha256 of every file pqdrop may hold a user's bytes in: everything but its own status files and SCHEDULE.md."""
    return Counter(
        sha256_of(path)
        for path in inbox.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.relative_to(inbox).as_posix() not in OWN_FILES
        and not path.name.endswith(".status.json")
    )


OWN_FILES = frozenset({"status.log", "SCHEDULE.md"})  # what pqdrop itself writes in the inbox root


def status_files(inbox: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """item name -> [(folder, status document)] over scheduled/, sent/ and failed/."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for folder in ("scheduled", "sent", "failed"):
        for path in sorted((inbox / folder).glob("*.status.json")) if (inbox / folder).is_dir() else []:
            document = json.loads(path.read_text())
            found.setdefault(document["item"], []).append((folder, document))
    return found


def filed_count(inbox: Path) -> int:
    folders = [inbox / name for name in ("scheduled", "sent", "failed")]
    return sum(1 for folder in folders if folder.is_dir() for _ in folder.iterdir())


def all_filed(inbox: Path, names: set[str]) -> bool:
    return names <= set(status_files(inbox))


def publishes_per_caption(sandbox: Sandbox) -> Counter[str]:
    """How many distinct publish requests PostQued accepted per caption (a replay is not a new one)."""
    seen: dict[str, set[str]] = {}
    for publish in sandbox.state_summary()["publishes"]:
        for target in publish["targets"]:
            seen.setdefault(target["caption"], set()).add(publish["publishId"])
    return Counter({caption: len(ids) for caption, ids in seen.items()})


def status_log(inbox: Path) -> list[dict[str, Any]]:
    path = inbox / "status.log"
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            lines.append({"item": "?", "state": "<torn line>"})
    return lines


def last_state(inbox: Path) -> str:
    lines = status_log(inbox)
    return lines[-1]["state"] if lines else "<none yet>"


def journal_rows(state_dir: Path) -> list[tuple[str, str]]:
    """(name, state) of every item in a journal, read while no daemon runs on it."""
    path = state_dir / JOURNAL_FILE
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return [(row[0], row[1]) for row in db.execute("SELECT name, state FROM items ORDER BY id")]
    finally:
        db.close()


def claim_dirs(inbox: Path) -> list[str]:
    processing = inbox / "processing"
    return sorted(path.name for path in processing.iterdir() if path.is_dir()) if processing.is_dir() else []


def assert_nothing_lost_nothing_doubled(inbox: Path, originals: Counter[str]) -> None:
    after = user_files(inbox)
    lost = {sha: count for sha, count in originals.items() if after[sha] < count}
    doubled = {sha: after[sha] for sha in originals if after[sha] > originals[sha]}
    strangers = {sha: count for sha, count in after.items() if sha not in originals}
    assert (lost, doubled, strangers) == ({}, {}, {})


# --- 1. the kill storm ---------------------------------------------------------------------------


STORM_SEED = 20240603
STORM_CLIPS = 10
STORM_KILLS = 36
STORM_DEADLINE_SECONDS = 90.0
# Every other kill waits for a moment a random delay rarely lands on.
TARGETS = ("publishing", "following", "uploading", "accepted", "moving")


def storm_inbox(inbox: Path, base: bytes) -> dict[str, str]:
    """Twelve items: ten clips (one a draft), a three-photo carousel, a scheduled clip. Returns name -> caption."""
    captions = {}
    for index in range(STORM_CLIPS):
        name = f"clip-{index}"
        make_clip(inbox / f"{name}.mp4", base, name)
        captions[name] = f"storm clip {index} #fyp"
        write_sidecar(inbox / f"{name}.md", captions[name], "intent: draft\n" if index == STORM_CLIPS - 1 else "")
    trip = inbox / "trip"
    trip.mkdir()
    for index, photo in enumerate(("a.jpg", "b.jpg", "c.webp")):
        make_image(trip / photo, width=640 + 16 * index, height=480)
    captions["trip"] = "storm carousel #travel"
    write_sidecar(trip / "post.md", captions["trip"], "autoAddMusic: true\n")
    make_clip(inbox / "later.mp4", base, "later")
    captions["later"] = "storm scheduled clip"
    write_sidecar(inbox / "later.md", captions["later"], "dispatchAt: 2030-06-01T18:00:00\n")
    return captions


def kill_moment(target: str, daemon: Daemon, inbox: Path, sandbox: Sandbox, names: set[str], timeout: float) -> bool:
    """Wait until `target` happens in the running daemon; False when it did not (all filed, or `timeout`)."""
    lines_before = len(status_log(inbox))
    calls_before = sandbox.state.publish_calls
    filed_before = filed_count(inbox)

    def happened() -> bool:
        if not daemon.running:
            return True
        if target == "accepted":  # PostQued took a publish; its reply may not have arrived yet
            return sandbox.state.publish_calls > calls_before
        if target == "moving":  # a file has reached sent/ or failed/: the move is under way
            return filed_count(inbox) > filed_before
        return any(line["state"] == target for line in status_log(inbox)[lines_before:])

    deadline = time.monotonic() + timeout
    for look in itertools.count():
        if happened():
            return True
        if time.monotonic() > deadline or (look % 50 == 0 and all_filed(inbox, names)):
            return False
        time.sleep(0.002)
    raise AssertionError("unreachable")


@pytest.fixture
def storm_sandbox() -> Iterator[Sandbox]:
    """Targets take 1 s per step here: following spans the lives of several daemons."""
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=1.0, rate_limits=GENEROUS_LIMITS) as server:
        yield server


@pytest.mark.slow
def test_a_storm_of_sigkills_posts_every_item_exactly_once_and_loses_no_file(
    tmp_path: Path, inbox: Path, storm_sandbox: Sandbox, daemons: list[Daemon]
) -> None:
    sandbox = storm_sandbox
    base = make_video(tmp_path / "base.mp4", width=640, height=360, seconds=1).read_bytes()
    captions = storm_inbox(inbox, base)
    originals = user_files(inbox)
    config = crash_config(tmp_path, sandbox)
    rng = random.Random(STORM_SEED)
    deadline = time.monotonic() + STORM_DEADLINE_SECONDS
    kills: list[tuple[str, str, list[str]]] = []  # (how, status.log state, journal states in flight)
    while len(kills) < STORM_KILLS and time.monotonic() < deadline and not all_filed(inbox, set(captions)):
        sandbox.faults.delay_seconds = rng.uniform(0.05, 0.15)
        daemon = Daemon(config, tmp_path / "daemon.log").start()
        daemons.append(daemon)
        wait_for("the daemon to start watching", lambda d=daemon: d.watching() or not d.running, 20)
        if len(kills) % 2 == 1:
            target = TARGETS[(len(kills) // 2) % len(TARGETS)]
            how = f"at {target}"
            if not kill_moment(target, daemon, inbox, sandbox, set(captions), timeout=8):
                how += " (not reached)"
        else:
            delay = rng.uniform(0.05, 0.6)
            how = f"after {delay:.2f} s"
            time.sleep(delay)  # positions the kill; nothing is asserted from the wait itself
        assert daemon.running, f"the daemon exited on its own:\n{daemon.output()}"
        daemon.kill()
        in_flight = [state for _, state in journal_rows(tmp_path / "state") if state not in SETTLED]
        kills.append((how, last_state(inbox), in_flight))

    sandbox.faults.delay_seconds = 0.0
    survivor = Daemon(config, tmp_path / "daemon.log").start()
    daemons.append(survivor)
    wait_for("the last daemon to start watching", lambda: survivor.watching() or not survivor.running, 20)
    wait_for("every item to be filed", lambda: all_filed(inbox, set(captions)) or not survivor.running,
             max(10.0, deadline - time.monotonic()), interval=0.05)
    assert survivor.running, survivor.output()
    survivor.terminate()
    assert survivor.wait(timeout=10) == 0, survivor.output()

    log_states = Counter(state for _, state, _ in kills)
    journal_states = Counter(state for _, _, states in kills for state in states)
    print(f"\nkill storm: kills={len(kills)}, states hit={dict(log_states)}, journal states in flight at the kills="
          f"{dict(journal_states)}")
    for number, (how, state, in_flight) in enumerate(kills, 1):
        print(f"  kill {number:2d} {how:<24} status.log: {state:<12} journal: {', '.join(in_flight) or '-'}")

    per_caption = publishes_per_caption(sandbox)
    assert {name: per_caption[caption] for name, caption in captions.items()} == {name: 1 for name in captions}
    assert sum(per_caption.values()) == len(captions)
    filed = status_files(inbox)
    assert {name: [(folder, doc["state"]) for folder, doc in filed[name]] for name in captions} == {
        **{name: [("sent", "published")] for name in captions}, f"clip-{STORM_CLIPS - 1}": [("sent", "sent")],
        "later": [("scheduled", "scheduled")]}
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []
    assert sorted(path.name for path in inbox.rglob(".*")) == []  # no half-written status file left behind
    assert {"uploading", "publishing", "following"} <= set(log_states)


# --- 2 and 3. lost publish replies ----------------------------------------------------------------


@pytest.fixture
def base_clip(tmp_path: Path) -> bytes:
    return make_video(tmp_path / "base.mp4", width=640, height=360, seconds=1).read_bytes()


def one_item(inbox: Path, base: bytes, name: str, caption: str) -> Counter[str]:
    make_clip(inbox / f"{name}.mp4", base, name)
    write_sidecar(inbox / f"{name}.md", caption)
    return user_files(inbox)


def test_once_retries_a_publish_whose_reply_was_lost_with_the_same_key_and_posts_once(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    originals = one_item(inbox, base_clip, "clip", "lost reply #fyp")
    crash_sandbox.faults.drop_next_publish_reply()
    once = Daemon(crash_config(tmp_path, crash_sandbox), tmp_path / "daemon.log", "once").start()
    daemons.append(once)
    assert once.wait(timeout=60) == 0, once.output()
    assert crash_sandbox.state.publish_calls == 1
    assert crash_sandbox.state_summary()["faults"]["drop_next_publish_reply"] == 0  # the reply really was lost
    [(folder, status)] = status_files(inbox)["clip"]
    [publish] = crash_sandbox.state_summary()["publishes"]
    assert (folder, status["state"], status["publishId"]) == ("sent", "published", publish["publishId"])
    assert status["idempotencyKey"] == publish["idempotencyKey"]
    assert_nothing_lost_nothing_doubled(inbox, originals)


@pytest.mark.slow
def test_a_daemon_killed_after_its_publish_was_accepted_but_unanswered_posts_once_on_restart(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    originals = one_item(inbox, base_clip, "clip", "accepted then killed #fyp")
    config = crash_config(tmp_path, crash_sandbox)
    crash_sandbox.faults.drop_next_publish_reply()
    crash_sandbox.faults.delay_seconds = 0.3  # the retry that follows the lost reply is slow to arrive
    first = Daemon(config, tmp_path / "daemon.log").start()
    daemons.append(first)
    wait_for("PostQued to accept the publish", lambda: crash_sandbox.state.publish_calls == 1, 30, interval=0.001)
    first.kill()
    assert [(line["item"], line["state"]) for line in status_log(inbox)][-1] == ("clip", "publishing")
    assert journal_rows(tmp_path / "state") == [("clip", "publishing")]

    crash_sandbox.faults.delay_seconds = 0.0
    second = Daemon(config, tmp_path / "daemon.log").start()
    daemons.append(second)
    wait_for("the item to be filed", lambda: all_filed(inbox, {"clip"}), 30)
    second.terminate()
    assert second.wait(timeout=10) == 0, second.output()
    [publish] = crash_sandbox.state_summary()["publishes"]
    assert crash_sandbox.state.publish_calls == 1
    [(folder, status)] = status_files(inbox)["clip"]
    assert (folder, status["state"], status["publishId"]) == ("sent", "published", publish["publishId"])
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []


# --- 4. two daemons on one inbox ---------------------------------------------------------------------


TWIN_ITEMS = 20


@pytest.mark.slow
def test_two_daemons_with_their_own_journals_on_one_inbox_post_each_of_twenty_items_once(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    captions = {f"twin-{index:02d}": f"twin item {index} #fyp" for index in range(TWIN_ITEMS)}
    staged = {
        name: {f"{name}.md": f"---\n---\n{caption}\n".encode(), f"{name}.mp4": b""}
        for name, caption in captions.items()
    }
    for name, files in staged.items():
        make_clip(tmp_path / f"{name}.mp4", base_clip, name)
        files[f"{name}.mp4"] = (tmp_path / f"{name}.mp4").read_bytes()
    originals = Counter(hashlib.sha256(data).hexdigest() for files in staged.values() for data in files.values())
    names = list(captions)
    for name in names[:TWIN_ITEMS // 2]:
        drop_in(inbox, staged[name])
    crash_sandbox.faults.delay_seconds = 0.02
    a = Daemon(crash_config(tmp_path, crash_sandbox, "a.toml", "state-a"), tmp_path / "a.log").start()
    b = Daemon(crash_config(tmp_path, crash_sandbox, "b.toml", "state-b"), tmp_path / "b.log").start()
    daemons.extend([a, b])
    wait_for("both daemons to start watching", lambda: a.watching() and b.watching(), 20)
    for name in names[TWIN_ITEMS // 2:]:
        drop_in(inbox, staged[name])  # sidecar first, then the media: ready only when both are there
    wait_for("all twenty items to be filed", lambda: all_filed(inbox, set(captions)) or not (a.running and b.running),
             90, interval=0.05)
    a.terminate()
    b.terminate()
    assert (a.wait(timeout=10), b.wait(timeout=10)) == (0, 0), a.output() + b.output()

    per_caption = publishes_per_caption(crash_sandbox)
    assert {name: per_caption[caption] for name, caption in captions.items()} == {name: 1 for name in captions}
    filed = status_files(inbox)
    assert {name: [folder for folder, _ in filed[name]] for name in captions} == {name: ["sent"] for name in captions}
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []
    took = {label: Counter(state for _, state in journal_rows(tmp_path / state))
            for label, state in (("a", "state-a"), ("b", "state-b"))}
    print(f"\ntwo daemons: a took {took['a']['done']}, b took {took['b']['done']} of {TWIN_ITEMS}")
    assert took["a"]["done"] + took["b"]["done"] == TWIN_ITEMS


def test_a_twin_that_returns_a_dead_daemons_claim_posts_nothing_twice_and_the_dead_one_files_nothing(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    originals = one_item(inbox, base_clip, "clip", "taken over by a twin #fyp")
    a_config = crash_config(tmp_path, crash_sandbox, "a.toml", "state-a")
    b_config = crash_config(tmp_path, crash_sandbox, "b.toml", "state-b")
    a = Daemon(a_config, tmp_path / "a.log").start()
    daemons.append(a)
    wait_for("a's publish to be accepted and recorded",
             lambda: any(line["state"] == "following" for line in status_log(inbox)), 30, interval=0.002)
    a.kill()
    # b starts while a is down: a's claim is an orphan to b, which returns it to the inbox and takes it.
    b = Daemon(b_config, tmp_path / "b.log", "once").start()
    daemons.append(b)
    assert b.wait(timeout=60) == 0, b.output()
    a_again = Daemon(a_config, tmp_path / "a.log", "once").start()
    daemons.append(a_again)
    assert a_again.wait(timeout=60) == 0, a_again.output()

    assert crash_sandbox.state.publish_calls == 1
    assert sorted(path.name for path in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    [(folder, status)] = status_files(inbox)["clip"]
    assert "already posted" in status["note"]
    assert journal_rows(tmp_path / "state-a") == [("clip", "returned")]
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []


# A twin's sweep returns a dead daemon's claim to the inbox, but not once that daemon has begun to
# file it: the files would be split between sent/ and the inbox, or filed in sent/ twice. The daemon
# SIGKILLs itself at that exact instant, as in section 7, and its twin sweeps before it is back.
DIE_IN_THE_PIPELINE = textwrap.dedent(
    """
    import os, signal, sys
    import pqdrop.folders.filing
    from pqdrop.commands import main
    from pqdrop.journal.store import Journal

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    moment, config = sys.argv[1], sys.argv[2]
    if moment == "once its publish is recorded":
        real_record_publish_id = Journal.record_publish_id
        def record_publish_id_then_die(self, *args, **kwargs):
            real_record_publish_id(self, *args, **kwargs)
            die()
        Journal.record_publish_id = record_publish_id_then_die
    elif moment == "once its filing is recorded":
        real_record_filing = Journal.record_filing
        def record_filing_then_die(self, *args, **kwargs):
            real_record_filing(self, *args, **kwargs)
            die()
        Journal.record_filing = record_filing_then_die
    else:
        real_move = pqdrop.folders.filing.move
        def move_then_die(source, target):
            real_move(source, target)
            die()
        pqdrop.folders.filing.move = move_then_die
    sys.exit(main(["once", "--config", config]))
    """
)


@pytest.mark.parametrize("moment", ["once its filing is recorded", "between the filing moves"])
def test_a_twin_leaves_a_dead_daemons_claim_it_had_begun_to_file_and_the_item_is_filed_once_whole(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, moment: str
) -> None:
    originals = one_item(inbox, base_clip, "clip", "filed by its own daemon #fyp")
    a_config = crash_config(tmp_path, crash_sandbox, "a.toml", "state-a")
    b_config = crash_config(tmp_path, crash_sandbox, "b.toml", "state-b")
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    dying = subprocess.run([sys.executable, "-c", DIE_IN_THE_PIPELINE, moment, str(b_config)],
                           cwd=REPO, env=env, capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()
    [claim] = claim_dirs(inbox)

    # a sweeps while b is down: b's claim, already being filed, stays where it is for b to finish.
    twin = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(a_config)],
                          cwd=REPO, env=env, capture_output=True, timeout=60)
    assert twin.returncode == 0, twin.stderr.decode()
    assert claim_dirs(inbox) == [claim]
    assert journal_rows(tmp_path / "state-a") == []
    restarted = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(b_config)],
                               cwd=REPO, env=env, capture_output=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr.decode()

    assert dict(publishes_per_caption(crash_sandbox)) == {"filed by its own daemon #fyp": 1}
    assert [(folder, status["state"]) for folder, status in status_files(inbox)["clip"]] == [("sent", "published")]
    assert sorted(path.name for path in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    assert not (inbox / "failed").exists()
    assert journal_rows(tmp_path / "state-b") == [("clip", "done")]
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []
    assert sorted(path.name for path in inbox.iterdir()) == ["sent", "status.log"]


def test_a_twin_killed_while_it_returns_a_dead_daemons_claim_leaves_the_item_whole_and_it_is_filed_once(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes
) -> None:
    originals = one_item(inbox, base_clip, "clip", "returned by a twin that died #fyp")
    a_config = crash_config(tmp_path, crash_sandbox, "a.toml", "state-a")
    b_config = crash_config(tmp_path, crash_sandbox, "b.toml", "state-b")
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    dying = subprocess.run([sys.executable, "-c", DIE_IN_THE_PIPELINE, "once its publish is recorded", str(b_config)],
                           cwd=REPO, env=env, capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()
    # a finds b stopped and starts returning b's claim; it dies after the first file's move.
    twin = subprocess.run([sys.executable, "-c", DIE_DURING_GIVE_BACK, "between the renames", str(a_config)],
                          cwd=REPO, env=env, capture_output=True, timeout=60)
    assert twin.returncode == -signal.SIGKILL, twin.stderr.decode()
    assert sorted(path.name for path in inbox.iterdir() if path.is_file()) == ["clip.md", "status.log"]

    # b, back, does not file the half left in processing/ (its claim is gone): it returns the rest to the inbox.
    restarted = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(b_config)],
                               cwd=REPO, env=env, capture_output=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr.decode()
    assert not (inbox / "sent").exists()
    assert sorted(path.name for path in inbox.iterdir() if path.is_file()) == ["clip.md", "clip.mp4", "status.log"]
    assert journal_rows(tmp_path / "state-b") == [("clip", "returned")]
    # a, back, takes the whole item; PostQued knows its content-derived key, so it is not posted again.
    a_again = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(a_config)],
                             cwd=REPO, env=env, capture_output=True, timeout=60)
    assert a_again.returncode == 0, a_again.stderr.decode()
    assert dict(publishes_per_caption(crash_sandbox)) == {"returned by a twin that died #fyp": 1}
    [(folder, status)] = status_files(inbox)["clip"]
    assert (folder, status["state"]) == ("sent", "accepted") and "already posted" in status["note"]
    assert sorted(path.name for path in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    assert not (inbox / "failed").exists()
    assert journal_rows(tmp_path / "state-a") == [("clip", "done")]
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []


TWIN_STORM_ITEMS = 10
TWIN_STORM_SEED = 7


@pytest.mark.slow
def test_two_daemons_killed_in_turns_post_every_item_once_and_file_it_in_sent(
    tmp_path: Path, inbox: Path, storm_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    captions = {f"pair-{index}": f"pair storm {index} #fyp" for index in range(TWIN_STORM_ITEMS)}
    for name, caption in captions.items():
        make_clip(inbox / f"{name}.mp4", base_clip, name)
        write_sidecar(inbox / f"{name}.md", caption)
    originals = user_files(inbox)
    configs = {label: crash_config(tmp_path, storm_sandbox, f"{label}.toml", f"state-{label}") for label in "ab"}
    storm_sandbox.faults.delay_seconds = 0.08
    live = {label: Daemon(config, tmp_path / f"{label}.log").start() for label, config in configs.items()}
    daemons.extend(live.values())
    rng = random.Random(TWIN_STORM_SEED)
    kills = Counter[str]()
    deadline = time.monotonic() + 60
    while not all_filed(inbox, set(captions)) and time.monotonic() < deadline and sum(kills.values()) < 30:
        time.sleep(rng.uniform(0.2, 1.0))  # positions the next kill
        victim = rng.choice("ab")
        assert live[victim].running, live[victim].output()
        live[victim].kill()
        kills[victim] += 1
        # A restart sweeps: claims of the other daemon, if it is down just then, go back to the inbox.
        live[victim] = Daemon(configs[victim], tmp_path / f"{victim}.log").start()
        daemons.append(live[victim])
    wait_for("every item to be filed", lambda: all_filed(inbox, set(captions)), 60, interval=0.05)
    for daemon in live.values():
        wait_for("the last daemons to start watching", lambda d=daemon: d.watching() or not d.running, 20)
        daemon.terminate()
    assert [daemon.wait(timeout=10) for daemon in live.values()] == [0, 0], "".join(d.output() for d in live.values())

    filed = status_files(inbox)
    notes = Counter(status["state"] + (" (already posted)" if "note" in status else "")
                    for found in filed.values() for _, status in found)
    print(f"\ntwo daemons killed in turns: kills={dict(kills)}, filed as {dict(notes)}")
    per_caption = publishes_per_caption(storm_sandbox)
    assert {name: per_caption[caption] for name, caption in captions.items()} == {name: 1 for name in captions}
    assert {name: [folder for folder, _ in filed[name]] for name in captions} == {name: ["sent"] for name in captions}
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []


# --- 5. the journal lost ----------------------------------------------------------------------------


def delete_journal(state_dir: Path) -> list[str]:
    removed = sorted(path.name for path in state_dir.glob(JOURNAL_FILE + "*"))
    for name in removed:
        (state_dir / name).unlink()
    return removed


@pytest.mark.slow
def test_items_already_in_sent_are_not_posted_again_after_the_journal_is_deleted(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    config = crash_config(tmp_path, crash_sandbox)
    old = {"old-1": "old one #fyp", "old-2": "old two #fyp"}
    for name, caption in old.items():
        one_item(inbox, base_clip, name, caption)
    first = Daemon(config, tmp_path / "daemon.log", "once").start()
    daemons.append(first)
    assert first.wait(timeout=60) == 0, first.output()
    assert JOURNAL_FILE in delete_journal(tmp_path / "state")

    new = {"new-1": "new one #fyp"}
    for name, caption in new.items():
        one_item(inbox, base_clip, name, caption)
    second = Daemon(config, tmp_path / "daemon.log", "once").start()
    daemons.append(second)
    assert second.wait(timeout=60) == 0, second.output()
    per_caption = publishes_per_caption(crash_sandbox)
    assert dict(per_caption) == {caption: 1 for caption in {**old, **new}.values()}
    assert {name: [(folder, status["state"]) for folder, status in found]
            for name, found in status_files(inbox).items()} == {
                name: [("sent", "published")] for name in {**old, **new}}


def test_an_item_in_flight_when_the_journal_is_lost_is_deduplicated_by_its_content_key(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    originals = one_item(inbox, base_clip, "clip", "journal lost mid-flight #fyp")
    config = crash_config(tmp_path, crash_sandbox)
    daemon = Daemon(config, tmp_path / "daemon.log").start()
    daemons.append(daemon)
    wait_for("the publish to be accepted and recorded",
             lambda: any(line["state"] == "following" for line in status_log(inbox)), 30, interval=0.002)
    daemon.kill()
    delete_journal(tmp_path / "state")

    once = Daemon(config, tmp_path / "daemon.log", "once").start()
    daemons.append(once)
    assert once.wait(timeout=60) == 0, once.output()
    assert crash_sandbox.state.publish_calls == 1
    [(folder, status)] = status_files(inbox)["clip"]
    assert (folder, status["state"]) == ("sent", "accepted")
    assert "already posted" in status["note"]
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []


# --- 6. SIGTERM in the middle of an upload -------------------------------------------------------------


PADDING_BYTES = 300 * 1024 * 1024


def make_large_clip(path: Path, base: bytes) -> Path:
    """A real clip followed by a ~300 MB `free` box: probe reads it as the 1 s clip, the upload sends it all."""
    with path.open("wb") as stream:
        stream.write(base)
        stream.write(struct.pack(">I4s", PADDING_BYTES, b"free"))
        zeros = bytes(1024 * 1024)
        left = PADDING_BYTES - 8
        while left > 0:
            stream.write(zeros[:min(left, len(zeros))])
            left -= len(zeros)
    return path


def video_contents(sandbox: Sandbox, filename: str) -> list[dict[str, Any]]:
    return [content for content in sandbox.state_summary()["contents"].values() if content["filename"] == filename]


@pytest.mark.slow
def test_sigterm_during_an_upload_exits_0_within_10_s_and_the_restart_posts_it_once_intact(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    make_large_clip(inbox / "big.mp4", base_clip)
    write_sidecar(inbox / "big.md", "a large clip #fyp")
    originals = user_files(inbox)
    big_sha = sha256_of(inbox / "big.mp4")
    config = crash_config(tmp_path, crash_sandbox)
    crash_sandbox.faults.delay_seconds = 0.5  # storage starts reading the PUT late: the upload is under way
    daemon = Daemon(config, tmp_path / "daemon.log").start()
    daemons.append(daemon)
    wait_for("the upload to start",
             lambda: last_state(inbox) == "uploading" and video_contents(crash_sandbox, "big.mp4"),
             30, interval=0.002)
    daemon.terminate()
    stopped_at = time.monotonic()
    assert daemon.wait(timeout=10) == 0, daemon.output()
    assert time.monotonic() - stopped_at < 10
    [broken_off] = video_contents(crash_sandbox, "big.mp4")
    assert broken_off["status"] != "ready"
    assert journal_rows(tmp_path / "state") == [("big", "uploading")]
    assert last_state(inbox) == "uploading"

    crash_sandbox.faults.delay_seconds = 0.0
    restarted = Daemon(config, tmp_path / "daemon.log").start()
    daemons.append(restarted)
    wait_for("the item to be filed", lambda: all_filed(inbox, {"big"}), 60, interval=0.05)
    restarted.terminate()
    assert restarted.wait(timeout=10) == 0, restarted.output()
    [publish] = crash_sandbox.state_summary()["publishes"]
    [content_id] = publish["contentIds"]
    assert crash_sandbox.state_summary()["contents"][content_id]["sha256"] == big_sha
    [(folder, status)] = status_files(inbox)["big"]
    assert (folder, status["state"]) == ("sent", "published")
    assert sha256_of(inbox / "sent" / "big.mp4") == big_sha
    assert_nothing_lost_nothing_doubled(inbox, originals)


@pytest.mark.slow
def test_sigterm_while_a_low_bandwidth_cap_paces_the_upload_ends_once_promptly_and_the_next_once_posts_it(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, daemons: list[Daemon]
) -> None:
    # At 1000 B/s each 16 KiB piece of the upload is a 16 s wait for the cap: the stop must cut it short.
    originals = one_item(inbox, base_clip, "slow", "a paced upload #fyp")
    assert (inbox / "slow.mp4").stat().st_size > 16 * 1024  # two pieces at least: SIGTERM lands mid-upload
    config = write_config(
        tmp_path, crash_sandbox.url,
        postqued={"follow_seconds": 20.0, "timeout_seconds": 10.0, "rate_limits": GENEROUS_LIMITS},
        upload={"max_rate": 1000},
    )
    once = Daemon(config, tmp_path / "once.log", "once").start()
    daemons.append(once)
    wait_for("the upload to start",
             lambda: last_state(inbox) == "uploading" and video_contents(crash_sandbox, "slow.mp4"), 30)
    time.sleep(1.0)  # well inside the second piece's wait
    once.terminate()
    stopped_at = time.monotonic()
    assert once.wait(timeout=10) == 0, once.output()
    took = time.monotonic() - stopped_at
    assert took < 4, f"once took {took:.1f} s to end after SIGTERM"
    printed = once.output()
    assert "nothing to do" not in printed
    assert "slow" in printed and "stopped at step uploading; resumes there on the next start" in printed
    assert journal_rows(tmp_path / "state") == [("slow", "uploading")]
    assert crash_sandbox.state.publish_calls == 0

    write_config(tmp_path, crash_sandbox.url,
                 postqued={"follow_seconds": 20.0, "timeout_seconds": 10.0, "rate_limits": GENEROUS_LIMITS})
    again = Daemon(config, tmp_path / "once.log", "once").start()
    daemons.append(again)
    assert again.wait(timeout=60) == 0, again.output()
    [publish] = crash_sandbox.state_summary()["publishes"]
    [(folder, status)] = status_files(inbox)["slow"]
    assert (folder, status["state"], status["publishId"]) == ("sent", "published", publish["publishId"])
    assert_nothing_lost_nothing_doubled(inbox, originals)


# --- 7. a crash while an item is given back to the inbox -----------------------------------------------

# A SIGKILL cannot be aimed between two renames from outside, so the daemon aims it at itself:
# this runs `pqdrop once` with the give-back's file moves (or its journal write) wrapped to
# SIGKILL the process at that exact instant.
DIE_DURING_GIVE_BACK = textwrap.dedent(
    """
    import os, signal, sys
    import pqdrop.folders.claim
    from pqdrop.commands import main
    from pqdrop.journal.store import Journal

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    moment, config = sys.argv[1], sys.argv[2]
    if moment == "between the renames":
        real_move = pqdrop.folders.claim.move
        def move_then_die(source, target):
            real_move(source, target)
            die()
        pqdrop.folders.claim.move = move_then_die
    else:
        real_set_state = Journal.set_state
        def set_state_or_die(self, item_id, state, **kwargs):
            if state == "returned":
                die()
            real_set_state(self, item_id, state, **kwargs)
        Journal.set_state = set_state_or_die
    sys.exit(main(["once", "--config", config]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["between the renames", "after the renames"])
def test_a_crash_while_an_item_is_given_back_neither_splits_nor_fails_it(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes, moment: str
) -> None:
    originals = one_item(inbox, base_clip, "clip", "given back, then killed #fyp")
    config = crash_config(tmp_path, crash_sandbox)
    # The key is refused once at the upload: the item goes back to the inbox to wait, and the process dies.
    crash_sandbox.faults.fail_next(1, status=401, path_prefix="/v1/content/upload")
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    dying = subprocess.run([sys.executable, "-c", DIE_DURING_GIVE_BACK, moment, str(config)],
                           cwd=REPO, env=env, capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()

    restarted = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config)],
                               cwd=REPO, env=env, capture_output=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr.decode()
    assert dict(publishes_per_caption(crash_sandbox)) == {"given back, then killed #fyp": 1}
    assert [(folder, status["state"]) for folder, status in status_files(inbox)["clip"]] == [("sent", "published")]
    assert sorted(path.name for path in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    assert not (inbox / "failed").exists()
    assert_nothing_lost_nothing_doubled(inbox, originals)
    assert claim_dirs(inbox) == []


@pytest.mark.slow
def test_a_give_back_cut_short_when_a_same_named_file_arrived_takes_the_item_back_whole(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes
) -> None:
    originals = one_item(inbox, base_clip, "clip", "the first clip #fyp")
    config = crash_config(tmp_path, crash_sandbox)
    crash_sandbox.faults.fail_next(1, status=401, path_prefix="/v1/content/upload")
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    dying = subprocess.run([sys.executable, "-c", DIE_DURING_GIVE_BACK, "between the renames", str(config)],
                           cwd=REPO, env=env, capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()
    assert sorted(path.name for path in inbox.iterdir()) == ["clip.md", "processing", "status.log"]
    newer = make_clip(inbox / "clip.mp4", base_clip, "a newer clip under the same name").read_bytes()

    restarted = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config)],
                               cwd=REPO, env=env, capture_output=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr.decode()
    [publish] = crash_sandbox.state_summary()["publishes"]
    assert publish["targets"][0]["caption"] == "the first clip #fyp"
    assert user_files(inbox / "sent") == originals
    assert sorted(path.name for path in inbox.iterdir()) == ["clip.mp4", "sent", "status.log"]
    assert (inbox / "clip.mp4").read_bytes() == newer  # the newcomer waits for its own sidecar


# --- 8. a crash while a status file is written ------------------------------------------------------------

# The status file is written to a hidden temporary and renamed over; the process SIGKILLs itself
# just before that rename, the one instant a random kill hits only now and then.
DIE_BEFORE_STATUS_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    from pqdrop.commands import main

    real_replace = os.replace
    def replace_or_die(source, target, **kwargs):
        if str(target).endswith(".status.json"):
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(source, target, **kwargs)
    os.replace = replace_or_die
    sys.exit(main(["once", "--config", sys.argv[1]]))
    """
)


@pytest.mark.slow
def test_a_crash_while_the_status_file_is_written_leaves_no_half_written_file_behind(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, base_clip: bytes
) -> None:
    originals = one_item(inbox, base_clip, "clip", "status file interrupted #fyp")
    config = crash_config(tmp_path, crash_sandbox)
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    dying = subprocess.run([sys.executable, "-c", DIE_BEFORE_STATUS_RENAME, str(config)],
                           cwd=REPO, env=env, capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()
    assert [path.name for path in (inbox / "sent").glob(".clip.status.json.*")] != []  # the kill's leftover

    restarted = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config)],
                               cwd=REPO, env=env, capture_output=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr.decode()
    assert sorted(path.name for path in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    assert json.loads((inbox / "sent" / "clip.status.json").read_text())["state"] == "published"
    assert crash_sandbox.state.publish_calls == 1
    assert_nothing_lost_nothing_doubled(inbox, originals)


# --- 9. a crash in the middle of a move across filesystems --------------------------------------------------

# sent/ on another filesystem (a symlink to tmpfs): filing copies, syncs, renames the copy into
# place, then removes the original. The process SIGKILLs itself inside that sequence.
DIE_DURING_CROSS_FS_MOVE = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from pqdrop.commands import main

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    moment = sys.argv[1]
    if moment == "while copying":
        real_copyfile, copied = shutil.copyfile, []
        def copyfile_then_die(source, target, **kwargs):
            if copied:
                die()
            copied.append(source)
            return real_copyfile(source, target, **kwargs)
        shutil.copyfile = copyfile_then_die
    else:
        real_rmtree = shutil.rmtree
        def rmtree_or_die(path, *args, **kwargs):
            if "processing" in str(path):
                die()
            return real_rmtree(path, *args, **kwargs)
        shutil.rmtree = rmtree_or_die
    sys.exit(main(["once", "--config", sys.argv[2]]))
    """
)


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs, which is never the filesystem of tmp_path here (checked)."""
    folder = Path(tempfile.mkdtemp(prefix="pqdrop-sent-", dir="/dev/shm"))
    try:
        assert os.stat(folder).st_dev != os.stat(tmp_path).st_dev
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["while copying", "after the copy was renamed into place"])
def test_a_crash_during_a_move_to_another_filesystem_is_finished_on_restart(
    tmp_path: Path, inbox: Path, crash_sandbox: Sandbox, other_filesystem: Path, moment: str
) -> None:
    (inbox / "sent").symlink_to(other_filesystem)
    trip = inbox / "trip"
    trip.mkdir()
    for index, photo in enumerate(("a.jpg", "b.jpg", "c.jpg")):
        make_image(trip / photo, width=640 + 16 * index, height=480)
    write_sidecar(trip / "post.md", "carousel to another disk #fyp")
    originals = user_files(inbox)
    # sent/ on another disk, said in the config: a link it does not name is never followed (issue 21).
    config = crash_config(tmp_path, crash_sandbox, inbox={"filing_links": {"sent": str(other_filesystem)}})
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    dying = subprocess.run([sys.executable, "-c", DIE_DURING_CROSS_FS_MOVE, moment, str(config)],
                           cwd=REPO, env=env, capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL, dying.stderr.decode()

    restarted = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config)],
                               cwd=REPO, env=env, capture_output=True, timeout=60)
    assert restarted.returncode == 0, restarted.stderr.decode()
    assert crash_sandbox.state.publish_calls == 1
    assert sorted(path.name for path in other_filesystem.iterdir()) == ["trip", "trip.status.json"]
    assert sorted(path.name for path in (other_filesystem / "trip").iterdir()) == ["a.jpg", "b.jpg", "c.jpg", "post.md"]
    assert user_files(other_filesystem) == originals
    assert claim_dirs(inbox) == []
