"""The journal: what pqdrop has done to each item, in SQLite, written ahead of every step.

It lives in `[state].dir`, never in the synced inbox (a sync tool would copy a live
database between machines). Only this module sees sqlite3: a journal that cannot be opened
raises ServiceUnavailable (the daemon exits 75 and systemd tries again), a failure after that
raises JournalError (the item at hand waits; the daemon goes on), and a damaged file, or one
deleted or replaced under the daemon, raises JournalDamaged (it stops and says what to do).

It keeps a rollback journal, not WAL, and maps no file into memory (issue 21): WAL's index is a
shared -shm file mapped into the process, and that file truncated under it killed the daemon
with SIGBUS; with `mmap_size=0` as well, every read is a read(), and a truncated file is an error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pqdrop.errors import JournalDamaged, JournalError, ServiceUnavailable
from pqdrop.inbox.items import Item, item_from_json, item_to_json
from pqdrop.instants import iso_z, parse_instant
from pqdrop.names import from_column, json_text, shown, to_column
from pqdrop.states import FINAL_STEPS, RESUMABLE_STEPS, TRACKED_STEPS, Step

JOURNAL_FILE = "journal.sqlite3"
JOURNAL_MODE = "delete"  # a rollback journal beside the file during a write; no -shm to map (see the docstring)

# Numbered migrations: index + 1 is the schema version kept in PRAGMA user_version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        claim TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        item TEXT NOT NULL,
        idempotency_key TEXT,
        publish_body TEXT,
        publish_id TEXT,
        destination TEXT,
        stem TEXT,
        status TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX items_state ON items(state);
    CREATE TABLE files (
        item_id INTEGER NOT NULL REFERENCES items(id),
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sha256 TEXT,
        PRIMARY KEY (item_id, path)
    );
    CREATE TABLE uploads (
        item_id INTEGER NOT NULL REFERENCES items(id),
        path TEXT NOT NULL,
        content_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (item_id, path)
    );
    """,
    """
    CREATE INDEX items_key ON items(idempotency_key);
    CREATE INDEX uploads_sha ON uploads(sha256);
    """,
    """
    ALTER TABLE items ADD COLUMN post_fingerprint TEXT;
    CREATE INDEX items_post_fingerprint ON items(post_fingerprint);
    """,
    # Posting slots (issue 8): one item per account and instant, so two items never share a slot.
    """
    CREATE TABLE slots (
        account TEXT NOT NULL,
        instant TEXT NOT NULL,
        item_id INTEGER NOT NULL REFERENCES items(id),
        PRIMARY KEY (account, instant)
    );
    CREATE INDEX slots_item ON slots(item_id);
    """,
    # A media is known by its fingerprint (size, first and last MiB), not a full sha256: hashing
    # every byte on the way out cost more CPU than sending them (bench/upload.py).
    """
    ALTER TABLE uploads RENAME COLUMN sha256 TO fingerprint;
    ALTER TABLE files RENAME COLUMN sha256 TO fingerprint;
    """,
    # Dead weight out (issue 11): `files` was written at every claim and never read, and no query
    # looks items up by their idempotency key.
    """
    DROP TABLE files;
    DROP INDEX items_key;
    """,
    # Editing the schedule (issue 15): the edit under way, written ahead of each request, and the
    # digest of the sidecar content last judged, so one content is judged once, across restarts.
    """
    ALTER TABLE items ADD COLUMN sidecar_digest TEXT;
    CREATE TABLE edits (item_id INTEGER PRIMARY KEY REFERENCES items(id), kind TEXT NOT NULL, phase TEXT NOT NULL,
        old_publish_id TEXT NOT NULL, idempotency_key TEXT, publish_body TEXT, note TEXT, request_id INTEGER);
    CREATE TABLE requests (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id),
        kind TEXT NOT NULL, dispatch TEXT, created_at TEXT NOT NULL, outcome TEXT);
    """,
    # What pqdrop learnt about the server and keeps across starts, e.g. the API dialect `auto` found (issue 14).
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);",
    # Each target's posting instant per account and intent, for TikTok's daily caps (issue 13);
    # `paced` marks one moved later than asked because its window was full.
    """
    CREATE TABLE posts (
        item_id INTEGER NOT NULL REFERENCES items(id),
        account TEXT NOT NULL,
        intent TEXT NOT NULL,
        instant TEXT NOT NULL,
        paced INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (item_id, account)
    );
    CREATE INDEX posts_account ON posts(account, intent, instant);
    """,
    # The sidecar as the item was posted with, and the moment it was read as of: an edit is what
    # changed since (issue 15), so a time pacing or `pqdrop reschedule` chose is kept unless the edit moves it.
    "CREATE TABLE sidecars (item_id INTEGER PRIMARY KEY REFERENCES items(id), text TEXT NOT NULL, "
    "as_of TEXT NOT NULL);",
)

# Items whose slot is free again: given back to the inbox before publishing, or failed (a retry is a new item).
# The step goes in as a parameter: `RELEASED_PARAMS`, in the place of the subquery's `?`.
RELEASED_ITEMS = "(SELECT id FROM items WHERE state = ? OR destination IN ('failed', 'canceled'))"
RELEASED_PARAMS = (Step.RETURNED,)

# Steps in which the pipeline has nothing left to do; tracked items sit in sent/ while the
# tracker follows their scheduled or unconfirmed targets to the end.
SETTLED_STEPS = tuple(sorted(FINAL_STEPS | TRACKED_STEPS))
# A post counts as sent for re-drop checks once filed; in flight while the pipeline carries it.
_SENT_STEPS = tuple(sorted({Step.DONE, Step.TRACKING}))
_IN_FLIGHT_STEPS = tuple(sorted(RESUMABLE_STEPS))


def _marks(values: Sequence[object]) -> str:
    """`?, ?, ?` for an SQL IN list of `values`."""
    return ", ".join("?" * len(values))



@dataclass(frozen=True)
class Record:
    """One item as the journal knows it."""

    id: int
    name: str
    claim: str
    state: Step
    item: Item  # its files as claimed: the media, the sidecar, the folder that bundles them
    idempotency_key: str | None
    publish_body: dict[str, Any] | None
    publish_id: str | None
    destination: str | None
    stem: str | None
    status: dict[str, Any] | None
    attempts: int
    last_error: str | None
    updated_at: str
    sidecar_digest: str | None = None  # the sidecar content last judged for an edit (issue 15)


class Journal:
    """A SQLite file with a rollback journal and no memory map; every write goes through `atomic()`."""

    def __init__(self, state_dir: Path, *, read_only: bool = False) -> None:
        """Open (and create or migrate) the journal; `read_only` only reads one that exists, beside a running daemon."""
        self._lock = threading.RLock()
        self._path = state_dir / JOURNAL_FILE
        self._identity: tuple[int, int] | None = None  # the file's (device, inode) as opened for writing
        self._page_size = 4096
        try:
            if read_only:
                self._db = _connect_read_only(state_dir / JOURNAL_FILE)
                return
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(state_dir / JOURNAL_FILE, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA mmap_size=0")  # reads, never a map a truncation turns into SIGBUS
            # A journal of an older pqdrop is in WAL mode: leaving it checkpoints it (this needs it alone).
            mode = self._db.execute(f"PRAGMA journal_mode={JOURNAL_MODE}").fetchone()[0]
            if str(mode).lower() != JOURNAL_MODE:
                raise ServiceUnavailable(f"[state].dir {state_dir}: the journal stays in {mode} mode while another "
                                         "process holds it open; pqdrop tries again")
            self._db.execute("PRAGMA synchronous=FULL")  # a post must never be forgotten after a power cut
            self._migrate()
            self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            self._identity = _identity(self._path)
        except sqlite3.DatabaseError as exc:
            if _damaged(exc):
                raise damaged(self._path, exc) from exc
            raise ServiceUnavailable(f"[state].dir {state_dir}: cannot open the journal: {exc}") from exc
        except (OSError, JournalError) as exc:
            raise ServiceUnavailable(f"[state].dir {state_dir}: cannot open the journal: {exc}") from exc

    def check_file(self) -> None:
        """Raise JournalDamaged when the journal's file was deleted, replaced or cut short under the open journal.

        SQLite would go on writing into a deleted file, and read a replaced or truncated one as empty or
        corrupt; the loop looks at every turn, so it is said at once (issue 21).
        """
        if self._identity is None:
            return
        with self._lock:  # not mid-write: a transaction may be growing the file
            try:
                found = os.stat(self._path)
            except FileNotFoundError:
                raise JournalDamaged(
                    f"the journal {self._path} was deleted while pqdrop ran; pqdrop stops rather than record posts "
                    f"in a file no one will read again. Restore it from a backup, or start pqdrop again to begin a "
                    f"fresh one. {_FRESH_FORGETS}"
                ) from None
            except OSError:
                return  # the disk's trouble: the next write says it as JournalError
            if (found.st_dev, found.st_ino) != self._identity:
                raise JournalDamaged(
                    f"the journal {self._path} was replaced by another file while pqdrop ran; pqdrop stops rather "
                    "than mix the two. Start pqdrop again to take the new file (or put the old one back). "
                    f"{_FRESH_FORGETS.replace('A fresh journal', 'A journal other than the one pqdrop wrote')}"
                )
            if found.st_size < self._page_size or found.st_size % self._page_size:
                raise damaged(self._path, f"the file was cut short to {found.st_size} bytes")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all of its writes land, or none do."""
        with self._lock, self._translated():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                with suppress(sqlite3.Error):  # a failed write may have ended the transaction already
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """sqlite3's errors leave as JournalError, naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            if _damaged(exc):
                raise damaged(self._path, exc) from exc
            raise JournalError(f"journal {self._path}: {exc}") from exc

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Mapping[str, Any]]:
        """Every row of one read, for the journal's companion tables (edits.py's `EditLog`)."""
        return [dict(row) for row in self._rows(sql, params)]

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Every row of one read."""
        with self._lock, self._translated():
            return list(self._db.execute(sql, params).fetchall())

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.atomic() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def setting(self, name: str) -> str | None:
        """A remembered fact about the server (None when never learnt, or read from an older journal)."""
        try:
            row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else str(row[0])

    def remember(self, name: str, value: str) -> None:
        with self.atomic() as db:
            db.execute(
                "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (name, value, _now()),
            )

    # --- writes, in the order an item lives them ----------------------------------------

    def begin_claim(self, name: str, claim: str, item: Item) -> int:
        """Record the intent to claim before any file moves, so a crash mid-claim is found."""
        now = _now()
        with self.atomic() as db:
            cursor = db.execute(
                "INSERT INTO items (name, claim, state, item, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (to_column(name), to_column(claim), Step.CLAIMING, json_text(item_to_json(item)), now, now),
            )
            return int(cursor.lastrowid or 0)

    def set_state(self, item_id: int, state: Step, *, error: str | None = None) -> None:
        with self.atomic() as db:
            db.execute(
                "UPDATE items SET state = ?, last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?",
                (state, None if error is None else shown(error), _now(), item_id),
            )

    def record_upload(self, item_id: int, path: str, content_id: str, fingerprint: str) -> None:
        """A media is complete in PostQued's storage: never upload it again."""
        with self.atomic() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads (item_id, path, content_id, fingerprint) VALUES (?, ?, ?, ?)",
                (item_id, to_column(path), content_id, fingerprint),
            )


    def adopt_upload(self, item_id: int, path: str, fingerprint: str) -> str | None:
        """The contentId of this media from an earlier try given back unpublished, now this item's; None if none.

        After a passing error the item goes back to the inbox and returns as a new record: what it
        had already sent is found by the media's fingerprint and moved over in one transaction, so
        it is neither sent twice nor left unused on PostQued, and no other item takes it as well.
        """
        with self.atomic() as db:
            row = db.execute(
                "SELECT uploads.item_id, uploads.path, uploads.content_id FROM uploads "
                "JOIN items ON items.id = uploads.item_id "
                "WHERE uploads.fingerprint = ? AND items.state = ? AND items.publish_id IS NULL AND items.id != ? "
                "ORDER BY items.id DESC LIMIT 1",
                (fingerprint, Step.RETURNED, item_id),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE uploads SET item_id = ?, path = ? WHERE item_id = ? AND path = ?",
                (item_id, to_column(path), row["item_id"], row["path"]),
            )
        return str(row["content_id"])

    def unused_uploads(self, before: datetime) -> list[tuple[int, str, str]]:
        """(item id, path, contentId) of uploads given back unpublished before `before` and never taken up again."""
        rows = self._rows(
            "SELECT uploads.item_id, uploads.path, uploads.content_id FROM uploads "
            "JOIN items ON items.id = uploads.item_id "
            "WHERE items.state = ? AND items.publish_id IS NULL AND items.updated_at < ? ORDER BY uploads.item_id",
            (Step.RETURNED, before.astimezone(UTC).isoformat(timespec="milliseconds")),
        )
        return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]

    def drop_upload(self, item_id: int, path: str) -> None:
        """The content is gone from PostQued: forget it."""
        with self.atomic() as db:
            db.execute("DELETE FROM uploads WHERE item_id = ? AND path = ?", (item_id, path))

    def record_publish_intent(self, item_id: int, key: str, body: Mapping[str, Any]) -> None:
        """The key and the exact body, stored before the first attempt so every retry repeats them."""
        with self.atomic() as db:
            db.execute(
                "UPDATE items SET state = ?, idempotency_key = ?, publish_body = ?, updated_at = ? WHERE id = ?",
                (Step.PUBLISHING, key, json_text(body, sort_keys=True), _now(), item_id),
            )

    def note_publish_attempt(self, item_id: int) -> None:
        """A publish request is about to go out (the first, or a replay after a stop or a lost reply)."""
        with self.atomic() as db:
            db.execute("UPDATE items SET attempts = attempts + 1, updated_at = ? WHERE id = ?", (_now(), item_id))

    def record_publish_id(self, item_id: int, publish_id: str) -> None:
        with self.atomic() as db:
            db.execute(
                "UPDATE items SET state = ?, publish_id = ?, updated_at = ? WHERE id = ?",
                (Step.FOLLOWING, publish_id, _now(), item_id),
            )

    def record_filing(self, item_id: int, destination: str, stem: str, status: Mapping[str, Any]) -> None:
        """Where the files go and what the status file says, fixed before the first move."""
        with self.atomic() as db:
            db.execute(
                "UPDATE items SET state = ?, destination = ?, stem = ?, status = ?, updated_at = ? WHERE id = ?",
                (Step.FILING, destination, to_column(stem), json_text(status), _now(), item_id),
            )

    def note_post(self, item_id: int, fingerprint: str, within: timedelta) -> Record | None:
        """Record what makes this post the same as another (media and accounts) and find such another.

        One transaction for both: of two copies checked at the same moment, the one whose
        transaction comes second sees the first in flight, so exactly one of them goes ahead.
        """
        since = (datetime.now(UTC) - within).isoformat()
        with self.atomic() as db:
            db.execute("UPDATE items SET post_fingerprint = ? WHERE id = ?", (fingerprint, item_id))
            row = db.execute(
                "SELECT * FROM items WHERE post_fingerprint = ? AND id != ? AND ("
                f"  (destination IN ('sent', 'scheduled') AND state IN ({_marks(_SENT_STEPS)}) AND updated_at >= ?)"
                f"  OR state IN ({_marks(_IN_FLIGHT_STEPS)})"
                ") ORDER BY id DESC LIMIT 1",
                (fingerprint, item_id, *_SENT_STEPS, since, *_IN_FLIGHT_STEPS),
            ).fetchone()
        return _record(row) if row else None

    def failed_under(self, key: str, item_id: int) -> Record | None:
        """An earlier item filed in failed/ whose publish went under `key`: this one is its retry."""
        rows = self._rows(
            f"SELECT * FROM items WHERE idempotency_key = ? AND destination = 'failed' AND id < ? "
            f"AND state IN ({_marks(_SENT_STEPS)}) ORDER BY id DESC LIMIT 1",
            (key, item_id, *_SENT_STEPS),
        )
        return _record(rows[0]) if rows else None

    def forget(self, item_id: int) -> None:
        """Drop an item whose claim never happened."""
        with self.atomic() as db:
            db.execute("DELETE FROM uploads WHERE item_id = ?", (item_id,))
            db.execute("DELETE FROM slots WHERE item_id = ?", (item_id,))
            db.execute("DELETE FROM posts WHERE item_id = ?", (item_id,))
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))

    def reserve_slot(
        self, item_id: int, account: str, pick: Callable[[frozenset[datetime]], datetime], *, now: datetime
    ) -> datetime:
        """The item's posting slot for `account`: the one it holds, else the one `pick` chooses among the free.

        One transaction, so two items (or two processes) never take the same slot; `pick` gets the
        instants other items hold. A held slot that has already passed (the item waited through it,
        stopped before publishing) is given up for a new one.
        """
        with self.atomic() as db:
            held = self.slot_of(item_id, account)
            if held is not None and held > now:
                return held
            db.execute(
                f"DELETE FROM slots WHERE account = ? AND item_id IN {RELEASED_ITEMS}", (account, *RELEASED_PARAMS)
            )
            db.execute("DELETE FROM slots WHERE account = ? AND item_id = ?", (account, item_id))
            rows = db.execute("SELECT instant FROM slots WHERE account = ?", (account,)).fetchall()
            chosen = pick(frozenset(parse_instant(row["instant"]) for row in rows)).astimezone(UTC)
            db.execute(
                "INSERT INTO slots (account, instant, item_id) VALUES (?, ?, ?)", (account, iso_z(chosen), item_id)
            )
        return chosen

    def slot_of(self, item_id: int, account: str) -> datetime | None:
        """The slot the item holds for `account`, if any."""
        rows = self._rows("SELECT instant FROM slots WHERE item_id = ? AND account = ?", (item_id, account))
        return parse_instant(rows[0]["instant"]) if rows else None

    def reserved_slots(self, after: datetime) -> list[tuple[datetime, str, str]]:
        """(instant, account, item name) of the slots held after `after`, soonest first."""
        rows = self._rows(
            "SELECT slots.instant, slots.account, items.name FROM slots JOIN items ON items.id = slots.item_id "
            f"WHERE slots.instant > ? AND slots.item_id NOT IN {RELEASED_ITEMS} ORDER BY slots.instant, slots.account",
            (iso_z(after), *RELEASED_PARAMS),
        )
        return [(parse_instant(row[0]), str(row[1]), str(from_column(row[2]))) for row in rows]

    # --- the posts table: each target's instant, for TikTok's daily caps (posting/pacing.py) --------

    def take_post(
        self, item_id: int, account: str, intent: str, pick: Callable[[list[datetime]], datetime],
        *, asked: datetime,
    ) -> datetime:
        """Record when the item posts to `account`: the instant `pick` chooses given the account's other posts.

        One transaction, so of two items deciding at once the second sees the first (issue 13).
        Items given back to the inbox or failed do not count. Returns the chosen instant, in UTC.
        """
        with self.atomic() as db:
            db.execute("DELETE FROM posts WHERE item_id = ? AND account = ?", (item_id, account))
            rows = db.execute(
                f"SELECT instant FROM posts WHERE account = ? AND intent = ? AND item_id NOT IN {RELEASED_ITEMS}",
                (account, intent, *RELEASED_PARAMS),
            ).fetchall()
            chosen = pick([parse_instant(row["instant"]) for row in rows]).astimezone(UTC)
            db.execute(
                "INSERT INTO posts (item_id, account, intent, instant, paced) VALUES (?, ?, ?, ?, ?)",
                (item_id, account, intent, iso_z(chosen), int(chosen > asked)),
            )
        return chosen

    def paced_posts(self, item_id: int) -> list[tuple[str, str, datetime]]:
        """(account, intent, instant) of the item's targets that a full window moved later."""
        rows = self._rows(
            "SELECT account, intent, instant FROM posts WHERE item_id = ? AND paced = 1 ORDER BY account", (item_id,)
        )
        return [(str(row["account"]), str(row["intent"]), parse_instant(row["instant"])) for row in rows]

    def paced_instants(self) -> dict[int, list[datetime]]:
        """Journal id -> the instants a daily cap moved the item's targets to."""
        paced: dict[int, list[datetime]] = {}
        for row in self._rows("SELECT item_id, instant FROM posts WHERE paced = 1"):
            paced.setdefault(int(row["item_id"]), []).append(parse_instant(str(row["instant"])))
        return paced

    # --- reads -----------------------------------------------------------------------------

    def get(self, item_id: int) -> Record:
        rows = self._rows("SELECT * FROM items WHERE id = ?", (item_id,))
        if not rows:
            raise JournalError(f"journal {self._path}: no item {item_id}")
        return _record(rows[0])

    def unfinished(self) -> list[Record]:
        """Items a crash or a stop left mid-way, oldest first."""
        query = f"SELECT * FROM items WHERE state NOT IN ({_marks(SETTLED_STEPS)}) ORDER BY id"
        rows = self._rows(query, SETTLED_STEPS)
        return [_record(row) for row in rows]

    def tracking(self) -> list[Record]:
        """Items filed in sent/ whose targets are not final yet."""
        return self.in_state(Step.TRACKING)

    def in_state(self, state: Step) -> list[Record]:
        rows = self._rows("SELECT * FROM items WHERE state = ? ORDER BY id", (state,))
        return [_record(row) for row in rows]

    def record_refiled(self, item_id: int, state: Step, destination: str, stem: str, status: Mapping[str, Any]) -> None:
        """The tracker's last word on an item: where it now lies and what its status file says."""
        with self.atomic() as db:
            db.execute(
                "UPDATE items SET state = ?, destination = ?, stem = ?, status = ?, updated_at = ? WHERE id = ?",
                (state, destination, to_column(stem), json_text(status), _now(), item_id),
            )

    def uploads(self, item_id: int) -> dict[str, tuple[str, str]]:
        """path -> (contentId, fingerprint) of the media already in storage."""
        rows = self._rows("SELECT path, content_id, fingerprint FROM uploads WHERE item_id = ?", (item_id,))
        return {str(from_column(row["path"])): (row["content_id"], row["fingerprint"]) for row in rows}

    def claims(self) -> set[str]:
        return {str(from_column(row[0])) for row in self._rows("SELECT claim FROM items")}

    def recent(self, limit: int = 20) -> list[Record]:
        rows = self._rows("SELECT * FROM items ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [_record(row) for row in rows]


# SQLite's primary result codes for a damaged file: SQLITE_CORRUPT, SQLITE_NOTADB.
_DAMAGE_CODES = frozenset({11, 26})


def _damaged(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in _DAMAGE_CODES


_FRESH_FORGETS = (
    "A fresh journal forgets what was posted: items in processing/ go back to the inbox and are posted again, "
    "and scheduled posts in scheduled/ are no longer followed, edited or canceled by pqdrop"
)


def damaged(path: Path, cause: BaseException | str) -> JournalDamaged:
    """Said once, plainly: which file, what to do, what a fresh journal loses (issue 21)."""
    why = f"SQLite: {cause}" if isinstance(cause, BaseException) else cause
    return JournalDamaged(
        f"the journal {path} is damaged ({why}); pqdrop stops rather than guess. Move it aside "
        f"(mv {path} {path}.damaged, and any {path.name}-journal beside it) or restore it from a backup, then start "
        f"pqdrop again. {_FRESH_FORGETS}"
    )


def _identity(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes, never migrates and takes no lock a writer would wait for.

    A rollback journal is read under a shared lock, a moment long, and creates no file. A journal an
    older pqdrop left in WAL mode without a -wal file has every committed row in the main file, so it
    opens immutable: a read-only WAL connection would otherwise create -wal and -shm files, and ones
    made by `sudo pqdrop status` would belong to root and lock the daemon out.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no journal at {path} yet")
    with path.open("rb") as stream:
        wal = stream.read(20)[18:20] == b"\x02\x02"  # the header's read/write versions: 2 is WAL
    immutable = wal and not path.with_name(path.name + "-wal").exists()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}", uri=True,
                         isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout=5000")  # the daemon's write holds readers off a moment
    db.execute("PRAGMA mmap_size=0")
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version < len(MIGRATIONS):  # only the daemon migrates: a reader of an older journal would miss tables
        db.close()
        if version == 0:
            raise FileNotFoundError(f"{path} holds no journal yet")
        raise sqlite3.DatabaseError(
            f"it is at schema {version} of {len(MIGRATIONS)}: an older pqdrop still runs; restart it to upgrade"
        )
    return db


def _record(row: sqlite3.Row) -> Record:
    return Record(
        id=row["id"],
        name=str(from_column(row["name"])),
        claim=str(from_column(row["claim"])),
        state=Step(row["state"]),
        item=item_from_json(json.loads(row["item"])),
        idempotency_key=row["idempotency_key"],
        publish_body=json.loads(row["publish_body"]) if row["publish_body"] else None,
        publish_id=row["publish_id"],
        destination=row["destination"],
        stem=from_column(row["stem"]),
        status=json.loads(row["status"]) if row["status"] else None,
        attempts=row["attempts"],
        last_error=row["last_error"],
        updated_at=row["updated_at"],
        sidecar_digest=row["sidecar_digest"],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
