"""The journal on a real SQLite file: migrations, transactions, and the write-ahead records."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from pqdrop.errors import JournalError, ServiceUnavailable
from pqdrop.inbox.items import Item
from pqdrop.journal.store import JOURNAL_FILE, MIGRATIONS, SETTLED_STEPS, Journal
from pqdrop.states import Step

ITEM = Item("clip", (PurePosixPath("clip.mp4"),), PurePosixPath("clip.md"))
BODY = {
    "contentIds": ["c-1"],
    "targets": [{"platform": "tiktok", "accountId": "acc_1", "intent": "publish", "caption": "Hi #fyp",
                 "dispatchAt": None, "options": {"disableDuet": True}}],
}


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "state")
    yield journal
    journal.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def table_names(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    finally:
        db.close()


def test_a_new_journal_file_is_migrated_to_the_latest_version_with_a_rollback_journal(tmp_path: Path) -> None:
    Journal(tmp_path / "state").close()
    path = tmp_path / "state" / JOURNAL_FILE
    assert user_version(path) == len(MIGRATIONS)
    names = table_names(path)
    assert {"items", "uploads", "slots", "items_state", "uploads_sha", "items_post_fingerprint", "slots_item"} <= names
    assert not {"files", "items_key"} & names  # dropped by migration 6: never read, never queried
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # no -shm to map (issue 21)
    finally:
        db.close()


def test_a_journal_an_older_pqdrop_kept_in_wal_mode_leaves_it_with_its_rows_and_files(tmp_path: Path) -> None:
    Journal(tmp_path / "before").close()
    older = sqlite3.connect(tmp_path / "before" / JOURNAL_FILE, isolation_level=None)
    older.execute("PRAGMA journal_mode=WAL")  # as pqdrop kept it before issue 21
    older.execute("INSERT INTO settings (name, value, updated_at) VALUES ('api', 'v2', '2026-12-01T00:00:00Z')")
    state = tmp_path / "state"
    state.mkdir()
    for name in (JOURNAL_FILE, f"{JOURNAL_FILE}-wal"):  # as an older pqdrop killed mid-run left them: the row in -wal
        (state / name).write_bytes((tmp_path / "before" / name).read_bytes())
    older.close()
    assert (state / f"{JOURNAL_FILE}-wal").stat().st_size > 0
    journal = Journal(state)
    try:
        assert journal.setting("api") == "v2"
    finally:
        journal.close()
    db = sqlite3.connect(state / JOURNAL_FILE)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        db.close()
    assert sorted(p.name for p in state.iterdir()) == [JOURNAL_FILE]  # no -wal, no -shm left to map


def test_reopening_a_migrated_journal_changes_nothing_and_keeps_its_rows(tmp_path: Path) -> None:
    first = Journal(tmp_path / "state")
    item_id = first.begin_claim("clip", "clip~own~tok", ITEM)
    first.close()
    second = Journal(tmp_path / "state")
    try:
        assert user_version(tmp_path / "state" / JOURNAL_FILE) == len(MIGRATIONS)
        assert second.get(item_id).claim == "clip~own~tok"
        assert second.claims() == {"clip~own~tok"}
    finally:
        second.close()


def test_a_journal_at_an_older_version_gets_only_the_missing_migrations(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / JOURNAL_FILE)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO items (name, claim, state, item, created_at, updated_at) "
               "VALUES ('old', 'old~o~t', 'done', '{}', 'x', 'x')")
    db.commit()
    db.close()
    journal = Journal(state)
    try:
        assert user_version(state / JOURNAL_FILE) == len(MIGRATIONS)
        assert "items_post_fingerprint" in table_names(state / JOURNAL_FILE)
        assert not {"files", "items_key"} & table_names(state / JOURNAL_FILE)
        assert journal.claims() == {"old~o~t"}
    finally:
        journal.close()


def test_atomic_rolls_back_every_write_when_the_block_raises(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    with pytest.raises(RuntimeError, match="boom"), journal.atomic() as db:
        db.execute("UPDATE items SET state = 'uploading' WHERE id = ?", (item_id,))
        db.execute("INSERT INTO uploads (item_id, path, content_id, fingerprint) VALUES (?, 'clip.mp4', 'c', 's')",
                   (item_id,))
        raise RuntimeError("boom")
    assert journal.get(item_id).state == "claiming"
    assert journal.uploads(item_id) == {}
    # The connection is usable again: the failed transaction left no lock behind.
    journal.set_state(item_id, "claimed")
    assert journal.get(item_id).state == "claimed"


def test_begin_claim_records_the_item_in_state_claiming(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    record = journal.get(item_id)
    assert (record.name, record.claim, record.state, record.item) == ("clip", "clip~own~tok", "claiming", ITEM)
    assert (record.idempotency_key, record.publish_body, record.publish_id) == (None, None, None)


def test_record_upload_is_read_back_by_uploads_and_found_again_by_its_fingerprint(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.record_upload(item_id, "clip.mp4", "content-1", "ab" * 32)
    assert journal.uploads(item_id) == {"clip.mp4": ("content-1", "ab" * 32)}
    journal.set_state(item_id, Step.RETURNED)  # given back to the inbox after a passing error
    again = journal.begin_claim("clip", "clip~own~tok2", ITEM)
    assert journal.adopt_upload(again, "clip.mp4", "ab" * 32) == "content-1"
    assert (journal.uploads(again), journal.uploads(item_id)) == ({"clip.mp4": ("content-1", "ab" * 32)}, {})
    assert journal.adopt_upload(journal.begin_claim("clip", "clip~own~tok3", ITEM), "clip.mp4", "ab" * 32) is None


@pytest.mark.parametrize("step", [Step.UPLOADING, Step.DONE])
def test_an_upload_still_in_flight_or_of_an_ended_item_is_not_adopted(journal: Journal, step: Step) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.record_upload(item_id, "clip.mp4", "content-1", "ab" * 32)
    journal.set_state(item_id, step)
    assert journal.adopt_upload(journal.begin_claim("clip", "clip~own~tok2", ITEM), "clip.mp4", "ab" * 32) is None


def test_an_upload_of_a_returned_item_that_was_published_is_not_adopted(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.record_upload(item_id, "clip.mp4", "content-1", "ab" * 32)
    journal.record_publish_id(item_id, "pub-1")
    journal.set_state(item_id, Step.RETURNED)  # its files were taken back by a twin after the publish
    assert journal.adopt_upload(journal.begin_claim("clip", "clip~own~tok2", ITEM), "clip.mp4", "ab" * 32) is None


def test_record_publish_intent_keeps_the_exact_body_and_key(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.record_publish_intent(item_id, "pqdrop-abc", BODY)
    record = journal.get(item_id)
    assert record.state == "publishing"
    assert record.idempotency_key == "pqdrop-abc"
    assert record.publish_body == BODY


def test_record_publish_id_moves_the_item_to_following_after_the_attempts_counted(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.record_publish_intent(item_id, "pqdrop-abc", BODY)
    assert journal.get(item_id).attempts == 0
    journal.note_publish_attempt(item_id)
    journal.note_publish_attempt(item_id)  # resumed after a stop: the recorded request is sent again
    journal.record_publish_id(item_id, "pub-1")
    record = journal.get(item_id)
    assert (record.state, record.publish_id, record.attempts) == ("following", "pub-1", 2)
    assert record.publish_body == BODY


def test_record_filing_fixes_destination_stem_and_status_before_any_move(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    status = {"item": "clip", "state": "published", "publishId": "pub-1"}
    journal.record_filing(item_id, "sent", "clip (2)", status)
    record = journal.get(item_id)
    assert (record.state, record.destination, record.stem, record.status) == ("filing", "sent", "clip (2)", status)


def test_unfinished_lists_items_in_flight_oldest_first_and_leaves_out_finished_ones(journal: Journal) -> None:
    assert {"done", "returned"} <= set(SETTLED_STEPS)
    in_flight = ("claiming", "claimed", "uploading", "publishing", "following", "filing")
    ids = {state: journal.begin_claim(state, f"{state}~own~tok", ITEM) for state in (*in_flight, *SETTLED_STEPS)}
    for state, item_id in ids.items():
        journal.set_state(item_id, state)
    assert [record.name for record in journal.unfinished()] == list(in_flight)


def test_set_state_keeps_the_last_error_when_none_is_given(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.set_state(item_id, "returned", error="API unreachable")
    journal.set_state(item_id, "returned")
    assert journal.get(item_id).last_error == "API unreachable"


def test_forget_removes_the_item_and_its_uploads(journal: Journal) -> None:
    item_id = journal.begin_claim("clip", "clip~own~tok", ITEM)
    journal.record_upload(item_id, "clip.mp4", "content-1", "ab" * 32)
    journal.forget(item_id)
    assert journal.claims() == set()
    assert journal.uploads(item_id) == {}


def test_writes_survive_a_reopen_as_they_were_committed(tmp_path: Path) -> None:
    first = Journal(tmp_path / "state")
    item_id = first.begin_claim("clip", "clip~own~tok", ITEM)
    first.record_upload(item_id, "clip.mp4", "content-1", "ab" * 32)
    first.record_publish_intent(item_id, "pqdrop-abc", BODY)
    first.close()
    second = Journal(tmp_path / "state")
    try:
        [record] = second.unfinished()
        assert (record.state, record.idempotency_key, record.publish_body) == ("publishing", "pqdrop-abc", BODY)
        assert second.uploads(item_id) == {"clip.mp4": ("content-1", "ab" * 32)}
    finally:
        second.close()


def test_an_unusable_state_dir_is_a_passing_service_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ServiceUnavailable, match="cannot open the journal") as caught:
        Journal(blocker)
    assert str(blocker) in caught.value.message


# --- read-only, beside a running daemon -------------------------------------------------------------


def test_a_read_only_journal_sees_what_a_writer_still_holding_it_committed(tmp_path: Path) -> None:
    writer = Journal(tmp_path / "state")
    try:
        item_id = writer.begin_claim("clip", "clip~own~tok", ITEM)
        writer.set_state(item_id, "uploading")
        reader = Journal(tmp_path / "state", read_only=True)
        try:
            writer.record_publish_intent(item_id, "pqdrop-abc", BODY)  # the writer goes on while a reader is open
            assert [(r.name, r.state) for r in reader.unfinished()] == [("clip", "publishing")]
        finally:
            reader.close()
    finally:
        writer.close()


def test_a_read_only_journal_refuses_writes(tmp_path: Path) -> None:
    Journal(tmp_path / "state").close()
    reader = Journal(tmp_path / "state", read_only=True)
    try:
        with pytest.raises(JournalError, match="readonly"):
            reader.begin_claim("clip", "clip~own~tok", ITEM)
    finally:
        reader.close()


def test_reading_a_closed_journal_leaves_no_wal_or_shm_file_behind(tmp_path: Path) -> None:
    """Files a `sudo pqdrop status` made would belong to root and lock the daemon's own user out."""
    writer = Journal(tmp_path / "state")
    writer.begin_claim("clip", "clip~own~tok", ITEM)
    writer.close()
    before = sorted(p.name for p in (tmp_path / "state").iterdir())
    reader = Journal(tmp_path / "state", read_only=True)
    try:
        assert [r.state for r in reader.unfinished()] == ["claiming"]
        assert sorted(p.name for p in (tmp_path / "state").iterdir()) == before == [JOURNAL_FILE]
    finally:
        reader.close()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [JOURNAL_FILE]


def test_a_read_only_open_of_a_missing_journal_is_a_config_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable, match="no journal at"):
        Journal(tmp_path / "state", read_only=True)
    assert not (tmp_path / "state").exists()


def test_a_read_only_open_of_a_journal_an_older_pqdrop_still_runs_says_to_restart_it(tmp_path: Path) -> None:
    Journal(tmp_path / "state").close()
    db = sqlite3.connect(tmp_path / "state" / JOURNAL_FILE)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    db.close()
    with pytest.raises(ServiceUnavailable, match=f"schema {len(MIGRATIONS) - 1} of {len(MIGRATIONS)}: an older pqdrop"):
        Journal(tmp_path / "state", read_only=True)
    assert user_version(tmp_path / "state" / JOURNAL_FILE) == len(MIGRATIONS) - 1
