"""Carrying out edits of the schedule: a sidecar edited in scheduled/, or `pqdrop cancel`/`reschedule` (issue 15).

Every edit is one path: judge (edits.py decides what it asks for), take the item into an edit step
written ahead in the journal, then one request at a time, each recorded before the next. A
replacement is "replacing": cancel the scheduled post, then publish the edited one under its own key;
a crash between the two is finished on the next start from the recorded phase, so an edit never
leaves two live posts or none. An edit that can no longer apply changes nothing, and the status
file says why. The user's sidecar is only ever read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqdrop.config import Config
from pqdrop.errors import (
    AccountBlocked,
    ApiRejected,
    ItemError,
    KeyInText,
    PqdropError,
    SidecarError,
    TransientError,
)
from pqdrop.folders.filing import (
    append_status_log,
    conflicted_copy,
    filed_item,
    filed_names,
    filed_sidecar,
    files_gone,
    read_plain_text,
    rewrite_text,
    status_name,
    write_json_atomically,
)
from pqdrop.inbox.items import CANCELED_DIR, SCHEDULED_DIR, Item, claim_entries
from pqdrop.instants import iso_z, parse_instant
from pqdrop.journal.edits import Edit, EditLog
from pqdrop.journal.store import Journal, Record
from pqdrop.names import shown
from pqdrop.posting.pacing import pace_targets
from pqdrop.posting.publish import (
    Result,
    account_label,
    find_account,
    publish_body,
    result_from_state,
    status_document,
    target_body,
)
from pqdrop.posting.publish import idempotency_key as content_key
from pqdrop.posting.slots import reserve_slots
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.types import Account, PublishState
from pqdrop.postqued.v1 import NOT_IN_V1
from pqdrop.schedule.agenda import account_setting, gone_words, refused_words, stays_at
from pqdrop.schedule.notify import result_event
from pqdrop.schedule.tracker import Tracker
from pqdrop.secrecy import SECRETS
from pqdrop.sidecar.changes import (
    EditKind,
    asks_cancel,
    content_digest,
    edit_kind,
    replacement_key,
    written_times,
)
from pqdrop.sidecar.parse import Sidecar, Target, default_sidecar, parse_sidecar_text
from pqdrop.sidecar.retime import with_dispatch_at
from pqdrop.sidecar.source import SidecarSource, read_sidecar
from pqdrop.states import EDIT_STEPS, ItemState, Step

if TYPE_CHECKING:
    from pqdrop.media.probe import MediaInfo  # PyAV: only the daemon's editor probes media

log = logging.getLogger("pqdrop")

# How often the sidecars in scheduled/ are looked at (a stat each) when no event says so, and how
# soon a `pqdrop cancel` or `reschedule` waiting in the journal is picked up.
LOOK_SECONDS = 2.0
DAILY_CAP_CODES = frozenset({"spam_risk_too_many_pending_share", "spam_risk_too_many_posts"})  # reference T3, T4
QUIET_CAP_SECONDS = 120.0  # the longest pause of the looks while PostQued does not answer
CANCEL, RESCHEDULE = "cancel", "reschedule"  # the requests the commands leave in the journal
UNTOUCHABLE = "the post can no longer be changed: target {target} is already {status}"
GONE = frozenset({404, 410})  # PostQued no longer knows the publish: deleted in its dashboard (reference A6)


def what_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """What an edit changed besides the time, in the words of the sidecar: "caption", "media", "account",
    an option's name; what `status --history` says of a replaced post whose time stayed."""
    old, new = old or {}, new or {}
    changed: list[str] = []
    if old.get("contentIds") != new.get("contentIds"):
        changed.append("media")
    before, after = old.get("targets") or [], new.get("targets") or []
    if len(before) != len(after):
        changed.append("targets")
    for was, now in zip(before, after, strict=False):
        if not isinstance(was, Mapping) or not isinstance(now, Mapping):
            continue
        for key, word in (("accountId", "account"), ("platform", "platform"), ("intent", "intent"),
                          ("caption", "caption")):
            if was.get(key) != now.get(key):
                changed.append(word)
        options, new_options = was.get("options") or {}, now.get("options") or {}
        changed.extend(sorted(key for key in {*options, *new_options} if options.get(key) != new_options.get(key)))
    return list(dict.fromkeys(changed))


class NotApplicable(Exception):
    """An edit that cannot apply any more; nothing was changed."""


class Editor:
    """Looks at the scheduled items' sidecars and the queued requests, and carries out what they ask."""

    def __init__(
        self, config: Config, journal: Journal, client: PostQued, clock: Callable[[], datetime], tracker: Tracker,
        prepare: Prepare | None = None,
    ) -> None:
        """`prepare` checks an edited item as a fresh drop is checked (Pipeline.prepared), else the sidecar alone."""
        self._config = config
        self._inbox = config.inbox.path
        self._journal = journal
        self._log = EditLog(journal)
        self._client = client
        self._clock = clock
        self._tracker = tracker
        self._prepare = prepare
        self.api_trouble: str | None = None  # why the last look had to wait for PostQued, if it had to
        self._quiet_until, self._quiet_seconds = 0.0, LOOK_SECONDS / 2
        self._edited: dict[int, tuple[str, datetime]] = {}  # item -> the sidecar an edit under way stands for
        self._seen: dict[int, tuple[tuple[int, int] | None, float]] = {}  # item -> (sidecar stat, unchanged since)
        self.held: dict[int, str] = {}  # item -> the conflicted copy holding its edit
        self._gone_said: set[int] = set()  # items whose deleted files the log has told of
        self._names: dict[str, str] = {}  # accountId -> "@username (platform)", as the sidecars resolved them

    def reconfigure(self, config: Config) -> None:
        self._config = config

    def account_name(self, account_id: str, platform: str) -> str:
        """How SCHEDULE.md names an account: "@username (platform)", from the client's list of accounts, else as the
        journal remembers it from the last time PostQued told (an edit made while PostQued is unreachable)."""
        if account_id not in self._names:
            try:
                known = self._client.platform_accounts(platform)  # fetched once per client, at the first publish
            except PqdropError:
                return self._journal.setting(account_setting(account_id)) or account_id
            for account in known:
                self._name(account.id, account_label(account))
        return self._names.get(account_id, account_id)

    def _name(self, account_id: str, name: str) -> None:
        """Remember an account's name here and in the journal (written only when it is new or changed)."""
        self._names[account_id] = name
        if self._journal.setting(account_setting(account_id)) != name:
            self._journal.remember(account_setting(account_id), name)

    def waiting_edits(self) -> dict[int, str]:
        """Journal id -> "an edit of NAME.md" for the scheduled items whose edited sidecar waits for PostQued to
        answer (SCHEDULE.md shows it beside the post, issue 22); nothing while PostQued answers."""
        if self.api_trouble is None:
            return {}
        waiting: dict[int, str] = {}
        for record in self._journal.tracking():
            path = filed_sidecar(self._inbox, record) if record.destination == SCHEDULED_DIR else None
            if path is not None and record.id not in self.held and content_digest(path) not in (
                    None, record.sidecar_digest):
                waiting[record.id] = f"an edit of {path.name}"
        return waiting

    def seconds_until_due(self) -> float | None:
        """How long the loop may sleep before a sidecar or a request wants a look; None with nothing scheduled."""
        if (quiet := self._quiet_until - time.monotonic()) > 0:
            return quiet  # PostQued did not answer: the looks pause
        if self._log.pending_requests():
            return 0.0
        if not any(record.destination == SCHEDULED_DIR for record in self._journal.tracking()):
            return None
        settle = self._config.inbox.settle_seconds
        waits = [since + settle - time.monotonic() for _, since in self._seen.values()]
        return max(0.0, min([LOOK_SECONDS, *[wait for wait in waits if wait > 0]]))

    def recover(self) -> None:
        """At start: carry on every edit a crash or a stop left between its requests."""
        for step in sorted(EDIT_STEPS):
            for record in self._journal.in_state(step):
                self._carry_on(record)

    def check(self) -> None:
        """One look: edits under way, then queued requests, then every scheduled item's sidecar.

        While PostQued does not answer, the looks that need it pause, longer each time (up to two
        minutes), so a dead API neither blocks the loop in retries nor is asked at every look.
        """
        if time.monotonic() < self._quiet_until:
            return
        trouble = self.api_trouble = None
        try:
            self.recover()
            for request_id, item_id, kind, dispatch in self._log.pending_requests():
                self._request(request_id, self._journal.get(item_id), kind, dispatch)
            for record in self._journal.tracking():
                if record.destination == SCHEDULED_DIR:
                    self._look(record)
        except (TransientError, AccountBlocked) as exc:
            trouble = exc.message
            log.warning("edits of the schedule wait for the API: %s", exc.message)
        self.api_trouble = trouble = trouble or self.api_trouble
        self._quiet_seconds = min(self._quiet_seconds * 2, QUIET_CAP_SECONDS) if trouble else LOOK_SECONDS / 2
        self._quiet_until = time.monotonic() + self._quiet_seconds if trouble else 0.0

    # --- judging ---------------------------------------------------------------------------------

    def _look(self, record: Record) -> None:
        """Judge the sidecar once its content changed and then held still for settle_seconds."""
        gone = files_gone(self._inbox, record)
        if gone and record.id not in self._gone_said:
            self._gone_said.add(record.id)
            log.warning("%s: %s", record.name, gone_words(str(record.stem or record.name),
                                                         stays_at(record, self._config.defaults.zone)))
        elif not gone:
            self._gone_said.discard(record.id)
        path = filed_sidecar(self._inbox, record)
        if path is None:
            return
        try:
            stat = path.lstat()  # the name's own times: a link planted over it is a change too
            signature: tuple[int, int] | None = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            signature = None
        now = time.monotonic()
        seen = self._seen.get(record.id)
        if seen is None or seen[0] != signature:
            # First seen already still for settle_seconds by its mtime (a `once` after the edit): no wait.
            settle = self._config.inbox.settle_seconds
            age = time.time() - signature[1] / 1e9 if signature is not None else 0.0  # < -60: a fast clock's, still
            still = seen is None and signature is not None and (age >= settle or age < -60)
            seen = self._seen[record.id] = (signature, now - settle if still else now)
        if now - seen[1] < self._config.inbox.settle_seconds:
            return
        # Read once, never through a link, at most 1 MiB (issue 21): what is judged is what is posted.
        refusal: SidecarError | None = None
        try:
            source: SidecarSource | None = read_sidecar(path, self._inbox / str(record.destination))
            digest = source.digest if source is not None else ""
        except SidecarError as exc:
            if exc.code == "SIDECAR_UNREADABLE":
                return  # gone or unreadable between two looks: the next look tells
            source, refusal = None, exc
            digest = hashlib.sha256(exc.message.encode()).hexdigest()  # each refusal said once, as an edit would be
        if digest == record.sidecar_digest:
            return
        conflict = conflicted_copy(path)
        if conflict is not None:
            if self.held.get(record.id) != conflict:
                self.held[record.id] = conflict
                self._note(record, f"held by a conflict: {conflict} is another version of {path.name}; keep one")
            return
        self.held.pop(record.id, None)
        if source is None:
            self._refused(record, path.name, refusal.message if refusal else path.name)
            self._log.judged(record.id, digest)
            return
        self._judge(record, path, source)

    def _judge(self, record: Record, path: Path, source: SidecarSource) -> None:
        try:
            text = source.text()
            if SECRETS.found_in(text):  # a link to the key file, a pasted key: never posted, never kept
                raise KeyInText(f"{path.name}: holds the API key; pqdrop never posts the key nor keeps it: "
                                f"take it out of {path.name}")
            if asks_cancel(text, path.name):
                self._apply(record, EditKind.CANCEL, None)
            else:
                targets, repost, as_of = self._edited_targets(record, text, source)
                if (leak := SECRETS.where(targets)) is not None:
                    raise KeyInText(f"{path.name}: the edited post's {leak} holds the API key; pqdrop never posts it")
                published = list((record.publish_body or {}).get("targets", []))
                self._edited[record.id] = (text, as_of)
                self._apply(record, edit_kind(published, targets), targets, repost=repost)
        except (ItemError, ApiRejected) as exc:
            self._refused(record, path.name, exc.message)
        self._log.judged(record.id, source.digest)

    def _edited_targets(
        self, record: Record, text: str, source: SidecarSource
    ) -> tuple[list[dict[str, Any]], bool, datetime]:
        """The publish targets the edited sidecar asks for, checked as a fresh drop is, and as of when it was read.

        What the edit did not touch stays as it is live: with every dispatchAt written as before, each target
        keeps its live time (one a daily cap paced, or `pqdrop reschedule` moved), and the sidecar is read as of
        the moment the post was made, so its old time is not refused as past.
        """
        base = self._log.base(record.id)
        same_times = base is not None and written_times(base[0]) == written_times(text)
        as_of = base[1] if base is not None and same_times else self._clock()
        if self._prepare is None:
            path = filed_sidecar(self._inbox, record)
            sidecar = parse_sidecar_text(text, path or Path(record.name), self._config.defaults, as_of,
                                         accounts=self._config.accounts, schedule=self._config.schedule)
            accounts = None
        else:
            sidecar, _, accounts = self._prepare(self._inbox / str(record.destination), filed_item(record),
                                                 record.name, as_of, source)
        if accounts is not None and not same_times:  # a new time: a slot and TikTok's daily caps, as a fresh drop
            if any(target.next_slot for target in sidecar.targets):
                sidecar = reserve_slots(self._journal, record.id, sidecar, accounts, self._config, self._clock())
            sidecar = pace_targets(self._journal, record.id, sidecar, accounts, self._config, self._clock())
        targets = self._targets(record, sidecar, accounts, reserve=accounts is None and not same_times)
        if same_times:
            live = {(target.get("platform"), target.get("accountId")): target.get("dispatchAt")
                    for target in (record.publish_body or {}).get("targets", [])}
            for target in targets:
                key = (target.get("platform"), target.get("accountId"))
                if key in live:
                    target["dispatchAt"] = live[key]
        return targets, sidecar.repost, as_of

    def _request(self, request_id: int, record: Record, kind: str, dispatch: str | None) -> None:
        """A `pqdrop cancel` or `reschedule`: the same way as an edit of the sidecar."""
        if record.state != Step.TRACKING or record.destination != SCHEDULED_DIR:
            where = f"in {record.destination}/" if record.destination else "not filed yet"
            self._log.finish_request(request_id, f"not applied: {record.name} is not scheduled any more ({where})")
            return
        try:
            if kind == CANCEL:
                self._apply(record, EditKind.CANCEL, None, request_id=request_id)
            elif filed_sidecar(self._inbox, record) is None:
                # No sidecar to read (its files are gone from scheduled/, or it never had one): the post moves in
                # place as PostQued holds it, its caption and options untouched, never rebuilt from nothing.
                targets = self._live_moved(record, str(dispatch))
                published = list((record.publish_body or {}).get("targets", []))
                self._apply(record, edit_kind(published, targets), targets, request_id=request_id)
            else:
                sidecar = self._current_sidecar(record)
                moved = dataclasses.replace(sidecar, targets=tuple(self._at(target, str(dispatch))
                                                                  for target in sidecar.targets))
                targets = self._targets(record, moved)
                published = list((record.publish_body or {}).get("targets", []))
                self._apply(record, edit_kind(published, targets), targets, repost=sidecar.repost,
                            request_id=request_id)
        except (ItemError, ApiRejected) as exc:
            self._log.finish_request(request_id, f"not applied: {exc.message}")
            return
        path = filed_sidecar(self._inbox, record)
        # The sidecar still says what it said: judged as it is now, it must not move the post back.
        folder = self._inbox / str(record.destination)
        self._log.judged(record.id, content_digest(path, folder) if path else None)

    def missing_files(self, record: Record) -> list[str]:
        """The item's files no longer in its folder (deleted from scheduled/ on a phone, say): the post still goes
        out, as a cancel must be asked for; SCHEDULE.md and `pqdrop status` say so (issue 24)."""
        return files_gone(self._inbox, record)

    def _live_moved(self, record: Record, when: str) -> list[dict[str, Any]]:
        """The live post's targets with `when` as their time, read as a dispatchAt for the default account is."""
        config = self._config
        gone = self.missing_files(record)
        why = (f"its files are gone from {SCHEDULED_DIR}/ ({', '.join(shown(name) for name in gone)})"
               if gone else "it has no sidecar")
        [target, *_] = default_sidecar(config.defaults, accounts=config.accounts, schedule=config.schedule).targets
        moved = self._at(target, when)
        if moved.next_slot:
            raise ItemError(f"{why}, so pqdrop cannot tell which account's next slot `next` means; "
                                    "give a time such as 2030-06-02T09:00, or `pqdrop cancel "
                                    f"{record.stem or record.name}`")
        live = [dict(target) for target in (record.publish_body or {}).get("targets", [])]
        if not live or not all(isinstance(target.get("caption"), str) for target in live):
            raise ItemError(f"{why}, and pqdrop holds no copy of the post to move")
        at = iso_z(moved.dispatch_at) if moved.dispatch_at else None
        return [{**target, "dispatchAt": at} for target in live]

    def _current_sidecar(self, record: Record) -> Sidecar:
        path = filed_sidecar(self._inbox, record)
        defaults, accounts, schedule = self._config.defaults, self._config.accounts, self._config.schedule
        if path is None:
            return default_sidecar(defaults, accounts=accounts, schedule=schedule)
        base = self._log.base(record.id)
        text = read_sidecar(path, self._inbox / str(record.destination)).text()
        as_of = base[1] if base is not None and written_times(base[0]) == written_times(text) else self._clock()
        return parse_sidecar_text(text, path, defaults, as_of, accounts=accounts, schedule=schedule)

    def _at(self, target: Target, when: str) -> Target:
        """The target moved to `when`, read exactly as a sidecar's dispatchAt for its account would be."""
        text = f"---\naccount: {json.dumps(target.account)}\ndispatchAt: {json.dumps(when)}\n---\n"
        config = self._config
        [moved] = parse_sidecar_text(text, Path("pqdrop reschedule"), config.defaults, self._clock(),
                                     accounts=config.accounts, schedule=config.schedule).targets
        return dataclasses.replace(target, dispatch_at=moved.dispatch_at, next_slot=moved.next_slot)

    def _targets(
        self, record: Record, sidecar: Sidecar, resolved: Mapping[str, Account] | None = None, *, reserve: bool = True
    ) -> list[dict[str, Any]]:
        """The publish request's targets for what the sidecar asks; `dispatchAt: next` keeps or takes a slot."""
        accounts: dict[str, Account] = {}
        for target in sidecar.targets:
            account = resolved[target.key] if resolved is not None else find_account(
                target.account, self._client.platform_accounts(target.platform), sidecar.path or record.name,
                target.account_key)
            accounts[target.key] = account
            self._name(account.id, account_label(account))
        if reserve and any(target.next_slot for target in sidecar.targets):
            sidecar = reserve_slots(self._journal, record.id, sidecar, accounts, self._config, self._clock())
        return [target_body(target, accounts[target.key]) for target in sidecar.targets]

    # --- carrying out ----------------------------------------------------------------------------

    def _apply(self, record: Record, kind: EditKind, targets: Sequence[Mapping[str, Any]] | None, *,
               repost: bool = False, request_id: int | None = None) -> None:
        old_id = str(record.publish_id)
        if kind is EditKind.NONE:
            if request_id is not None:
                self._log.finish_request(request_id, "unchanged: the post is already scheduled so")
            elif (record.status or {}).get("edit", {}).get("applied") is False:
                # The sidecar says again what the post says: the reason an earlier version was refused is stale.
                status = {key: value for key, value in (record.status or {}).items() if key != "edit"}
                self._journal.record_refiled(record.id, record.state, str(record.destination), str(record.stem),
                                             status)
                self._write_status(record, status)
            return
        if kind is EditKind.CANCEL or targets is None:
            edit, step = Edit(EditKind.CANCEL, "cancel", old_id, request_id=request_id), Step.CANCELING
        else:
            contents = (record.publish_body or {}).get("contentIds", [])
            body = publish_body(contents, targets)
            key = replacement_key(content_key(self._log.fingerprints(record.id, contents), targets, repost), old_id)
            # A new time is first asked of PostQued as such (v2 PATCHes the target); v1 refuses, and then
            # it is a new publish and the old one called off, as any other change.
            patch = kind is EditKind.RESCHEDULE
            edit = Edit(kind, "patch" if patch else "replace", old_id, key, body, request_id=request_id)
            step = Step.REPLACING
        if not self._log.begin_edit(record.id, step, edit):
            if request_id is not None:
                self._log.finish_request(request_id, f"not applied: {record.name} is not scheduled any more")
            return
        log.info("%s: edit begun (%s), asked by %s", record.name, kind,
                 "the command" if request_id is not None else f"its sidecar in {SCHEDULED_DIR}/")
        self._carry_on(self._journal.get(record.id))

    def _carry_on(self, record: Record) -> None:
        """Take an edit step on from its recorded phase; repeatable after a crash at any point."""
        edit = self._log.edit_of(record.id)
        if edit is None:
            self._log.end_edit(record.id, record.status or {})
            return
        try:
            if edit.phase == "cancel" and edit.kind == EditKind.CANCEL and self._cancel_waiting(record, edit):
                return
            if edit.phase == "cancel":
                self._check_untouched(edit.old_publish_id)
                canceled = self._client.cancel_publish(edit.old_publish_id)
                if edit.kind == EditKind.CANCEL:
                    self._file_canceled(record, edit, canceled)
                    return
                self._log.edit_phase(record.id, "publish")
                edit = dataclasses.replace(edit, phase="publish")
            if edit.phase == "patch":
                self._patch(record, edit)
                return
            if edit.phase == "replace":
                # The edited post first, the old one called off once it is accepted: an edit PostQued refuses
                # leaves the old post as it was, never none; a crash between goes on from "retire".
                self._check_untouched(edit.old_publish_id)
                state = self._publish_edited(edit)
                self._log.edit_phase(record.id, "retire")
                self._retire(record, edit, state)
                return
            if edit.phase == "retire":
                self._retire(record, edit, self._publish_edited(edit))  # the same key and body: the first reply
                return
            # "publish": an edit an older pqdrop began the other way round, its old post canceled already.
            self._finish(record, edit, self._publish_edited(edit))
        except (TransientError, AccountBlocked) as exc:
            if edit.phase == "replace" and exc.code in DAILY_CAP_CODES:
                self._refuse(record, edit, f"TikTok's daily cap is full for the edited post ({exc.message}); "
                                           "the post stays as it was: give it a later dispatchAt")
                return
            self.api_trouble = exc.message
            log.warning("%s: the edit waits for the API: %s", record.name, exc.message)
        except NotApplicable as exc:
            self._refuse(record, edit, str(exc))
        except ApiRejected as exc:
            if edit.kind == EditKind.CANCEL and exc.status in GONE:
                self._file_vanished(record, edit, exc.message)
            elif edit.phase == "publish":
                self._lost(record, edit, exc.message)
            else:
                self._refuse(record, edit, exc.message)

    def _publish_edited(self, edit: Edit) -> PublishState:
        body = edit.publish_body or {}
        return self._client.publish(body["contentIds"], body["targets"], str(edit.idempotency_key))

    def _retire(self, record: Record, edit: Edit, state: PublishState) -> None:
        """The edited post is in: call the old one off; if it began to go out meanwhile, call the edited one off."""
        try:
            self._client.cancel_publish(edit.old_publish_id)
        except ApiRejected as exc:
            self._client.cancel_publish(state.publish_id)
            raise NotApplicable(f"the post began to go out before the edit applied ({exc.message}); "
                                "the edited post was called off") from exc
        self._finish(record, edit, state)

    def _cancel_waiting(self, record: Record, edit: Edit) -> bool:
        """A cancel of a post partly out: cancel the waiting targets one by one (True; the tracker files the item)."""
        state = self._client.publish_status(edit.old_publish_id)
        waiting = [target for target in state.targets if target.status == "scheduled"]
        if not waiting or len(waiting) == len(state.targets):
            return False
        for target in waiting:
            state = self._client.cancel_target(edit.old_publish_id, target.id)
        now = self._clock()
        names = ", ".join(self.account_name(str(t.account_id), t.platform or "tiktok") for t in waiting)
        result = result_from_state(record.name, state, str(record.idempotency_key), self._client.platform_accounts)
        result.media = list((record.status or {}).get("media", []))
        status = {**status_document(result, now), "edit": {"kind": "canceled", "at": iso_z(now), "canceled": names}}
        self._log.end_edit(record.id, status)
        self._write_status(record, status)
        self._tracker.forget(record.id)
        append_status_log(self._inbox, {"item": record.name, "state": "canceled", "targets": names,
                                        "publishId": record.publish_id}, now)
        log.info("%s: canceled the targets still waiting (%s); the ones already out stay", record.name, names)
        self._done_request(edit, f"canceled the targets still waiting: {names}; the others already went out")
        return True

    def _check_untouched(self, publish_id: str) -> None:
        """Only a post whose every target still waits (or was canceled by this edit) can be changed."""
        for target in self._client.publish_status(publish_id).targets:
            if target.status not in ("scheduled", "canceled"):
                raise NotApplicable(UNTOUCHABLE.format(
                    target=self.account_name(target.account_id, target.platform or "tiktok") if target.account_id
                    else target.id, status=target.status))

    def _patch(self, record: Record, edit: Edit) -> None:
        """v2: move each target of the same publish to its new time; v1 cannot, so cancel and publish again."""
        self._check_untouched(edit.old_publish_id)
        state = self._client.publish_status(edit.old_publish_id)
        wanted = (edit.publish_body or {}).get("targets", [])
        for number, (target, new) in enumerate(zip(state.targets, wanted, strict=False)):
            try:
                self._client.reschedule(edit.old_publish_id, target.id, new.get("dispatchAt"))
            except ApiRejected as exc:
                if exc.code != NOT_IN_V1 or number:
                    raise
                self._log.edit_phase(record.id, "replace")  # nothing moved: the v1 way, written ahead
                self._carry_on(self._journal.get(record.id))
                return
        self._finish(record, dataclasses.replace(edit, idempotency_key=record.idempotency_key),
                     self._client.publish_status(edit.old_publish_id))

    def _finish(self, record: Record, edit: Edit, state: PublishState) -> None:
        """The edited post is with PostQued: the journal, the status file and status.log say so."""
        now = self._clock()
        result = result_from_state(record.name, state, str(edit.idempotency_key), self._client.platform_accounts)
        result.media = list((record.status or {}).get("media", []))
        before, after = ([target.get("dispatchAt") for target in (body or {}).get("targets", [])]
                         for body in (record.publish_body, edit.publish_body))
        change = {"kind": str(edit.kind), "at": iso_z(now), "replaces": edit.old_publish_id, "from": before,
                  "to": after}
        if edit.old_publish_id == state.publish_id:
            del change["replaces"]
        if edit.kind == EditKind.RESCHEDULE and edit.request_id is not None and after:
            change["sidecar"] = self._show_time(record, after)
        status = {**status_document(result, now), "edit": change}
        if (edited := self._edited.pop(record.id, None)) is not None:
            self._log.rebase(record.id, *edited)  # the live post stands for the edited sidecar now
        self._log.release_unused_slots(record.id, record.name, after, self._clock())
        self._log.end_edit(record.id, status, (state.publish_id, str(edit.idempotency_key), edit.publish_body))
        self._write_status(record, status)
        self._tracker.forget(record.id)
        changed = what_changed(record.publish_body, edit.publish_body)
        append_status_log(self._inbox, {"item": record.name, "state": str(edit.kind), "publishId": state.publish_id,
                                        "from": before, "to": after, **({"changed": changed} if changed else {})}, now)
        zone = self._config.defaults.zone
        moments = ", ".join(f"{parse_instant(str(t)).astimezone(zone):%Y-%m-%d %H:%M %Z}" if t else "now"
                            for t in dict.fromkeys(after)) or "now"
        what = f" ({', '.join(changed)} changed)" if changed else ""
        goes = "; it goes now" if moments == "now" else (
            f" to {moments}" if edit.kind == EditKind.RESCHEDULE else f"; it goes at {moments}")
        log.info("%s: %s%s%s (publish %s)", record.name, str(edit.kind), what, goes, state.publish_id)
        gone = (f"; its files are gone from {SCHEDULED_DIR}/, so it was moved as PostQued holds it"
                if edit.request_id is not None and files_gone(self._inbox, record) else "")
        self._done_request(edit, f"{edit.kind}: {', '.join(str(t) if t else 'now' for t in after) or 'now'}{gone}")

    def _show_time(self, record: Record, after: Sequence[Any]) -> str:
        """After `pqdrop reschedule`: the scheduled sidecar's dispatchAt lines say the post's new time, so the folder
        never shows the old one (the one rewrite of a filed sidecar pqdrop makes; issue 22). Returns what the status
        file says of it; the rewritten sidecar is the one the live post stands for, so it is never taken for an edit."""
        path = filed_sidecar(self._inbox, record)
        if path is None:
            return "no sidecar to show the new time in"
        moments = {parse_instant(str(moment)) if moment else self._clock() for moment in after}
        if len(moments) != 1:
            return f"{path.name} left as it was: its targets go at different times now"
        when = next(iter(moments)).astimezone(self._config.defaults.zone).isoformat(timespec="seconds")
        read = read_plain_text(path)
        text = with_dispatch_at(read[0], when) if read is not None else None
        try:
            written = read is not None and text is not None and rewrite_text(path, read[0], text)
        except OSError as exc:
            log.warning("%s: cannot write the new dispatchAt into %s: %s", record.name, shown(path.name), exc)
            written = False
        if not written or text is None:
            return f"{path.name} left as it was (changed meanwhile, or not a sidecar pqdrop can rewrite)"
        self._log.rebase(record.id, text, self._clock())
        self._log.judged(record.id, content_digest(path))
        log.info("%s: %s now says dispatchAt: %s", record.name, shown(path.name), when)
        return f"dispatchAt in {path.name} rewritten to {when}"

    def _file_vanished(self, record: Record, edit: Edit, reason: str) -> None:
        """A cancel of a post PostQued no longer has (deleted in its dashboard): nothing is left to cancel, and
        nothing will go out; the item is filed in canceled/ saying so, never in failed/ as if a retry were due."""
        now = self._clock()
        message = shown(f"PostQued no longer has publish {edit.old_publish_id} ({reason}); it was deleted there, "
                        "most likely in its dashboard, so nothing was left to cancel and nothing goes out")
        status = {**(record.status or {}), "state": str(ItemState.CANCELED), "canceledAt": iso_z(now),
                  "updatedAt": iso_z(now), "edit": {"kind": "canceled", "at": iso_z(now), "note": message}}
        status.pop("error", None)
        self._log.release_slots(record.id)
        self._tracker.refile(record, status, CANCELED_DIR)
        self._tracker.forget(record.id)
        append_status_log(self._inbox, {"item": record.name, "state": str(ItemState.CANCELED),
                                        "publishId": record.publish_id, "reason": message}, now)
        log.info("%s: canceled; its files are in canceled/: %s", record.name, message)
        result = Result(record.name, ItemState.CANCELED, record.publish_id, record.idempotency_key, message=message)
        self._tracker.announce(result_event(result))
        self._done_request(edit, f"canceled: {message}")

    def _file_canceled(self, record: Record, edit: Edit, canceled: PublishState) -> None:
        now = self._clock()
        result = result_from_state(record.name, canceled, str(record.idempotency_key))
        status = {**status_document(result, now), "state": str(ItemState.CANCELED), "canceledAt": iso_z(now),
                  "media": list((record.status or {}).get("media", [])), "edit": {"kind": "canceled", "at": iso_z(now)}}
        status.pop("error", None)
        self._log.release_slots(record.id)
        self._tracker.refile(record, status, CANCELED_DIR)
        self._tracker.forget(record.id)
        append_status_log(self._inbox, {"item": record.name, "state": str(ItemState.CANCELED),
                                        "publishId": record.publish_id}, now)
        log.info("%s: canceled; its files are in canceled/", record.name)
        self._tracker.announce(result_event(dataclasses.replace(result, state=ItemState.CANCELED)))
        self._done_request(edit, "canceled")

    def _refuse(self, record: Record, edit: Edit, reason: str) -> None:
        """Nothing changed: back to following the post as it was, and the status file says why."""
        reason = shown(reason)  # names in it as a person reads them: `caf\xe9.md`, a line feed as `\n`
        change: dict[str, Any] = {"applied": False, "kind": str(edit.kind), "reason": reason,
                                  "at": iso_z(self._clock())}
        path = filed_sidecar(self._inbox, record) if edit.request_id is None else None
        if path is not None:  # an edit of the sidecar, not a command's: SCHEDULE.md and status say it beside the post
            change["sidecar"] = shown(path.name)
        status = {**(record.status or {}), "edit": change}
        self._log.end_edit(record.id, status)
        self._write_status(record, status)
        line = {"item": record.name, "state": str(ItemState.SCHEDULED), "edit": "not applied", "reason": reason}
        if path is not None:
            line["message"] = refused_words(shown(path.name), reason, stays_at(record, self._config.defaults.zone))
            log.warning("%s: %s", record.name, line["message"])
        else:
            log.warning("%s: edit not applied: %s", record.name, reason)
        append_status_log(self._inbox, line, self._clock())
        self._done_request(edit, f"not applied: {reason}")

    def _lost(self, record: Record, edit: Edit, reason: str) -> None:
        """PostQued refused the edited post after the old one was canceled: the item fails, saying both."""
        message = shown(f"the scheduled post was canceled for an edit, and PostQued refused the edited one: {reason}")
        status = {**(record.status or {}), "state": str(ItemState.FAILED),
                  "error": {"code": "EDIT_REFUSED", "message": message}}
        self._log.end_edit(record.id, status)
        self._tracker.refile(self._journal.get(record.id), status, "failed")
        self._done_request(edit, f"failed: {message}")

    def _refused(self, record: Record, sidecar: str, reason: str) -> None:
        """An edit of the sidecar that does not apply: the status file, the log and status.log say it once for this
        content of the sidecar (the next look judges the same content no more), SCHEDULE.md and status beside the
        post for as long as it stands (issue 24)."""
        reason, now = shown(reason), self._clock()
        status = {**(record.status or {}), "edit": {"applied": False, "reason": f"edit not applied: {reason}",
                                                    "sidecar": shown(sidecar), "at": iso_z(now)}}
        self._journal.record_refiled(record.id, record.state, str(record.destination), str(record.stem), status)
        self._write_status(record, status)
        words = refused_words(shown(sidecar), reason, stays_at(record, self._config.defaults.zone))
        log.warning("%s: %s", record.name, words)
        append_status_log(self._inbox, {"item": record.name, "state": str(ItemState.SCHEDULED),
                                        "edit": "not applied", "reason": reason, "message": words}, now)

    def _note(self, record: Record, reason: str) -> None:
        """Say in the status file why an edit waits or did not apply; the item stays as it was."""
        reason = shown(reason)
        status = {**(record.status or {}), "edit": {"applied": False, "reason": reason, "at": iso_z(self._clock())}}
        self._journal.record_refiled(record.id, record.state, str(record.destination), str(record.stem), status)
        self._write_status(record, status)
        log.warning("%s: %s", record.name, reason)

    def _write_status(self, record: Record, status: Mapping[str, Any]) -> None:
        files = filed_names(claim_entries(record.item), record.name, str(record.stem))
        path = self._inbox / str(record.destination) / status_name(str(record.stem))
        write_json_atomically(path, {**status, "files": files})

    def _done_request(self, edit: Edit, outcome: str) -> None:
        if edit.request_id is not None:
            self._log.finish_request(edit.request_id, outcome)


Prepare = Callable[[Path, Item, str, datetime, SidecarSource],
                   tuple[Sidecar, tuple["MediaInfo", ...], dict[str, Account]]]
