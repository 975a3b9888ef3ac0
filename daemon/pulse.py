"""Signs of life: WATCHDOG=1 and STATUS= for systemd, and upload progress on a terminal.

Called from the working thread itself (between items, per uploaded chunk, per poll), so a
hung loop stops the heartbeat and systemd's watchdog restarts the service.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from daemon.sdnotify import notify, watchdog_interval

STATUS_EVERY_SECONDS = 1.0


class Pulse:
    """Rate-limited heartbeat, status line and progress display."""

    def __init__(
        self,
        *,
        beat_seconds: float | None = None,
        terminal: TextIO | None = None,
        send: Callable[[str], bool] = notify,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._beat_seconds = beat_seconds
        self._terminal = terminal
        self._send = send
        self._clock = clock
        self._last_beat = float("-inf")
        self._last_status = float("-inf")
        self.summary = ""
        self.doing = ""

    @classmethod
    def from_environment(cls) -> Pulse:
        """Beats as systemd asks (WATCHDOG_USEC); draws progress only on an interactive stderr."""
        terminal = sys.stderr if sys.stderr.isatty() else None
        return cls(beat_seconds=watchdog_interval(), terminal=terminal)

    @property
    def beat_seconds(self) -> float | None:
        return self._beat_seconds

    def beat(self) -> None:
        """WATCHDOG=1, at most once per half watchdog interval."""
        now = self._clock()
        if self._beat_seconds is not None and now - self._last_beat >= self._beat_seconds:
            self._send("WATCHDOG=1")
            self._last_beat = now

    def status(self, summary: str, *, force: bool = False) -> None:
        """STATUS= with the summary and what is being done now."""
        self.summary = summary
        self._send_status(force=force)

    def progress(self, name: str, sent: int, total: int) -> None:
        """One chunk of an upload went out."""
        percent = 100 * sent // total if total else 100
        self.doing = f"uploading {name} {percent}%"
        self.beat()
        self._send_status()
        if self._terminal is not None:
            end = "\n" if sent >= total else ""
            self._terminal.write(f"\r{self.doing} ({sent / 1e6:.1f} of {total / 1e6:.1f} MB){end}")
            self._terminal.flush()
        if sent >= total:
            self.doing = ""

    def _send_status(self, *, force: bool = False) -> None:
        now = self._clock()
        if force or now - self._last_status >= STATUS_EVERY_SECONDS:
            text = ", ".join(part for part in (self.summary, self.doing) if part)
            self._send("STATUS=" + text)
            self._last_status = now
