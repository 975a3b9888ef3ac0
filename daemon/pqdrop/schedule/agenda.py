"""SCHEDULE.md in the inbox root: what is coming, by day, in Markdown a phone shows well (issue 15).

`entries_of` and `render` are pure; `Agenda.update` writes the file atomically, and only when its
content changes, so a sync tool copies it only then. The inbox scan never takes it for an item
(`inbox.RESERVED_NAMES`). A SCHEDULE.md pqdrop did not write (its first lines are not the
schedule's heading) is the user's: it is never overwritten, and the log says once what to do.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from zoneinfo import ZoneInfo

from pqdrop.errors import InboxBlocked
from pqdrop.folders.filing import (
    COPY_SUFFIX,
    TEMPORARY_SUFFIX,
    filed_names,
    files_gone,
    kind_of,
    status_name,
    write_text_atomically,
)
from pqdrop.inbox.items import SCHEDULE_FILE, SCHEDULED_DIR
from pqdrop.inbox.synctools import conflict, is_clutter, temporary
from pqdrop.instants import parse_instant
from pqdrop.journal.edits import EditLog
from pqdrop.journal.store import Journal, Record
from pqdrop.names import shown
from pqdrop.states import ItemState, Step

log = logging.getLogger("pqdrop")
HEADING = "# Schedule"
LEAD = "What is coming, by day in "  # the third line; with the heading, what marks a SCHEDULE.md as pqdrop's

HOW_TO_EDIT = (
    "To change a post, edit its `scheduled/NAME.md`: a new `dispatchAt` reschedules it, "
    "`cancel: true` cancels it, any other change replaces it. Or run `pqdrop reschedule NAME WHEN` "
    "or `pqdrop cancel NAME`."
)
STATE_WORDS = {step: str(step) for step in (Step.REPLACING, Step.CANCELING)}  # the words SCHEDULE.md shows
UNCONFIRMED = "unconfirmed: the platform has not confirmed it yet; still checked"
CAP_WINDOW = "waiting for a cap window"  # a TikTok daily cap moved the post to when the 24 h window frees


def account_setting(account_id: str) -> str:
    """The journal's setting that remembers an account's "@username (platform)" for when PostQued cannot tell."""
    return f"account {account_id}"


def remembered_names(journal: Journal, records: Iterable[Record]) -> dict[str, str]:
    """accountId -> "@username (platform)" as the journal remembers it, for the targets of `records`."""
    ids = {str(target.get("accountId")) for record in records
           for target in (record.publish_body or {}).get("targets", []) if isinstance(target, dict)}
    return {account_id: name for account_id in ids if (name := journal.setting(account_setting(account_id)))}


def pending_edits(journal: Journal) -> dict[int, str]:
    """Journal id -> what a `pqdrop cancel` or `reschedule` not carried out yet asks: SCHEDULE.md and `pqdrop
    status` show it until PostQued answers and the edit applies (issue 22)."""
    pending: dict[int, str] = {}
    for _, item_id, kind, dispatch in EditLog(journal).pending_requests():
        pending[item_id] = "cancel asked" if kind == "cancel" else f"reschedule to {dispatch} asked"
    return pending


def with_pending(state: str, asked: str | None) -> str:
    """A line's state with the request that waits for PostQued: "scheduled; cancel asked, waits for PostQued", or
    "canceling (cancel asked): waits for PostQued" once the edit has begun."""
    if asked is None:
        return state
    if asked.endswith("not applied yet"):  # `pqdrop status`: whether it waits for PostQued only the daemon knows
        return f"{state}; {asked}"
    return f"{state}; {asked}, waits for PostQued" if state == "scheduled" else f"{state} ({asked}): waits for PostQued"


def stays_at(record: Record, zone: ZoneInfo) -> str:
    """When the post goes out as PostQued holds it, in `zone`: "2030-06-01 18:00 CEST", or "now"."""
    targets = [target for target in (record.status or {}).get("targets", []) if isinstance(target, Mapping)]
    moments = sorted({parse_instant(str(target["dispatchAt"])) for target in targets
                      if target.get("dispatchAt") and target.get("status") in ("scheduled", "queued", "processing")})
    return ", ".join(f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}" for moment in moments) or "now"


def refused_words(sidecar: str, reason: str, at: str) -> str:
    """What every place the user looks says of an edit of a scheduled sidecar that did not apply (issue 24)."""
    return f"your edit of {sidecar} was not applied: {reason}; the post stays at {at}"


def gone_words(name: str, at: str) -> str:
    """What SCHEDULE.md, `pqdrop status` and the log say of a scheduled post whose files were deleted (issue 24):
    it still goes out, as a cancel must be asked for (a sync glitch deletes files too)."""
    return f"its files are gone from {SCHEDULED_DIR}/; it still posts at {at} — to cancel: `pqdrop cancel {name}`"


def schedule_notes(inbox: Path, records: Iterable[Record], zone: ZoneInfo) -> dict[int, str]:
    """Journal id -> what the folder does not show by itself of a scheduled post: an edit of its sidecar that was
    not applied, and its files deleted from scheduled/ (the post still goes out)."""
    notes: dict[int, str] = {}
    for record in records:
        if record.destination != SCHEDULED_DIR:
            continue
        said = []
        edit = (record.status or {}).get("edit")
        if isinstance(edit, Mapping) and edit.get("applied") is False and edit.get("sidecar"):
            reason = str(edit.get("reason") or "no reason given").removeprefix("edit not applied: ")
            said.append(refused_words(str(edit["sidecar"]), reason,
                                      stays_at(record, zone)))
        if files_gone(inbox, record):
            said.append(gone_words(str(record.stem or record.name), stays_at(record, zone)))
        if said:
            notes[record.id] = "; ".join(said)
    return notes


def not_posts(inbox: Path, records: Iterable[Record]) -> list[str]:
    """What lies in scheduled/ and is no scheduled item's (files dropped there as if it were the inbox), each said
    as "scheduled/NAME is not a scheduled post; drop new posts into the inbox itself" (issue 24). Never touched:
    pqdrop only says it. Hidden files, a sync tool's temporary files and conflicted copies are not counted."""
    folder = inbox / SCHEDULED_DIR
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    known: set[str] = set()
    for record in records:
        if record.destination == SCHEDULED_DIR and record.stem:
            known.update(filed_names([str(path) for path in record.item.paths], record.name, record.stem))
            known.add(status_name(record.stem))
    siblings = frozenset(names)
    return [f"{SCHEDULED_DIR}/{shown(name)} is not a scheduled post; drop new posts into the inbox itself"
            for name in names if name not in known and not name.startswith(".") and not is_clutter(name)
            and not name.endswith((TEMPORARY_SUFFIX, COPY_SUFFIX))  # a move across disks under way
            and temporary(name) is None and conflict(name, siblings) is None]


def with_note(state: str, note: str | None) -> str:
    return f"{state}; {note}" if note else state


@dataclass(frozen=True)
class Entry:
    """One line of the schedule: when (None: going out now), which item, to which accounts, and its state."""

    at: datetime | None
    name: str
    accounts: tuple[str, ...]
    state: str = "scheduled"


def entries_of(
    records: Iterable[Record], account_name: Callable[[str, str], str], held: Mapping[int, str] | None = None,
    paced: Mapping[int, Collection[datetime]] | None = None, pending: Mapping[int, str] | None = None,
    notes: Mapping[int, str] | None = None,
) -> list[Entry]:
    """The schedule's lines from the journal's scheduled items: one per item and distinct dispatch time.

    `held` maps an item's journal id to the conflicted copy holding its edit; `paced` to the instants
    a TikTok daily cap moved its targets to (pacing.py): those lines wait for a cap window. `pending` says
    what a cancel or reschedule asked and not carried out yet waits for.
    """
    entries = []
    for record in records:
        if record.destination != SCHEDULED_DIR:
            continue
        conflict = (held or {}).get(record.id)
        waiting = [target for target in (record.status or {}).get("targets", [])
                   if target.get("status") in ("scheduled", "queued", "processing")]
        platforms = {str(target.get("accountId")): str(target.get("platform", "tiktok"))
                     for target in (record.publish_body or {}).get("targets", [])}
        for moment, group in groupby(sorted(waiting, key=_time_key), key=lambda target: target.get("dispatchAt")):
            ids = [str(target.get("accountId")) for target in group]
            accounts = tuple(account_name(account_id, platforms.get(account_id, "tiktok")) for account_id in ids)
            at = parse_instant(str(moment)) if moment else None
            state = f"held by a conflict ({conflict})" if conflict else state_word(
                record, (at,) if at else (), (paced or {}).get(record.id, ()))
            state = with_note(with_pending(state, (pending or {}).get(record.id)), (notes or {}).get(record.id))
            entries.append(Entry(at, str(record.stem or record.name), accounts, state))
    return entries


def state_word(record: Record, moments: Iterable[datetime], paced: Collection[datetime]) -> str:
    """What the schedule says of an item going out at `moments`: replacing, canceling, unconfirmed, waiting for a
    cap window (one of them is where a daily cap moved a target, `paced`), or scheduled."""
    state = STATE_WORDS.get(Step(record.state), "scheduled")
    if state == "scheduled" and (record.status or {}).get("state") == ItemState.UNCONFIRMED:
        return UNCONFIRMED
    if state == "scheduled" and any(_same_second(moment, paced) for moment in moments):
        return CAP_WINDOW
    return state


def render(entries: Sequence[Entry], zone: ZoneInfo, strays: Sequence[str] = ()) -> str:
    """The Markdown: a heading per local day, a line per post with its local time and zone abbreviation; at its
    foot, what lies in scheduled/ and is not a scheduled post (`strays`)."""
    lines = [HEADING, "", f"{LEAD}{zone.key}.", "", HOW_TO_EDIT, ""]
    foot = ["## Not scheduled posts", "", *(f"- {as_text(stray)}" for stray in strays), ""] if strays else []
    if not entries:
        return "\n".join([*lines, "Nothing is scheduled.", "", *foot])
    now = [entry for entry in entries if entry.at is None]
    timed = sorted((entry for entry in entries if entry.at is not None),
                   key=lambda entry: (entry.at.timestamp() if entry.at else 0.0, entry.name))
    if now:
        lines += ["## Going out now", "", *(_line("now", entry) for entry in sorted(now, key=lambda e: e.name)), ""]
    local = [(entry.at.astimezone(zone), entry) for entry in timed if entry.at is not None]
    for day, group in groupby(local, key=lambda pair: pair[0].date()):
        lines += [f"## {day:%A} {day.day} {day:%B %Y}", ""]
        lines += [_line(f"{moment:%H:%M %Z}", entry) for moment, entry in group]
        lines.append("")
    return "\n".join([*lines, *foot])


class Agenda:
    """Keeps SCHEDULE.md in step with the journal."""

    def __init__(self, inbox: Path, journal: Journal, zone: Callable[[], ZoneInfo]) -> None:
        self._path = inbox / SCHEDULE_FILE
        self._journal = journal
        self._zone = zone
        self._written: str | None = None
        self.problem: str | None = None  # why SCHEDULE.md is not written now, said once in the log
        self._seen_strays: set[str] = set()  # files in scheduled/ no scheduled post's, at the last look
        self._said_strays: set[str] = set()  # of those, the ones the log told of

    def update(self, account_name: Callable[[str, str], str], held: Mapping[int, str] | None = None,
               waiting: Mapping[int, str] | None = None) -> bool:
        """Rewrite SCHEDULE.md when its content would change; True when it did.

        An inbox that never had a scheduled post gets no SCHEDULE.md. One the user wrote stays theirs,
        and a disk refusing the write leaves the schedule for the next change or look: neither stops pqdrop.
        """
        records = [record for step in sorted(_SHOWN) for record in self._journal.in_state(step)]
        pending = {**(waiting or {}), **pending_edits(self._journal)}  # `waiting`: edited sidecars (Editor)
        zone = self._zone()
        notes = schedule_notes(self._path.parent, records, zone)
        entries = entries_of(records, account_name, held, self._journal.paced_instants(), pending, notes)
        filing = self._journal.in_state(Step.FILING)  # its files may be in scheduled/ before the journal says filed
        text = render(entries, zone, self._strays([*records, *filing]))
        if text == self._written:
            return False
        current, problem = read_own(self._path)
        if problem is not None:
            if records:  # nothing to show, nothing to say
                self._say(problem)
            return False
        if current == text or (current is None and not records):
            self._written = text
            self._say(None)
            return False
        try:
            write_text_atomically(self._path, text)
        except InboxBlocked as exc:  # became the user's since it was read
            self._say(exc.message)
            return False
        except OSError as exc:
            self._say(f"cannot write {shown(str(self._path))}: {exc.strerror or exc}; the schedule is written "
                      "once it can be")
            return False
        self._written = text
        self._say(None)
        return True

    def _strays(self, records: Iterable[Record]) -> list[str]:
        """Files in scheduled/ that are no scheduled post, seen at two looks in a row (not an item being filed there
        between the two), each said once in the log for as long as it lies there."""
        seen = not_posts(self._path.parent, records)
        strays = [stray for stray in seen if stray in self._seen_strays]
        for stray in strays:
            if stray not in self._said_strays:
                log.warning("%s", stray)
        self._seen_strays, self._said_strays = set(seen), set(strays)
        return strays

    def _say(self, problem: str | None) -> None:
        if problem is not None and problem != self.problem:
            log.warning("%s", problem)
        self.problem = problem


_SHOWN = frozenset({Step.TRACKING, Step.REPLACING, Step.CANCELING})


def is_agenda(text: str) -> bool:
    """Whether a SCHEDULE.md's text is one pqdrop wrote: its heading, a blank line, then its lead."""
    lines = text.splitlines()
    return len(lines) >= 3 and lines[0] == HEADING and not lines[1] and lines[2].startswith(LEAD)


def read_own(path: Path) -> tuple[str | None, str | None]:
    """SCHEDULE.md's text when pqdrop wrote it (None when absent), or why it is the user's and left alone."""
    kind = kind_of(path)
    if kind is None:
        return None, None
    where = f"{shown(path.name)} in {shown(str(path.parent))}"
    if kind == "a file":
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(descriptor, "rb") as stream:
                text = stream.read(1 << 20).decode("utf-8")
        except OSError as exc:
            return None, f"cannot read {where}: {exc.strerror or exc}; pqdrop writes no schedule until it can"
        except UnicodeDecodeError:
            text = ""
        if is_agenda(text):
            return text, None
        kind = "a file pqdrop did not write (it does not begin with `# Schedule`)"
    return None, (f"{where} is {kind}: pqdrop never overwrites it, and writes no schedule while it is there; "
                  f"rename it (in the inbox root, {SCHEDULE_FILE} is the name of pqdrop's schedule) to have "
                  "the schedule written there")


def _same_second(at: datetime, instants: Iterable[datetime]) -> bool:
    # The journal keeps whole seconds; the status file holds what PostQued echoed of the same instant.
    return any(abs((at - instant).total_seconds()) < 1 for instant in instants)


def _time_key(target: Mapping[str, object]) -> str:
    return str(target.get("dispatchAt") or "")


def _line(when: str, entry: Entry) -> str:
    # As a person reads a name (caf\xe9, a line feed as \n): SCHEDULE.md is UTF-8 text, one line per post.
    accounts = ", ".join(as_text(account) for account in entry.accounts) or "no account"
    return f"- **{when}** · {as_text(entry.name)} · {accounts} · {as_text(entry.state)}"


# What Markdown or HTML would act on in a name (CommonMark 2.4: any ASCII punctuation may be escaped with
# a backslash): links, images, emphasis, tags, entities, tables; a backslash only before punctuation; and
# what a phone's viewer links by itself (GFM autolinks, linkify: evil.com, http://x), a dot inside a word
# and a colon before //.
_MARKUP = re.compile(r"[`*_\[\]<>&!|~#]|\\(?=[!-/:-@\[-`{-~])|(?<=\w)\.(?=\w)|:(?=//)")


def as_text(text: str) -> str:
    """`text` (a name anyone who writes the inbox chose) as Markdown that shows it as text, never as a link,
    an image or HTML (issue 21): `[click](http://evil)` and `<img src=x>` are shown as written, not acted on."""
    return _MARKUP.sub(lambda match: "\\" + match.group(), shown(text))
