"""The loop: look at the inbox, carry ready items through the pipeline, sleep until nudged.

`once` drains the inbox and returns an exit code; `run` watches until told to stop.
Signal handlers only set the stop event; the loop notices it between steps.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from daemon.claim import OwnerLock, owner_id
from daemon.config import Config
from daemon.errors import AccountBlocked, ConfigError, Interrupted, TransientError
from daemon.inbox import Plan, Rules, Settling, plan_items, scan_entries
from daemon.lifecycle import ItemState
from daemon.journal import Journal
from daemon.pipeline import Clock, Pipeline, now_utc
from daemon.publication import Result
from daemon.postqued import PostQued
from daemon.ratelimit import backoff_delay
from daemon.pulse import Pulse
from daemon.recovery import sweep
from daemon.sdnotify import notify
from daemon.tracker import Tracker
from daemon.watcher import Watcher, detect_mode

log = logging.getLogger("pqdrop")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED = 0, 1, 2, 3
BLOCKED_RETRY_SECONDS = (60.0, 900.0)  # first and longest pause while the account is refused
# inotify says nothing when the watched folder itself is renamed away or its share unmounted;
# a cheap look this often notices (the only wake-up an idle events-mode daemon has besides rescans).
WATCH_CHECK_SECONDS = 5.0


@dataclass
class Round:
    """What one pass over the ready items did."""

    results: list[Result] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # item name -> why it waits for the next round
    blocked: str | None = None


class Service:
    """Looks at the inbox and hands claimed and ready items to the pipeline, one at a time."""

    def __init__(
        self,
        config: Config,
        client: PostQued,
        journal: Journal,
        *,
        clock: Clock = now_utc,
        stop: threading.Event | None = None,
        pulse: Pulse | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.stop = stop or threading.Event()
        self.pulse = pulse or Pulse()
        self.owner = owner_id(config.state.dir)
        self._lock: OwnerLock | None = None  # taken once the inbox is there (a share may mount late)
        self.pipeline = Pipeline(
            config, client, journal, self.owner,
            clock=clock, stop=self.stop, progress=self.pulse.progress, heartbeat=self.pulse.beat,
        )
        self.client = client
        self.tracker = Tracker(config.inbox.path, journal, client, clock)
        self._clock = clock
        self._first_seen: dict[PurePosixPath, float] = {}
        self._settling = Settling()
        self._conflicts_seen: set[PurePosixPath] = set()
        self._rules = rules_of(config)

    def reconfigure(self, config: Config) -> list[str]:
        """Take a reloaded config without dropping work; returns the changes that need a restart."""
        fixed = {
            "[inbox].path": (self.config.inbox.path, config.inbox.path),
            "[state].dir": (self.config.state.dir, config.state.dir),
            "[postqued].base_url": (self.config.postqued.base_url, config.postqued.base_url),
            "[postqued].rate_limits": (self.config.postqued.rate_limits, config.postqued.rate_limits),
        }
        needs_restart = [key for key, (old, new) in fixed.items() if old != new]
        kept = {"path": self.config.inbox.path}
        config = config.model_copy(
            update={
                "inbox": config.inbox.model_copy(update=kept),
                "state": self.config.state,
                "postqued": config.postqued.model_copy(
                    update={"base_url": self.config.postqued.base_url,
                            "rate_limits": self.config.postqued.rate_limits}
                ),
            }
        )
        self.config = config
        self._rules = rules_of(config)
        self.pipeline.reconfigure(config)
        return needs_restart

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def recover(self) -> list[str]:
        """The startup sweep: settle half-made claims, return orphaned ones to the inbox."""
        if not self._hold_lock():
            return []
        return sweep(self.config.inbox.path, self.journal, self.owner)

    def _hold_lock(self) -> bool:
        """Take this pqdrop's owner lock in the inbox; False while the inbox is not there."""
        if self._lock is None and self.config.inbox.path.is_dir():
            self._lock = OwnerLock(self.config.inbox.path, self.owner)
        return self._lock is not None

    def look(self, renamed: Iterable[PurePosixPath] = ()) -> Plan:
        """Scan the inbox and decide what is ready; `renamed` are paths known to have arrived by rename."""
        now = self._clock().timestamp()
        if not self._hold_lock():
            return Plan()
        entries = scan_entries(self.config.inbox.path, self.config.inbox.ignore)
        present = {entry.rel for entry in entries}
        self._first_seen = {rel: self._first_seen.get(rel, now) for rel in present}
        still_since = self._settling.update(entries, now, renamed)
        plan = plan_items(entries, now, self._rules, self._first_seen, still_since)
        self._report_conflicts(plan)
        return plan

    def _report_conflicts(self, plan: Plan) -> None:
        """Say once per file that a sync tool's conflicted copy is not posted."""
        for path in set(plan.conflicts) - self._conflicts_seen:
            log.warning("%s is a sync tool's conflicted copy; it is not posted (rename it to post it)", path)
        self._conflicts_seen = set(plan.conflicts)

    def work(self, plan: Plan, skip: set[str] | frozenset[str] = frozenset()) -> Round:
        """Resume claimed items, then take the ready ones; stops early on a refusal or a stop request."""
        round_ = Round()
        for record in self.journal.unfinished():
            self.pulse.beat()
            if record.name in skip or record.state == "claiming":
                continue
            if not self._attempt(round_, record.name, partial(self.pipeline.resume, record)):
                return round_
        for item in plan.ready:
            self.pulse.beat()
            if item.name in skip:
                continue
            if not self._attempt(round_, item.name, partial(self.pipeline.process, item)):
                return round_
        return round_

    def _attempt(self, round_: Round, name: str, action: Callable[[], Result | None]) -> bool:
        """Run one item; False when the round must end (stop requested, account refused)."""
        if self.stop.is_set():
            return False
        try:
            result = action()
        except Interrupted:
            return False
        except AccountBlocked as exc:
            round_.blocked = exc.message
            log.error("posting paused: %s", exc.message)
            self._give_back_unpublished(name, exc.message)
            return False
        except TransientError as exc:
            round_.deferred[name] = exc.message
            log.warning("%s: will try again: %s", name, exc.message)
            self._give_back_unpublished(name, exc.message)
            return True
        if result is not None:
            round_.results.append(result)
            _log_result(result)
        return True

    def _give_back_unpublished(self, name: str, reason: str) -> None:
        for record in self.journal.unfinished():
            if record.name == name:
                self.pipeline.give_back(record, reason)


def once(service: Service, *, wait_for_arrivals: bool = True) -> tuple[int, Round]:
    """Resume what a crash left, process everything in the inbox now; arrivals get settle_seconds."""
    service.recover()
    service.tracker.check_due()
    total = Round()
    attempted: set[str] = set()
    deadline = time.monotonic() + service.config.inbox.settle_seconds + 1.0
    plan = service.look()
    first = True
    while not service.stop.is_set():
        fresh = [item for item in plan.ready if item.name not in attempted]
        if fresh or first:
            first = False
            round_ = service.work(plan, skip=attempted)
            attempted.update(item.name for item in fresh)
            attempted.update(result.name for result in round_.results)
            attempted.update(round_.deferred)
            total.results += round_.results
            total.deferred.update(round_.deferred)
            if round_.blocked:
                total.blocked = round_.blocked
                break
        elif not (wait_for_arrivals and _arriving(plan) and time.monotonic() < deadline):
            break
        else:
            time.sleep(min(0.5, max(0.05, service.config.inbox.settle_seconds / 4)))
        plan = service.look()
    return exit_code(total), total


def exit_code(round_: Round) -> int:
    """CONTRACT: 3 when the account could not post, else 1 when an item failed, else 0."""
    if round_.blocked or round_.deferred:
        return EXIT_BLOCKED
    if any(result.state is ItemState.FAILED for result in round_.results):
        return EXIT_FAILED
    return EXIT_OK


class Runner:
    """`pqdrop run`: watch, work, beat, reload on request, until the stop event is set."""

    def __init__(
        self,
        service: Service,
        wake: threading.Event,
        reload: threading.Event | None = None,
        load: Callable[[], Config] | None = None,
    ) -> None:
        self.service = service
        self.wake = wake
        self.reload = reload or threading.Event()
        self._load = load
        config = service.config
        self.mode, fs_type = detect_mode(config.inbox.watch, config.inbox.path)
        log.info("watching %s in %s mode (filesystem %s)", config.inbox.path, self.mode, fs_type)
        self.watcher = Watcher(config.inbox.path, self.mode, wake)
        self._blocked_until = 0.0
        self._blocked_pause = BLOCKED_RETRY_SECONDS[0]
        self._retry_at: dict[str, float] = {}
        self.ready = threading.Event()  # set with READY=1: recovered, watching, first scan done

    def run(self) -> int:
        """Recover, scan, say READY, then loop; returns 0 after a stop request."""
        service, pulse = self.service, self.service.pulse
        service.recover()
        self.watcher.ensure_running()
        plan = service.look()
        pulse.status(status_line(plan, self.watcher.problem, blocked=False), force=True)
        notify("READY=1")
        self.ready.set()
        while not service.stop.is_set():
            if self.reload.is_set():
                self._reload()
            plan = self._round(plan)
            if not self._blocked():
                service.tracker.check_due()
            pulse.status(status_line(plan, self.watcher.problem, self._blocked()), force=True)
            look_in = self._sleep_for(plan)
            look_at = time.monotonic() + look_in
            plan = self._idle_until(look_at, plan)
        notify("STOPPING=1")
        self.watcher.stop()
        return EXIT_OK

    def _idle_until(self, look_at: float, plan: Plan) -> Plan:
        """Sleep until an event, a duty, or the moment to look again; keep the watch and the heartbeat alive."""
        pulse = self.service.pulse
        while not self.service.stop.is_set():
            pulse.beat()
            pause = min(look_at - time.monotonic(), WATCH_CHECK_SECONDS, pulse.beat_seconds or WATCH_CHECK_SECONDS)
            woke = self.wake.wait(max(0.0, pause))
            self.wake.clear()
            problem_before = self.watcher.problem
            self.watcher.ensure_running()
            if woke or time.monotonic() >= look_at or self.watcher.problem != problem_before:
                return self.service.look(self.watcher.take_renamed())
        return plan

    def _round(self, plan: Plan) -> Plan:
        """Work through what is ready unless posting is paused; returns a fresh look afterwards."""
        now = time.monotonic()
        if now < self._blocked_until:
            return plan
        skip = {name for name, moment in self._retry_at.items() if moment > now}
        round_ = self.service.work(plan, skip=skip)
        for attempt, name in enumerate(round_.deferred):
            self._retry_at[name] = now + backoff_delay(attempt + 2, cap=300.0)
        if round_.blocked:
            self._blocked_until = now + self._blocked_pause
            self._blocked_pause = min(self._blocked_pause * 2, BLOCKED_RETRY_SECONDS[1])
        else:
            self._blocked_pause = BLOCKED_RETRY_SECONDS[0]
        return self.service.look() if round_.results or round_.deferred else plan

    def _reload(self) -> None:
        """SIGHUP: read the config again; a broken file keeps the old one (and says why)."""
        self.reload.clear()
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            if self._load is not None:
                for key in self.service.reconfigure(self._load()):
                    log.warning("config reload: %s changed; it takes effect after a restart", key)
                log.info("config reloaded")
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", exc.message)
        notify("READY=1")

    def _blocked(self) -> bool:
        return self._blocked_until > time.monotonic()

    def _sleep_for(self, plan: Plan) -> float:
        """Until the next duty: a settling file's check, the periodic rescan, or the watchdog ping."""
        inbox = self.service.config.inbox
        timeout = inbox.poll_interval if self.mode == "poll" else inbox.rescan_seconds
        if _arriving(plan):
            timeout = min(timeout, max(0.2, inbox.settle_seconds / 2))
        if self.watcher.problem:
            timeout = min(timeout, inbox.poll_interval)  # look for the inbox's return without spinning
        if any(waiting.kind == "sidecar" for waiting in plan.waiting) and not inbox.require_sidecar:
            timeout = min(timeout, max(0.5, inbox.sidecar_wait_seconds / 4))
        if self._retry_at:
            timeout = min(timeout, max(0.5, min(self._retry_at.values()) - time.monotonic()))
        if self._blocked():
            timeout = min(timeout, self._blocked_until - time.monotonic())
        tracked = self.service.tracker.seconds_until_due()
        if tracked is not None:
            timeout = min(timeout, tracked)
        return max(0.05, timeout)


def _log_result(result: Result) -> None:
    if result.state is ItemState.FAILED:
        log.error("%s: failed: %s", result.name, result.message)
    else:
        log.info("%s: %s (publish %s)", result.name, result.state, result.publish_id)


def run(service: Service, wake: threading.Event | None = None) -> int:
    """Watch the inbox until the stop event is set; returns 0."""
    return Runner(service, wake or threading.Event()).run()


def status_line(plan: Plan, watch_problem: str | None, blocked: bool) -> str:
    """A short human line for systemd's STATUS=."""
    parts = [f"{len(plan.waiting)} waiting", f"{len(plan.ready)} ready"]
    if blocked:
        parts.insert(0, "posting paused: the API refuses the account")
    if watch_problem:
        parts.insert(0, watch_problem)
    return ", ".join(parts)


def rules_of(config: Config) -> Rules:
    inbox = config.inbox
    return Rules(inbox.settle_seconds, inbox.sidecar_wait_seconds, inbox.require_sidecar, inbox.ignore)


def _arriving(plan: Plan) -> bool:
    return any(waiting.kind == "arriving" for waiting in plan.waiting)
