"""Filesystem events as hints: a watchdog observer that only says "look again".

The watcher never decides what an item is and never calls the API; the service rescans
the inbox when it is nudged, and on a timer anyway, because events can be lost.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Literal

from watchdog.events import FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from pqdrop.config import inbox_not_a_folder

log = logging.getLogger("pqdrop.inbox.watcher")

WatchMode = Literal["events", "poll"]
MOVE_PAIRING_SECONDS = 0.05

# Filesystems where inotify sees nothing that other machines write (network and FUSE mounts).
POLL_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "9p", "afs", "ncpfs", "davfs", "sshfs", "glusterfs",
     "ceph", "lustre", "virtiofs", "vboxsf", "vmhgfs", "prl_fs"}
)


def filesystem_type(path: Path, mounts: Iterable[str]) -> str:
    """The type of the filesystem holding `path`, from lines of /proc/self/mounts."""
    best, best_type = "", "unknown"
    target = str(path)
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def choose_mode(setting: str, fs_type: str) -> WatchMode:
    """`auto` polls on network and FUSE filesystems, where inotify is blind, and uses events elsewhere."""
    if setting in ("events", "poll"):
        return setting  # type: ignore[return-value]
    if fs_type in POLL_FILESYSTEMS or fs_type.startswith("fuse"):
        return "poll"
    return "events"


def detect_mode(setting: str, inbox: Path) -> tuple[WatchMode, str]:
    """Read the mount table and choose; returns the mode and the filesystem type seen."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as stream:
            fs_type = filesystem_type(inbox.resolve(), stream)
    except OSError:
        fs_type = "unknown"
    return choose_mode(setting, fs_type), fs_type


class _Nudge(FileSystemEventHandler):
    """Wakes the loop on any change and remembers where renames landed (those files are whole)."""

    def __init__(self, inbox: Path, wake: threading.Event) -> None:
        self._inbox = inbox
        self._wake = wake
        self._lock = threading.Lock()
        self.renamed: set[PurePosixPath] = set()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if isinstance(event, FileMovedEvent) and event.dest_path:
            destination = Path(os.fsdecode(event.dest_path))
            if destination.parent == self._inbox or destination.parent.parent == self._inbox:
                with self._lock:
                    self.renamed.add(PurePosixPath(destination.relative_to(self._inbox).as_posix()))
        self._wake.set()

    def take_renamed(self) -> set[PurePosixPath]:
        with self._lock:
            renamed, self.renamed = self.renamed, set()
        return renamed


# The kernel's inotify limits (fs.inotify.max_user_instances: EMFILE; max_user_watches: ENOSPC).
# Raising them needs root; polling works without, so pqdrop falls back and says so once.
INOTIFY_LIMIT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOSPC, errno.ENOMEM})


class Watcher:
    """Runs a watchdog observer on the inbox and restarts it if it dies or the path vanishes.

    When the kernel refuses inotify (an instance or watch limit), it falls back to polling for
    good and says so once; the service's scans every poll_interval then do the watching.
    """

    def __init__(
        self,
        inbox: Path,
        mode: WatchMode,
        wake: threading.Event,
        *,
        poll_interval: float = 10.0,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        self._inbox = inbox
        self._mode = mode
        self._wake = wake
        self._poll_interval = poll_interval
        self._observer_factory = observer_factory or _events_observer
        self._observer: BaseObserver | None = None
        self._nudge: _Nudge | None = None
        self.problem: str | None = None
        self.fallback: str | None = None  # why events mode gave way to polling

    @property
    def mode(self) -> WatchMode:
        return self._mode

    def ensure_running(self) -> None:
        """Start the observer if it is not alive; note why when it cannot be."""
        if self._observer is not None and self._observer.is_alive() and os.path.isdir(self._inbox):
            return
        if self._observer is not None:
            log.warning("the watch on %s stopped (observer died or the folder went away); restarting it", self._inbox)
        self.stop()
        if not os.path.isdir(self._inbox):
            self.problem = f"{inbox_not_a_folder(self._inbox)}; pqdrop waits for it"
            return
        if self._mode == "poll":
            # The service's own scan every poll_interval is the poller; a PollingObserver
            # would stat the whole tree a second time.
            self.problem = None
            return
        # watchdog warns when a watched folder moves within the tree (a bundle moving into
        # processing/): its own bookkeeping, harmless, and in a thread where it would only be noise.
        warnings.filterwarnings("ignore", message=r"Callback with id .* already exists", category=RuntimeWarning)
        nudge = _Nudge(self._inbox, self._wake)
        try:
            observer = self._observer_factory()
            observer.schedule(nudge, str(self._inbox), recursive=True)
            observer.start()
        except OSError as exc:
            if exc.errno in INOTIFY_LIMIT_ERRNOS:
                self._fall_back(exc)
                return
            problem = f"cannot watch {self._inbox}: {exc.strerror or exc}"
            if problem != self.problem:
                log.warning(problem)
            self.problem = problem
            return
        self._nudge = nudge
        if self.problem:
            log.info("watching %s again", self._inbox)
        self.problem = None
        self._observer = observer

    def _fall_back(self, exc: OSError) -> None:
        self._mode = "poll"
        self.fallback = (f"inotify refused a watch on {self._inbox} ({exc.strerror or exc}: the kernel's "
                         "fs.inotify.max_user_instances or max_user_watches is used up); "
                         f"polling every {self._poll_interval:g} s instead")
        log.warning(self.fallback)
        self.problem = None

    def take_renamed(self) -> set[PurePosixPath]:
        """Paths that arrived by rename since the last call (events mode only)."""
        return self._nudge.take_renamed() if self._nudge is not None else set()

    def stop(self) -> None:
        if self._observer is None:
            return
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=5)
        self._observer = None


def _events_observer() -> BaseObserver:
    """inotify with full move events on Linux (a rename from outside the inbox is reported as a move)."""
    try:
        from watchdog.observers.inotify import InotifyObserver
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
    except ImportError:  # not Linux: the platform's default observer
        return Observer()
    # watchdog holds every event for 0.5 s after a "moved from" while it looks for the matching
    # "moved to", and pqdrop's own claims and filings are moves: a drop right after one waited
    # that long (bench/latency.py: p95 434 ms). Both halves of a rename arrive in one read.
    InotifyMoveEventGrouper.delay = MOVE_PAIRING_SECONDS
    noisy = logging.getLogger("watchdog.observers.inotify")
    if not any(isinstance(existing, _StopNoise) for existing in noisy.filters):
        noisy.addFilter(_StopNoise())
    return InotifyObserver(generate_full_events=True)


class _StopNoise(logging.Filter):
    """watchdog logs an ERROR when its emitter is stopped mid-read; that is our own stop, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()
