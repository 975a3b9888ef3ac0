"""What `pqdrop status` makes of what it read: pure rows and their text, without disks or processes.

The command itself, against a real inbox, journal and daemon, is tested in tests/test_cli.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from pqdrop.commands.status import (
    CONFLICTED,
    InFlightRow,
    Overview,
    Pause,
    ScheduledRow,
    SlotRow,
    pause_from_log,
    render_json,
    render_text,
    waiting_rows,
)
from pqdrop.inbox.items import Item, Plan, Waiting

NOW = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
REVOKED = "GET /v1/platform-accounts: This API key has been revoked (UNAUTHORIZED)"
NO_SUBSCRIPTION = "GET /v1/platform-accounts: An active subscription is required (SUBSCRIPTION_REQUIRED)"


def log_line(minute: int, item: str, state: str, **fields: str) -> dict[str, str]:
    return {"time": f"2026-11-28T17:{minute:02d}:00+00:00", "item": item, "state": state, **fields}


BASE = Overview(inbox=Path("/srv/inbox"), now=NOW, zone=BERLIN, running={})


def view(**fields: object) -> Overview:
    return replace(BASE, **fields)


def section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{title} ("))
    rows = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        rows.append(" ".join(line.split()))
    return rows


# --- posting paused --------------------------------------------------------------------------------


def test_a_give_back_blaming_the_key_pauses_posting_since_the_first_such_line() -> None:
    log = [log_line(1, "a", "uploading"), log_line(2, "a", "waiting", reason=REVOKED),
           log_line(5, "a", "uploading"), log_line(6, "a", "waiting", reason=NO_SUBSCRIPTION)]
    assert pause_from_log(log) == Pause(NO_SUBSCRIPTION, datetime(2026, 11, 28, 17, 2, tzinfo=UTC))


def test_a_post_the_api_accepted_after_the_refusal_ends_the_pause() -> None:
    log = [log_line(2, "a", "waiting", reason=REVOKED), log_line(3, "b", "publishing")]
    assert pause_from_log(log) is None


def test_a_give_back_for_a_passing_outage_is_not_a_pause() -> None:
    log = [log_line(2, "a", "waiting", reason="POST /v1/content/upload: Workers Unavailable (HTTP_503)")]
    assert pause_from_log(log) is None


# --- waiting ---------------------------------------------------------------------------------------


def test_waiting_rows_give_each_reason_a_conflicted_copy_and_what_stopped_a_ready_item() -> None:
    plan = Plan(
        ready=(Item("clip", (PurePosixPath("clip.mp4"),), PurePosixPath("clip.md")),
               Item("fresh", (PurePosixPath("fresh.mp4"),), PurePosixPath("fresh.md"))),
        waiting=(Waiting("lonely", "waiting for its sidecar lonely.md", "sidecar"),),
        conflicts=(PurePosixPath("clip (conflicted copy).md"),),
    )
    log = [log_line(1, "clip", "uploading"), log_line(2, "clip", "waiting", reason=REVOKED)]
    assert [(row.name, row.reason) for row in waiting_rows(plan, log)] == [
        ("clip", f"ready; last try: {REVOKED}"),
        ("clip (conflicted copy).md", CONFLICTED),
        ("fresh", "ready"),
        ("lonely", "waiting for its sidecar lonely.md"),
    ]


def test_a_ready_item_stopped_by_the_pause_does_not_repeat_the_top_lines_reason() -> None:
    plan = Plan(ready=(Item("clip", (PurePosixPath("clip.mp4"),), PurePosixPath("clip.md")),))
    log = [log_line(2, "clip", "waiting", reason=REVOKED)]
    text = render_text(view(paused=pause_from_log(log), waiting=waiting_rows(plan, log)))
    assert text.splitlines()[2] == f"posting was paused when pqdrop last tried, 18:02:00 CET (28 min ago): {REVOKED}"
    assert section(text, "waiting") == ["clip ready; posting paused"]


# --- the text --------------------------------------------------------------------------------------


def test_the_top_lines_say_whether_the_daemon_runs_and_with_which_pid() -> None:
    lines = render_text(view(running={"a1b2c3d4": 4242})).splitlines()
    assert lines[:2] == ["inbox /srv/inbox", "daemon: running (pid 4242)"]
    assert render_text(view()).splitlines()[1] == "daemon: not running"


def test_an_in_flight_row_gives_step_local_time_attempts_and_last_error() -> None:
    row = InFlightRow("clip", "publishing", NOW - timedelta(minutes=3), 2, "POST /v1/content/publish: timed out")
    running = render_text(view(running={"a1b2c3d4": 4242}, in_flight=[row]))
    assert section(running, "in flight") == [
        "clip publishing since 18:27:00 CET (3 min ago), publish attempts 2,"
        " last error: POST /v1/content/publish: timed out"]
    stopped = render_text(view(in_flight=[row]))
    assert section(stopped, "in flight")[0].endswith("timed out; resumes at this step when pqdrop starts")


def test_a_scheduled_row_shows_the_accounts_and_the_time_in_the_configured_zone_and_in_utc() -> None:
    row = ScheduledRow("later", ("@mybrand", "@otherbrand"), (datetime(2030, 6, 1, 18, tzinfo=UTC),), "pub-1")
    assert section(render_text(view(scheduled=[row])), "scheduled") == [
        "later @mybrand, @otherbrand 2030-06-01 20:00 CEST (18:00 UTC) scheduled pub-1"]


def test_a_scheduled_time_on_another_day_in_utc_gives_the_utc_date_too() -> None:
    row = ScheduledRow("late", ("@mybrand",), (datetime(2030, 6, 1, 2, 30, tzinfo=UTC),), "pub-2")
    text = render_text(view(zone=ZoneInfo("America/New_York"), scheduled=[row]))
    assert section(text, "scheduled") == ["late @mybrand 2030-05-31 22:30 EDT (2030-06-01 02:30 UTC) scheduled pub-2"]


def test_a_scheduled_row_without_a_time_waits_for_postqued_to_confirm() -> None:
    row = ScheduledRow("clip", ("acc_1",), (), "pub-3")
    assert section(render_text(view(scheduled=[row])), "scheduled") == [
        "clip acc_1 waiting for PostQued to confirm scheduled pub-3"]


def test_the_json_gives_instants_in_utc_and_the_local_time_beside_them() -> None:
    row = ScheduledRow("later", ("@mybrand",), (datetime(2030, 6, 1, 18, tzinfo=UTC),), "pub-1")
    document = json.loads(render_json(view(running={"a1b2c3d4": 4242}, scheduled=[row])))
    assert document["daemon"] == {"running": True, "pids": [4242]}
    assert document["scheduled"] == [{
        "name": "later", "accounts": ["@mybrand"], "dispatchAt": ["2030-06-01T18:00:00Z"],
        "dispatchAtLocal": ["2030-06-01T20:00:00+02:00"], "state": "scheduled", "publishId": "pub-1"}]
    assert document["timezone"] == "Europe/Berlin" and document["postingPaused"] is None


def test_upcoming_slots_lead_with_the_time_and_align_their_accounts() -> None:
    rows = [SlotRow(datetime(2026, 11, 29, 8, tzinfo=UTC), "@mybrand", "third"),
            SlotRow(datetime(2026, 11, 29, 8, tzinfo=UTC), "@otherbrand", "second")]
    lines = render_text(view(slots=rows)).splitlines()
    start = lines.index("upcoming slots (2)")
    assert lines[start + 1:start + 3] == [
        "  2026-11-29 09:00 CET (08:00 UTC)  @mybrand     third",
        "  2026-11-29 09:00 CET (08:00 UTC)  @otherbrand  second",
    ]


# --- upload progress and canceled items (issue 23) ---------------------------------------------------


def test_an_uploading_row_gives_bytes_share_rate_and_time_left() -> None:
    from pqdrop.service.systemd import Upload

    row = InFlightRow("interview", "uploading", NOW - timedelta(seconds=41), 0, None)
    upload = Upload("interview", 310_400_000, 742_000_000, 7_600_000.0)
    text = render_text(view(in_flight=[row], uploads=[upload], running={"o": 1}))
    assert section(text, "in flight") == [
        "interview uploading since 18:29:19 CET (41 s ago), publish attempts 0, uploaded 310.4 of 742.0 MB (41 %) "
        "at 7.6 MB/s, 57 s left"]
    [document] = json.loads(render_json(view(in_flight=[row], uploads=[upload])))["inFlight"]
    assert document["upload"] == {"sent": 310_400_000, "total": 742_000_000, "percent": 41,
                                  "bytesPerSecond": 7_600_000.0, "secondsLeft": (742_000_000 - 310_400_000) / 7.6e6}


def test_an_upload_whose_rate_is_not_known_yet_gives_bytes_and_share_only() -> None:
    from pqdrop.service.systemd import Upload

    row = InFlightRow("clip", "uploading", NOW, 0, None)
    text = render_text(view(in_flight=[row], uploads=[Upload("clip", 1_000_000, 4_000_000, None)]))
    assert section(text, "in flight")[0].endswith("publish attempts 0, uploaded 1.0 of 4.0 MB (25 %); resumes at "
                                                  "this step when pqdrop starts")


def test_canceled_items_have_their_section_with_the_local_time() -> None:
    from pqdrop.commands.status import CanceledRow

    rows = [CanceledRow("teaser", "5b0e6a91", datetime(2026, 11, 27, 19, 14, tzinfo=UTC)), CanceledRow("x", None, None)]
    text = render_text(view(canceled=rows))
    assert section(text, "canceled") == ["teaser canceled 2026-11-27 20:14 CET (22 h ago) 5b0e6a91", "x canceled"]
    assert json.loads(render_json(view(canceled=rows)))["canceled"] == [
        {"name": "teaser", "publishId": "5b0e6a91", "canceledAt": "2026-11-27T19:14:00Z"},
        {"name": "x", "publishId": None, "canceledAt": None}]
