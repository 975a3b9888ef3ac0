"""The loop: look at the inbox, carry ready items through the pipeline, sleep until nudged.

`once` drains the inbox and returns an exit code; `run` watches until told to stop.
Signal handlers only set the stop event; the loop notices it between steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath
from typing import TypeVar

from pqdrop.config import Config, inbox_not_a_folder
from pqdrop.errors import (
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_OK,
    AccountBlocked,
    ApiRejected,
    ConfigError,
    InboxBlocked,
    Interrupted,
    JournalDamaged,
    JournalError,
    Postponed,
    PqdropError,
    TransientError,
)
from pqdrop.folders.claim import OwnerLock, owner_id, unwritable_inbox
from pqdrop.folders.filing import append_status_log
from pqdrop.folders.recovery import sweep
from pqdrop.inbox.arrival import Settling, Truncation
from pqdrop.inbox.items import Plan, Rules, arriving, media_files, plan_items, scan_entries
from pqdrop.inbox.synctools import lone_copies
from pqdrop.journal.store import Journal
from pqdrop.names import shown
from pqdrop.posting.pacing import PACED
from pqdrop.posting.pipeline import Clock, Pipeline, now_utc
from pqdrop.posting.publish import Result, Round
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.types import Api
from pqdrop.schedule.agenda import Agenda
from pqdrop.schedule.editor import Editor
from pqdrop.schedule.notify import (
    Notifier,
    Outage,
    paced_event,
    paused_event,
    result_event,
    resumed_event,
    stuck_event,
    stuck_request_event,
)
from pqdrop.schedule.tracker import Tracker
from pqdrop.service.systemd import STOP_GRACE_SECONDS, Pulse
from pqdrop.states import DRAFT_WAITS, ItemState, Step

log = logging.getLogger("pqdrop")
T = TypeVar("T")

STOP_LOOK_SECONDS = 0.5  # how often a wait for the workers looks whether a stop was asked for
OUTAGES_SAID = "notify.outages"  # the journal's setting: causes of pauses told and not ended yet
# How long uploads of an item given back unpublished wait for it to come back before they are deleted.
UNUSED_UPLOAD_AGE = timedelta(hours=24)



class Workers:
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
        secrets: Sequence[str] = (),
    ) -> None:
        """`secrets` (the API key) never leave in a notification."""
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
        # `[postqued].api = "auto"` asks the server once; the answer outlives the process in the journal.
        remembered = journal.setting("api")
        client.remember_with(Api(remembered) if remembered in (Api.V1, Api.V2) else None,
                             lambda api: journal.remember("api", str(api)))
        # The pauses said, kept in the journal: a `pqdrop once` run by cron says an outage once, not every run.
        said = (journal.setting(OUTAGES_SAID) or "").split()
        self.notifier = Notifier(
            config.notify, config.defaults.zone, secrets=secrets, outages=said,
            remember_outages=lambda outages: journal.remember(OUTAGES_SAID, " ".join(sorted(outages))))
        self._outage = Outage()  # how long PostQued has not answered an item's request
        self.tracker = Tracker(config.inbox.path, journal, client, clock, announce=self.notifier.send,
                               filing_links=config.inbox.filing_links)
        self.editor = Editor(config, journal, client, clock, self.tracker, self.pipeline.prepared)
        self.agenda = Agenda(config.inbox.path, journal, lambda: self.config.defaults.zone)
        self._clock = clock
        self._first_seen: dict[PurePosixPath, float] = {}
        self._watching_since: float | None = None  # the first look: what was there then changed when its disk says
        self._settles_said: dict[str, float | None] = {}  # folder item -> the moment it was last said to go at
        self._settling = Settling()
        self._truncation = Truncation()
        self.inbox_problem: str | None = None  # why the last look could not read the inbox
        self.inbox_error: PqdropError | None = None  # why the owner lock cannot be taken there: `once` exits with it
        self.filing_blocked: dict[str, str] = {}  # item name -> what in the inbox keeps it from being filed
        self._recovered = False
        self._writes_said: str | None = None  # the last trouble said of writing in the inbox outside an item
        self._troubled: dict[str, str] = {}  # item name -> the local trouble already said for it
        self._pool = ThreadPoolExecutor(config.postqued.workers, thread_name_prefix="pqdrop-item")
        self._running: dict[str, Future[Result | None]] = {}
        self._items_by_thread: dict[int, str] = {}  # a worker thread's ident -> the item it is working on
        self._stuck_said: frozenset[str] = frozenset()
        # A worker stuck past its request's deadline stops the watchdog's beat: systemd sees what the loop cannot mend.
        self.pulse.hold = self.stuck
        self.on_done: Callable[[], None] = lambda: None  # the loop's wake-up
        self.abandoned = False  # close() left a worker mid-step; the process must not wait for it
        self._conflicts_seen: set[PurePosixPath] = set()
        self._holds_said: set[tuple[str, str]] = set()
        self._rules = Rules.of(config.inbox)

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
        if config.postqued.workers != self.config.postqued.workers:
            # Items already running finish in the old pool; new ones go to a pool of the new size.
            self._pool.shutdown(wait=False)
            self._pool = ThreadPoolExecutor(config.postqued.workers, thread_name_prefix="pqdrop-item")
        self.notifier.reconfigure(config.notify, config.defaults.zone)
        self.config = config
        self._rules = Rules.of(config.inbox)
        self.pipeline.reconfigure(config)
        self.editor.reconfigure(config)
        return needs_restart

    def close(self, grace_seconds: float = 8.0) -> None:
        """Stop taking work; give the workers `grace_seconds` to checkpoint, then leave them.

        A worker still inside a request after that is abandoned like a crash would abandon it:
        its item resumes at its recorded step on the next start (the journal is written ahead).
        """
        self.stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        _, unfinished = futures.wait(list(self._running.values()), timeout=grace_seconds)
        if unfinished:
            log.warning("leaving %d item(s) mid-step; they resume on the next start", len(unfinished))
            self.abandoned = True
        self.notifier.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def recover(self) -> list[str]:
        """The startup sweep: settle half-made claims, return orphaned ones to the inbox."""
        if not self._hold_lock(quiet=True):  # `once` ends with the reason, `run` says it at its first look
            return []  # done by the first look that gets the lock (the inbox mounted late, or writable again)
        self._recovered = True
        try:
            notes = sweep(self.config.inbox.path, self.journal, self.owner)
        except InboxBlocked as exc:  # a claim folder a stranger swapped for a link: said, nothing moved
            notes = [exc.message]
            log.warning("%s", shown(exc.message))
        notes += self._guarded(self.tracker.recover, [])
        self._guarded(self.editor.recover, None)
        self.discard_unused_uploads()
        return notes

    def follow(self) -> int:
        """Follow the posts filed so far and carry out edits of the schedule; returns how many posts ended."""
        self._guarded(self.editor.check, None)
        ended = self._guarded(self.tracker.check_due, 0)
        self.write_agenda()
        return ended

    def edit(self) -> None:
        """Carry out edits of the schedule only (the loop's look between two scans of the inbox)."""
        self._guarded(self.editor.check, None)
        self.write_agenda()

    def _guarded(self, action: Callable[[], T], otherwise: T) -> T:
        """Run a look at filed items; trouble writing in the inbox (read-only, a file where a folder goes) is
        said once and waits for the next look, never ending the daemon."""
        try:
            result = action()
        except Interrupted:
            return otherwise  # a stop broke off the look's request: the record keeps its step for the next look
        except InboxBlocked as exc:
            self._say_writes(exc.message)
            return otherwise
        except OSError as exc:
            self._say_writes(f"cannot write in the inbox {self.config.inbox.path}: {exc.strerror or exc}"
                             f"{f' ({exc.filename})' if exc.filename else ''}")
            return otherwise
        self._say_writes(None)
        return result

    def _say_writes(self, problem: str | None) -> None:
        if problem is not None and problem != self._writes_said:
            log.warning("%s; filed items wait, and are looked at again later", shown(problem))
        self._writes_said = problem

    def write_agenda(self) -> bool:
        """SCHEDULE.md as the journal has it now; True when it changed."""
        return self.agenda.update(self.editor.account_name, self.editor.held, self.editor.waiting_edits())

    def discard_unused_uploads(self) -> int:
        """Delete on PostQued what items given back long ago had uploaded and never came back for.

        An item that returns within UNUSED_UPLOAD_AGE takes its uploads up again (by fingerprint);
        one removed from the inbox, or changed, would leave them there for good. Returns how many went.
        """
        gone = 0
        for item_id, path, content_id in self.journal.unused_uploads(self._clock() - UNUSED_UPLOAD_AGE):
            try:
                self.client.delete_content(content_id)
            except ApiRejected as exc:
                if exc.status != 404:  # 404: already gone
                    log.warning("could not delete the unused upload %s of %s: %s", content_id, path, exc.message)
                    continue
            except PqdropError as exc:
                log.info("unused upload %s of %s stays for now: %s", content_id, path, exc.message)
                return gone  # try again later; the API is not answering now
            self.journal.drop_upload(item_id, path)
            gone += 1
        return gone

    def _hold_lock(self, *, quiet: bool = False) -> bool:
        """Take this pqdrop's owner lock in the inbox; False, with `inbox_error` saying why, while it cannot be."""
        if self._lock is not None:
            return True
        inbox = self.config.inbox.path
        if not inbox.is_dir():
            if not quiet:
                self._inbox_trouble(inbox_not_a_folder(inbox))
            return False
        try:
            self._lock = OwnerLock(inbox, self.owner, links=self.config.inbox.filing_links)
        except InboxBlocked as exc:
            self.inbox_error = ConfigError(exc.message)  # a restart cannot mend it; moving the file does
        except OSError as exc:
            self.inbox_error = unwritable_inbox(inbox, exc)
        else:
            self.inbox_error = None
            return True
        if not quiet:
            self._inbox_trouble(self.inbox_error.message)
        return False

    def look(self, renamed: Iterable[PurePosixPath] = ()) -> Plan:
        """Scan the inbox and decide what is ready; `renamed` are paths known to have arrived by rename."""
        now = self._clock().timestamp()
        inbox = self.config.inbox.path
        self.journal.check_file()  # deleted, replaced or cut short under us: JournalDamaged ends the process
        try:
            if not self._hold_lock():
                return Plan()
            if not self._recovered:
                self.recover()
            entries = scan_entries(inbox, self.config.inbox.ignore)
        except OSError as exc:
            self._inbox_trouble(f"cannot read the inbox {inbox}: {exc.strerror or exc}")
            return Plan()
        self._inbox_trouble(None)
        present = {entry.rel for entry in entries}
        if self._watching_since is None:
            self._watching_since = now
        self._first_seen = {rel: self._first_seen.get(rel, now) for rel in present}
        still_since = self._settling.update(entries, now, renamed)
        truncated = self._truncation.check(inbox, media_files(entries))
        plan = plan_items(entries, now, self._rules, self._first_seen, still_since, truncated, self._watching_since)
        self._report_conflicts(plan)
        self._report_settling(plan)
        return plan

    def _inbox_trouble(self, problem: str | None) -> None:
        """Say once that the inbox cannot be read, and once that it can again; `inbox_problem` tells STATUS=."""
        if problem and problem != self.inbox_problem:
            log.error("%s; nothing is posted until that is mended (pqdrop looks again)", problem)
            self.notifier.send(paused_event("inbox", problem))
        elif problem is None and self.inbox_problem:
            log.warning("the inbox can be read again")
            self.notifier.send(resumed_event("inbox"))
        self.inbox_problem = problem

    def _say_local_trouble(self, name: str, exc: Exception, what: str) -> None:
        """Once per item and kind of trouble (a full disk stays full a while), with its traceback; not every retry."""
        kind = f"{type(exc).__name__} {getattr(exc, 'errno', '')}"
        if self._troubled.get(name) != kind:
            log.warning("%s: %s: %s", shown(name), what, shown(str(exc)), exc_info=exc)
        self._troubled[name] = kind

    def _report_conflicts(self, plan: Plan) -> None:
        """Say once per file that a sync tool's conflicted copy holds its item, and once per item that it is
        held (a conflict) or stuck arriving: in the log and in status.log, where the user looks."""
        new = set(plan.conflicts) - self._conflicts_seen
        alone = lone_copies(sorted(new), [item.name for item in plan.ready] + [w.name for w in plan.waiting])
        for path in new - {path for lone in alone for path in lone.paths}:
            log.warning("%s is a sync tool's conflicted copy: its item waits until one version remains",
                        shown(str(path)))
        for lone in alone:
            log.warning("%s: %s", shown(lone.item), shown(lone.message))  # no original: renaming it posts it
        self._conflicts_seen = set(plan.conflicts)
        # A conflict, an item stuck arriving, a folder pqdrop cannot read: each said once, where the user looks.
        holds = {(w.name, w.reason) for w in plan.waiting if w.kind in ("conflict", "unreadable") or w.stuck}
        stuck = {w.name for w in plan.waiting if w.stuck}
        for name, reason in sorted(holds - self._holds_said):
            log.warning("%s: %s", shown(name), shown(reason))
            if name in stuck:
                self.notifier.send(stuck_event(name, reason))
            append_status_log(self.config.inbox.path, {"item": name, "state": str(ItemState.WAITING),
                                                       "reason": reason}, self._clock())
        self._holds_said = holds

    def _report_settling(self, plan: Plan) -> None:
        """Say when a folder item begins to wait to hold still, each time its moment to go moves (a file came), and
        when it is held by a hold.txt: the log says what it waits for and until when (issue 22)."""
        said = {w.name: w.until for w in plan.waiting if w.until is not None or w.kind == "held"}
        for name, until in said.items():
            if name not in self._settles_said or self._settles_said[name] != until:
                reason = next(w.reason for w in plan.waiting if w.name == name)
                log.info("%s: %s", shown(name), shown(reason))
        self._settles_said = said

    def work(self, plan: Plan, skip: set[str] | frozenset[str] = frozenset()) -> Round:
        """Hand out every resumable and ready item and wait for all of them."""
        self.start(plan, skip)
        return self.collect(wait=True)

    def start(self, plan: Plan, skip: set[str] | frozenset[str] = frozenset()) -> None:
        """Give each item a worker: first those a crash or a stop left mid-way, then the ready ones.

        Several run at once (`[postqued].workers`), so a 4 GB video never holds small photos back;
        the rate buckets they share keep the API's limits.
        """
        for record in self.journal.unfinished():
            if record.state is not Step.CLAIMING and record.name not in skip:
                self._submit(record.name, partial(self.pipeline.resume, record))
        for item in plan.ready:
            if item.name not in skip:
                self._submit(item.name, partial(self.pipeline.process, item))

    def _submit(self, name: str, action: Callable[[], Result | None]) -> None:
        if self.stop.is_set() or name in self._running:
            return

        def work() -> Result | None:
            ident = threading.get_ident()
            self._items_by_thread[ident] = name
            try:
                return action()
            finally:
                self._items_by_thread.pop(ident, None)

        future = self._pool.submit(work)
        self._running[name] = future
        future.add_done_callback(lambda _: self.on_done())

    def overdue(self) -> list[str]:
        """The items (or "the loop") whose request in flight outlived its whole-request deadline.

        The request guards end a request within a moment of its deadline, so one still there is stuck
        where no guard reaches; `/healthz` and the watchdog's beat read this.
        """
        return sorted({name for name, _ in self._overdue_requests()})

    def stuck(self) -> str | None:
        """A line saying which worker is stuck past its request's deadline, or None; said in the log once."""
        found = self._overdue_requests()
        names = frozenset(name for name, _ in found)
        if names - self._stuck_said:
            for name, what in found:
                log.error("%s: stuck in %s past its deadline; the watchdog's beat stops until it ends",
                          shown(name), shown(what))
                if name in names - self._stuck_said:
                    self.notifier.send(stuck_request_event(name, what))
        self._stuck_said = names
        if not found:
            return None
        name, what = found[0]
        return f"stuck: {shown(name)} in {shown(what)} past its deadline"

    def _overdue_requests(self) -> list[tuple[str, str]]:
        """(item or "the loop", what request) for each thread past its request's deadline."""
        main = threading.main_thread().ident
        found = []
        for ident, deadline in self.client.deadlines.overdue().items():
            name = self._items_by_thread.get(ident) or ("the loop" if ident == main else deadline.thread)
            found.append((name, deadline.what))
        return sorted(found)

    @property
    def capacity(self) -> int:
        """How many items may run at once now (`[postqued].workers`, as last loaded)."""
        return int(self._pool._max_workers)

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def collect(self, *, wait: bool = False, grace: float = 0.0) -> Round:
        """Gather what the workers have finished; with `wait`, all of it, unless a stop is asked for: then what
        is done within `grace` (a request in flight breaks off at once; the stop must end within systemd's 10 s)."""
        while wait and self._running and not self.stop.is_set():
            futures.wait(list(self._running.values()), timeout=STOP_LOOK_SECONDS, return_when=futures.FIRST_COMPLETED)
            wait = not all(future.done() for future in self._running.values())
        if wait and grace > 0:
            futures.wait(list(self._running.values()), timeout=grace)
        round_ = Round()
        for name, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[name]
            self._settle(round_, name, future)
        return round_

    def _settle(self, round_: Round, name: str, future: Future[Result | None]) -> None:
        """One finished item: its result, or why it waits."""
        self.pulse.forget(name)
        try:
            result = future.result()
        except Interrupted:
            record = next((record for record in self.journal.unfinished() if record.name == name), None)
            step = f" at step {record.state}" if record is not None else ""
            round_.interrupted[name] = f"stopped{step}; resumes there on the next start"
            return
        except AccountBlocked as exc:
            if round_.blocked is None:
                log.error("posting paused: %s", exc.message)
            self.notifier.send(paused_event("account", exc.message))
            round_.blocked = exc.message
            self._give_back_unpublished(name, exc.message)
            return
        except JournalDamaged:
            raise  # the journal's file is damaged: the daemon stops and says so (exit 65), whatever item met it
        except JournalError as exc:
            # The journal's disk failed under the item: it keeps whatever step was last written and
            # is tried again; giving it back would need the journal too. Local trouble: never exit 3 (issue 12).
            round_.local[name] = exc.message
            self._say_local_trouble(name, exc, "will try again")
            return
        except InboxBlocked as exc:
            # Something of the user's holds a name pqdrop files into (a file `sent`): the item keeps its
            # step in processing/, and filing is tried again until it is moved away. Said once, no traceback.
            round_.inbox_blocked[name] = exc.message
            if self.filing_blocked.get(name) != exc.message:
                log.warning("%s: waits to be filed: %s", shown(name), shown(exc.message))
                for record in self.journal.unfinished():  # `pqdrop status` shows it as the item's last error
                    if record.name == name:
                        self.journal.set_state(record.id, record.state, error=exc.message)
                append_status_log(self.config.inbox.path, {"item": name, "state": str(ItemState.WAITING),
                                                           "reason": exc.message}, self._clock())
            self.filing_blocked[name] = exc.message
            return
        except Postponed as exc:
            round_.postponed.add(name)
            log.info("%s", exc.message)
            self._give_back_unpublished(name, exc.message)
            return
        except TransientError as exc:
            round_.deferred[name] = exc.message
            log.warning("%s: will try again: %s", name, exc.message)
            if self._outage.failed(self._clock()) and self._outage.since is not None:
                since = self._outage.since.astimezone(self.config.defaults.zone)
                self.notifier.send(paused_event("postqued", f"PostQued has not answered since "
                                                            f"{since:%Y-%m-%d %H:%M %Z} ({exc.message})"))
            self._give_back_unpublished(name, exc.message)
            return
        except OSError as exc:
            # The disk or the share failed under the item (full, unmounted, permissions): it keeps
            # its recorded step and is tried again; one item's trouble never ends the daemon.
            round_.local[name] = f"{type(exc).__name__}: {exc}"
            self._say_local_trouble(name, exc, "will try again after a filesystem error")
            return
        except Exception as exc:  # noqa: BLE001 - one item's fault, whatever it is, never ends the daemon (issue 12)
            # A full state disk reaches here as sqlite3's "database or disk is full", an odd name as a codec error.
            round_.local[name] = f"{type(exc).__name__}: {exc}"
            self._say_local_trouble(name, exc, "will try again after an unexpected error (please report it)")
            return
        self._troubled.pop(name, None)
        self.filing_blocked.pop(name, None)
        if result is not None:
            round_.results.append(result)
            _log_result(result)
            self._posting_works(result)
            self.notifier.send(result_event(result))
            if result.note and result.note.startswith(PACED):
                self.notifier.send(paced_event(result.name, result.note))

    def _posting_works(self, result: Result) -> None:
        """An item PostQued took (whatever became of it): a pause for the key or an outage has ended."""
        if result.publish_id is None:
            return
        self.notifier.send(resumed_event("account"))  # the gate lets it through only after a pause was said
        if self._outage.answered():
            self.notifier.send(resumed_event("postqued"))

    def _give_back_unpublished(self, name: str, reason: str) -> None:
        for record in self.journal.unfinished():
            if record.name == name:
                try:
                    self.pipeline.give_back(record, reason)
                except OSError as exc:  # the inbox refuses the moves: the item waits in processing/ instead
                    self._say_local_trouble(name, exc, "stays in processing/ for now")


def once(workers: Workers) -> tuple[int, Round]:
    """Resume what a crash left, process everything in the inbox now; arrivals get settle_seconds.

    An inbox pqdrop cannot write in (read-only, a file named `processing`) ends it with the reason.
    """
    workers.recover()
    if workers.inbox_error is not None:
        raise workers.inbox_error
    workers.follow()
    total = Round()
    attempted: set[str] = set()
    postponements: dict[str, int] = {}
    inbox = workers.config.inbox
    # A folder item waits to hold still (folder_settle_seconds): once waits for that too, as long as files come.
    deadline = time.monotonic() + max(inbox.settle_seconds, inbox.folder_settle_seconds) + 1.0
    plan = workers.look()
    first = True
    while not workers.stop.is_set():
        fresh = [item for item in plan.ready if item.name not in attempted]
        if fresh or first:
            first = False
            round_ = workers.work(plan, skip=attempted)
            attempted.update(item.name for item in fresh)
            attempted.update(result.name for result in round_.results)
            attempted.update(round_.deferred)
            attempted.update(round_.local)
            attempted.update(round_.inbox_blocked)
            for name in round_.postponed:  # its twin is done now: take it again, a few times at most
                postponements[name] = postponements.get(name, 0) + 1
                if postponements[name] <= MAX_POSTPONEMENTS:
                    attempted.discard(name)
                else:
                    total.deferred[name] = f"{name}: the same post stayed in flight"
            total.results += round_.results
            total.deferred.update(round_.deferred)
            total.local.update(round_.local)
            total.inbox_blocked.update(round_.inbox_blocked)
            total.interrupted.update(round_.interrupted)
            if round_.blocked:
                total.blocked = round_.blocked
                break
        elif not (arriving(plan) and time.monotonic() < deadline):
            break
        else:
            time.sleep(min(0.5, max(0.05, workers.config.inbox.settle_seconds / 4)))
        plan = workers.look()
    if workers.busy:  # stopped mid-item: say where each item stopped, if it checkpoints within the grace
        total.interrupted.update(workers.collect(wait=True, grace=STOP_GRACE_SECONDS).interrupted)
    if not (total.results or total.blocked or total.deferred or workers.stop.is_set()):
        # Nothing asked PostQued anything: ask once, so `once` on an empty inbox tests a set-up (its key).
        total.blocked = key_refused(workers.client)
    workers.write_agenda()
    return exit_code(total), total


def key_refused(client: PostQued) -> str | None:
    """Why PostQued refuses this key (revoked, no subscription), or None when it takes it or cannot be asked now."""
    try:
        client.platform_accounts()
    except AccountBlocked as exc:
        return exc.message
    except PqdropError as exc:
        log.debug("PostQued could not be asked about the key now: %s", exc.message)
    return None


MAX_POSTPONEMENTS = 3


def exit_code(round_: Round) -> int:
    """CONTRACT: 3 when the account could not post, else 1 when an item failed or met local file trouble
    (a file where its folder goes counts), else 0."""
    if round_.blocked or round_.deferred:
        return EXIT_BLOCKED
    if round_.local or round_.inbox_blocked or any(result.state is ItemState.FAILED for result in round_.results):
        return EXIT_FAILED
    return EXIT_OK


def _log_result(result: Result) -> None:
    if result.state is ItemState.FAILED:
        log.error("%s: failed: %s", shown(result.name), shown(result.message or ""))
    elif result.state is ItemState.SENT:
        log.info("%s: sent (publish %s): %s", shown(result.name), result.publish_id, DRAFT_WAITS)
    else:
        urls = " ".join(str(t["url"]) for t in result.targets if t.get("url"))
        log.info("%s: %s (publish %s)%s", shown(result.name), result.state, result.publish_id, f" {urls}" * bool(urls))
