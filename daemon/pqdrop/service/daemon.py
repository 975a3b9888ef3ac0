"""`pqdrop run`: the daemon's loop — watch, hand out work, follow posts, beat, reload, stop — and
the signal handlers that steer it.

The loop never uploads anything itself: workers do, so it stays free to notice events, send
the watchdog heartbeat and answer a stop request. Signal handlers only set events. This module
imports nothing heavy at the top, so the handlers go in before PyAV, httpx or pydantic load.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pqdrop.errors import EXIT_OK, ConfigError, Interrupted, JournalError
from pqdrop.inbox.items import Plan
from pqdrop.names import shown
from pqdrop.postqued.ratelimit import backoff_delay
from pqdrop.service.systemd import STOP_GRACE_SECONDS, notify

if TYPE_CHECKING:
    from pqdrop.config import Config
    from pqdrop.posting.publish import Round
    from pqdrop.service.workers import Workers

log = logging.getLogger("pqdrop")

BLOCKED_RETRY_SECONDS = (60.0, 900.0)  # first and longest pause while the account is refused
# inotify says nothing when the watched folder itself is renamed away or its share unmounted;
# a cheap look this often notices (the only wake-up an idle events-mode daemon has besides rescans).
WATCH_CHECK_SECONDS = 5.0
JOURNAL_RETRY_SECONDS = 5.0  # after the journal's disk failed: long enough not to spin, short to catch up
POSTPONED_RETRY_SECONDS = 2.0
FILING_RETRY_SECONDS = 5.0  # an item kept from filing by a user's file (`sent` a file) looks again this often
# A deferred item's n-th retry waits about RETRY_BASE_SECONDS * 2**n, half of it random: 1-2 s, 2-4 s, ...
HOUSEKEEPING_SECONDS = 3600.0  # how often unused uploads are looked for
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0  # systemd waits TimeoutStopSec; workers checkpoint well inside it
# A loop that has not come round for this long is hung: the units' WatchdogSec=60 would restart it too.
LOOP_STALL_SECONDS = 60.0


class Service:
    """Watch the inbox and keep the workers busy until the stop event is set."""

    def __init__(
        self,
        workers: Workers,
        wake: threading.Event,
        reload: threading.Event | None = None,
        load: Callable[[], Config] | None = None,
        blocked_retry: tuple[float, float] = BLOCKED_RETRY_SECONDS,
        loop_stall_seconds: float = LOOP_STALL_SECONDS,
    ) -> None:
        self.workers = workers
        self._blocked_retry = blocked_retry
        self._loop_stall_seconds = loop_stall_seconds
        self.wake = wake
        self.reload = reload or threading.Event()
        self._load = load
        from pqdrop.inbox.watcher import Watcher, detect_mode  # watchdog: only `run` watches

        config = workers.config
        self.mode, self._fs_type = detect_mode(config.inbox.watch, config.inbox.path)
        self.watcher = Watcher(config.inbox.path, self.mode, wake, poll_interval=config.inbox.poll_interval)
        workers.on_done = wake.set
        self._blocked_until = 0.0
        self._blocked_pause = blocked_retry[0]
        self._retries = Retries()
        self._housekeeping_at = time.monotonic() + HOUSEKEEPING_SECONDS  # recover() has just done it
        self.ready = threading.Event()  # set with READY=1: recovered, watching, first scan done
        self._turned = time.monotonic()  # when the loop last came round; read by health()

    def run(self) -> int:
        """Recover, scan, say READY, then loop; returns 0 after a stop request."""
        workers, pulse = self.workers, self.workers.pulse
        workers.recover()  # takes the owner lock first: a twin already watching ends this one before a word of it
        log.info("watching %s in %s mode (filesystem %s)", workers.config.inbox.path, self.mode, self._fs_type)
        self.watcher.ensure_running()
        plan = workers.look()
        pulse.status(self._status(plan), force=True)
        notify("READY=1")
        self.ready.set()
        while not workers.stop.is_set():
            if self.reload.is_set():
                self._reload()
            try:
                self._turn(plan)
                pulse.status(self._status(plan), force=True)
                pause = self._sleep_for(plan)
            except Interrupted:
                pause = 1.0  # a stop broke off a request of the loop's own (a follow, an edit): the loop ends
            except JournalError as exc:
                # The journal's disk failed (full, I/O error): nothing is lost, since every step is
                # written ahead; the loop keeps its heartbeat and tries again after a while.
                log.error("the journal failed, trying again in %g s: %s", JOURNAL_RETRY_SECONDS, exc.message)
                pulse.status(f"journal trouble: {exc.message}", force=True)
                pause = JOURNAL_RETRY_SECONDS
            plan = self._idle_until(time.monotonic() + pause, plan)
        notify("STOPPING=1")
        self._wind_down()
        return EXIT_OK

    def _status(self, plan: Plan) -> str:
        upcoming = self.workers.tracker.next_dispatch()
        zone = self.workers.config.defaults.zone
        problem = self.watcher.problem or self.workers.inbox_problem
        stuck = self.workers.stuck()
        if stuck:
            problem = f"{problem}; {stuck}" if problem else stuck
        blocked = sorted(self.workers.filing_blocked.items())
        if blocked:  # e.g. "1 waiting to be filed (clip: sent in /inbox is a file, not a folder; move it away…)"
            said = f"{len(blocked)} waiting to be filed ({shown(blocked[0][0])}: {shown(blocked[0][1])})"
            problem = f"{problem}; {said}" if problem else said
        return status_line(plan, problem, self._blocked(), self.workers.busy,
                           upcoming.astimezone(zone) if upcoming else None)

    def _turn(self, plan: Plan) -> None:
        """Gather finished work, then hand out what is ready, unless posting is paused."""
        now = time.monotonic()
        self._absorb(self.workers.collect(), now)
        if now >= self._blocked_until:
            skip = self._retries.waiting(now)
            self.workers.start(plan, skip)
            self.workers.follow()
            if now >= self._housekeeping_at:
                self._housekeeping_at = now + HOUSEKEEPING_SECONDS
                self.workers.discard_unused_uploads()

    def _absorb(self, round_: Round, now: float) -> None:
        for result in round_.results:
            self._retries.forget(result.name)
        for name in [*round_.deferred, *round_.local]:  # local trouble backs off the same way
            self._retries.defer(name, now)
        for name in round_.postponed:
            self._retries.wait(name, now + POSTPONED_RETRY_SECONDS)  # its twin finishes soon
        for name in round_.inbox_blocked:  # not a failure to back off from: filed as soon as the user moves it
            self._retries.wait(name, now + FILING_RETRY_SECONDS)
        if round_.blocked:
            self._blocked_until = now + self._blocked_pause
            self._blocked_pause = min(self._blocked_pause * 2, self._blocked_retry[1])
        elif round_.results:
            self._blocked_pause = self._blocked_retry[0]

    def _idle_until(self, look_at: float, plan: Plan) -> Plan:
        """Sleep until an event, a finished item, or the moment to look again; keep the watch and heartbeat alive."""
        pulse = self.workers.pulse
        while not self.workers.stop.is_set():
            self._turned = time.monotonic()
            pulse.beat()
            pause = min(look_at - time.monotonic(), WATCH_CHECK_SECONDS, pulse.beat_seconds or WATCH_CHECK_SECONDS)
            edits = self.workers.editor.seconds_until_due()
            if edits is not None and edits < pause:
                # The scheduled sidecars and queued requests want a look: that needs no scan of the inbox.
                if self.wake.wait(max(0.0, edits)):
                    self.wake.clear()
                    return self.workers.look(self.watcher.take_renamed())
                self.workers.edit()
                continue
            woke = self.wake.wait(max(0.0, pause))
            self.wake.clear()
            # A SIGHUP between the wait's return and the clear would lose its wake-up: its flag tells.
            woke = woke or self.reload.is_set()
            problem_before = self.watcher.problem
            self.watcher.ensure_running()
            if woke or time.monotonic() >= look_at or self.watcher.problem != problem_before:
                return self.workers.look(self.watcher.take_renamed())
        return plan

    def _wind_down(self) -> None:
        """Stop requested: workers checkpoint at their next chunk or poll; wait briefly for them."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.workers.busy and time.monotonic() < deadline:
            self.workers.pulse.beat()
            self.workers.collect()
            time.sleep(0.05)
        self.watcher.stop()

    def _reload(self) -> None:
        """SIGHUP: read the config again; a broken file keeps the old one (and says why)."""
        self.reload.clear()
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            if self._load is not None:
                from pqdrop.config import config_changes  # pydantic's: loaded by now

                before = self.workers.config
                after = self._load()
                later = self.workers.reconfigure(after)
                for key in later:
                    log.warning("config reload: %s changed; it takes effect after a restart", key)
                changed = [key for key in config_changes(before, after) if key not in later]
                log.info("config reloaded: %s", f"{', '.join(changed)} changed" if changed else "nothing changed")
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", exc.message)
        notify("READY=1")

    def health(self) -> list[str]:
        """Why the daemon is not healthy now (`/healthz`); empty while its loop turns and nothing is stuck."""
        if self.workers.stop.is_set():
            return ["stopping"]
        if not self.ready.is_set():
            return ["starting: recovering and looking at the inbox"]
        problems = [f"{shown(name)}: stuck in a request past its deadline" for name in self.workers.overdue()]
        quiet = time.monotonic() - self._turned
        if quiet > self._loop_stall_seconds:
            problems.append(f"the loop has not come round for {quiet:.0f} s (more than {self._loop_stall_seconds:g} s)")
        return problems

    @property
    def paused(self) -> bool:
        """True while posting waits because the API refused the account."""
        return self._blocked()

    def _blocked(self) -> bool:
        return self._blocked_until > time.monotonic()

    def _sleep_for(self, plan: Plan) -> float:
        """Until the next duty: a settling file's check, a retry, the periodic rescan, a tracked post."""
        inbox = self.workers.config.inbox
        # The watcher may have fallen back to polling (an inotify limit): its mode, not the one chosen at start.
        timeout = inbox.poll_interval if self.watcher.mode == "poll" else inbox.rescan_seconds
        if any(waiting.kind == "arriving" and not waiting.stuck and waiting.until is None for waiting in plan.waiting):
            timeout = min(timeout, max(0.2, inbox.settle_seconds / 2))
        goes_at = [waiting.until for waiting in plan.waiting if waiting.until is not None]
        if goes_at:  # a folder holding still: look again when its window ends, not every settle_seconds / 2
            timeout = min(timeout, max(0.2, min(goes_at) - time.time() + 0.05))
        if self.watcher.problem or self.workers.inbox_problem:
            timeout = min(timeout, inbox.poll_interval)  # look for the inbox's return without spinning
        if any(waiting.kind == "sidecar" for waiting in plan.waiting) and not inbox.require_sidecar:
            timeout = min(timeout, max(0.5, inbox.sidecar_wait_seconds / 4))
        next_retry = self._retries.next_at(time.monotonic())
        if next_retry is not None:
            timeout = min(timeout, max(0.5, next_retry - time.monotonic()))
        if self._blocked():
            timeout = min(timeout, self._blocked_until - time.monotonic())
        tracked = self.workers.tracker.seconds_until_due()
        if tracked is not None:
            timeout = min(timeout, tracked)
        return max(0.05, timeout)


class Retries:
    """When each deferred item is tried again: exponential in its own count of tries, jittered, capped.

    The count is the item's, not its place in the round, so a flapping item backs off while one
    deferred for the first time is soon tried again.
    """

    def __init__(
        self, *, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS, rng: random.Random | None = None
    ) -> None:
        self._base, self._cap, self._rng = base, cap, rng
        self._tries: dict[str, int] = {}
        self._at: dict[str, float] = {}

    def defer(self, name: str, now: float) -> float:
        """One more passing failure of `name`; returns the moment it is due again."""
        tries = self._tries[name] = self._tries.get(name, 0) + 1
        return self.wait(name, now + backoff_delay(tries, base=self._base, cap=self._cap, rng=self._rng))

    def wait(self, name: str, until: float) -> float:
        """Hold `name` back until `until`, without counting a failure."""
        self._at[name] = until
        return until

    def forget(self, name: str) -> None:
        """`name` ended (sent or failed): a later item of that name starts afresh."""
        self._tries.pop(name, None)
        self._at.pop(name, None)

    def waiting(self, now: float) -> set[str]:
        """The names not due yet."""
        return {name for name, moment in self._at.items() if moment > now}

    def next_at(self, now: float) -> float | None:
        """The soonest moment still ahead (one passed was handed out at this turn, or its item is gone)."""
        return min((moment for moment in self._at.values() if moment > now), default=None)


def status_line(
    plan: Plan, watch_problem: str | None, blocked: bool, busy: bool = False, next_scheduled: datetime | None = None
) -> str:
    """A short human line for systemd's STATUS=: "3 waiting, 0 ready, next scheduled Dec 01 18:00 CET"."""
    parts = [f"{len(plan.waiting)} waiting", f"{len(plan.ready)} ready"]
    stuck = [waiting for waiting in plan.waiting if waiting.stuck]
    if stuck:
        parts.append(f"{len(stuck)} stuck arriving ({shown(stuck[0].name)})")
    conflicts = [waiting for waiting in plan.waiting if waiting.kind == "conflict"]
    if conflicts:
        parts.append(f"{len(conflicts)} held by a sync conflict ({shown(conflicts[0].name)})")
    if busy:
        parts.append("working")
    if next_scheduled is not None:
        parts.append(f"next scheduled {next_scheduled:%b %d %H:%M %Z}")
    if blocked:
        parts.insert(0, "posting paused: the API refuses the account")
    if watch_problem:
        parts.insert(0, watch_problem)
    return ", ".join(parts)


@dataclass(frozen=True)
class Signals:
    """What the signal handlers set: stop (TERM/INT), wake the loop, reload (HUP)."""

    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


def install_signal_handlers(signals: Signals) -> None:
    """First SIGTERM/SIGINT: finish or checkpoint the step at hand and leave; a second: leave now.

    SIGHUP asks for a config reload. A handler takes no lock: Python runs it in the main thread
    between two bytecodes, and had it set an Event while the loop was inside that Event's `wait()` or
    `clear()`, it would wait forever on a lock its own thread holds. So it only writes the signal's
    number to a pipe, and a relay thread sets the events (the self-pipe trick; CPython's own
    `signal.set_wakeup_fd` and asyncio's signal handling work the same way).
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    stopping = [False]  # a plain flag: the handler must know of the first stop at once, without a lock

    def handle(signum: int, _frame: object) -> None:
        if signum != signal.SIGHUP:
            if stopping[0]:
                os._exit(128 + signum)
            stopping[0] = True
        with contextlib.suppress(BlockingIOError):  # a full pipe: the same signals are already on their way
            os.write(write_end, bytes([signum]))

    def relay() -> None:
        while True:
            for signum in os.read(read_end, 64):
                if signum != signal.SIGHUP and not signals.stop.is_set():
                    # Said here, not in the handler: logging takes locks (issue 23: the log says why it stops).
                    log.info("stopping on %s: the step at hand finishes or checkpoints first",
                             signal.Signals(signum).name)
                (signals.reload if signum == signal.SIGHUP else signals.stop).set()
                signals.wake.set()

    threading.Thread(target=relay, name="signals", daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, handle)
