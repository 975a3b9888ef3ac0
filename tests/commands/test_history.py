"""`pqdrop status --history [NAME]`: status.log as a story a person reads, by day, times in the configured zone."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.conftest import make_client, sidecar, write_config

from pqdrop.commands import main
from pqdrop.commands.history import story
from pqdrop.config import load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED, Workers, once

BERLIN = ZoneInfo("Europe/Berlin")
URL = "https://www.tiktok.com/@mybrand/video/7301"
LOG = [
    {"time": "2026-11-28T22:59:58+00:00", "item": "launch", "state": "uploading"},
    {"time": "2026-11-28T23:00:05+00:00", "item": "launch", "state": "following", "publishId": "p1"},
    {"time": "2026-11-28T23:00:40+00:00", "item": "launch", "state": "published", "publishId": "p1",
     "targets": [{"id": "t", "status": "published", "url": URL}]},
    {"time": "2026-11-28T23:01:00+00:00", "item": "typo", "state": "failed",
     "error": {"code": "SIDECAR_UNKNOWN_KEY", "message": "typo.md: dispatchat: unknown key; did you mean dispatchAt?"}},
    {"time": "2026-11-28T23:02:00+00:00", "item": "big", "state": "waiting", "reason": "stuck arriving for 25 h"},
    {"time": "2026-11-28T23:03:00+00:00", "item": "recipe", "state": "scheduled", "publishId": "p2",
     "targets": [{"id": "t", "status": "scheduled", "dispatchAt": "2026-11-29T08:00:00Z"}]},
    {"time": "2026-11-28T23:04:00+00:00", "item": "recipe", "state": "rescheduled", "publishId": "p2",
     "from": ["2026-11-29T08:00:00Z"], "to": ["2026-11-30T17:00:00Z"]},
    {"time": "not a time", "item": "x", "state": "waiting"},
    {"time": "2026-11-28T23:05:00+00:00", "item": "recipe", "state": "canceled", "publishId": "p2"},
    {"time": "2026-11-29T01:00:00+00:00", "item": "slow", "state": "unconfirmed", "publishId": "p3",
     "reason": "not confirmed by the platform within 2 h"},
]


def test_the_log_reads_as_a_story_by_local_day() -> None:
    assert story(LOG, BERLIN) == [
        "Saturday 28 November 2026",
        "  23:59:58 CET  launch  uploading",
        "",
        "Sunday 29 November 2026",
        "  00:00:05 CET  launch  accepted by PostQued (publish p1); waiting for the platform to confirm",
        f"  00:00:40 CET  launch  published (publish p1) {URL}",
        "  00:01:00 CET  typo  failed: typo.md: dispatchat: unknown key; did you mean dispatchAt?",
        "  00:02:00 CET  big  waits: stuck arriving for 25 h",
        "  00:03:00 CET  recipe  scheduled for 2026-11-29 09:00 CET (publish p2)",
        "  00:04:00 CET  recipe  rescheduled from 2026-11-29 09:00 CET to 2026-11-30 18:00 CET (publish p2)",
        "  00:05:00 CET  recipe  canceled (publish p2)",
        "  02:00:00 CET  slow  unconfirmed (publish p3): not confirmed by the platform within 2 h; still checked",
    ]


def test_one_items_story_by_its_name_or_one_of_its_files() -> None:
    for name in ("recipe", "recipe.mp4"):
        assert [line.split("  ")[2] for line in story(LOG, BERLIN, name)[1:]] == ["recipe", "recipe", "recipe"]
    assert story(LOG, BERLIN, "nothing") == []


def test_without_a_name_the_story_is_the_last_changes() -> None:
    assert story(LOG, BERLIN, limit=1) == ["Sunday 29 November 2026", "  02:00:00 CET  slow  unconfirmed (publish "
                                           "p3): not confirmed by the platform within 2 h; still checked"]


def test_status_history_tells_what_a_run_did(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sandbox.url)
    config = load_config(path)
    inbox = config.inbox.path
    inbox.mkdir()
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    make_video(inbox / "typo.mp4", width=362, seconds=1)
    sidecar(inbox / "typo.md", "intent: nope\n")
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal) as workers:
        assert once(workers)[0] == EXIT_FAILED
    journal.close()
    status = json.loads((inbox / "sent" / "clip.status.json").read_text())
    [url] = [target["url"] for target in status["targets"]]

    assert main(["--config", str(path), "status", "--history", "clip.mp4"]) == 0
    told = capsys.readouterr().out.splitlines()
    assert [line.split("  ", 3)[3] for line in told[1:]] == [
        "uploading", "publishing", f"accepted by PostQued (publish {status['publishId']}); waiting for the platform "
        "to confirm", f"published (publish {status['publishId']}) {url}"]
    assert all(line.split("  ")[1].endswith((" CET", " CEST")) for line in told[1:])  # Europe/Berlin, with its zone

    assert main(["--config", str(path), "status", "--history"]) == 0
    everything = capsys.readouterr().out
    assert "  typo  failed: typo.md" in everything and "  clip  published" in everything

    assert main(["--config", str(path), "status", "--history", "nope"]) == 1
    assert capsys.readouterr().out.strip().endswith(
        "has no history of nope yet; the name is the item's, as `pqdrop status` shows it (clip for clip.mp4 with "
        "clip.md)")


@pytest.mark.parametrize(("edit", "says"), [
    ({"from": ["2026-12-08T21:30:00Z"], "to": ["2026-12-08T21:30:00Z"], "changed": ["caption"]},
     "replaced (caption changed); it still goes 2026-12-08 22:30 CET (publish p9)"),
    ({"from": [None], "to": [None], "changed": ["caption", "privacyLevel"]},
     "replaced (caption, privacyLevel changed); it goes now (publish p9)"),
    ({"from": ["2026-12-08T21:30:00Z"], "to": [None], "changed": ["caption"]},
     "replaced (caption changed): it goes now, no longer 2026-12-08 22:30 CET (publish p9)"),
    ({"from": ["2026-12-08T21:30:00Z"], "to": ["2026-12-09T21:30:00Z"]},
     "replaced from 2026-12-08 22:30 CET to 2026-12-09 22:30 CET (publish p9)"),
])
def test_a_replaced_post_says_what_changed_and_a_time_that_stayed_is_not_a_move(
    edit: dict[str, object], says: str
) -> None:
    record = {"time": "2026-12-07T12:00:00+00:00", "item": "eve", "state": "replaced", "publishId": "p9", **edit}
    assert story([record], BERLIN)[1] == f"  13:00:00 CET  eve  {says}"
