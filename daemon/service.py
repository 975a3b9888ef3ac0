"""The loop: look at the inbox, carry ready items through the pipeline, sleep until nudged.

`once` drains the inbox and returns an exit code; `run` watches until told to stop.
Signal handlers only set the stop event; the loop notices it between steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from daemon.claim import ClaimName, OwnerLock, claim_dir, complete, give_back, owner_alive, owner_id, processing_dir
from daemon.config import Config
from daemon.errors import AccountBlocked, Interrupted, TransientError
from daemon.inbox import Plan, Rules, plan_items, scan_entries
from daemon.lifecycle import ItemState
from daemon.journal import Journal
from daemon.pipeline import Clock, Pipeline, Progress, item_from_json, now_utc
from daemon.publication import Result
from daemon.postqued import PostQued
from daemon.ratelimit import backoff_delay
from daemon.sdnotify import notify, watchdog_interval
from daemon.watcher import Watcher, detect_mode

log = logging.getLogger("pqdrop")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED = 0, 1, 2, 3
BLOCKED_RETRY_SECONDS = (60.0, 900.0)  # first and longest pause while the account is refused


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
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.stop = stop or threading.Event()
        self.owner = owner_id(config.state.dir)
        self._lock = OwnerLock(config.inbox.path, self.owner)
        self.pipeline = Pipeline(config, client, journal, self.owner, clock=clock, stop=self.stop, progress=progress)
        self._clock = clock
        self._first_seen: dict[PurePosixPath, float] = {}
        inbox = config.inbox
        self._rules = Rules(inbox.settle_seconds, inbox.sidecar_wait_seconds, inbox.require_sidecar, inbox.ignore)

    def close(self) -> None:
        self._lock.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def recover(self) -> list[str]:
        """The startup sweep: settle half-made claims, return orphaned ones to the inbox."""
        return sweep(self.config.inbox.path, self.journal, self.owner)

    def look(self) -> Plan:
        """Scan the inbox and decide what is ready; remembers when each file was first seen."""
        now = self._clock().timestamp()
        entries = scan_entries(self.config.inbox.path, self.config.inbox.ignore)
        present = {entry.rel for entry in entries}
        self._first_seen = {rel: self._first_seen.get(rel, now) for rel in present}
        return plan_items(entries, now, self._rules, self._first_seen)

    def work(self, plan: Plan, skip: set[str] | frozenset[str] = frozenset()) -> Round:
        """Resume claimed items, then take the ready ones; stops early on a refusal or a stop request."""
        round_ = Round()
        for record in self.journal.unfinished():
            if record.name in skip or record.state == "claiming":
                continue
            if not self._attempt(round_, record.name, lambda r=record: self.pipeline.resume(r), record.id):
                return round_
        for item in plan.ready:
            if item.name in skip:
                continue
            if not self._attempt(round_, item.name, lambda i=item: self.pipeline.process(i)):
                return round_
        return round_

    def _attempt(
        self, round_: Round, name: str, action: Callable[[], Result | None], record_id: int | None = None
    ) -> bool:
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


def sweep(inbox: Path, journal: Journal, owner: str) -> list[str]:
    """Reconcile the journal with processing/; returns what was done, one line each."""
    notes = []
    folder = processing_dir(inbox)
    for record in journal.unfinished():
        if record.state != "claiming":
            continue
        claimed = claim_dir(inbox, record.claim)
        if claimed.is_dir() and any(claimed.iterdir()):
            complete(inbox, item_from_json(record.item).paths, record.claim)
            journal.set_state(record.id, "claimed")
            notes.append(f"{record.name}: claim finished after a crash")
        else:
            if claimed.is_dir():
                claimed.rmdir()
            journal.forget(record.id)
    known = journal.claims()
    for claimed in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = ClaimName.parse(claimed.name)
        if name is None or not claimed.is_dir() or claimed.name in known:
            continue
        if name.owner == owner or not owner_alive(inbox, name.owner):
            kept = give_back(inbox, claimed.name)
            notes.append(f"{name.item}: returned to the inbox from an orphaned claim"
                         + (f" (kept in processing/: {', '.join(kept)})" if kept else ""))
    for note in notes:
        log.warning(note)
    return notes


def once(service: Service, *, wait_for_arrivals: bool = True) -> tuple[int, Round]:
    """Resume what a crash left, process everything in the inbox now; arrivals get settle_seconds."""
    service.recover()
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


def run(service: Service, wake: threading.Event | None = None) -> int:
    """Watch the inbox until the stop event is set; returns 0."""
    config = service.config
    wake = wake or threading.Event()
    mode, fs_type = detect_mode(config.inbox.watch, config.inbox.path)
    log.info("watching %s in %s mode (filesystem %s)", config.inbox.path, mode, fs_type)
    watcher = Watcher(config.inbox.path, mode, wake)
    service.recover()
    scan_every = config.inbox.poll_interval if mode == "poll" else config.inbox.rescan_seconds
    beat = watchdog_interval()
    blocked_until, blocked_pause = 0.0, BLOCKED_RETRY_SECONDS[0]
    retry_at: dict[str, float] = {}
    ready_sent = False
    while not service.stop.is_set():
        watcher.ensure_running()
        plan = service.look()
        now = time.monotonic()
        if now >= blocked_until:
            skip = {name for name, moment in retry_at.items() if moment > now}
            round_ = service.work(plan, skip=skip)
            for attempt, name in enumerate(round_.deferred):
                retry_at[name] = now + backoff_delay(attempt + 2, cap=300.0)
            if round_.blocked:
                blocked_until = now + blocked_pause
                blocked_pause = min(blocked_pause * 2, BLOCKED_RETRY_SECONDS[1])
            else:
                blocked_pause = BLOCKED_RETRY_SECONDS[0]
            plan = service.look()
        if not ready_sent:
            notify("READY=1")
            ready_sent = True
        notify("STATUS=" + status_line(plan, watcher.problem, blocked_until > time.monotonic()))
        timeout = _sleep_for(plan, config.inbox.settle_seconds, scan_every, beat)
        wake.wait(timeout)
        wake.clear()
        notify("WATCHDOG=1")
    notify("STOPPING=1")
    watcher.stop()
    return EXIT_OK


def status_line(plan: Plan, watch_problem: str | None, blocked: bool) -> str:
    """A short human line for systemd's STATUS=."""
    parts = [f"{len(plan.waiting)} waiting", f"{len(plan.ready)} ready"]
    if blocked:
        parts.insert(0, "posting paused: the API refuses the account")
    if watch_problem:
        parts.insert(0, watch_problem)
    return ", ".join(parts)


def _arriving(plan: Plan) -> bool:
    return any(waiting.kind == "arriving" for waiting in plan.waiting)


def _sleep_for(plan: Plan, settle_seconds: float, scan_every: float, beat: float | None) -> float:
    """Until the next duty: a settling file's check, the periodic rescan, or the watchdog ping."""
    timeout = scan_every
    if _arriving(plan):
        timeout = min(timeout, max(0.2, settle_seconds / 2))
    if beat is not None:
        timeout = min(timeout, beat)
    return timeout


def _log_result(result: Result) -> None:
    if result.state is ItemState.FAILED:
        log.error("%s: failed: %s", result.name, result.message)
    else:
        log.info("%s: %s (publish %s)", result.name, result.state, result.publish_id)
