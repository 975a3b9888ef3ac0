"""Posting slots: the pure choice across DST changes, reservations in a real journal, and real posts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.conftest import make_client, sidecar, write_config

from pqdrop.config import load_config
from pqdrop.inbox.items import Item
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.posting.slots import next_free_slot, upcoming
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Workers, once

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
MORNING_AND_EVENING = (time(9, 0), time(18, 30))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- the pure choice ---------------------------------------------------------------------------


def test_the_first_slot_after_the_moment_is_chosen() -> None:
    after = datetime(2026, 1, 12, 10, 0, tzinfo=BERLIN)
    assert next_free_slot(MORNING_AND_EVENING, (), BERLIN, after, set()) == utc(2026, 1, 12, 17, 30)


def test_a_slot_exactly_at_the_moment_is_not_after_it() -> None:
    after = datetime(2026, 1, 12, 18, 30, tzinfo=BERLIN)
    assert next_free_slot(MORNING_AND_EVENING, (), BERLIN, after, set()) == utc(2026, 1, 13, 8, 0)


def test_taken_slots_are_skipped() -> None:
    after = datetime(2026, 1, 12, 10, 0, tzinfo=BERLIN)
    taken = {utc(2026, 1, 12, 17, 30), utc(2026, 1, 13, 8, 0)}
    assert next_free_slot(MORNING_AND_EVENING, (), BERLIN, after, taken) == utc(2026, 1, 13, 17, 30)


def test_only_the_configured_weekdays_have_slots() -> None:
    friday_evening = datetime(2026, 1, 16, 20, 0, tzinfo=BERLIN)
    assert next_free_slot(MORNING_AND_EVENING, ("mon", "wed"), BERLIN, friday_evening, set()) == utc(2026, 1, 19, 8, 0)


def test_a_moment_given_in_another_zone_is_compared_as_an_instant() -> None:
    # 23:30 UTC is already 00:30 the next day in Berlin, so that day's 00:45 slot is still ahead.
    assert next_free_slot((time(0, 45),), (), BERLIN, utc(2026, 1, 12, 23, 30), set()) == utc(2026, 1, 12, 23, 45)


def test_a_slot_keeps_its_wall_clock_time_across_the_spring_change_in_new_york() -> None:
    after = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)  # the clocks go forward on Sunday 8 March 2026
    first = next_free_slot((time(9, 0),), (), NEW_YORK, after, set())
    second = next_free_slot((time(9, 0),), (), NEW_YORK, after, {first})
    assert (first, second) == (utc(2026, 3, 8, 13, 0), utc(2026, 3, 9, 13, 0))  # 09:00 EDT, -4 h
    assert next_free_slot((time(9, 0),), (), NEW_YORK, after - timedelta(days=1), set()) == utc(2026, 3, 7, 14, 0)


def test_a_slot_the_clocks_skip_in_new_york_is_skipped_that_day_only() -> None:
    after = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    slots = (time(2, 30), time(9, 0))
    assert next_free_slot(slots, (), NEW_YORK, after, set()) == utc(2026, 3, 8, 13, 0)  # 09:00 EDT; no 02:30
    assert next_free_slot(slots, (), NEW_YORK, after, {utc(2026, 3, 8, 13, 0)}) == utc(2026, 3, 9, 6, 30)


def test_a_slot_the_clocks_skip_in_berlin_is_skipped() -> None:
    after = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # the clocks go forward on Sunday 29 March 2026
    assert next_free_slot((time(2, 30),), (), BERLIN, after, set()) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST


def test_a_slot_the_clocks_repeat_in_berlin_is_its_first_occurrence() -> None:
    after = datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN)  # the clocks go back on Sunday 25 October 2026
    first = next_free_slot((time(2, 30),), (), BERLIN, after, set())
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET an hour later
    assert next_free_slot((time(2, 30),), (), BERLIN, after, {first}) == utc(2026, 10, 26, 1, 30)  # CET


def test_a_slot_the_clocks_repeat_in_new_york_is_its_first_occurrence() -> None:
    after = datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK)  # the clocks go back on Sunday 1 November 2026
    assert next_free_slot((time(1, 30),), (), NEW_YORK, after, set()) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


def test_the_evening_slot_moves_with_the_autumn_change_in_berlin() -> None:
    after = datetime(2026, 10, 24, 19, 0, tzinfo=BERLIN)
    assert next_free_slot((time(18, 30),), (), BERLIN, after, set()) == utc(2026, 10, 25, 17, 30)  # CET, +1 h


def test_no_slots_to_choose_from_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no posting slots"):
        next_free_slot((), (), BERLIN, utc(2026, 1, 1), set())


# --- reservations in the journal ------------------------------------------------------------------


NOW = utc(2026, 1, 12, 9, 0)


def new_item(journal: Journal, name: str) -> int:
    return journal.begin_claim(name, f"{name}.claim", Item(name, (), None))


def picker(taken: frozenset[datetime]) -> datetime:
    return next_free_slot(MORNING_AND_EVENING, (), BERLIN, NOW, taken)


def test_a_reservation_survives_reopening_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    item = new_item(journal, "clip")
    held = journal.reserve_slot(item, "@mybrand", picker, now=NOW)
    journal.close()
    reopened = Journal(tmp_path)
    # On a resume the item asks again; it gets the slot it holds, not a reshuffled one.
    again = reopened.reserve_slot(item, "@mybrand", lambda taken: utc(2030, 1, 1), now=NOW)
    assert (held, again, reopened.slot_of(item, "@mybrand")) == (utc(2026, 1, 12, 17, 30),) * 3
    reopened.close()


def test_two_items_never_share_a_slot(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    first = journal.reserve_slot(new_item(journal, "a"), "@mybrand", picker, now=NOW)
    second = journal.reserve_slot(new_item(journal, "b"), "@mybrand", picker, now=NOW)
    assert (first, second) == (utc(2026, 1, 12, 17, 30), utc(2026, 1, 13, 8, 0))
    journal.close()


def test_each_account_has_its_own_slots(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    item = new_item(journal, "both")
    assert journal.reserve_slot(item, "@mybrand", picker, now=NOW) == journal.reserve_slot(
        item, "@otherbrand", picker, now=NOW)
    journal.close()


def test_items_reserving_at_once_from_many_threads_get_distinct_slots(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    items = [new_item(journal, f"item-{n}") for n in range(12)]
    got: list[datetime] = []
    threads = [threading.Thread(target=lambda i=i: got.append(journal.reserve_slot(i, "@mybrand", picker, now=NOW)))
               for i in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(got)) == 12
    journal.close()


def test_a_held_slot_that_has_passed_is_exchanged_for_the_next_free_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    item = new_item(journal, "clip")
    journal.reserve_slot(item, "@mybrand", picker, now=NOW)
    later = utc(2026, 1, 12, 20, 0)
    moved = journal.reserve_slot(item, "@mybrand", lambda taken: next_free_slot(
        MORNING_AND_EVENING, (), BERLIN, later, taken), now=later)
    assert moved == utc(2026, 1, 13, 8, 0)
    journal.close()


def test_the_slot_of_a_failed_item_is_free_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    failed = new_item(journal, "broken")
    first = journal.reserve_slot(failed, "@mybrand", picker, now=NOW)
    journal.record_filing(failed, "failed", "broken", {"state": "failed"})
    again = journal.reserve_slot(new_item(journal, "fixed"), "@mybrand", picker, now=NOW)
    assert first == again == utc(2026, 1, 12, 17, 30)
    journal.close()


def test_upcoming_lists_the_slots_still_ahead_soonest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for name, account in (("a", "@mybrand"), ("b", "@mybrand"), ("c", "@otherbrand")):
        journal.reserve_slot(new_item(journal, name), account, picker, now=NOW)
    assert upcoming(journal, NOW) == [
        (utc(2026, 1, 12, 17, 30), "@mybrand", "a"),
        (utc(2026, 1, 12, 17, 30), "@otherbrand", "c"),
        (utc(2026, 1, 13, 8, 0), "@mybrand", "b"),
    ]
    assert upcoming(journal, utc(2026, 1, 12, 18, 0)) == [(utc(2026, 1, 13, 8, 0), "@mybrand", "b")]
    journal.close()


# --- against the sandbox -------------------------------------------------------------------------


@pytest.fixture
def slot_service(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Iterator[Workers]:
    config = load_config(write_config(
        tmp_path, sandbox.url,
        schedule={"slots": ["09:00", "18:30"]},
        accounts={"@otherbrand": {"caption_suffix": "#other", "privacyLevel": "SELF_ONLY"}},
    ))
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
        yield service
    journal.close()


def test_a_two_target_item_goes_out_as_one_publish_with_both_targets(
    slot_service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md", 'targets:\n  - account: "@mybrand"\n  - account: "@otherbrand"\n    intent: draft\n',
            "Hello #fyp")
    assert once(slot_service)[0] == EXIT_OK
    [publish] = sandbox.state_summary()["publishes"]
    accounts = {account.username: account.id for account in slot_service.client.platform_accounts("tiktok")}
    mine, other = publish["targets"]
    assert (mine["accountId"], mine["intent"], mine["caption"], mine["options"]) == (
        accounts["@mybrand"], "publish", "Hello #fyp", {})
    assert (other["accountId"], other["intent"], other["caption"], other["options"]) == (
        accounts["@otherbrand"], "draft", "Hello #fyp #other", {"privacyLevel": "SELF_ONLY"})


def berlin_wall_time(stamp: str) -> str:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(BERLIN).strftime("%H:%M")


def test_next_items_take_distinct_slots_that_the_publish_and_the_calendar_carry(
    slot_service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    for name, width in (("first", 360), ("second", 362)):  # different media: not a re-drop of the same post
        make_video(inbox / f"{name}.mp4", width=width, height=640, seconds=1)
        sidecar(inbox / f"{name}.md", "dispatchAt: next\n")
    before = datetime.now(UTC)
    assert once(slot_service)[0] == EXIT_OK
    stamps = sorted(p["targets"][0]["dispatchAt"] for p in sandbox.state_summary()["publishes"])
    assert len(set(stamps)) == 2
    assert {berlin_wall_time(stamp) for stamp in stamps} <= {"09:00", "18:30"}
    calendar = upcoming(slot_service.journal, before)
    assert [stamp for stamp, _, _ in calendar] == [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    assert {(account, item) for _, account, item in calendar} == {("@mybrand", "first"), ("@mybrand", "second")}
    for record in slot_service.journal.recent():
        # The slot is in the recorded body, so a retry of the publish sends the very same time.
        assert record.publish_body is not None
        assert record.publish_body["targets"][0]["dispatchAt"] in stamps


def test_next_without_slots_fails_the_item_naming_the_setting(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md", "dispatchAt: next\n")
    assert once(service)[0] == EXIT_FAILED
    message = (inbox / "failed" / "clip.status.json").read_text()
    assert "dispatchAt: next takes @mybrand's next free posting slot, but no slots are configured" in message
    assert "[schedule] slots" in message
    assert sandbox.state_summary()["publishes"] == []
