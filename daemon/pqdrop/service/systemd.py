"""systemd, without libsystemd: the notify datagram, the watchdog interval, and the heartbeat.

`notify` sends one datagram to $NOTIFY_SOCKET; it never raises and does nothing when the
variable is unset (sd_notify(3); gunicorn's systemd.py). `Pulse` is called from the working
thread itself (between items, per uploaded chunk, per poll), so a hung loop stops the
heartbeat and systemd's watchdog restarts the service; it also draws upload progress on a
terminal. A beat writes nothing to disk: idle means idle, so a NAS's disks can sleep. Where no
systemd watches (a container), health is asked of `[http] listen`'s /healthz (`pqdrop health`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pqdrop.names import shown

STOP_GRACE_SECONDS = 8.0  # how long workers get to checkpoint after a stop (systemd's TimeoutStopSec is 15 s)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send e.g. "READY=1" or "STATUS=…"; True when a datagram went out."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            # Never block: a manager that stopped reading must not stall the loop (EAGAIN is an OSError).
            sock.send(message.encode("utf-8", "replace"), socket.MSG_DONTWAIT)
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of WATCHDOG_USEC in seconds, when this process is the one systemd watches."""
    env = environ if environ is not None else os.environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        microseconds = int(usec)
    except ValueError:
        return None
    # Like sd_watchdog_enabled(3): zero or less is no watchdog, not "ping continuously".
    return microseconds / 2_000_000 if microseconds > 0 else None

STATUS_EVERY_SECONDS = 1.0
RATE_AFTER_SECONDS = 3.0  # before this an upload's rate says little
# In [state].dir while uploads are in flight, rewritten at most this often: `pqdrop status`, another
# process, reads upload progress there; gone when none is (an idle daemon writes nothing).
UPLOADS_FILE = "uploads.json"
UPLOADS_EVERY_SECONDS = 2.0
UPLOADS_STALE_SECONDS = 30.0  # older than this, the file is a crashed daemon's: nothing is uploading


def upload_pace(sent: int, seconds: float, left: int) -> str:
    """"at 38.2 MB/s, 12 s left" from bytes sent over seconds and bytes still to go."""
    rate = sent / seconds
    eta = left / rate
    remaining = f"{eta:.0f} s" if eta < 90 else f"{eta / 60:.0f} min" if eta < 5400 else f"{eta / 3600:.1f} h"
    return f"at {rate / 1e6:.1f} MB/s, {remaining} left"


def amounts(sent: int, total: int) -> str:
    """"44.0 of 100.0 MB", or in KB for a file under a megabyte (a photo): "12 of 240 KB"."""
    if total < 1_000_000:
        return f"{sent / 1e3:.0f} of {total / 1e3:.0f} KB"
    return f"{sent / 1e6:.1f} of {total / 1e6:.1f} MB"


@dataclass(frozen=True)
class Upload:
    """An upload in flight, as its last chunk left it: what `/` and `/metrics` show."""

    name: str
    sent: int
    total: int
    bytes_per_second: float | None  # None until RATE_AFTER_SECONDS have passed

    @property
    def percent(self) -> int:
        return 100 * self.sent // self.total if self.total else 100

    @property
    def seconds_left(self) -> float | None:
        return (self.total - self.sent) / self.bytes_per_second if self.bytes_per_second else None


def save_uploads(path: Path, uploads: Sequence[Upload], now: float) -> None:
    """The uploads in flight as JSON (replaced whole, so a reader never sees half), or no file when there are none."""
    if not uploads:
        path.unlink(missing_ok=True)
        return
    document = {"updatedAt": now, "uploads": [
        {"name": upload.name, "sent": upload.sent, "total": upload.total, "bytesPerSecond": upload.bytes_per_second}
        for upload in uploads]}
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(document), encoding="utf-8")
    os.replace(partial, path)


def load_uploads(path: Path, now: float, stale_seconds: float = UPLOADS_STALE_SECONDS) -> list[Upload]:
    """What `save_uploads` wrote, unless it is older than `stale_seconds` or unreadable: then nothing."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if now - float(document["updatedAt"]) > stale_seconds:
            return []
        return [Upload(str(row["name"]), int(row["sent"]), int(row["total"]),
                       None if row.get("bytesPerSecond") is None else float(row["bytesPerSecond"]))
                for row in document["uploads"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


class Pulse:
    """Rate-limited heartbeat, status line and progress display."""

    def __init__(
        self,
        *,
        beat_seconds: float | None = None,
        terminal: TextIO | None = None,
        send: Callable[[str], bool] = notify,
        clock: Callable[[], float] = time.monotonic,
        uploads_file: Path | None = None,
    ) -> None:
        self._beat_seconds = beat_seconds
        self._uploads_file = uploads_file
        self._uploads_lock = threading.Lock()
        self._last_save = float("-inf")
        self._terminal = terminal
        self._send = send
        self._clock = clock
        self._last_beat = float("-inf")
        self._last_status = float("-inf")
        self.summary = ""
        self.doing = ""
        # Why the beat is held (a worker stuck past its deadline), or None: set by the workers.
        self.hold: Callable[[], str | None] = lambda: None
        self._uploads: dict[str, tuple[float, int]] = {}  # name -> (when it started, bytes sent then)
        self._lines: dict[str, str] = {}  # name -> its line on the terminal, one per upload in flight
        self._drawn = 0  # how many of those lines stand below the last line written for good
        self._terminal_lock = threading.Lock()  # workers report from their own threads
        self._latest: dict[str, Upload] = {}  # name -> its last chunk, read by other threads (the endpoint)

    @classmethod
    def from_environment(cls, uploads_file: Path | None = None) -> Pulse:
        """Beats as systemd asks (WATCHDOG_USEC); draws progress only on an interactive stderr."""
        terminal = sys.stderr if sys.stderr.isatty() else None
        return cls(beat_seconds=watchdog_interval(), terminal=terminal, uploads_file=uploads_file)

    @property
    def beat_seconds(self) -> float | None:
        return self._beat_seconds

    def beat(self) -> None:
        """WATCHDOG=1, at most once per half watchdog interval (a datagram, never a disk write).

        Neither while `hold` names a stuck worker: the loop still turns, but the daemon is not well.
        """
        if self.hold() is not None:
            return
        now = self._clock()
        if self._beat_seconds is not None and now - self._last_beat >= self._beat_seconds:
            self._send("WATCHDOG=1")
            self._last_beat = now

    def status(self, summary: str, *, force: bool = False) -> None:
        """STATUS= with the summary and what is being done now."""
        self.summary = summary
        self._send_status(force=force)

    def progress(self, name: str, sent: int, total: int) -> None:
        """One piece of an upload went out; past RATE_AFTER_SECONDS the line adds rate and time left."""
        now = self._clock()
        started = self._uploads.get(name)
        if started is None or sent < started[1]:  # a new upload, or a retry from the start
            started = self._uploads[name] = (now, sent)
        percent = 100 * sent // total if total else 100
        doing = f"uploading {shown(name)} {percent}%"  # a name's line feed would end STATUS=
        elapsed = now - started[0]
        rate = None
        if elapsed >= RATE_AFTER_SECONDS and sent > started[1]:
            rate = (sent - started[1]) / elapsed
            doing += f" {upload_pace(sent - started[1], elapsed, total - sent)}"
        self.doing = doing
        self._latest[name] = Upload(name, sent, total, rate)
        self.beat()
        self._send_status()
        if self._terminal is not None:
            self._draw(name, f"{doing} ({amounts(sent, total)})", done=sent >= total)
        if sent >= total:
            self.doing = ""
            self._uploads.pop(name, None)
            self._latest.pop(name, None)
        self._save_uploads(force=sent >= total)

    def _draw(self, name: str, line: str | None, *, done: bool) -> None:
        """Redraw the uploads in flight, one line each, below what was written for good; a finished one's
        `line` stays above them, a forgotten one (None) goes.

        ESC [ n F goes up to the first line drawn last time, ESC [ K ends a line shorter than the one it
        covers, ESC [ J clears the lines of uploads that ended.
        """
        assert self._terminal is not None
        with self._terminal_lock:
            parts = [f"\x1b[{self._drawn}F" if self._drawn else "\r"]
            if done or line is None:
                self._lines.pop(name, None)
                if line is not None:
                    parts.append(f"{line}\x1b[K\n")
            else:
                self._lines[name] = line
            parts += [f"{text}\x1b[K\n" for _, text in sorted(self._lines.items())]
            parts.append("\x1b[J")
            self._drawn = len(self._lines)
            self._terminal.write("".join(parts))
            self._terminal.flush()

    def forget(self, name: str) -> None:
        """`name`'s worker ended (done, failed or given back): an upload it left mid-way is no longer in flight."""
        self._latest.pop(name, None)
        self._uploads.pop(name, None)
        if self._terminal is not None and name in self._lines:
            self._draw(name, None, done=True)
        self._save_uploads(force=True)

    def _save_uploads(self, *, force: bool) -> None:
        """UPLOADS_FILE for `pqdrop status`: at most every UPLOADS_EVERY_SECONDS, and when an upload ends."""
        if self._uploads_file is None:
            return
        with self._uploads_lock:  # workers report from their own threads
            now = self._clock()
            if not force and now - self._last_save < UPLOADS_EVERY_SECONDS:
                return
            if force and not self._latest and self._last_save == float("-inf"):
                return  # nothing was ever written: an idle daemon writes nothing
            self._last_save = now
            with contextlib.suppress(OSError):  # progress is a courtesy: a full disk never stops an upload
                save_uploads(self._uploads_file, self.uploads(), time.time())

    def uploads(self) -> list[Upload]:
        """The uploads in flight now, by name."""
        return sorted(self._latest.copy().values(), key=lambda upload: upload.name)

    def _send_status(self, *, force: bool = False) -> None:
        now = self._clock()
        if force or now - self._last_status >= STATUS_EVERY_SECONDS:
            text = ", ".join(part for part in (self.summary, self.doing) if part)
            self._send("STATUS=" + shown(text))  # one line: a line feed would start another assignment
            self._last_status = now
