"""Editing the schedule in the folder (issue 15): reschedule, cancel and replace, against the real sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.conftest import Running, make_client, sidecar, wait_until, write_config

from pqdrop.commands.history import story
from pqdrop.commands.status import gather
from pqdrop.config import Config, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_OK, Workers, once
from pqdrop.sidecar.changes import EditKind, edit_kind, replacement_key

LATER = "dispatchAt: 2030-06-01T18:00:00\n"  # Berlin summer time: 16:00 UTC


def write_like_a_sync_tool(path: Path, text: str) -> None:
    """A new version lands as sync tools deliver it: written under a temporary name, then renamed over."""
    temporary = path.with_name(f".{path.name}.sync-tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def schedule(service: Workers, inbox: Path, name: str = "later", frontmatter: str = LATER,
             caption: str = "A caption #fyp") -> Path:
    make_video(inbox / f"{name}.mp4", seconds=1)
    sidecar(inbox / f"{name}.md", frontmatter, caption)
    assert once(service)[0] == EXIT_OK
    assert (inbox / "scheduled" / f"{name}.mp4").exists()
    return inbox / "scheduled" / f"{name}.md"


def status(inbox: Path, folder: str, name: str = "later") -> dict[str, Any]:
    return dict(json.loads((inbox / folder / f"{name}.status.json").read_text()))


def live(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The publishes PostQued holds that are not canceled."""
    return [publish for publish in sandbox.state_summary()["publishes"] if publish["status"] != "canceled"]


def log_lines(inbox: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()]


# --- what an edit asks for: pure -------------------------------------------------------------------

TARGET = {"platform": "tiktok", "accountId": "a1", "intent": "publish", "caption": "Hi", "options": {},
          "dispatchAt": "2030-06-01T16:00:00Z"}


def test_the_same_targets_are_no_edit_whatever_the_key_order() -> None:
    assert edit_kind([TARGET], [dict(reversed(list(TARGET.items())))]) is EditKind.NONE


def test_only_a_new_dispatch_at_is_a_reschedule() -> None:
    assert edit_kind([TARGET], [{**TARGET, "dispatchAt": "2030-06-02T07:00:00Z"}]) is EditKind.RESCHEDULE


def test_a_new_caption_or_another_account_is_a_replacement() -> None:
    assert edit_kind([TARGET], [{**TARGET, "caption": "Hello"}]) is EditKind.REPLACE
    assert edit_kind([TARGET], [TARGET, {**TARGET, "accountId": "a2"}]) is EditKind.REPLACE


def test_an_edit_back_to_an_earlier_version_gets_a_key_of_its_own() -> None:
    assert replacement_key("pqdrop-abc", "publish-1") != replacement_key("pqdrop-abc", "publish-2")
    assert replacement_key("pqdrop-abc", "publish-1") == replacement_key("pqdrop-abc", "publish-1")


# --- the three edits -------------------------------------------------------------------------------


def test_a_new_dispatch_at_reschedules_with_one_cancel_and_one_new_publish(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    edited = path.read_text().replace("2030-06-01T18:00:00", "2030-06-02T09:30:00")
    write_like_a_sync_tool(path, edited)
    service.follow()

    first, second = sandbox.state_summary()["publishes"]
    assert (first["status"], [t["status"] for t in first["targets"]]) == ("canceled", ["canceled"])
    assert [(t["status"], t["dispatchAt"]) for t in second["targets"]] == [("scheduled", "2030-06-02T07:30:00Z")]
    assert second["idempotencyKey"] != first["idempotencyKey"]
    document = status(inbox, "scheduled")
    assert (document["state"], document["publishId"]) == ("scheduled", second["publishId"])
    assert document["edit"] == {"kind": "rescheduled", "at": document["edit"]["at"], "replaces": first["publishId"],
                                "from": ["2030-06-01T16:00:00Z"], "to": ["2030-06-02T07:30:00Z"]}
    assert log_lines(inbox)[-1] == {**log_lines(inbox)[-1], "item": "later", "state": "rescheduled",
                                    "from": ["2030-06-01T16:00:00Z"], "to": ["2030-06-02T07:30:00Z"]}
    assert path.read_text() == edited  # the user's sidecar is never rewritten
    service.follow()
    assert len(sandbox.state_summary()["publishes"]) == 2  # judged once per content


def test_cancel_true_cancels_the_post_and_files_the_item_in_canceled(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("---\n", "---\ncancel: true\n", 1))
    service.follow()

    [publish] = sandbox.state_summary()["publishes"]
    assert publish["status"] == "canceled"
    assert sorted(p.name for p in (inbox / "canceled").iterdir()) == ["later.md", "later.mp4", "later.status.json"]
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []
    document = status(inbox, "canceled")
    assert (document["state"], document["movedFrom"]) == ("canceled", "scheduled/later")
    assert document["edit"]["kind"] == "canceled"
    assert "cancel: true" in (inbox / "canceled" / "later.md").read_text()
    assert service.journal.tracking() == []


def test_a_caption_edit_replaces_the_post_so_exactly_one_lives(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("A caption #fyp", "The right caption #fyp"))
    service.follow()

    [alive] = live(sandbox)
    assert [(t["caption"], t["dispatchAt"]) for t in alive["targets"]] == [
        ("The right caption #fyp", "2030-06-01T16:00:00Z")]
    assert len(sandbox.state_summary()["publishes"]) == 2
    document = status(inbox, "scheduled")
    assert (document["publishId"], document["edit"]["kind"]) == (alive["publishId"], "replaced")
    # status.log says what changed, and --history that the time stayed (not "from 18:00 to 18:00").
    last = log_lines(inbox)[-1]
    assert (last["state"], last["changed"], last["from"], last["to"]) == (
        "replaced", ["caption"], ["2030-06-01T16:00:00Z"], ["2030-06-01T16:00:00Z"])
    assert story([last], ZoneInfo("Europe/Berlin"))[1].endswith(
        f"later  replaced (caption changed); it still goes 2030-06-01 18:00 CEST (publish {alive['publishId']})")


def test_saving_the_sidecar_unchanged_changes_nothing(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text())
    os.utime(path, (time.time() + 5, time.time() + 5))
    service.follow()
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]
    assert "edit" not in status(inbox, "scheduled")


def test_an_invalid_edit_changes_nothing_and_the_status_file_says_why(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("dispatchAt:", "dispatchat:"))
    service.follow()
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]
    edit = status(inbox, "scheduled")["edit"]
    assert edit["applied"] is False
    assert "dispatchat: unknown key; did you mean dispatchAt?" in edit["reason"]
    write_like_a_sync_tool(path, path.read_text().replace("dispatchat:", "dispatchAt:"))  # put right again
    service.follow()
    assert "edit" not in status(inbox, "scheduled")  # the stale reason goes
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]


def test_an_edit_that_loses_the_fences_changes_nothing_and_names_the_line_to_fix(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, f"{LATER}cancel: true\nA caption #fyp\n")  # fences lost: never a new caption
    service.follow()
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]
    edit = status(inbox, "scheduled")["edit"]
    assert edit["applied"] is False
    assert edit["reason"].startswith("edit not applied: later.md: line 1 'dispatchAt: 2030-06-01T18:00:00' is a "
                                     "setting, but the sidecar has no --- fences")
    assert edit["reason"].endswith("put a line --- above and below the settings")


def test_an_invalid_edit_of_an_item_whose_name_holds_a_control_character_shows_it_escaped(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    name = "late\x1b[2Jr"
    path = schedule(service, inbox, name)
    write_like_a_sync_tool(path, path.read_text().replace("dispatchAt:", "dispatchat:"))
    service.follow()
    edit = status(inbox, "scheduled", name)["edit"]
    assert edit["reason"] == "edit not applied: late\\x1b[2Jr.md: dispatchat: unknown key; did you mean dispatchAt?"


def test_a_conflicted_copy_of_a_scheduled_sidecar_holds_the_edit(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    copy = path.with_name("later (Alice's conflicted copy 2026-11-28).md")
    copy.write_text(path.read_text().replace("A caption", "Alice's caption"))
    write_like_a_sync_tool(path, path.read_text().replace("A caption", "Bob's caption"))
    service.follow()
    assert len(sandbox.state_summary()["publishes"]) == 1
    assert "held by a conflict: later (Alice's conflicted copy 2026-11-28).md" in status(inbox, "scheduled")["edit"][
        "reason"]
    [row] = gather(service.config, datetime.now(UTC)).scheduled  # pqdrop status says what SCHEDULE.md says
    assert row.state == "held by a conflict (later (Alice's conflicted copy 2026-11-28).md)"
    copy.unlink()  # resolved: Bob's version stays
    service.follow()
    [alive] = live(sandbox)
    assert alive["targets"][0]["caption"] == "Bob's caption #fyp"


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_keys=("pq_sandbox",), processing_seconds=4.0) as server:
        yield server


def test_an_edit_after_the_post_went_out_changes_nothing_and_says_so(tmp_path: Path, slow_sandbox: Sandbox) -> None:
    config = load_config(write_config(tmp_path, slow_sandbox.url))
    inbox = config.inbox.path
    inbox.mkdir()
    soon = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
        path = schedule(service, inbox, frontmatter=f"dispatchAt: {soon}\n")
        time.sleep(3.0)  # its dispatchAt passed: PostQued has started on it
        write_like_a_sync_tool(path, path.read_text().replace("A caption", "Too late"))
        service.follow()
        [publish] = slow_sandbox.state_summary()["publishes"]
        assert publish["status"] != "canceled"
        edit = status(inbox, "scheduled")["edit"]
        assert edit["applied"] is False
        assert "the post can no longer be changed: target" in edit["reason"]
        assert "is already queued" in edit["reason"] or "is already processing" in edit["reason"]
    journal.close()


# --- a crash in the middle of a replacement --------------------------------------------------------

DIE_MID_REPLACEMENT = textwrap.dedent(
    """
    import os, signal, sys
    from pqdrop.commands import main
    from pqdrop.journal.edits import EditLog
    from pqdrop.postqued.client import PostQued

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    moment, config = sys.argv[1], sys.argv[2]
    if moment == "edited post accepted, not recorded":
        real_publish = PostQued.publish
        def publish_then_die(self, *args, **kwargs):
            real_publish(self, *args, **kwargs)
            die()
        PostQued.publish = publish_then_die
    elif moment == "recorded, old post not called off yet":
        real_phase = EditLog.edit_phase
        def record_then_die(self, item_id, phase):
            real_phase(self, item_id, phase)
            die()
        EditLog.edit_phase = record_then_die
    else:
        real_cancel = PostQued.cancel_publish
        def cancel_then_die(self, publish_id):
            real_cancel(self, publish_id)
            die()
        PostQued.cancel_publish = cancel_then_die
    sys.exit(main(["once", "--config", config]))
    """
)


@pytest.mark.parametrize(("moment", "live_meanwhile"), [
    ("edited post accepted, not recorded", 2), ("recorded, old post not called off yet", 2),
    ("old post called off, not said yet", 1),
])
def test_a_sigkill_mid_replacement_leaves_exactly_one_live_post_after_restart(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, moment: str, live_meanwhile: int
) -> None:
    config = write_config(tmp_path, sandbox.url)
    env = {**os.environ, "POSTQUED_API_KEY": "pq_sandbox"}
    env.pop("PQDROP_CONFIG", None)

    def pqdrop(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, timeout=60,
                              check=False)

    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", LATER, "Typo captoin #fyp")
    assert pqdrop("-m", "pqdrop", "once", "--config", str(config)).returncode == 0
    path = inbox / "scheduled" / "later.md"
    write_like_a_sync_tool(path, path.read_text().replace("Typo captoin", "Fixed caption"))

    dying = pqdrop("-c", DIE_MID_REPLACEMENT, moment, str(config))
    assert dying.returncode == -9, dying.stderr.decode()
    # The edited post goes first, the old one is called off after: a crash between never leaves none.
    assert len(live(sandbox)) == live_meanwhile

    restarted = pqdrop("-m", "pqdrop", "once", "--config", str(config))
    assert restarted.returncode == 0, restarted.stderr.decode()
    [alive] = live(sandbox)
    assert [target["caption"] for target in alive["targets"]] == ["Fixed caption #fyp"]
    assert len(sandbox.state_summary()["publishes"]) == 2  # the replay of the edited post made no third
    document = status(inbox, "scheduled")
    assert (document["publishId"], document["edit"]["kind"]) == (alive["publishId"], "replaced")
    again = pqdrop("-m", "pqdrop", "once", "--config", str(config))
    assert again.returncode == 0 and len(sandbox.state_summary()["publishes"]) == 2


def test_an_edited_post_postqued_refuses_leaves_the_old_post_live_and_says_why(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    sandbox.faults.fail_next(1, 422, "/v1/content/publish")  # PostQued refuses the edited post
    write_like_a_sync_tool(path, path.read_text().replace("A caption #fyp", "Edited #fyp"))
    service.follow()
    [alive] = live(sandbox)
    assert alive["targets"][0]["caption"] == "A caption #fyp"  # never none
    edit = status(inbox, "scheduled")["edit"]
    assert edit["applied"] is False and edit["kind"] == "replaced", edit


# --- posting slots -----------------------------------------------------------------------------------


def test_a_rescheduled_item_gives_its_slot_back_and_next_in_an_edit_takes_the_next_free_one(
    tmp_path: Path, inbox: Path, sandbox: Sandbox
) -> None:
    from pqdrop.posting.slots import upcoming

    config = load_config(write_config(tmp_path, sandbox.url, schedule={"slots": ["09:00", "18:30"]}))
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
        for name, width in (("first", 360), ("second", 362)):
            make_video(inbox / f"{name}.mp4", width=width, height=640, seconds=1)
            sidecar(inbox / f"{name}.md", "dispatchAt: next\n")
            assert once(service)[0] == EXIT_OK
        now = datetime.now(UTC)
        slot_of = {item: at for at, _, item in upcoming(journal, now)}
        assert set(slot_of) == {"first", "second"} and slot_of["first"] < slot_of["second"]

        path = inbox / "scheduled" / "first.md"
        write_like_a_sync_tool(path, path.read_text().replace("dispatchAt: next", "dispatchAt: 2031-01-01T12:00:00"))
        service.follow()
        assert {item for _, _, item in upcoming(journal, now)} == {"second"}  # first's slot is free again

        make_video(inbox / "third.mp4", width=364, height=640, seconds=1)
        sidecar(inbox / "third.md", "dispatchAt: next\n")
        assert once(service)[0] == EXIT_OK
        assert {item: at for at, _, item in upcoming(journal, now)}["third"] == slot_of["first"]

        write_like_a_sync_tool(path, path.read_text().replace("dispatchAt: 2031-01-01T12:00:00", "dispatchAt: next"))
        service.follow()
        taken = {item: at for at, _, item in upcoming(journal, now)}
        assert taken["first"] > slot_of["second"]  # the next slot nobody holds
        [alive] = [p for p in live(sandbox) if p["targets"][0]["caption"] == "A caption #fyp"
                   and p["publishId"] == status(inbox, "scheduled", "first")["publishId"]]
        assert alive["targets"][0]["dispatchAt"] == taken["first"].strftime("%Y-%m-%dT%H:%M:%SZ")
    journal.close()


@pytest.mark.parametrize("watch", ["events", "poll"])
def test_the_running_daemon_reschedules_when_a_phone_edits_the_sidecar(
    start: Callable[..., Running], sandbox: Sandbox, watch: str
) -> None:
    running = start(watch=watch, settle_seconds=0.5, poll_interval=1.0)
    make_video(running.inbox / "later.mp4", seconds=1)
    sidecar(running.inbox / "later.md", LATER)
    wait_until(lambda: running.filed("later", "scheduled") is not None)
    path = running.inbox / "scheduled" / "later.md"
    write_like_a_sync_tool(path, path.read_text().replace("2030-06-01T18:00:00", "2030-06-01T19:15:00"))
    wait_until(lambda: (running.filed("later", "scheduled") or {}).get("edit", {}).get("kind") == "rescheduled", 10)
    assert [p["status"] for p in sandbox.state_summary()["publishes"]] == ["canceled", "pending"]
    wait_until(lambda: "19:15 CEST" in (running.inbox / "SCHEDULE.md").read_text(), 10)


# --- what an edit did not touch stays as it is live -------------------------------------------------


def two_drafts_over_a_cap_of_one(tmp_path: Path, sandbox: Sandbox) -> tuple[Config, Journal]:
    """Two drafts to @mybrand with `daily_drafts = 1`: once posts one and paces the other a day on."""
    config = load_config(write_config(tmp_path, sandbox.url, accounts={"@mybrand": {"daily_drafts": 1}}))
    config.inbox.path.mkdir()
    for name in ("first", "second"):
        make_video(config.inbox.path / f"{name}.mp4", seconds=0.5 if name == "first" else 0.6)
        sidecar(config.inbox.path / f"{name}.md", "intent: draft\n", f"{name} #fyp")
    return config, Journal(config.state.dir)


def test_a_post_a_daily_cap_paced_is_not_taken_for_an_edit_and_keeps_its_paced_time(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config, journal = two_drafts_over_a_cap_of_one(tmp_path, sandbox)
    inbox = config.inbox.path
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
        assert once(service)[0] == EXIT_OK
        [paced] = [path.stem for path in (inbox / "scheduled").glob("*.md")]
        before = status(inbox, "scheduled", paced)
        for _ in range(3):
            service.follow()  # the daemon's looks: the untouched sidecar says nothing new
        after = status(inbox, "scheduled", paced)
    journal.close()
    assert "edit" not in after and after["note"] == before["note"] and after["note"].startswith("paced: ")
    assert after["targets"][0]["dispatchAt"] == before["targets"][0]["dispatchAt"]
    assert len(sandbox.state_summary()["publishes"]) == 2  # nothing canceled, nothing published again
    assert not any(line.get("state") == "rescheduled" for line in log_lines(inbox))


def test_a_caption_edit_after_pqdrop_reschedule_keeps_the_rescheduled_time(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    from pqdrop.journal.edits import EditLog
    from pqdrop.schedule.editor import RESCHEDULE

    path = schedule(service, inbox)
    [record] = service.journal.tracking()
    EditLog(service.journal).add_request(record.id, RESCHEDULE, "2031-11-30T18:00:00")  # what the command leaves
    service.follow()
    assert status(inbox, "scheduled")["targets"][0]["dispatchAt"] == "2031-11-30T17:00:00Z"
    # pqdrop status still names the account: the sidecar's own time (now a year before the post) is no bar.
    assert [row.accounts for row in gather(service.config, datetime.now(UTC)).scheduled] == [("@mybrand",)]
    write_like_a_sync_tool(path, path.read_text().replace("A caption #fyp", "Better caption #fyp"))
    service.follow()
    [alive] = live(sandbox)
    assert [(t["caption"], t["dispatchAt"]) for t in alive["targets"]] == [("Better caption #fyp",
                                                                           "2031-11-30T17:00:00Z")]
    assert status(inbox, "scheduled")["edit"]["to"] == ["2031-11-30T17:00:00Z"]


def test_an_edit_that_breaks_tiktoks_rules_changes_nothing_and_the_live_post_stays(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("A caption #fyp", "🔥" * 1150))  # 2,300 UTF-16 units
    service.follow()
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]
    edit = status(inbox, "scheduled")["edit"]
    assert edit["applied"] is False
    assert "2,300 UTF-16 units" in edit["reason"] and "2,200" in edit["reason"]


@pytest.mark.parametrize("ahead", [False, True], ids=["saved-earlier", "clock-ahead"])
def test_once_applies_an_edit_made_while_no_pqdrop_ran(tmp_path: Path, sandbox: Sandbox, ahead: bool) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, inbox={"settle_seconds": 2.0}))
    inbox = config.inbox.path
    inbox.mkdir()
    journal = Journal(config.state.dir)
    with make_client(config) as client:
        with Workers(config, client, journal, stop=threading.Event()) as service:
            make_video(inbox / "later.mp4", seconds=1)
            sidecar(inbox / "later.md", LATER)
            old = time.time() - 10
            os.utime(inbox / "later.mp4", (old, old))
            os.utime(inbox / "later.md", (old, old))
            assert once(service)[0] == EXIT_OK
        path = inbox / "scheduled" / "later.md"
        write_like_a_sync_tool(path, path.read_text().replace("A caption", "Edited overnight"))
        os.utime(path, (old, old))  # saved a while ago: it has held still longer than settle_seconds
        if ahead:
            os.utime(path, (time.time() + 7200, time.time() + 7200))  # a phone whose clock runs two hours fast
        with Workers(config, client, journal, stop=threading.Event()) as service:
            assert once(service)[0] == EXIT_OK
    journal.close()
    [alive] = live(sandbox)
    assert alive["targets"][0]["caption"] == "Edited overnight #fyp"


@pytest.mark.parametrize(("frontmatter", "said"), [
    ("cancel: false\ncancel: true\n", "cancel: given twice (again on line 3); keep one"),
    ("targets:\n  - account: '@mybrand'\n    cancel: true\n",
     "targets[1].cancel: applies to the whole item; write it at the top level"),
])
def test_a_cancel_pqdrop_cannot_be_sure_of_is_refused_by_name(
    service: Workers, inbox: Path, sandbox: Sandbox, frontmatter: str, said: str
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("---\n", "---\n" + frontmatter, 1))
    service.follow()
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]
    edit = status(inbox, "scheduled")["edit"]
    assert edit["applied"] is False and said in edit["reason"], edit


def test_a_caption_line_that_starts_with_cancel_is_posted_whole(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("A caption #fyp", "Join now\ncancel: anytime, no fees"))
    service.follow()
    [alive] = live(sandbox)
    assert alive["targets"][0]["caption"] == "Join now\ncancel: anytime, no fees"


def test_cancel_true_in_a_fresh_drop_is_refused_not_posted(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    make_video(inbox / "fresh.mp4", seconds=1)
    sidecar(inbox / "fresh.md", "cancel: true\n")
    code, round_ = once(service)
    [result] = round_.results
    assert (str(result.state), result.error_code) == ("failed", "SIDECAR_VALUE")
    assert result.message == ("fresh.md: cancel: true cancels a post waiting in scheduled/; this item is not posted "
                              "yet: remove the line to post it")
    assert sandbox.state_summary()["publishes"] == []


def test_a_cancel_after_one_target_went_out_cancels_the_one_still_waiting(tmp_path: Path) -> None:
    from tests.conftest import api_sandbox

    from pqdrop.journal.edits import EditLog
    from pqdrop.schedule.editor import CANCEL

    with api_sandbox("v2", processing_seconds=0.05) as server:
        config = load_config(write_config(tmp_path, server.url))
        inbox = config.inbox.path
        inbox.mkdir()
        make_video(inbox / "both.mp4", seconds=1)
        sidecar(inbox / "both.md", "targets:\n  - account: '@mybrand'\n"
                                   "  - account: '@otherbrand'\n    dispatchAt: 2030-06-01T18:00:00\n")
        journal = Journal(config.state.dir)
        with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
            assert once(service)[0] == EXIT_OK
            assert [t["status"] for t in status(inbox, "scheduled", "both")["targets"]] == ["published", "scheduled"]
            [record] = service.journal.tracking()
            request = EditLog(service.journal).add_request(record.id, CANCEL, None)  # `pqdrop cancel both`
            service.follow()
            outcome = EditLog(service.journal).request_outcome(request)
            wait_until(lambda: service.follow() >= 0 and (inbox / "sent" / "both.status.json").exists(), 10)
        journal.close()
        [publish] = server.state_summary()["publishes"]
    assert outcome == "canceled the targets still waiting: @otherbrand (tiktok); the others already went out"
    assert [target["status"] for target in publish["targets"]] == ["published", "canceled"]
    document = status(inbox, "sent", "both")
    assert [t["status"] for t in document["targets"]] == ["published", "canceled"]
    assert sorted(p.name for p in (inbox / "scheduled").iterdir()) == []


def test_a_new_time_an_edit_asks_for_is_paced_by_the_daily_cap_as_a_fresh_drop_is(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config, journal = two_drafts_over_a_cap_of_one(tmp_path, sandbox)
    inbox = config.inbox.path
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
        assert once(service)[0] == EXIT_OK
        [paced] = [path for path in (inbox / "scheduled").glob("*.md")]
        before = status(inbox, "scheduled", paced.stem)["targets"][0]["dispatchAt"]
        soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        asked = paced.read_text().replace("intent: draft\n", f"intent: draft\ndispatchAt: {soon}\n")
        write_like_a_sync_tool(paced, asked)
        service.follow()
        after = status(inbox, "scheduled", paced.stem)
    journal.close()
    # In an hour the window is still full: the post stays where the cap allows it, whatever the edit asked.
    assert after["targets"][0]["dispatchAt"] == before
    assert [p["status"] for p in sandbox.state_summary()["publishes"]].count("canceled") <= 1
    assert len(live(sandbox)) == 2


def test_a_finished_reschedule_is_logged_with_the_new_time_in_the_configured_zone(
    service: Workers, inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = schedule(service, inbox)
    write_like_a_sync_tool(path, path.read_text().replace("2030-06-01T18:00:00", "2030-06-02T20:30:00"))
    with caplog.at_level("INFO", logger="pqdrop"):
        service.follow()
    [said] = [record.getMessage() for record in caplog.records if "rescheduled to" in record.getMessage()]
    assert said.startswith("later: rescheduled to 2030-06-02 20:30 CEST (publish ")
