"""The folder tells the truth (issue 22): a scheduled sidecar shows the post's time after `pqdrop reschedule`,
SCHEDULE.md and `pqdrop status` name accounts and show edits that wait for PostQued, a cancel of a post PostQued
no longer has files the item in canceled/, and a draft says it waits in the creator's TikTok inbox.

Real commands in subprocesses, a real sandbox on loopback, a real journal; PostQued "down" is a port nobody
listens on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, write_config

from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.schedule.agenda import as_text
from pqdrop.sidecar.retime import with_dispatch_at
from pqdrop.states import DRAFT_WAITS

SIDECAR = "---\naccount: \"@mybrand\"\ndispatchAt: 2030-06-01T18:00:00   # the launch\n---\nLaunch #fyp\n"


@pytest.fixture
def run(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Any:
    config = write_config(tmp_path, sandbox.url)
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{spare.getsockname()[1]}"
    down = config.with_name("down.toml")
    down.write_text(config.read_text().replace(sandbox.url, dead))
    env = {name: value for name, value in os.environ.items() if name not in ("PQDROP_CONFIG", "NOTIFY_SOCKET")}
    env.update(HOME=str(tmp_path), POSTQUED_API_KEY=SANDBOX_KEY, PYTHONIOENCODING="utf-8")

    def pqdrop(*args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "pqdrop", *args, "--config", str(down if offline else config)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    return pqdrop


def scheduled(inbox: Path, run: Any) -> Path:
    make_video(inbox / "later.mp4", seconds=1)
    (inbox / "later.md").write_text(SIDECAR, encoding="utf-8")
    assert run("once").returncode == 0
    return inbox / "scheduled" / "later.md"


def status_file(inbox: Path, folder: str, name: str = "later") -> dict[str, Any]:
    return dict(json.loads((inbox / folder / f"{name}.status.json").read_text(encoding="utf-8")))


# --- the dispatchAt line: pure ----------------------------------------------------------------------


def test_only_the_dispatch_at_values_change_keeping_indent_dash_comment_and_line_ends() -> None:
    text = ("---\r\naccount: \"@a\"\r\ndispatchAt: \"2030-06-01T18:00\"  # evening\r\ntargets:\r\n"
            "  - platform: tiktok\r\n    dispatchAt: next\r\n  - dispatchAt: 2030-06-01T19:00\r\n---\r\n"
            "dispatchAt: in the caption stays\r\n")
    assert with_dispatch_at(text, "2030-06-02T09:00:00+02:00") == (
        "---\r\naccount: \"@a\"\r\ndispatchAt: 2030-06-02T09:00:00+02:00  # evening\r\ntargets:\r\n"
        "  - platform: tiktok\r\n    dispatchAt: 2030-06-02T09:00:00+02:00\r\n"
        "  - dispatchAt: 2030-06-02T09:00:00+02:00\r\n---\r\ndispatchAt: in the caption stays\r\n")


def test_a_sidecar_without_dispatch_at_gets_one_below_the_fence_and_one_without_fences_is_left() -> None:
    assert with_dispatch_at("---\nintent: publish\n---\nHi\n", "T") == "---\ndispatchAt: T\nintent: publish\n---\nHi\n"
    assert with_dispatch_at("Just a caption\n", "T") is None
    assert with_dispatch_at("---\nintent: publish\n", "T") is None


# --- the folder after edits ------------------------------------------------------------------------


def test_pqdrop_reschedule_rewrites_the_scheduled_sidecars_dispatch_at_and_the_next_look_moves_nothing(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    moved = run("reschedule", "later", "2030-06-02T09:00")
    assert moved.returncode == 0, moved.stderr
    assert path.read_text(encoding="utf-8") == SIDECAR.replace("2030-06-01T18:00:00 ", "2030-06-02T09:00:00+02:00 ")
    assert status_file(inbox, "scheduled")["edit"]["sidecar"] == "dispatchAt in later.md rewritten to " \
        "2030-06-02T09:00:00+02:00"
    assert run("once").returncode == 0  # the rewritten sidecar is the post's own: no edit, nothing moves back
    publishes = sandbox.state_summary()["publishes"]
    assert [t["dispatchAt"] for p in publishes if p["status"] != "canceled" for t in p["targets"]] == [
        "2030-06-02T07:00:00Z"]
    assert "- **09:00 CEST** · later · @mybrand (tiktok) · scheduled\n" in (inbox / "SCHEDULE.md").read_text()


@pytest.mark.slow
def test_a_reschedule_while_postqued_is_down_shows_as_waiting_with_usernames_and_applies_later(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    offline = run("reschedule", "later", "2030-06-02T09:00", offline=True)
    assert offline.returncode == 3, offline.stderr
    waits = "scheduled; reschedule to 2030-06-02T09:00 asked, waits for PostQued"
    agenda = (inbox / "SCHEDULE.md").read_text()
    assert f"- **18:00 CEST** · later · @mybrand (tiktok) · {waits}\n" in agenda  # a name, never an account id
    assert path.read_text(encoding="utf-8") == SIDECAR  # still the post's time: nothing moved yet
    shown = run("status", "--json", offline=True)
    [row] = json.loads(shown.stdout)["scheduled"]
    assert (row["accounts"], row["state"]) == (["@mybrand"], waits)

    assert run("once").returncode == 0  # PostQued is back: the request is carried out
    assert path.read_text(encoding="utf-8") == SIDECAR.replace("2030-06-01T18:00:00 ", "2030-06-02T09:00:00+02:00 ")
    agenda = (inbox / "SCHEDULE.md").read_text()
    assert "- **09:00 CEST** · later · @mybrand (tiktok) · scheduled\n" in agenda and "asked" not in agenda


def test_schedule_md_names_accounts_from_the_journal_when_the_sidecar_names_none_and_postqued_is_down(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", "dispatchAt: 2030-06-01T18:00:00\n")  # the account from [defaults]
    assert run("once").returncode == 0
    assert run("cancel", "later", offline=True).returncode == 3
    agenda = (inbox / "SCHEDULE.md").read_text()
    assert "- **18:00 CEST** · later · @mybrand (tiktok) · canceling (cancel asked): waits for PostQued\n" in agenda


def test_cancel_of_a_post_postqued_no_longer_has_files_it_in_canceled_saying_so(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    scheduled(inbox, run)
    publish_id = status_file(inbox, "scheduled")["publishId"]
    sandbox.state.delete_publish(publish_id)  # deleted in PostQued's dashboard
    gone = run("cancel", "later")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith(f"later: canceled: PostQued no longer has publish {publish_id} (")
    assert sorted(p.name for p in (inbox / "canceled").iterdir()) == ["later.md", "later.mp4", "later.status.json"]
    assert not (inbox / "failed").exists() and list((inbox / "scheduled").iterdir()) == []
    document = status_file(inbox, "canceled")
    assert document["state"] == "canceled" and "error" not in document
    assert "nothing was left to cancel and nothing goes out" in document["edit"]["note"]
    last = json.loads((inbox / "status.log").read_text().splitlines()[-1])
    assert (last["state"], last["publishId"]) == ("canceled", publish_id) and "no longer has" in last["reason"]
    assert "Nothing is scheduled." in (inbox / "SCHEDULE.md").read_text()
    assert "retry" not in json.dumps(document)


def test_a_draft_says_it_waits_in_the_creators_tiktok_inbox_for_a_tap(run: Any, inbox: Path) -> None:
    make_video(inbox / "idea.mp4", seconds=1)
    sidecar(inbox / "idea.md", "intent: draft\n")
    done = run("once")
    assert done.returncode == 0, done.stderr
    document = status_file(inbox, "sent", "idea")
    assert (document["state"], document["message"]) == ("sent", DRAFT_WAITS)
    assert "TikTok inbox" in DRAFT_WAITS and "tap" in DRAFT_WAITS
    lines = [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()]
    assert [line["message"] for line in lines if line["state"] == "sent"] == [DRAFT_WAITS]
    assert f"sent: {DRAFT_WAITS}" in run("status").stdout
    assert f"idea: sent (publish {document['publishId']}): {DRAFT_WAITS}" in done.stderr


@pytest.mark.slow
def test_a_sidecar_edit_made_while_postqued_is_down_shows_in_schedule_md_as_waiting_then_applies(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    path.write_text(SIDECAR.replace("2030-06-01T18:00:00", "2030-06-03T08:00:00"), encoding="utf-8")
    run("once", offline=True)
    agenda = (inbox / "SCHEDULE.md").read_text()
    assert "- **18:00 CEST** · later · @mybrand (tiktok) · scheduled; an edit of later\\.md, waits for PostQued\n" \
        in agenda
    [row] = json.loads(run("status", "--json", offline=True).stdout)["scheduled"]
    assert row["state"] == "scheduled; an edit of later.md not applied yet"
    assert run("once").returncode == 0
    agenda = (inbox / "SCHEDULE.md").read_text()
    assert "- **08:00 CEST** · later · @mybrand (tiktok) · scheduled\n" in agenda and "waits" not in agenda


# --- a scheduled post whose files were deleted (issue 24) --------------------------------------------


def test_reschedule_after_the_files_were_deleted_moves_the_post_in_place_with_its_caption(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    path.unlink()
    (inbox / "scheduled" / "later.mp4").unlink()  # `rm scheduled/later.*`, as on a phone
    moved = run("reschedule", "later", "2030-06-02T09:00")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "caption" not in moved.stdout + moved.stderr
    assert moved.stdout == ("later: rescheduled: 2030-06-02T09:00:00+02:00 (Europe/Berlin); its files are gone from "
                            "scheduled/, so it was moved as PostQued holds it\n")
    publishes = sandbox.state_summary()["publishes"]
    assert [t["dispatchAt"] for p in publishes if p["status"] != "canceled" for t in p["targets"]] == [
        "2030-06-02T07:00:00Z"]  # moved in place (v2), or once replaced by the same post (v1)
    assert {t["caption"] for p in publishes for t in p["body"]["targets"]} == {"Launch #fyp"}
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == ["later.status.json"]


@pytest.mark.slow
def test_a_refused_edit_of_a_scheduled_sidecar_is_said_in_schedule_md_status_status_log_and_history(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    path.write_text(SIDECAR.replace("dispatchAt: 2030-06-01T18:00:00", "dispatchat: 2030-06-10T10:00"),
                    encoding="utf-8")  # a typo on a phone
    assert run("once").returncode == 0
    assert run("once").returncode == 0  # a second look at the same content says nothing new
    words = ("your edit of later.md was not applied: later.md: dispatchat: unknown key; did you mean dispatchAt?; "
             "the post stays at 2030-06-01 18:00 CEST")
    agenda = (inbox / "SCHEDULE.md").read_text(encoding="utf-8")
    assert "- **18:00 CEST** · later · @mybrand (tiktok) · scheduled; " + as_text(words) + "\n" in agenda
    [row] = json.loads(run("status", "--json").stdout)["scheduled"]
    assert row["state"] == f"scheduled; {words}"
    assert words in run("status").stdout
    lines = [json.loads(line) for line in (inbox / "status.log").read_text(encoding="utf-8").splitlines()]
    assert [line["message"] for line in lines if line.get("edit") == "not applied"] == [words]
    assert words in run("status", "--history").stdout
    assert [p["status"] for p in sandbox.state_summary()["publishes"]] == ["pending"]  # the post stands

    path.write_text(SIDECAR, encoding="utf-8")  # written back: nothing is refused any more
    assert run("once").returncode == 0
    assert "not applied" not in (inbox / "SCHEDULE.md").read_text(encoding="utf-8")
    assert "not applied" not in run("status").stdout


def test_deleting_a_scheduled_posts_files_cancels_nothing_and_says_how_to_cancel(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    path.unlink()
    (inbox / "scheduled" / "later.mp4").unlink()
    done = run("once")
    assert done.returncode == 0
    words = ("its files are gone from scheduled/; it still posts at 2030-06-01 18:00 CEST — to cancel: "
             "`pqdrop cancel later`")
    assert done.stderr.count(words) == 1
    agenda = (inbox / "SCHEDULE.md").read_text(encoding="utf-8")
    assert "- **18:00 CEST** · later · @mybrand (tiktok) · scheduled; " + as_text(words) + "\n" in agenda
    [row] = json.loads(run("status", "--json").stdout)["scheduled"]
    assert row["state"] == f"scheduled; {words}"
    assert words in run("status").stdout
    assert [p["status"] for p in sandbox.state_summary()["publishes"]] == ["pending"]  # nothing canceled
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == ["later.status.json"]


def test_files_dropped_into_scheduled_are_said_once_as_not_a_scheduled_post_and_never_touched(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    scheduled(inbox, run)
    make_video(inbox / "scheduled" / "wrong.mp4", seconds=1)
    sidecar(inbox / "scheduled" / "wrong.md")
    before = {p.name: p.read_bytes() for p in (inbox / "scheduled").iterdir() if p.name.startswith("wrong")}
    words = ["scheduled/wrong.md is not a scheduled post; drop new posts into the inbox itself",
             "scheduled/wrong.mp4 is not a scheduled post; drop new posts into the inbox itself"]
    assert json.loads(run("status", "--json").stdout)["notScheduledPosts"] == words
    shown = run("status").stdout
    assert "not scheduled posts (2)\n" in shown and all(said in shown for said in words)
    looked = run("once")
    assert looked.returncode == 0 and [looked.stderr.count(said) for said in words] == [1, 1]
    agenda = (inbox / "SCHEDULE.md").read_text(encoding="utf-8")
    assert agenda.endswith("## Not scheduled posts\n\n" + "".join(f"- {as_text(said)}\n" for said in words))
    assert {p.name: p.read_bytes() for p in (inbox / "scheduled").iterdir() if p.name.startswith("wrong")} == before
    assert len(sandbox.state_summary()["publishes"]) == 1  # nothing of wrong.* was posted


def test_an_edit_to_a_privacy_level_tiktok_does_not_know_is_said_beside_the_post(
    run: Any, inbox: Path, sandbox: Sandbox
) -> None:
    path = scheduled(inbox, run)
    path.write_text(SIDECAR.replace("---\nLaunch", "privacyLevel: Public\n---\nLaunch"), encoding="utf-8")
    assert run("once").returncode == 0
    [row] = json.loads(run("status", "--json").stdout)["scheduled"]
    assert row["state"].startswith("scheduled; your edit of later.md was not applied: ")
    assert "privacyLevel" in row["state"] and row["state"].endswith("; the post stays at 2030-06-01 18:00 CEST")
    assert "your edit of later\\.md was not applied: " in (inbox / "SCHEDULE.md").read_text(encoding="utf-8")
