"""`pqdrop cancel NAME`: cancel a scheduled post; its item moves to canceled/ (as `cancel: true` in its sidecar).

Both `cancel` and `reschedule` leave a request in the journal that goes the same way as an edit of
the sidecar (editor.py). With a daemon running it is the daemon that carries it out, at its next
look (within a couple of seconds), so the two never race over an item; with none, the command does
it itself, holding the daemon's lock meanwhile.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pqdrop.commands.status import STATUS_FILE_MAX_BYTES
from pqdrop.config import Config, inbox_not_a_folder
from pqdrop.descriptors import Refused, read_file
from pqdrop.errors import EXIT_BLOCKED, ServiceUnavailable
from pqdrop.folders.claim import OwnerLock, owner_id, running_owners
from pqdrop.inbox.items import CANCELED_DIR, FAILED_DIR, SCHEDULED_DIR, SENT_DIR, STATUS_SUFFIX
from pqdrop.journal.edits import EditLog
from pqdrop.journal.store import Journal, Record
from pqdrop.names import shown
from pqdrop.schedule.editor import CANCEL

if TYPE_CHECKING:
    from pqdrop.postqued.client import PostQued

WAIT_SECONDS = 60.0  # for a running daemon to carry the request out
NOT_APPLIED = "not applied"


def cancel_item(config: Config, name: str, client: Callable[[], PostQued]) -> int:
    """Exit 0 once canceled; 1 when there is no such scheduled item or the post can no longer be canceled."""
    return request_edit(config, name, CANCEL, None, client)


def request_edit(config: Config, name: str, kind: str, when: str | None, client: Callable[[], PostQued],
                 said: Callable[[str], str] = str) -> int:
    """Queue the request, see it carried out, print the outcome (as `said` puts it); 0 when done, 1 when it could
    not apply."""
    inbox = config.inbox.path
    if not inbox.is_dir():
        print(shown(f"pqdrop: {inbox_not_a_folder(inbox)}"), file=sys.stderr)
        return 2
    journal = Journal(config.state.dir)
    try:
        record = find_scheduled(journal, name)
        if record is None:
            names = sorted(str(r.stem or r.name) for r in journal.tracking() if r.destination == SCHEDULED_DIR)
            listed = ", ".join(names) or "none"
            elsewhere = where_else(inbox, name, kind)
            if elsewhere is not None:
                print(shown(f"pqdrop: {elsewhere} (scheduled now: {listed})"), file=sys.stderr)
            else:
                print(shown(f"pqdrop: {name}: no such item in {SCHEDULED_DIR}/ (scheduled now: {listed})"),
                      file=sys.stderr)
            return 1
        request_id = EditLog(journal).add_request(record.id, kind, when)
        outcome, trouble = _carry_out(config, journal, request_id, client)
    finally:
        journal.close()
    if outcome is None and trouble is not None:
        # Written ahead like every edit: it is not lost, and not left to chance either; the user is told when.
        print(f"pqdrop: {name}: PostQued cannot be reached now ({trouble}); the {kind} is kept in the journal "
              "and carried out by the next pqdrop run or once", file=sys.stderr)
        return EXIT_BLOCKED
    if outcome is None:
        print(shown(f"pqdrop: {name}: the running pqdrop has not taken the request up within {WAIT_SECONDS:g} s; "
                    "it will when it can"), file=sys.stderr)
        return 1
    print(shown(f"{record.stem or record.name}: {said(outcome)}"))
    return 1 if outcome.startswith(NOT_APPLIED) else 0


def where_else(inbox: Path, name: str, kind: str) -> str | None:
    """Where an item that is not in scheduled/ is, and why the request cannot apply there; None when nowhere."""
    wanted = PurePosixPath(name).name.removesuffix(".md")
    verb = "cancel" if kind == CANCEL else "move"
    for folder in (SENT_DIR, CANCELED_DIR, FAILED_DIR):
        try:
            status = json.loads(read_file(inbox / folder / f"{wanted}{STATUS_SUFFIX}", STATUS_FILE_MAX_BYTES))
        except (OSError, ValueError, Refused):  # a link, a FIFO or a giant planted there is not pqdrop's
            continue
        state = str(status.get("state", "?")) if isinstance(status, dict) else "?"
        if folder == SENT_DIR:
            return (f"{wanted} is not scheduled: it is in {SENT_DIR}/ ({state}), gone out already, so there is "
                    f"nothing to {verb}; a post that is out is deleted on the platform itself")
        if folder == CANCELED_DIR:
            return f"{wanted} is not scheduled: it is in {CANCELED_DIR}/, canceled already"
        return (f"{wanted} is not scheduled: it is in {FAILED_DIR}/, never posted; `pqdrop retry {wanted}` puts it "
                "back into the inbox")
    with suppress(OSError):
        if any(entry.name == wanted or entry.name.rsplit(".", 1)[0] == wanted for entry in os.scandir(inbox)):
            fix = ("move its files out of the inbox to keep it from going out" if kind == CANCEL
                   else "write the time as dispatchAt in its sidecar")
            return f"{wanted} is not scheduled: it is still in the inbox, not posted yet; {fix}"
    return None


def find_scheduled(journal: Journal, name: str) -> Record | None:
    """The item in scheduled/ by its name there (as `ls scheduled/` shows it) or as it was dropped."""
    wanted = name.removeprefix(f"{SCHEDULED_DIR}/").removesuffix(".md")
    records = [record for record in journal.tracking() if record.destination == SCHEDULED_DIR]
    for record in records:
        if record.stem == wanted:
            return record
    matches = [record for record in records if record.name == wanted]
    return matches[0] if len(matches) == 1 else None


def _carry_out(
    config: Config, journal: Journal, request_id: int, client: Callable[[], PostQued]
) -> tuple[str | None, str | None]:
    """(the request's outcome, or None while the daemon has not taken it up; why PostQued could not be asked here)."""
    inbox, owner = config.inbox.path, owner_id(config.state.dir)
    if owner not in running_owners(inbox):
        try:
            lock = OwnerLock(inbox, owner, wait_seconds=0.0, links=config.inbox.filing_links)
        except ServiceUnavailable:
            lock = None  # a daemon started just now holds the lock: it carries the request out
        if lock is not None:  # no daemon: carry it out here, under its lock, so none starts meanwhile
            try:
                trouble = _edit_here(config, journal, client)
            finally:
                lock.close()
            outcome = EditLog(journal).request_outcome(request_id)
            return outcome, None if outcome is not None else trouble or "PostQued did not answer"
    deadline = time.monotonic() + WAIT_SECONDS
    while (outcome := EditLog(journal).request_outcome(request_id)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return outcome, None


def _edit_here(config: Config, journal: Journal, client: Callable[[], PostQued]) -> str | None:
    """Carry the queued requests out in this process; returns why PostQued could not be asked, if it could not."""
    from pqdrop.schedule.agenda import Agenda
    from pqdrop.schedule.editor import Editor
    from pqdrop.schedule.tracker import Tracker

    def clock() -> datetime:
        return datetime.now(UTC)

    with client() as api:
        tracker = Tracker(config.inbox.path, journal, api, clock, filing_links=config.inbox.filing_links)
        editor = Editor(config, journal, api, clock, tracker)
        editor.check()
        Agenda(config.inbox.path, journal, lambda: config.defaults.zone).update(editor.account_name, editor.held,
                                                                                editor.waiting_edits())
        return editor.api_trouble
