"""The journal's record of edits of the schedule (issue 15): the edit under way and the queued requests.

Its tables (`edits`, `requests`) are created by the journal's migrations and written through its
`atomic()`, so an edit's every step lands before the request it stands for is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pqdrop.instants import iso_z
from pqdrop.journal.store import Journal
from pqdrop.states import Step

_EDIT_COLUMNS = ("kind", "phase", "old_publish_id", "idempotency_key", "publish_body", "note", "request_id")


@dataclass(frozen=True)
class Edit:
    """An edit of a scheduled post under way: what it does, how far it got, the publish it replaces."""

    kind: str
    phase: str
    old_publish_id: str
    idempotency_key: str | None = None
    publish_body: dict[str, Any] | None = None
    note: str | None = None
    request_id: int | None = None


class EditLog:
    """Edits and requests, kept in the item's journal."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def begin_edit(self, item_id: int, step: str, edit: Edit) -> bool:
        """Take a tracked item into an edit step, written ahead; False when it is not tracked any more.

        One transaction compares and sets, so a daemon and a command never both take the same item.
        """
        with self._journal.atomic() as db:
            taken = db.execute(
                "UPDATE items SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                (step, _now(), item_id, Step.TRACKING),
            ).rowcount
            if taken:
                body = json.dumps(edit.publish_body) if edit.publish_body is not None else None
                db.execute(f"INSERT OR REPLACE INTO edits (item_id, {', '.join(_EDIT_COLUMNS)}) VALUES ({'?, ' * 7}?)",
                           (item_id, edit.kind, edit.phase, edit.old_publish_id, edit.idempotency_key, body, edit.note,
                            edit.request_id))
        return bool(taken)

    def edit_of(self, item_id: int) -> Edit | None:
        rows = self._journal.rows("SELECT * FROM edits WHERE item_id = ?", (item_id,))
        row = rows[0] if rows else None
        body = json.loads(row["publish_body"]) if row and row["publish_body"] else None
        return Edit(row["kind"], row["phase"], row["old_publish_id"], row["idempotency_key"], body, row["note"],
                    row["request_id"]) if row else None

    def edit_phase(self, item_id: int, phase: str) -> None:
        with self._journal.atomic() as db:
            db.execute("UPDATE edits SET phase = ? WHERE item_id = ?", (phase, item_id))

    def end_edit(self, item_id: int, status: Mapping[str, Any], publish: tuple[str, str, Any] | None = None) -> None:
        """Back to tracking with the status file's new content, and with (publishId, key, body) of a new publish."""
        with self._journal.atomic() as db:
            if publish is not None:
                db.execute("UPDATE items SET publish_id = ?, idempotency_key = ?, publish_body = ? WHERE id = ?",
                           (publish[0], publish[1], json.dumps(publish[2], sort_keys=True), item_id))
            db.execute("UPDATE items SET state = ?, status = ?, updated_at = ? WHERE id = ?",
                       (Step.TRACKING, json.dumps(status), _now(), item_id))
            db.execute("DELETE FROM edits WHERE item_id = ?", (item_id,))

    def release_slots(self, item_id: int) -> None:
        """A rescheduled or canceled item gives its posting slots back."""
        with self._journal.atomic() as db:
            db.execute("DELETE FROM slots WHERE item_id = ?", (item_id,))

    def release_unused_slots(self, item_id: int, name: str, times: Sequence[str | None], now: datetime) -> None:
        """A post moved off its slot gives the slot back; one still on it (`dispatchAt: next`) keeps it."""
        held = {iso_z(moment) for moment, _, owner in self._journal.reserved_slots(now) if owner == name}
        if held and not held & {str(moment) for moment in times}:
            self.release_slots(item_id)

    def fingerprints(self, item_id: int, content_ids: Sequence[str]) -> list[str]:
        """The media fingerprints behind a publish body's contentIds, in its order (the content id where unknown)."""
        by_content = {content_id: print_ for content_id, print_ in self._journal.uploads(item_id).values()}
        return [by_content.get(content_id, content_id) for content_id in content_ids]

    def judged(self, item_id: int, digest: str | None) -> None:
        """The sidecar content an edit was last judged on."""
        with self._journal.atomic() as db:
            db.execute("UPDATE items SET sidecar_digest = ? WHERE id = ?", (digest, item_id))

    def posted_with(self, item_id: int, text: str, digest: str | None, as_of: datetime) -> None:
        """The sidecar the item is being posted with, read as of `as_of`: the base every later edit is judged on.

        Its digest counts as judged, so a sidecar nobody touched is never taken for an edit.
        """
        with self._journal.atomic() as db:
            db.execute("INSERT OR REPLACE INTO sidecars (item_id, text, as_of) VALUES (?, ?, ?)",
                       (item_id, text, as_of.astimezone(UTC).isoformat()))
            db.execute("UPDATE items SET sidecar_digest = ? WHERE id = ?", (digest, item_id))

    def base(self, item_id: int) -> tuple[str, datetime] | None:
        """(text, read as of) of the sidecar the live post stands for; None for an item posted before it was kept."""
        rows = self._journal.rows("SELECT text, as_of FROM sidecars WHERE item_id = ?", (item_id,))
        return (str(rows[0]["text"]), datetime.fromisoformat(str(rows[0]["as_of"]))) if rows else None

    def rebase(self, item_id: int, text: str, as_of: datetime) -> None:
        """An applied edit: the live post stands for this sidecar now."""
        with self._journal.atomic() as db:
            db.execute("UPDATE sidecars SET text = ?, as_of = ? WHERE item_id = ?",
                       (text, as_of.astimezone(UTC).isoformat(), item_id))

    def add_request(self, item_id: int, kind: str, dispatch: str | None) -> int:
        """A `pqdrop cancel` or `reschedule` for the daemon (or the command itself) to carry out."""
        with self._journal.atomic() as db:
            cursor = db.execute("INSERT INTO requests (item_id, kind, dispatch, created_at) VALUES (?, ?, ?, ?)",
                                (item_id, kind, dispatch, _now()))
        return int(cursor.lastrowid or 0)

    def pending_requests(self) -> list[tuple[int, int, str, str | None]]:
        """(request id, item id, kind, dispatch) of the requests not carried out yet, oldest first."""
        rows = self._journal.rows("SELECT id, item_id, kind, dispatch FROM requests WHERE outcome IS NULL ORDER BY id")
        return [(int(row["id"]), int(row["item_id"]), str(row["kind"]), row["dispatch"]) for row in rows]

    def finish_request(self, request_id: int, outcome: str) -> None:
        with self._journal.atomic() as db:
            db.execute("UPDATE requests SET outcome = ? WHERE id = ?", (outcome, request_id))

    def request_outcome(self, request_id: int) -> str | None:
        rows = self._journal.rows("SELECT outcome FROM requests WHERE id = ?", (request_id,))
        return str(rows[0]["outcome"]) if rows and rows[0]["outcome"] is not None else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
