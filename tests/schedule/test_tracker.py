"""Following filed posts to their end: scheduled posts confirmed, late failures moved to failed/."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import sidecar

from pqdrop.media.mediagen import make_video
from pqdrop.posting.pipeline import now_utc
from pqdrop.sandbox import Sandbox
from pqdrop.schedule.tracker import Timing, Tracker, next_check
from pqdrop.service.workers import EXIT_OK, Workers, once

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_scheduled_post_is_checked_just_after_its_dispatch() -> None:
    status = {"targets": [{"status": "scheduled", "dispatchAt": "2026-12-01T13:00:00Z"}]}
    assert next_check(status, NOW, 0).at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC) + Timing().after_dispatch


def test_a_post_scheduled_days_ahead_is_still_looked_at_every_six_hours() -> None:
    status = {"targets": [{"status": "scheduled", "dispatchAt": "2026-12-05T13:00:00Z"}]}
    assert next_check(status, NOW, 0).at == NOW + timedelta(hours=6)


def test_an_unconfirmed_post_is_checked_with_a_growing_gap_up_to_fifteen_minutes() -> None:
    status = {"targets": [{"status": "processing"}]}
    gaps = []
    quiet = 0
    for _ in range(8):
        due = next_check(status, NOW, quiet)
        gaps.append(due.at - NOW)
        quiet = due.quiet_checks
    assert gaps[0] == Timing().first_check and gaps[1] == 2 * Timing().first_check
    assert gaps[-1] == Timing().longest_gap


def wait_until(condition, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


FAST = Timing(first_check=timedelta(seconds=0.2), longest_gap=timedelta(seconds=1),
              after_dispatch=timedelta(seconds=0.3))


def fast_tracker(service: Workers) -> Tracker:
    return Tracker(service.config.inbox.path, service.journal, service.client, now_utc, FAST)


def soon(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_scheduled_item_is_followed_until_published(service: Workers, inbox: Path) -> None:
    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", f"dispatchAt: {soon(3)}\n")
    assert once(service)[0] == EXIT_OK
    waiting = inbox / "scheduled" / "later.status.json"
    assert json.loads(waiting.read_text())["state"] == "scheduled"
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == ["later.md", "later.mp4", "later.status.json"]

    tracker = fast_tracker(service)
    status_path = inbox / "sent" / "later.status.json"

    def published() -> bool:
        tracker.check_due()
        return status_path.exists() and json.loads(status_path.read_text())["state"] == "published"

    wait_until(published)
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []
    document = json.loads(status_path.read_text())
    assert document["movedFrom"] == "scheduled/later"
    assert document["targets"][0]["status"] == "published"
    assert document["files"] == ["later.mp4", "later.md"]
    assert service.journal.tracking() == []


def test_a_target_that_fails_late_moves_the_item_from_scheduled_to_failed(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "doomed.mp4", seconds=1)
    sidecar(inbox / "doomed.md", f"account: '@failing'\ndispatchAt: {soon(3)}\n")
    assert once(service)[0] == EXIT_OK
    assert (inbox / "scheduled" / "doomed.mp4").exists()
    tracker = fast_tracker(service)
    wait_until(lambda: tracker.check_due() > 0)
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["doomed.md", "doomed.mp4", "doomed.status.json"]
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []
    error = json.loads((inbox / "failed" / "doomed.status.json").read_text())["error"]
    assert error["code"] == "PLATFORM_FAILED" and "failed" in error["message"]
    states = [json.loads(line)["state"] for line in (inbox / "status.log").read_text().splitlines()]
    assert states[-2:] == ["scheduled", "failed"]


def test_a_scheduled_post_deleted_in_postqued_moves_the_item_to_failed_saying_so(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "gone.mp4", seconds=1)
    sidecar(inbox / "gone.md", f"dispatchAt: {soon(3600)}\n")
    assert once(service)[0] == EXIT_OK
    publish_id = json.loads((inbox / "scheduled" / "gone.status.json").read_text())["publishId"]
    sandbox.state.delete_publish(publish_id)
    assert fast_tracker(service).check_due() == 1
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["gone.md", "gone.mp4", "gone.status.json"]
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []
    status = json.loads((inbox / "failed" / "gone.status.json").read_text())
    assert (status["state"], status["publishId"]) == ("failed", publish_id)
    assert status["error"]["code"] == "PUBLISH_NOT_FOUND"
    assert status["error"]["message"].startswith(f"publish {publish_id} can no longer be checked: ")
    assert "may have been deleted in PostQued" in status["error"]["message"]
    assert service.journal.tracking() == []
    service.write_agenda()
    assert "gone" not in (inbox / "SCHEDULE.md").read_text()
    states = [json.loads(line)["state"] for line in (inbox / "status.log").read_text().splitlines()]
    assert states[-2:] == ["scheduled", "failed"]


def test_the_status_line_names_the_next_scheduled_post(service: Workers, inbox: Path) -> None:
    from pqdrop.inbox.items import Plan
    from pqdrop.service.daemon import status_line

    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", "dispatchAt: 2030-06-01T18:00:00\n")
    assert once(service)[0] == EXIT_OK
    upcoming = service.tracker.next_dispatch()
    assert upcoming == datetime(2030, 6, 1, 16, 0, tzinfo=UTC)
    line = status_line(Plan(), None, False, False, upcoming.astimezone(service.config.defaults.zone))
    assert line == "0 waiting, 0 ready, next scheduled Jun 01 18:00 CEST"


def test_a_late_failure_cut_short_mid_move_is_finished_on_the_next_start(
    service: Workers, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pqdrop.schedule.tracker as tracker_module
    from pqdrop.folders.filing import move

    make_video(inbox / "doomed.mp4", seconds=1)
    sidecar(inbox / "doomed.md", f"account: '@failing'\ndispatchAt: {soon(3)}\n")
    assert once(service)[0] == EXIT_OK

    def crash_after_first_move(source: Path, folder: Path, *args: object, **kwargs: object) -> Path:
        folder.mkdir(exist_ok=True)
        move(source / "doomed.mp4", folder / "doomed.mp4")
        raise OSError("power cut")  # stands in for the process dying between the two moves

    monkeypatch.setattr(tracker_module, "file_claim", crash_after_first_move)
    first_life = fast_tracker(service)
    with pytest.raises(OSError, match="power cut"):
        wait_until(lambda: first_life.check_due() > 0)
    monkeypatch.undo()
    assert (inbox / "failed" / "doomed.mp4").exists() and (inbox / "scheduled" / "doomed.md").exists()

    fast_tracker(service).recover()  # the next start
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["doomed.md", "doomed.mp4", "doomed.status.json"]
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []
    document = json.loads((inbox / "failed" / "doomed.status.json").read_text())
    assert document["movedFrom"] == "scheduled/doomed" and document["state"] == "failed"


def test_a_multi_target_item_stays_in_scheduled_until_every_target_is_final(service: Workers, inbox: Path) -> None:
    make_video(inbox / "pair.mp4", seconds=1)
    sidecar(inbox / "pair.md", f"targets:\n  - account: '@mybrand'\n  - account: '@otherbrand'\n"
                               f"    dispatchAt: {soon(3)}\n")
    assert once(service)[0] == EXIT_OK
    document = json.loads((inbox / "scheduled" / "pair.status.json").read_text())
    assert document["state"] == "scheduled"
    assert sorted(target["status"] for target in document["targets"]) == ["published", "scheduled"]
    tracker = fast_tracker(service)
    wait_until(lambda: tracker.check_due() > 0)
    assert json.loads((inbox / "sent" / "pair.status.json").read_text())["state"] == "published"
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []


def test_an_old_journals_scheduled_item_in_sent_moves_to_scheduled_on_the_first_start(
    service: Workers, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pqdrop.states import ItemState

    make_video(inbox / "legacy.mp4", seconds=1)
    sidecar(inbox / "legacy.md", "dispatchAt: 2030-06-01T18:00:00\n")
    # The old code path: every state but failed was filed in sent/.
    monkeypatch.setattr(ItemState, "folder", property(lambda self: "failed" if self is ItemState.FAILED else "sent"))
    assert once(service)[0] == EXIT_OK
    monkeypatch.undo()
    assert sorted(p.name for p in (inbox / "sent").iterdir()) == ["legacy.md", "legacy.mp4", "legacy.status.json"]
    assert service.journal.tracking()[0].destination == "sent"

    notes = service.recover()  # the first start of the new version
    assert notes == ["legacy: moved from sent/ to scheduled/, where scheduled posts now wait"]
    assert sorted(p.name for p in (inbox / "sent").iterdir()) == []
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == ["legacy.md", "legacy.mp4", "legacy.status.json"]
    document = json.loads((inbox / "scheduled" / "legacy.status.json").read_text())
    assert document["state"] == "scheduled" and document["movedFrom"] == "sent/legacy"
    [again] = service.journal.tracking()
    assert (again.destination, again.stem) == ("scheduled", "legacy")
    assert service.recover() == []  # only once


@pytest.mark.slow
def test_a_file_named_sent_holds_a_finished_scheduled_item_in_scheduled_until_moved_away(
    service: Workers, inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", f"dispatchAt: {soon(2)}\n")
    assert once(service)[0] == EXIT_OK
    (inbox / "sent").write_text("my notes\n")
    tracker = fast_tracker(service)
    time.sleep(2.5)  # past its dispatchAt: the post is published, the move to sent/ is due

    for _ in range(5):
        tracker.check_due()  # never raises: the move waits
        time.sleep(0.3)

    assert (inbox / "sent").read_text() == "my notes\n"
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == ["later.md", "later.mp4", "later.status.json"]
    said = [r.getMessage() for r in caplog.records if "cannot be filed now" in r.getMessage()]
    assert said == [f"later: cannot be filed now, tried again later: sent in {inbox} is a file, not a folder; "
                    "move it away: pqdrop needs a sent/ folder there, and never moves or deletes what you put there"]

    (inbox / "sent").rename(inbox.parent / "sent.txt")
    tracker.check_due()
    document = json.loads((inbox / "sent" / "later.status.json").read_text())
    assert (document["state"], document["movedFrom"]) == ("published", "scheduled/later")
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []
    assert service.journal.tracking() == []
