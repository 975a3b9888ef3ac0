"""Strangers in the inbox (issue 21), the files' side: whatever a sync peer drops or swaps, at any moment,
pqdrop reads nothing outside the inbox, posts no local secret, and is not worn down by a file.

Each attack is made for real: symlinks renamed over an item's files by a racing thread, a sparse 6 GiB
sidecar, links to a key file and to /proc/self/environ; against the real sandbox over loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, wait_until, write_config
from tests.system.test_service_protocol import without_root_privileges

from pqdrop.config import Config, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Workers, once

SECRET = "pq_live_0123456789abcdefSECRET"  # what a key file outside the inbox holds
LATER = "dispatchAt: 2030-06-01T18:00:00\n"
SIX_GIB = 6 * 1024**3
MEMORY_CAP = 1536 * 1024**2  # the address space a pqdrop process gets here: a read of the sparse file would not fit
RACES = 12  # each race is run this many times; one lost race is a leak


def swap_for_link(path: Path, target: Path) -> None:
    """Put a symlink where `path` is, in one step, as a stranger with write access would (rename over)."""
    link = path.with_name(f".{path.name}.swap")
    os.symlink(target, link)
    os.replace(link, path)


def everything_written(inbox: Path) -> str:
    """Every status file, status.log and SCHEDULE.md in the inbox, as one text."""
    texts = []
    for path in inbox.rglob("*"):
        if path.is_file() and not path.is_symlink() and (
                path.name.endswith(".status.json") or path.name in ("status.log", "SCHEDULE.md")):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A file outside the inbox that holds a key, as ~/.config/pqdrop/key would."""
    path = tmp_path / "outside" / "api.key"
    path.parent.mkdir()
    path.write_text(f"{SECRET}\n")
    return path


def schedule(service: Workers, inbox: Path, name: str = "launch") -> Path:
    make_video(inbox / f"{name}.mp4", seconds=1)
    sidecar(inbox / f"{name}.md", LATER, "Launch day #fyp")
    assert once(service)[0] == EXIT_OK
    return inbox / "scheduled" / f"{name}.md"


# --- the edit path: scheduled/NAME.md swapped for a link -------------------------------------------


@pytest.mark.parametrize("outside", ["key file", "/proc/self/environ"])
def test_a_scheduled_sidecar_swapped_for_a_link_is_never_read_and_the_post_stays(
    service: Workers, inbox: Path, sandbox: Sandbox, secret_file: Path, outside: str
) -> None:
    path = schedule(service, inbox)
    [before] = sandbox.state_summary()["publishes"]
    target = secret_file if outside == "key file" else Path("/proc/self/environ")
    swap_for_link(path, target)
    service.follow()
    service.follow()  # judged once: the second look says nothing new

    [after] = sandbox.state_summary()["publishes"]
    assert (after["publishId"], after["status"]) == (before["publishId"], before["status"])  # not canceled
    status = json.loads((inbox / "scheduled" / "launch.status.json").read_text())
    assert status["state"] == "scheduled"
    assert status["edit"]["applied"] is False
    assert "launch.md: is a symlink" in status["edit"]["reason"]
    written = everything_written(inbox) + json.dumps(sandbox.state_summary())
    assert SECRET not in written and "PATH=" not in written and "POSTQUED_API_KEY" not in written
    assert path.is_symlink() and os.readlink(path) == str(target)  # the stranger's link is left as it is


def test_a_scheduled_sidecar_put_right_after_a_link_is_an_edit_again(
    service: Workers, inbox: Path, sandbox: Sandbox, secret_file: Path
) -> None:
    path = schedule(service, inbox)
    swap_for_link(path, secret_file)
    service.follow()
    path.unlink()
    sidecar(path, "dispatchAt: 2030-06-02T09:30:00\n", "Launch day #fyp")
    service.follow()
    publishes = sandbox.state_summary()["publishes"]
    assert [target["dispatchAt"] for target in publishes[-1]["targets"]] == ["2030-06-02T07:30:00Z"]


# --- a fresh drop's files swapped right after the claim --------------------------------------------


class Swapper:
    """A racing thread: as soon as an item's claim folder holds `name`, renames a link to `target` over it."""

    def __init__(self, inbox: Path, name: str, target: Path, after: threading.Event | None = None) -> None:
        self._inbox, self._name, self._target, self._after = inbox, name, target, after
        self.swapped = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        processing = self._inbox / "processing"
        while not self._stop.is_set() and not self.swapped.is_set():
            if self._after is not None and not self._after.is_set():
                self._after.wait(0.01)
                continue
            try:
                claims = [entry for entry in os.scandir(processing) if entry.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for claim in claims:
                path = Path(claim.path) / self._name
                try:
                    swap_for_link(path, self._target)
                except OSError:
                    continue  # not there yet, or filed already
                self.swapped.set()

    def __enter__(self) -> Swapper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def racing(tmp_path: Path, sandbox: Sandbox) -> Iterator[tuple[Config, Workers]]:
    config = load_config(write_config(tmp_path, sandbox.url))
    config.inbox.path.mkdir(exist_ok=True)
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as workers:
        yield config, workers
    journal.close()


def logged(inbox: Path, name: str, state: str) -> bool:
    """Whether status.log has said that `name` reached `state`."""
    try:
        lines = (inbox / "status.log").read_text().splitlines()
    except OSError:
        return False
    return any((record := json.loads(line)).get("item") == name and record.get("state") == state
               for line in lines if line.endswith("}"))


def signal_when_logged(inbox: Path, name: str, state: str, event: threading.Event) -> None:
    wait_until(lambda: logged(inbox, name, state), 30)
    event.set()


def outcome(inbox: Path, name: str) -> dict[str, Any]:
    for folder in ("sent", "failed", "scheduled"):
        path = inbox / folder / f"{name}.status.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
    raise AssertionError(f"{name} was not filed")


def test_a_sidecar_swapped_for_a_link_right_after_the_claim_never_posts_the_outside_text(
    racing: tuple[Config, Workers], sandbox: Sandbox, secret_file: Path
) -> None:
    config, workers = racing
    inbox = config.inbox.path
    swapped = 0
    for number in range(RACES):
        name = f"race{number}"
        make_video(inbox / f"{name}.mp4", width=362 + 2 * number, height=640, seconds=1)
        sidecar(inbox / f"{name}.md", "", f"Caption {number} #fyp")
        with Swapper(inbox, f"{name}.md", secret_file) as swapper:
            once(workers)
        swapped += swapper.swapped.is_set()
        result = outcome(inbox, name)
        if result["state"] == "failed":
            assert "is a symlink" in result["error"]["message"], result
    written = everything_written(inbox) + json.dumps(sandbox.state_summary())
    assert SECRET not in written
    assert swapped >= 1  # the window was hit: a link went in while an item was in processing/


def test_a_video_swapped_for_a_link_after_its_probe_never_uploads_the_outside_bytes(
    racing: tuple[Config, Workers], sandbox: Sandbox, tmp_path: Path
) -> None:
    config, workers = racing
    inbox = config.inbox.path
    (tmp_path / "outside").mkdir()
    outside = make_video(tmp_path / "outside" / "private.mp4", width=400, height=640, seconds=1)
    outside_sha = hashlib.sha256(outside.read_bytes()).hexdigest()
    sandbox.faults.delay_seconds = 0.2  # every API request is slow: the probe and the PUT lie far apart
    refused = 0
    for number in range(RACES):
        name = f"clip{number}"
        original = make_video(inbox / f"{name}.mp4", width=362 + 2 * number, height=640, seconds=1)
        original_sha = hashlib.sha256(original.read_bytes()).hexdigest()
        sidecar(inbox / f"{name}.md", "", f"Clip {number} #fyp")
        uploading = threading.Event()
        watcher = threading.Thread(target=signal_when_logged, args=(inbox, name, "uploading", uploading), daemon=True)
        watcher.start()
        with Swapper(inbox, f"{name}.mp4", outside, after=uploading) as swapper:
            once(workers)
        watcher.join(timeout=30)
        assert swapper.swapped.is_set()
        result = outcome(inbox, name)
        if result["state"] == "failed":
            refused += 1
            message = result["error"]["message"]
            assert "is a symlink" in message or "was replaced by another file" in message, result
        else:
            assert [content["sha256"] for content in sandbox.state_summary()["contents"].values()
                    if content.get("filename") == f"{name}.mp4"] == [original_sha]
    uploaded = [content.get("sha256") for content in sandbox.state_summary()["contents"].values()]
    assert outside_sha not in uploaded
    assert refused >= 1  # the window was hit: an item swapped between its probe and its PUT was refused


# --- a sparse 6 GiB sidecar -----------------------------------------------------------------------


def capped(seconds: float = 60.0) -> dict[str, Any]:
    """subprocess.run arguments for a pqdrop whose address space is capped: a 6 GiB read fails at once."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    return {"preexec_fn": limit, "capture_output": True, "text": True, "timeout": seconds, "check": False}


@pytest.fixture
def sparse_drop(tmp_path: Path, sandbox: Sandbox) -> tuple[Path, dict[str, str]]:
    config_path = write_config(tmp_path, sandbox.url)
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    make_video(inbox / "huge.mp4", seconds=1)
    with (inbox / "huge.md").open("wb") as stream:
        stream.write(b"---\nprivacyLevel: SELF_ONLY\n---\nA caption\n")
    os.truncate(inbox / "huge.md", SIX_GIB)  # 6 GiB as ls shows it, a few KiB on disk
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY, "PQDROP_CONFIG": str(config_path)}
    env.pop("NOTIFY_SOCKET", None)
    return inbox, env


def test_check_refuses_a_sparse_6_gib_sidecar_by_its_size_naming_the_file_and_the_limit(
    sparse_drop: tuple[Path, dict[str, str]]
) -> None:
    inbox, env = sparse_drop
    done = subprocess.run([sys.executable, "-m", "pqdrop", "check"], env=env, cwd=inbox.parent, **capped())
    assert done.returncode == 1, done.stderr
    assert "huge.md: is 6,442,450,944 bytes, over the limit of 1,048,576 bytes" in done.stdout + done.stderr
    assert os.stat(inbox / "huge.md").st_size == SIX_GIB  # read, never altered


def test_once_fails_a_sparse_6_gib_sidecar_and_files_it_so_no_restart_reads_it_again(
    sparse_drop: tuple[Path, dict[str, str]]
) -> None:
    inbox, env = sparse_drop
    done = subprocess.run([sys.executable, "-m", "pqdrop", "once"], env=env, cwd=inbox.parent, **capped())
    assert done.returncode == EXIT_FAILED, done.stderr
    status = json.loads((inbox / "failed" / "huge.status.json").read_text())
    assert status["error"]["code"] == "SIDECAR_TOO_LARGE"
    assert "huge.md: is 6,442,450,944 bytes, over the limit of 1,048,576 bytes" in status["error"]["message"]
    assert not (inbox / "processing").exists() or not any((inbox / "processing").iterdir())
    again = subprocess.run([sys.executable, "-m", "pqdrop", "once"], env=env, cwd=inbox.parent, **capped())
    assert again.returncode == EXIT_OK, again.stderr  # nothing left to read: failed/ is not looked into


def test_run_fails_a_sparse_6_gib_sidecar_and_keeps_running(
    sparse_drop: tuple[Path, dict[str, str]]
) -> None:
    inbox, env = sparse_drop
    with subprocess.Popen([sys.executable, "-m", "pqdrop", "run"], env=env, cwd=inbox.parent,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
                          ) as process:
        try:
            wait_until(lambda: (inbox / "failed" / "huge.status.json").exists() or process.poll() is not None, 60)
            assert process.poll() is None, "run ended instead of failing the item"
            make_video(inbox / "next.mp4", width=400, height=640, seconds=1)
            sidecar(inbox / "next.md", "", "The next one #fyp")
            wait_until(lambda: (inbox / "sent" / "next.status.json").exists(), 60)
        finally:
            process.terminate()
            process.wait(timeout=20)
    status = json.loads((inbox / "failed" / "huge.status.json").read_text())
    assert status["error"]["code"] == "SIDECAR_TOO_LARGE"


def test_a_fifo_planted_as_a_scheduled_sidecar_neither_hangs_the_editor_nor_changes_the_post(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    [before] = sandbox.state_summary()["publishes"]
    path.unlink()
    os.mkfifo(path)
    started = time.monotonic()
    thread = threading.Thread(target=service.follow, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), f"the editor hung on a FIFO for {time.monotonic() - started:.0f} s"
    assert json.loads((inbox / "scheduled" / "launch.status.json").read_text())["state"] == "scheduled"
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == [before["status"]]


# --- filing folders replaced by links ---------------------------------------------------------------


@contextmanager
def linked_workers(tmp_path: Path, sandbox: Sandbox, links: dict[str, str]) -> Iterator[tuple[Config, Workers]]:
    config = load_config(write_config(tmp_path, sandbox.url, inbox={"filing_links": links}))
    config.inbox.path.mkdir(exist_ok=True)
    journal = Journal(config.state.dir)
    try:
        with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as workers:
            yield config, workers
    finally:
        journal.close()


def test_a_sent_folder_replaced_by_a_link_holds_filing_and_moves_nothing_out(
    service: Workers, inbox: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / "sent").symlink_to(elsewhere)  # what a stranger with write access to the share does
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md", "", "Clip #fyp")
    once(service)
    assert list(elsewhere.iterdir()) == []  # nothing left the inbox
    [claim] = (inbox / "processing").glob("clip*")  # published, and waiting in processing/ to be filed
    assert sorted(path.name for path in claim.iterdir() if not path.name.startswith(".")) == ["clip.md", "clip.mp4"]
    waiting = [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()][-1]
    assert (waiting["item"], waiting["state"]) == ("clip", "waiting")
    assert waiting["reason"].startswith(f"sent in {inbox} is a symbolic link (to {elsewhere}); pqdrop does not move")
    assert waiting["reason"].endswith(f'name its place in the config: [inbox.filing_links] sent = "{elsewhere}"')
    (inbox / "sent").unlink()  # the owner puts it right: the item is filed inside the inbox
    once(service)
    assert sorted(path.name for path in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]


def test_a_filing_link_the_config_names_is_followed_and_one_leading_elsewhere_is_not(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    archive, other = tmp_path / "archive", tmp_path / "other"
    archive.mkdir()
    other.mkdir()
    with linked_workers(tmp_path, sandbox, {"sent": str(archive)}) as (config, workers):
        inbox = config.inbox.path
        (inbox / "sent").symlink_to(archive)  # the owner's own choice: sent/ on a bigger disk
        make_video(inbox / "first.mp4", width=362, height=640, seconds=1)
        sidecar(inbox / "first.md", "", "First #fyp")
        assert once(workers)[0] == EXIT_OK
        assert sorted(path.name for path in archive.iterdir()) == ["first.md", "first.mp4", "first.status.json"]

        (inbox / "sent").unlink()
        (inbox / "sent").symlink_to(other)  # a stranger re-points it
        make_video(inbox / "second.mp4", width=364, height=640, seconds=1)
        sidecar(inbox / "second.md", "", "Second #fyp")
        once(workers)
        assert list(other.iterdir()) == []
        reason = workers.filing_blocked["second"]
    assert reason == (f"sent in {inbox} is a symbolic link to {other}, not to {archive} as "
                      "[inbox.filing_links].sent says; pqdrop moves nothing through it: point the link back, "
                      "or change the config if the move was yours")


def test_a_processing_folder_replaced_by_a_link_claims_nothing(
    service: Workers, inbox: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    once(service)  # the owner lock is taken with a real processing/
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.replace(inbox / "processing", elsewhere / "was-processing")
    (inbox / "processing").symlink_to(elsewhere)
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md", "", "Clip #fyp")
    once(service)
    assert sorted(path.name for path in elsewhere.iterdir()) == ["was-processing"]  # nothing claimed through it
    assert (inbox / "clip.mp4").exists() and (inbox / "clip.md").exists()
    assert sandbox.state_summary()["publishes"] == []


# --- a folder pqdrop cannot read ------------------------------------------------------------------


def test_a_folder_pqdrop_cannot_read_is_said_by_check_once_and_status_never_skipped(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config_path = write_config(tmp_path, sandbox.url, inbox={"folder_settle_seconds": 0.0})
    inbox = tmp_path / "inbox"
    (inbox / "trip").mkdir(parents=True)
    make_video(inbox / "trip" / "clip.mp4", seconds=1)
    sidecar(inbox / "trip" / "post.md")
    (inbox / "trip").chmod(0o000)
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    env.pop("NOTIFY_SOCKET", None)
    reason = ("trip/ cannot be read (Permission denied): nothing in it is posted, and it stays where it is until "
              "pqdrop's user may read it; give that user read access, or move the folder out of the inbox")

    def pqdrop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*without_root_privileges(), sys.executable, "-m", "pqdrop", *args,
                               "--config", str(config_path)], env=env, capture_output=True, text=True, timeout=60,
                              check=False)

    try:
        checked = pqdrop("check")
        ran = pqdrop("once")
        status = pqdrop("status")
    finally:
        (inbox / "trip").chmod(0o755)
    assert checked.returncode == 1 and f"trip: {reason}" in checked.stdout, checked.stdout + checked.stderr
    assert ran.returncode == EXIT_OK and f"trip: {reason}" in ran.stderr, ran.stderr
    assert logged(inbox, "trip", "waiting")
    assert reason in status.stdout, status.stdout
    assert sorted(path.name for path in (inbox / "trip").iterdir()) == ["clip.mp4", "post.md"]  # left where it was
    assert sandbox.state_summary()["publishes"] == []


def test_status_reads_no_fifo_link_or_sparse_giant_planted_among_the_status_files(
    tmp_path: Path, sandbox: Sandbox, secret_file: Path
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    inbox = tmp_path / "inbox"
    (inbox / "sent").mkdir(parents=True)
    (inbox / "failed").mkdir()
    os.mkfifo(inbox / "sent" / "pipe.status.json")  # an open without a writer would wait for ever
    os.mkfifo(inbox / "status.log")
    with (inbox / "failed" / "huge.status.json").open("wb") as stream:
        stream.truncate(SIX_GIB)
    (inbox / "failed" / "leak.status.json").symlink_to(secret_file)
    (inbox / "sent" / "real.status.json").write_text(json.dumps({"state": "published", "publishId": "p-1"}))
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    env.pop("NOTIFY_SOCKET", None)
    done = subprocess.run([sys.executable, "-m", "pqdrop", "status", "--json", "--config", str(config_path)],
                          env=env, **capped())
    assert done.returncode == 0, done.stderr
    overview = json.loads(done.stdout)
    assert "real" in done.stdout and SECRET not in done.stdout
    assert [row["name"] for row in overview["recentlySent"]] == ["real"]
    assert overview["failed"] == []


def test_a_claim_folder_swapped_for_a_link_never_posts_reads_or_brings_in_what_it_leads_to(
    racing: tuple[Config, Workers], sandbox: Sandbox, tmp_path: Path
) -> None:
    config, workers = racing
    inbox = config.inbox.path
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    swapped = 0
    for number in range(RACES):
        name = f"swap{number}"
        private = tmp_path / f"private{number}"  # outside the inbox: files named as the item's
        private.mkdir()
        make_video(private / f"{name}.mp4", width=400, height=640, seconds=1)
        (private / f"{name}.md").write_text(f"---\n---\n{SECRET}\n")
        before = {path.name: path.read_bytes() for path in private.iterdir()}
        make_video(inbox / f"{name}.mp4", width=362 + 2 * number, height=640, seconds=1)
        sidecar(inbox / f"{name}.md", "", f"Swap {number} #fyp")
        done = threading.Event()

        def swap(name: str = name, private: Path = private, done: threading.Event = done) -> None:
            while not done.is_set():
                for claim in (inbox / "processing").glob(f"{name}~*"):
                    if claim.is_dir() and not claim.is_symlink() and (claim / f"{name}.md").exists():
                        try:
                            os.rename(claim, stolen / claim.name)
                            claim.symlink_to(private)
                        except OSError:
                            continue
                        done.set()
                        return

        thread = threading.Thread(target=swap, daemon=True)
        thread.start()
        once(workers)
        swapped += done.is_set()
        done.set()
        thread.join(timeout=10)
        assert {path.name: path.read_bytes() for path in private.iterdir()} == before  # nothing moved out of it
    written = everything_written(inbox) + json.dumps(sandbox.state_summary())
    assert SECRET not in written
    inside = [path for path in inbox.rglob("*") if path.is_file() and not path.is_symlink()]
    assert not any(SECRET.encode() in path.read_bytes() for path in inside)  # nothing of it came into the inbox
    assert swapped >= 1
