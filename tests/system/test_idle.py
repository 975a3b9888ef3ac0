"""Idle means idle: a `pqdrop run` with nothing arriving and nothing due writes nothing to disk for a minute.

A NAS spins its disks down only when nothing writes: not a heartbeat file, not the journal (SQLite's
side files included), not status.log or SCHEDULE.md. The daemon here has a sent, a failed and a
scheduled item behind it, rescans every few seconds and has its endpoint asked meanwhile; inotify
(watchdog's observer) hears every write, and a listing of sizes and mtimes catches what inotify
cannot see (a write through a memory map).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import Observed, sidecar, wait_until
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.inotify import InotifyObserver

from pqdrop.media.mediagen import make_video

IDLE_SECONDS = 60.0
IDLE_CPU_SECONDS = 3.0  # of the minute: 5 %, on a machine whose other tests share the cores
# Not IN_CLOSE_WRITE alone: a file opened read-write and closed unwritten (SQLite does that for a read-only
# look) is no write: no IN_MODIFY, the same mtime. A write shows as a modification.
WRITES = (FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent,
          DirCreatedEvent, DirDeletedEvent, DirMovedEvent)


class Writes(FileSystemEventHandler):
    """Every create, change, move and delete under the watched folders."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, WRITES):
            with self._lock:
                self.seen.append(f"{type(event).__name__} {event.src_path!r}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listing(*folders: Path) -> dict[str, tuple[int, int]]:
    """Each file and folder: its size and mtime in nanoseconds."""
    found = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            stat = path.lstat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("watch", ["events", "poll"])  # poll: a NAS's SMB or NFS share, scanned every 2 s
def test_an_idle_daemon_writes_nothing_in_its_state_folder_or_the_inbox_for_a_minute(
    observe: Callable[..., Observed], inbox: Path, tmp_path: Path, watch: str,
) -> None:
    daemon = observe(inbox={"watch": watch, "poll_interval": 2.0, "rescan_seconds": 5.0, "settle_seconds": 0.5})
    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for seconds, (name, frontmatter) in enumerate((("sent", ""), ("failed", "privacyLevel: EVERYONE\n"),
                                                   ("later", f"dispatchAt: {later}\n")), start=1):
        sidecar(inbox / f"{name}.md", frontmatter)
        make_video(inbox / f"{name}.mp4", seconds=seconds)  # three clips: the same one twice is a repost
    wait_until(lambda: all((inbox / folder / f"{name}.status.json").exists()
                           for name, folder in (("sent", "sent"), ("failed", "failed"), ("later", "scheduled"))), 60)
    state = tmp_path / "state"
    wait_until(lambda: (inbox / "SCHEDULE.md").exists(), 30)
    time.sleep(3)  # the filing's last writes land before the watch starts

    writes = Writes()
    observer = InotifyObserver()
    for folder in (state, inbox):
        observer.schedule(writes, str(folder), recursive=True)
    observer.start()
    before = listing(state, inbox)
    cpu_before = cpu_seconds(daemon.process.pid)
    try:
        deadline = time.monotonic() + IDLE_SECONDS
        while time.monotonic() < deadline:
            for path in ("/", "/metrics", "/status.json", "/healthz"):
                assert daemon.get(path).status_code == 200, path
            time.sleep(5)
    finally:
        observer.stop()
        observer.join(10)
    after = listing(state, inbox)
    cpu = cpu_seconds(daemon.process.pid) - cpu_before
    print(f"idle for {IDLE_SECONDS:.0f} s, its endpoint asked {4 * int(IDLE_SECONDS / 5)} times: {cpu:.2f} s of CPU")

    changed = {path: (before.get(path), after.get(path)) for path in before.keys() | after.keys()
               if before.get(path) != after.get(path)}
    assert changed == {}
    assert writes.seen == [], "\n".join(writes.seen)
    assert not (state / "heartbeat").exists()
    assert daemon.process.poll() is None
    assert cpu < IDLE_CPU_SECONDS  # next to no CPU, the endpoint's answers included
