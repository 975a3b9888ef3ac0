"""Following filed posts to their end: "accepted" is not "published".

An item waiting in scheduled/, or filed in sent/ as `accepted`, is checked again around its
dispatchAt (and now and then before it, in case it was canceled); when its targets end, it
moves from scheduled/ to sent/ (or the status file in sent/ says so), and a target that failed
late moves the item to failed/ with the reason. A post the platform has not confirmed within its
bound (`platforms.confirm_within`, per platform and intent) is said `unconfirmed` once, in its
status file, status.log and a notification, and is still checked, every hour (issue 23).
The schedule of checks is a pure function; the journal carries the items across restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from pqdrop.errors import AccountBlocked, ApiRejected, InboxBlocked, TransientError
from pqdrop.folders.filing import (
    NO_LINKS,
    append_status_log,
    file_claim,
    filed_names,
    free_stem,
    status_name,
    write_json_atomically,
)
from pqdrop.inbox.items import FAILED_DIR, SCHEDULED_DIR, SENT_DIR, claim_entries
from pqdrop.instants import iso_z, parse_instant
from pqdrop.journal.store import Journal, Record
from pqdrop.platforms import confirm_within
from pqdrop.posting.publish import Result, result_from_state, status_document
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.types import PublishState
from pqdrop.schedule.notify import Event, result_event, unconfirmed_event
from pqdrop.states import DRAFT_WAITS, ItemState, Step, waits_for_dispatch

log = logging.getLogger("pqdrop")

@dataclass(frozen=True)
class Timing:
    """How patiently tracked posts are checked."""

    first_check: timedelta = timedelta(seconds=30)
    longest_gap: timedelta = timedelta(minutes=15)
    before_dispatch_gap: timedelta = timedelta(hours=6)
    after_dispatch: timedelta = timedelta(seconds=20)
    unconfirmed_gap: timedelta = timedelta(hours=1)  # an unconfirmed post is still looked at, this often


@dataclass(frozen=True)
class Due:
    """When to look at a tracked item next, and how many looks found nothing new."""

    at: datetime
    quiet_checks: int = 0


def next_check(status: Mapping[str, Any], now: datetime, quiet_checks: int, timing: Timing = Timing()) -> Due:
    """Just after the earliest future dispatchAt (at most 6 h ahead), else a growing gap up to 15 min."""
    future = sorted(
        moment
        for target in status.get("targets", [])
        if target.get("status") == "scheduled" and target.get("dispatchAt")
        for moment in [parse_instant(str(target["dispatchAt"]))]
        if moment > now
    )
    if future:
        return Due(min(future[0] + timing.after_dispatch, now + timing.before_dispatch_gap), 0)
    gap = min(timing.first_check * (2**quiet_checks), timing.longest_gap)
    return Due(now + gap, quiet_checks + 1)


class Tracker:
    """Polls the publishes of tracked items when they are due, within the read budget."""

    def __init__(
        self,
        inbox: Path,
        journal: Journal,
        client: PostQued,
        clock: Callable[[], datetime],
        timing: Timing = Timing(),
        announce: Callable[[Event], None] = lambda event: None,
        filing_links: Mapping[str, Path] = NO_LINKS,
    ) -> None:
        """`filing_links` ([inbox].filing_links): the filing folders that may be links, and where to."""
        self._timing = timing
        self._links = filing_links
        self.announce = announce  # the notifier's ear; the editor tells it of cancels too
        self._inbox = inbox
        self._journal = journal
        self._client = client
        self._clock = clock
        self._due: dict[int, Due] = {}
        self._troubles: dict[int, str] = {}  # journal id -> the trouble filing it met, said once

    def seconds_until_due(self) -> float | None:
        """How long the loop may sleep before a tracked item wants a look; None when none is tracked."""
        records = self._journal.tracking()
        if not records:
            return None
        now = self._clock()
        moments = [self._due[r.id].at if r.id in self._due else now for r in records]
        return max(0.0, (min(moments) - now).total_seconds())

    def next_dispatch(self) -> datetime | None:
        """The earliest dispatchAt still ahead among tracked posts."""
        now = self._clock()
        moments = [
            parse_instant(str(target["dispatchAt"]))
            for record in self._journal.tracking()
            for target in (record.status or {}).get("targets", [])
            if target.get("status") == "scheduled" and target.get("dispatchAt")
        ]
        ahead = [moment for moment in moments if moment > now]
        return min(ahead) if ahead else None

    def forget(self, item_id: int) -> None:
        """Look at an item afresh: its post was changed by an edit."""
        self._due.pop(item_id, None)

    def check_due(self) -> int:
        """Look at every tracked item that is due; returns how many ended."""
        for record in self._journal.in_state(Step.REFILING):
            self._within_inbox(record, self._finish_refile)  # a move a crash, or a user's file, cut short
        ended = 0
        for record in self._journal.tracking():
            due = self._due.get(record.id)
            if due is not None and due.at > self._clock():
                continue
            try:
                state = self._client.publish_status(str(record.publish_id))
            except (TransientError, AccountBlocked) as exc:
                log.warning("%s: cannot check publish %s now: %s", record.name, record.publish_id, exc.message)
                quiet = due.quiet_checks if due else 0
                self._due[record.id] = next_check(record.status or {}, self._clock(), quiet, self._timing)
                continue
            except ApiRejected as exc:
                # Deleted in PostQued's dashboard, or the key lost the workspace: nothing says it went out,
                # so the item leaves scheduled/ or sent/ for failed/, where `pqdrop retry` finds it.
                message = (f"publish {record.publish_id} can no longer be checked: {exc.message}; it may have been "
                           "deleted in PostQued, so whether it went out is unknown (pqdrop retry posts the item again)")
                ended += self._end(record, Result(record.name, ItemState.FAILED, record.publish_id,
                                                  record.idempotency_key, exc.code or "PUBLISH_GONE", message))
                continue
            ended += self._within_inbox(record, partial(self._update, state=state, due=due)) or 0
        return ended

    def _within_inbox(self, record: Record, action: Callable[[Record], int | None]) -> int | None:
        """One item's filing; a user's file where its folder goes (a file `sent`) is said once, and the move is
        tried again at the next look (REFILING is written ahead). A disk's trouble (OSError) ends the look."""
        try:
            done = action(record)
        except InboxBlocked as exc:
            trouble = exc.message
            if self._troubles.get(record.id) != trouble:
                log.warning("%s: cannot be filed now, tried again later: %s", record.name, trouble)
                now = self._journal.get(record.id)  # REFILING by now, most likely: keep its step, add the reason
                self._journal.set_state(record.id, now.state, error=trouble)
            self._troubles[record.id] = trouble
            return None
        self._troubles.pop(record.id, None)
        return done

    def _update(self, record: Record, state: PublishState, due: Due | None) -> int:
        now = self._clock()
        result = result_from_state(record.name, state, str(record.idempotency_key), self._client.platform_accounts)
        if result.state in (ItemState.SCHEDULED, ItemState.ACCEPTED) or waits_for_dispatch(state, now):
            status = _with_targets(record.status, result.targets)
            late = result.state is ItemState.ACCEPTED and not waits_for_dispatch(state, now)
            bound = unconfirmed_after(record) if late else None
            said = (record.status or {}).get("state") == ItemState.UNCONFIRMED
            if late and (said or (bound is not None and now >= bound[0])):
                if not said and bound is not None:
                    self._unconfirm(record, result, bound[1])
                self._due[record.id] = Due(now + self._timing.unconfirmed_gap)
                return 0
            self._due[record.id] = next_check(status, now, due.quiet_checks if due else 0, self._timing)
            if bound is not None:  # look again when the bound is reached, if not before
                self._due[record.id] = Due(min(self._due[record.id].at, bound[0]), self._due[record.id].quiet_checks)
            return 0
        return self._end(record, result)

    def _unconfirm(self, record: Record, result: Result, waited: timedelta) -> None:
        """Past its bound and still not confirmed: the status file, status.log, the log and a notification say so."""
        now = self._clock()
        old = record.status or {}
        status = {**old, "state": str(ItemState.UNCONFIRMED), "targets": result.targets, "updatedAt": iso_z(now),
                  "acceptedAt": old.get("acceptedAt") or old.get("updatedAt"), "unconfirmedSince": iso_z(now)}
        folder, stem = str(record.destination), str(record.stem)
        files = filed_names(claim_entries(record.item), record.name, stem)
        write_json_atomically(self._inbox / folder / status_name(stem), {**status, "files": files})
        self._journal.record_refiled(record.id, Step.TRACKING, folder, stem, status)
        waited_text = _span(waited)
        append_status_log(self._inbox, {"item": record.name, "state": str(ItemState.UNCONFIRMED),
                                        "publishId": record.publish_id,
                                        "reason": f"not confirmed by the platform within {waited_text}"}, now)
        log.warning("%s: not confirmed by the platform within %s (publish %s); still checked every %s",
                    record.name, waited_text, record.publish_id, _span(self._timing.unconfirmed_gap))
        self.announce(unconfirmed_event(record.name, record.publish_id, waited=waited_text))

    def _end(self, record: Record, result: Result) -> int:
        """The item's post is final (or can no longer be followed): file it where its state says; returns 1."""
        now = self._clock()
        old = record.status or {}
        result.media = list(old.get("media", []))
        status = status_document(result, now)
        if result.state is ItemState.FAILED:
            self.refile(record, status, FAILED_DIR)
        elif record.destination == SCHEDULED_DIR:
            self.refile(record, status, SENT_DIR)  # every target is done: scheduled/ -> sent/
        else:
            files = filed_names(claim_entries(record.item), record.name, str(record.stem))
            write_json_atomically(self._inbox / SENT_DIR / status_name(str(record.stem)), {**status, "files": files})
            self._journal.record_refiled(record.id, Step.DONE, SENT_DIR, str(record.stem), status)
        append_status_log(self._inbox, {"item": record.name, "state": str(result.state),
                                        "publishId": record.publish_id,
                                        **({"error": status["error"]} if "error" in status else {}),
                                        **({"targets": result.targets} if result.targets else {})}, now)
        self._due.pop(record.id, None)
        if result.state is not ItemState.FAILED:  # a failure is said by the move to failed/
            urls = " ".join(str(t["url"]) for t in result.targets if t.get("url"))
            said = f": {DRAFT_WAITS}" if result.state is ItemState.SENT else f" {urls}" * bool(urls)
            log.info("%s: %s (publish %s)%s", record.name, result.state, record.publish_id, said)
        result.publish_id = result.publish_id or record.publish_id
        self.announce(result_event(result))
        return 1

    def recover(self) -> list[str]:
        """At start: move items an older pqdrop filed in sent/ as scheduled to scheduled/, finish cut-short moves."""
        notes = []
        for record in self._journal.tracking():
            if record.destination == SENT_DIR and (record.status or {}).get("state") == ItemState.SCHEDULED:
                self.refile(record, dict(record.status or {}), SCHEDULED_DIR)
                notes.append(f"{record.name}: moved from sent/ to scheduled/, where scheduled posts now wait")
        for record in self._journal.in_state(Step.REFILING):
            self._finish_refile(record)
        for note in notes:
            log.info(note)
        return notes

    def refile(self, record: Record, status: Mapping[str, Any], folder: str) -> None:
        """Move a filed item to another folder (sent/ to failed/, scheduled/ to sent/...), with its status file."""
        old_folder, old_stem = str(record.destination), str(record.stem)
        names = filed_names(claim_entries(record.item), record.name, old_stem)
        stem = free_stem(self._inbox / folder, old_stem, names)
        status = {**status, "movedFrom": f"{old_folder}/{old_stem}"}
        # Written ahead: a crash mid-move is finished on the next start, never split across two names.
        self._journal.record_refiled(record.id, Step.REFILING, folder, stem, status)
        self._finish_refile(self._journal.get(record.id))

    def _finish_refile(self, record: Record) -> None:
        """Move what is still in the old folder to the recorded one; repeatable after a crash."""
        status = record.status or {}
        old_folder, old_stem = str(status["movedFrom"]).split("/", 1)
        names = filed_names(claim_entries(record.item), record.name, old_stem)
        folder = str(record.destination)
        file_claim(self._inbox / old_folder, self._inbox / folder, old_stem, str(record.stem), names, status,
                   remove_source=False, links=self._links)
        (self._inbox / old_folder / status_name(old_stem)).unlink(missing_ok=True)
        # An item still waiting for its dispatchAt stays followed; anywhere else its story has ended.
        after = Step.TRACKING if folder == SCHEDULED_DIR else Step.DONE
        self._journal.record_refiled(record.id, after, folder, str(record.stem), status)
        if folder == FAILED_DIR and old_folder == SENT_DIR:
            log.error("%s: failed after it was sent: %s", record.name, status["error"]["message"])
        elif folder == FAILED_DIR:
            log.error("%s: failed: %s", record.name, status["error"]["message"])


def unconfirmed_after(record: Record) -> tuple[datetime, timedelta] | None:
    """When a due post becomes unconfirmed, and its bound: the longest of its targets' platforms and intents,
    counted from its latest dispatchAt, or from when it was filed for a post that went out at once."""
    targets = [t for t in (record.publish_body or {}).get("targets", []) if isinstance(t, dict)]
    bound = max((confirm_within(str(t.get("platform") or "tiktok"), str(t.get("intent") or "publish"))
                 for t in targets), default=confirm_within("tiktok", "publish"))
    moments = [parse_instant(str(t["dispatchAt"])) for t in targets if t.get("dispatchAt")]
    status = record.status or {}
    filed = status.get("acceptedAt") or status.get("updatedAt")
    if filed:
        moments.append(parse_instant(str(filed)))
    if not moments:
        return None
    return max(moments) + bound, bound


def _span(span: timedelta) -> str:
    """`2 h`, `30 min`: a bound as a person says it."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"


def _with_targets(status: Mapping[str, Any] | None, targets: list[dict[str, Any]]) -> dict[str, Any]:
    return {**(status or {}), "targets": targets}
