"""`pqdrop status`: one look at the inbox, the journal and status.log, as rows.

`gather` does all the reading, and only reads: the journal is opened read-only, the owner lock
is looked up in the kernel's lock table rather than tried, nothing needs the API key, so it is
safe beside a running daemon. The rows come from pure functions over what it read; `render_text`
and `render_json` print them.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from pqdrop.config import Config, inbox_not_a_folder
from pqdrop.descriptors import Refused, opened, read_file
from pqdrop.errors import ServiceUnavailable, SidecarError
from pqdrop.folders.claim import running_owners
from pqdrop.folders.filing import conflicted_copy, filed_sidecar
from pqdrop.inbox.items import (
    CANCELED_DIR,
    FAILED_DIR,
    SCHEDULED_DIR,
    SENT_DIR,
    STATUS_LOG,
    STATUS_SUFFIX,
    Plan,
    Rules,
    look,
)
from pqdrop.instants import iso_z, parse_instant
from pqdrop.journal.edits import EditLog
from pqdrop.journal.store import Journal, Record
from pqdrop.names import json_text, shown
from pqdrop.posting.slots import upcoming
from pqdrop.schedule.agenda import (
    not_posts,
    pending_edits,
    remembered_names,
    schedule_notes,
    state_word,
    with_note,
    with_pending,
)
from pqdrop.service.systemd import UPLOADS_FILE, Upload, load_uploads
from pqdrop.sidecar.changes import content_digest
from pqdrop.sidecar.parse import Sidecar, default_sidecar, parse_sidecar, parse_sidecar_text
from pqdrop.states import DRAFT_WAITS, TERMINAL_TARGET_STATES, ItemState

RECENT_LINES = 10
# status.log only grows; the tail holds the story that matters now.
LOG_TAIL_BYTES = 256 * 1024
STATUS_FILE_MAX_BYTES = 1024 * 1024  # far above any status file pqdrop writes; a larger one is not pqdrop's
# The API codes of a key or subscription that cannot post at all; error_from_reply (postqued/replies.py)
# ends its message with the code in parentheses, and the give-back logs that message as the reason.
ACCOUNT_REFUSED = re.compile(r"\((UNAUTHORIZED|FORBIDDEN|SUBSCRIPTION_REQUIRED|ACCOUNT_BLOCKED|HTTP_40[13])\)$")
# status.log states an item only reaches when the API took the key: posting works again.
API_ACCEPTED = frozenset({
    ItemState.PUBLISHING, ItemState.FOLLOWING, ItemState.ACCEPTED, ItemState.SCHEDULED, ItemState.SENT,
    ItemState.PUBLISHED,
})
CONFLICTED = "not posted: conflicted copy"


@dataclass(frozen=True)
class Filed:
    """An item filed in sent/ or failed/, as its status file tells."""

    name: str
    folder: str
    status_path: Path
    status: dict[str, Any]

    @property
    def state(self) -> str:
        return str(self.status.get("state", "?"))


@dataclass(frozen=True)
class Pause:
    """Posting stopped because the API refuses the key or the subscription."""

    reason: str
    since: datetime


@dataclass(frozen=True)
class WaitingRow:
    name: str
    reason: str
    until: datetime | None = None  # a folder holding still: when it goes unless something in it changes


@dataclass(frozen=True)
class InFlightRow:
    name: str
    step: str
    since: datetime
    attempts: int
    last_error: str | None
    media: tuple[str, ...] = ()  # the item's media files, as its claim lists them


@dataclass(frozen=True)
class ScheduledRow:
    name: str
    accounts: tuple[str, ...]
    dispatch_at: tuple[datetime, ...]  # UTC; empty while PostQued has not confirmed the post
    publish_id: str | None
    state: str = "scheduled"  # as SCHEDULE.md says it: scheduled, waiting for a cap window, replacing, canceling


@dataclass(frozen=True)
class SlotRow:
    """A posting slot reserved for an item (`dispatchAt: next`)."""

    at: datetime  # UTC
    account: str
    name: str


@dataclass(frozen=True)
class SentRow:
    name: str
    state: str
    publish_id: str | None
    urls: tuple[str, ...]


@dataclass(frozen=True)
class FailedRow:
    name: str
    code: str
    message: str


@dataclass(frozen=True)
class CanceledRow:
    name: str
    publish_id: str | None
    at: datetime | None  # when it was canceled


@dataclass(frozen=True)
class Overview:
    """Everything `status` prints."""

    inbox: Path
    now: datetime
    zone: ZoneInfo
    running: Mapping[str, int | None]  # owner -> pid of each pqdrop holding its lock on this inbox
    journal_problem: str | None = None
    paused: Pause | None = None
    waiting: Sequence[WaitingRow] = ()
    in_flight: Sequence[InFlightRow] = ()
    scheduled: Sequence[ScheduledRow] = ()
    slots: Sequence[SlotRow] = ()
    sent: Sequence[SentRow] = ()
    failed: Sequence[FailedRow] = ()
    canceled: Sequence[CanceledRow] = ()
    uploads: Sequence[Upload] = ()  # in flight now, as the running daemon last wrote them (UPLOADS_FILE)
    strays: Sequence[str] = ()  # what lies in scheduled/ and is no scheduled post, said as such


# --- reading --------------------------------------------------------------------------------------


def gather(config: Config, now: datetime) -> Overview:
    """One read-only look at the inbox (which must exist), its status files, status.log and the journal."""
    inbox = config.inbox.path
    plan = look(inbox, Rules.of(config.inbox), time.time())
    log = read_log_tail(inbox / STATUS_LOG)
    unfinished: list[Record] = []
    tracking: list[Record] = []
    slots: list[SlotRow] = []
    paced: dict[int, list[datetime]] = {}
    bases: dict[int, tuple[str, datetime]] = {}
    remembered: dict[str, str] = {}
    pending: dict[int, str] = {}
    problem = None
    try:
        journal = Journal(config.state.dir, read_only=True)
    except ServiceUnavailable as exc:
        if not isinstance(exc.__cause__, FileNotFoundError):  # none yet is no problem: nothing ever ran
            problem = exc.message
    else:
        try:
            unfinished, tracking, paced = journal.unfinished(), journal.tracking(), journal.paced_instants()
            bases = {record.id: base for record in tracking if (base := EditLog(journal).base(record.id))}
            slots = [SlotRow(at, account, name) for at, account, name in upcoming(journal, now)][:RECENT_LINES]
            remembered, pending = remembered_names(journal, tracking), pending_edits(journal)
        finally:
            journal.close()
    # As the sidecar names them, else as PostQued last told (remembered in the journal), never a bare id if known.
    accounts = {record.id: {**remembered, **account_names(record, inbox, config, bases.get(record.id))}
                for record in tracking}
    held = held_by_conflicts(inbox, tracking)
    return Overview(
        inbox=inbox,
        now=now,
        zone=config.defaults.zone,
        running=running_owners(inbox),
        journal_problem=problem,
        paused=pause_from_log(log),
        waiting=waiting_rows(plan, log),
        in_flight=in_flight_rows(unfinished),
        scheduled=scheduled_rows(tracking, accounts, paced, held,
                                 {**{id_: edit for id_, edit in unapplied_edits(inbox, tracking).items()
                                     if id_ not in held}, **pending},  # a held edit says why it waits
                                 schedule_notes(inbox, tracking, config.defaults.zone)),
        slots=slots,
        sent=sent_rows(filed_items(inbox, SENT_DIR, RECENT_LINES)),
        failed=failed_rows(filed_items(inbox, FAILED_DIR, RECENT_LINES)),
        canceled=canceled_rows(filed_items(inbox, CANCELED_DIR, RECENT_LINES)),
        uploads=load_uploads(config.state.dir / UPLOADS_FILE, time.time()),
        strays=not_posts(inbox, [*tracking, *unfinished]),
    )


def filed_items(inbox: Path, folder: str, limit: int | None = None) -> list[Filed]:
    """The status files in sent/ or failed/, newest first; with `limit`, only that many are read.

    A folder of thousands of filed items is read for its newest few only (the status page asks on every look).
    """
    found: list[Filed] = []
    for path in sorted((inbox / folder).glob(f"*{STATUS_SUFFIX}"), key=_mtime, reverse=True):
        if limit is not None and len(found) >= limit:
            break
        try:  # never through a link, never a FIFO, never a stranger's 6 GB file (issue 21)
            status = json.loads(read_file(path, STATUS_FILE_MAX_BYTES).decode("utf-8"))
        except (OSError, Refused, UnicodeDecodeError, json.JSONDecodeError):
            continue
        found.append(Filed(path.name[: -len(STATUS_SUFFIX)], folder, path, status))
    return found


def read_log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> list[dict[str, Any]]:
    """The last lines of status.log as records; a line cut short (by a crash, or by the tail) is skipped."""
    try:  # a link, a FIFO or a device under its name is not pqdrop's status.log: nothing to tell
        with opened(path) as descriptor:
            size = os.fstat(descriptor).st_size
            data = os.pread(descriptor, limit, max(0, size - limit))
    except (OSError, Refused):
        return []
    records = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def unapplied_edits(inbox: Path, records: Iterable[Record]) -> dict[int, str]:
    """Journal id -> "an edit of NAME.md not applied yet" for scheduled items whose sidecar changed since pqdrop
    last judged it: an edit the running daemon takes within seconds, or one that waits for PostQued."""
    edited = {}
    for record in records:
        path = filed_sidecar(inbox, record) if record.destination == SCHEDULED_DIR else None
        if path is not None and record.sidecar_digest is not None and content_digest(path) not in (
                None, record.sidecar_digest):
            edited[record.id] = f"an edit of {path.name} not applied yet"
    return edited


def held_by_conflicts(inbox: Path, records: Iterable[Record]) -> dict[int, str]:
    """Journal id -> the conflicted copy of a scheduled sidecar that holds its edit, as SCHEDULE.md says it."""
    held = {}
    for record in records:
        path = filed_sidecar(inbox, record) if record.destination == SCHEDULED_DIR else None
        if path is not None and (copy := conflicted_copy(path)) is not None:
            held[record.id] = copy
    return held


def account_names(
    record: Record, inbox: Path, config: Config, posted_with: tuple[str, datetime] | None = None
) -> dict[str, str]:
    """accountId -> the account as its sidecar names it ("@mybrand"); empty when the sidecar no longer tells.

    The publish body lists its targets in the sidecar's order, so the two pair up. The sidecar read is the one
    the live post was made from (`posted_with`, as the journal keeps it: text and moment), else the filed one
    as of the post's first dispatchAt, so a time that has passed since is not refused as late.
    """
    body_targets = list((record.publish_body or {}).get("targets", []))
    moments = [parse_instant(str(t["dispatchAt"])) for t in body_targets if t.get("dispatchAt")]
    as_of = min(moments, default=datetime.now(UTC)) - timedelta(minutes=1)
    try:
        if posted_with is not None:
            sidecar: Sidecar | None = parse_sidecar_text(posted_with[0], Path(record.name), config.defaults,
                                                         posted_with[1], accounts=config.accounts,
                                                         schedule=config.schedule)
        else:
            sidecar = _filed_sidecar(record, inbox, config, as_of)
    except SidecarError:
        return {}
    if sidecar is None or len(sidecar.targets) != len(body_targets):
        return {}
    pairs = zip(body_targets, sidecar.targets, strict=False)
    return {str(body.get("accountId")): target.account for body, target in pairs}


def _filed_sidecar(record: Record, inbox: Path, config: Config, as_of: datetime) -> Sidecar | None:
    if not record.item.sidecar:
        return default_sidecar(config.defaults, accounts=config.accounts, schedule=config.schedule)
    path = filed_sidecar(inbox, record)
    if path is None:
        return None
    return parse_sidecar(path, config.defaults, as_of, accounts=config.accounts, schedule=config.schedule)


# --- the rows: pure functions over what was read --------------------------------------------------


def pause_from_log(records: Iterable[Mapping[str, Any]]) -> Pause | None:
    """Paused when the latest give-back blamed the key or subscription and no post got through since."""
    pause = None
    for record in records:
        state, reason = record.get("state"), str(record.get("reason") or "")
        if state == ItemState.WAITING and ACCOUNT_REFUSED.search(reason):
            try:
                pause = Pause(reason, pause.since if pause else parse_instant(str(record.get("time"))))
            except ValueError:
                continue  # a line edited by hand: the next one tells
        elif state in API_ACCEPTED:
            pause = None
    return pause


def waiting_rows(plan: Plan, log: Iterable[Mapping[str, Any]]) -> list[WaitingRow]:
    """What is in the inbox and not on its way yet, and why; a ready item given back says what stopped it."""
    last = {str(record.get("item")): record for record in log}
    rows = [WaitingRow(w.name, w.reason, datetime.fromtimestamp(w.until, UTC) if w.until is not None else None)
            for w in plan.waiting]
    rows += [WaitingRow(str(path), CONFLICTED) for path in plan.conflicts]
    for item in plan.ready:
        record = last.get(item.name, {})
        given_back = record.get("state") == ItemState.WAITING and record.get("reason")
        rows.append(WaitingRow(item.name, f"ready; last try: {record['reason']}" if given_back else "ready"))
    return sorted(rows, key=lambda row: row.name)


def in_flight_rows(records: Iterable[Record]) -> list[InFlightRow]:
    """Journal records the pipeline has not finished with, oldest first."""
    return [
        InFlightRow(record.name, record.state, parse_instant(record.updated_at), record.attempts, record.last_error,
                    tuple(str(path) for path in record.item.media))
        for record in records
    ]


def scheduled_rows(
    records: Iterable[Record], names: Mapping[int, Mapping[str, str]],
    paced: Mapping[int, Collection[datetime]] | None = None, held: Mapping[int, str] | None = None,
    pending: Mapping[int, str] | None = None, notes: Mapping[int, str] | None = None,
) -> list[ScheduledRow]:
    """Items the tracker still follows, soonest first; accounts by name where the sidecar tells.

    `paced` (journal id -> instants a TikTok daily cap moved targets to) marks those waiting for a cap window;
    `pending` says what a cancel or reschedule not carried out yet waits for.
    """
    rows = []
    for record in records:
        status = record.status or {}
        targets = [t for t in status.get("targets", []) if isinstance(t, dict)]
        known = names.get(record.id, {})
        accounts = tuple(known.get(str(t.get("accountId")), str(t.get("accountId"))) for t in targets)
        waiting = [t for t in targets if t.get("status") not in TERMINAL_TARGET_STATES and t.get("dispatchAt")]
        moments = tuple(sorted({parse_instant(str(t["dispatchAt"])) for t in waiting}))
        copy, when = (held or {}).get(record.id), (paced or {}).get(record.id, ())
        state = f"held by a conflict ({copy})" if copy else state_word(record, moments, when)
        state = with_note(with_pending(state, (pending or {}).get(record.id)), (notes or {}).get(record.id))
        rows.append(ScheduledRow(record.stem or record.name, accounts, moments, record.publish_id, state))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda row: (row.dispatch_at[0] if row.dispatch_at else far, row.name))


def sent_rows(filed: Iterable[Filed]) -> list[SentRow]:
    rows = []
    for item in filed:
        urls = tuple(str(t["url"]) for t in item.status.get("targets", []) if isinstance(t, dict) and t.get("url"))
        rows.append(SentRow(item.name, item.state, item.status.get("publishId"), urls))
    return rows


def canceled_rows(filed: Iterable[Filed]) -> list[CanceledRow]:
    rows = []
    for item in filed:
        try:
            at = parse_instant(str(item.status["canceledAt"])) if item.status.get("canceledAt") else None
        except ValueError:
            at = None
        rows.append(CanceledRow(item.name, item.status.get("publishId"), at))
    return rows


def failed_rows(filed: Iterable[Filed]) -> list[FailedRow]:
    rows = []
    for item in filed:
        error = item.status.get("error") or {}
        rows.append(FailedRow(item.name, str(error.get("code", "?")), str(error.get("message", ""))))
    return rows


# --- printing -------------------------------------------------------------------------------------


def render_text(view: Overview) -> str:
    """Compact sections, each `title (count)` with one indented row per item."""
    pids = sorted(str(pid) for pid in view.running.values() if pid)
    if view.running:
        daemon = "daemon: running" + (f" (pid {', '.join(pids)})" if pids else "")
    else:
        daemon = "daemon: not running"
    lines = [f"inbox {view.inbox}", daemon]
    if view.journal_problem:
        lines.append(f"journal: {view.journal_problem}")
    if view.paused:
        since = _moment(view.paused.since, view)
        said = f"paused since {since}" if view.running else f"was paused when pqdrop last tried, {since}"
        lines.append(f"posting {said}: {view.paused.reason}")
    stopped = "" if view.running else "; resumes at this step when pqdrop starts"
    sections: list[tuple[str, list[tuple[str, ...]]]] = [
        ("waiting", [(row.name, _waiting(row, view.paused)) for row in view.waiting]),
        ("in flight", [(row.name, _in_flight(row, view) + stopped) for row in view.in_flight]),
        ("scheduled", [_scheduled(row, view.zone) for row in view.scheduled]),
        ("upcoming slots", [(_dispatch(row.at, view.zone), row.account, row.name) for row in view.slots]),
        ("recently sent", [(row.name, _sent(row.state), row.publish_id or "", " ".join(row.urls))
                           for row in view.sent]),
        ("failed", [(row.name, f"{row.code}: {row.message}") for row in view.failed]),
        ("canceled", [(row.name, f"canceled {_moment(row.at, view)}" if row.at else "canceled", row.publish_id or "")
                      for row in view.canceled]),
    ]
    if view.strays:  # only when there are: a section most inboxes never need
        sections.insert(3, ("not scheduled posts", [(stray,) for stray in view.strays]))
    for title, rows in sections:
        lines += ["", f"{title} ({len(rows)})", *_aligned(rows)]
    return "\n".join(shown(line) for line in lines)  # each line shown: a name's line feed never starts a row


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Indented rows, every column but the last padded to its widest cell; a cell over 36 wide just sticks out."""
    rows = [tuple(shown(cell) for cell in row) for row in rows]  # measured as printed: `caf\xe9` is 7 wide
    columns = max((len(row) for row in rows), default=0)
    widths = [max((len(row[col]) for row in rows if col < len(row) and len(row[col]) <= 36), default=0)
              for col in range(columns)]
    return ["  " + "  ".join([*(f"{cell:<{width}}" for cell, width in zip(row[:-1], widths, strict=False)), row[-1]])
            .rstrip()
            for row in rows]


def render_json(view: Overview) -> str:
    """The same look for scripts: instants in UTC (ISO 8601, Z) and, where a person reads them, local too."""
    return json_text(status_document(view), indent=2)


def status_document(view: Overview) -> dict[str, Any]:
    """What `--json` prints (and the daemon's `/status.json` serves), as a document."""
    return {
        "inbox": str(view.inbox),
        "timezone": view.zone.key,
        "daemon": {"running": bool(view.running), "pids": sorted(pid for pid in view.running.values() if pid)},
        "journal": {"problem": view.journal_problem},
        "postingPaused": (
            {"reason": view.paused.reason, "since": _iso_auto(view.paused.since)} if view.paused else None
        ),
        "waiting": [{"name": row.name, "reason": row.reason, **({"until": iso_z(row.until)} if row.until else {})}
                    for row in view.waiting],
        "inFlight": [
            {"name": row.name, "step": row.step, "since": _iso_auto(row.since), "attempts": row.attempts,
             "lastError": row.last_error, "upload": _upload_document(upload_of(row, view.uploads))}
            for row in view.in_flight
        ],
        "scheduled": [
            {"name": row.name, "accounts": list(row.accounts), "dispatchAt": [_iso_auto(m) for m in row.dispatch_at],
             "dispatchAtLocal": [m.astimezone(view.zone).isoformat() for m in row.dispatch_at],
             "state": row.state, "publishId": row.publish_id}
            for row in view.scheduled
        ],
        "notScheduledPosts": list(view.strays),
        "upcomingSlots": [
            {"at": _iso_auto(row.at), "atLocal": row.at.astimezone(view.zone).isoformat(), "account": row.account,
             "name": row.name}
            for row in view.slots
        ],
        "recentlySent": [
            {"name": row.name, "state": row.state, "publishId": row.publish_id, "urls": list(row.urls)}
            for row in view.sent
        ],
        "failed": [{"name": row.name, "code": row.code, "message": row.message} for row in view.failed],
        "canceled": [
            {"name": row.name, "publishId": row.publish_id, "canceledAt": _iso_auto(row.at) if row.at else None}
            for row in view.canceled
        ],
    }


def filed_counts(inbox: Path) -> dict[str, int]:
    """How many items each filing folder holds (their status files), for /metrics."""
    counts = {}
    for folder in (SENT_DIR, FAILED_DIR, SCHEDULED_DIR, CANCELED_DIR):
        try:
            counts[folder] = sum(1 for _ in (inbox / folder).glob(f"*{STATUS_SUFFIX}"))
        except OSError:
            counts[folder] = 0
    return counts


def _waiting(row: WaitingRow, paused: Pause | None) -> str:
    """A reason the top line already gives in full is not repeated on every item."""
    if paused and row.reason == f"ready; last try: {paused.reason}":
        return "ready; posting paused"
    return row.reason


def _sent(state: str) -> str:
    """A draft says where it waits: "sent" alone reads as done, and it is not live until the creator taps."""
    return f"{state}: {DRAFT_WAITS}" if state == ItemState.SENT else state


def _in_flight(row: InFlightRow, view: Overview) -> str:
    text = f"{row.step} since {_moment(row.since, view)}, publish attempts {row.attempts}"
    if (upload := upload_of(row, view.uploads)) is not None:
        text += f", {upload_text(upload)}"
    return text + (f", last error: {row.last_error}" if row.last_error else "")


def upload_of(row: InFlightRow, uploads: Sequence[Upload]) -> Upload | None:
    """The upload in flight for an item, if the daemon is uploading it now (uploads go by their media file's name)."""
    names = {row.name, *(PurePosixPath(path).name for path in row.media)}
    return next((upload for upload in uploads if upload.name in names), None)


def upload_text(upload: Upload) -> str:
    """`uploaded 45.2 of 120.0 MB (37 %) at 3.1 MB/s, 24 s left`: bytes, share, rate and time left once known."""
    text = f"uploaded {upload.sent / 1e6:.1f} of {upload.total / 1e6:.1f} MB ({upload.percent} %)"
    if upload.bytes_per_second and upload.seconds_left is not None:
        left = upload.seconds_left
        remaining = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min" if left < 5400 else f"{left / 3600:.1f} h"
        text += f" at {upload.bytes_per_second / 1e6:.1f} MB/s, {remaining} left"
    return text


def _upload_document(upload: Upload | None) -> dict[str, Any] | None:
    if upload is None:
        return None
    return {"sent": upload.sent, "total": upload.total, "percent": upload.percent,
            "bytesPerSecond": upload.bytes_per_second, "secondsLeft": upload.seconds_left}


def _scheduled(row: ScheduledRow, zone: ZoneInfo) -> tuple[str, ...]:
    times = ", ".join(_dispatch(moment, zone) for moment in row.dispatch_at) or "waiting for PostQued to confirm"
    return (row.name, ", ".join(row.accounts) or "?", times, row.state, row.publish_id or "")


def _dispatch(moment: datetime, zone: ZoneInfo) -> str:
    """`2030-06-01 20:00 CEST (18:00 UTC)`: the configured zone first, UTC for comparing with PostQued."""
    local, utc = moment.astimezone(zone), moment.astimezone(UTC)
    if local.utcoffset() == timedelta(0) and zone.key in ("UTC", "Etc/UTC"):
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    same_day = local.date() == utc.date()
    return f"{local:%Y-%m-%d %H:%M %Z} ({utc:{'%H:%M' if same_day else '%Y-%m-%d %H:%M'}} UTC)"


def _moment(moment: datetime, view: Overview) -> str:
    """`18:21:05 CET (3 min ago)` today, `2026-11-27 18:21 CET (1 d ago)` before, in the configured zone."""
    local = moment.astimezone(view.zone)
    today = local.date() == view.now.astimezone(view.zone).date()
    clock = f"{local:%H:%M:%S %Z}" if today else f"{local:%Y-%m-%d %H:%M %Z}"
    return f"{clock} ({_ago(view.now - moment)})"


def _ago(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"



def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def print_status(config: Config, *, as_json: bool = False) -> int:
    """Waiting, in flight, scheduled, recently sent and failed; read-only, so safe while the daemon runs."""
    inbox = config.inbox.path
    if not inbox.is_dir():
        print(shown(f"pqdrop: {inbox_not_a_folder(inbox)}"), file=sys.stderr)
        return 1
    try:
        view = gather(config, datetime.now(UTC))
    except OSError as exc:
        print(f"cannot read the inbox {inbox}: {exc.strerror or exc}")
        return 1
    print(render_json(view) if as_json else render_text(view))
    return 0


def _iso_auto(moment: datetime) -> str:
    """As precise as the moment is: the journal's instants carry milliseconds."""
    return iso_z(moment, timespec="auto")
