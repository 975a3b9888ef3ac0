"""A folder item goes only when it has held still: the pure rule (issue 22), its hold switch, and `check`'s view."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path, PurePosixPath

from tests.conftest import SANDBOX_KEY, sidecar, tree_digest, write_config

from pqdrop.inbox.items import Entry, Rules, look, plan_items
from pqdrop.media.mediagen import make_image
from pqdrop.sandbox import Sandbox

NOW = 1_000_000.0
RULES = Rules(settle_seconds=5, folder_settle_seconds=45)


def at(rel: str, changed: float, *, is_dir: bool = False, mtime: float | None = None) -> Entry:
    """An entry whose last change on disk (ctime) is `changed`; its mtime may be older, as a copy keeps it."""
    return Entry(PurePosixPath(rel), 10, changed if mtime is None else mtime, is_dir=is_dir, ctime=changed)


def carousel(last_change: float) -> list[Entry]:
    return [at("trip", NOW - 300, is_dir=True), at("trip/post.md", NOW - 300), at("trip/1.jpg", NOW - 200),
            at("trip/2.jpg", last_change, mtime=NOW - 9000)]


def clock(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().strftime("%H:%M:%S %Z")


def test_a_folder_whose_last_file_came_20_s_ago_waits_until_45_s_after_it_and_says_until_when() -> None:
    plan = plan_items(carousel(NOW - 20), NOW, RULES)
    assert plan.ready == ()
    [waiting] = plan.waiting
    assert (waiting.name, waiting.kind, waiting.until) == ("trip", "arriving", NOW + 25)
    assert f"waiting for the folder to hold still until {clock(NOW + 25)}" in waiting.reason
    assert f"trip/2.jpg at {clock(NOW - 20)}" in waiting.reason  # its ctime, not the 9000 s old mtime it kept
    assert "[inbox].folder_settle_seconds" in waiting.reason and "hold.txt" in waiting.reason
    assert waiting.item is not None and [str(p) for p in waiting.item.media] == ["trip/1.jpg", "trip/2.jpg"]


def test_a_folder_that_held_still_for_the_window_goes_whole() -> None:
    [item] = plan_items(carousel(NOW - 46), NOW, RULES).ready
    assert [str(path) for path in item.media] == ["trip/1.jpg", "trip/2.jpg"]


def test_the_folders_own_change_counts_a_file_removed_or_renamed_inside_starts_the_wait_again() -> None:
    entries = [at("trip", NOW - 10, is_dir=True), at("trip/post.md", NOW - 300), at("trip/1.jpg", NOW - 300)]
    [waiting] = plan_items(entries, NOW, RULES).waiting
    assert waiting.until == NOW + 35 and "the folder itself at" in waiting.reason


def test_a_lone_media_and_its_sidecar_keep_settle_seconds() -> None:
    entries = [at("clip.mp4", NOW - 6), at("clip.md", NOW - 6)]
    assert [item.name for item in plan_items(entries, NOW, RULES).ready] == ["clip"]


def test_a_change_this_process_saw_counts_from_when_it_saw_it_whatever_the_disk_clock_says() -> None:
    # A NAS whose clock is 10 min behind: the photo's ctime reads old, but it came after our first look.
    entries = carousel(NOW - 600)
    still_since = {entry.rel: NOW - 1000.0 for entry in entries} | {PurePosixPath("trip/2.jpg"): NOW - 30}
    [waiting] = plan_items(entries, NOW, RULES, still_since=still_since, watching_since=NOW - 1000).waiting
    assert waiting.until == NOW + 15


def test_what_was_there_at_the_first_look_is_judged_by_its_disk_times_so_a_restart_does_not_wait_again() -> None:
    entries = carousel(NOW - 600)
    still_since = {entry.rel: NOW - 6 for entry in entries}  # a fresh `once`: all of it new to it, 6 s ago
    plan = plan_items(entries, NOW, RULES, still_since=still_since, watching_since=NOW - 6)
    assert [item.name for item in plan.ready] == ["trip"]


def test_a_disk_time_ahead_of_our_clock_counts_from_our_first_sight_never_forever() -> None:
    entries = carousel(NOW + 3600)  # a NAS clock an hour ahead
    still_since = {entry.rel: NOW - 100 for entry in entries}
    plan = plan_items(entries, NOW, RULES, still_since=still_since, watching_since=NOW - 100)
    assert [item.name for item in plan.ready] == ["trip"]


def test_a_window_of_zero_turns_the_folder_rule_off() -> None:
    rules = Rules(settle_seconds=0, folder_settle_seconds=0)
    assert [item.name for item in plan_items(carousel(NOW - 1), NOW, rules).ready] == ["trip"]


def test_a_hold_file_in_the_folder_holds_it_however_long_until_the_user_deletes_it() -> None:
    for name in ("hold.txt", "HOLD", "Hold.TXT"):
        entries = [*carousel(NOW - 9000), at(f"trip/{name}", NOW - 9000)]
        [waiting] = plan_items(entries, NOW, RULES).waiting
        assert waiting.kind == "held" and waiting.until is None
        assert waiting.reason.startswith(f"held: trip/{name} is there; delete it when every file is in")
    assert plan_items([at("hold.txt", NOW - 9000), at("clip.mp4", NOW - 90), at("clip.md", NOW - 90)],
                      NOW, RULES).ready[0].name == "clip"  # only inside a folder item


def test_a_look_reads_the_wait_from_real_files_by_their_ctime_not_a_kept_mtime(tmp_path: Path) -> None:
    folder = tmp_path / "trip"
    folder.mkdir()
    (folder / "post.md").write_text("---\n---\nA caption\n")
    (folder / "1.jpg").write_bytes(b"x" * 10)
    os.utime(folder / "1.jpg", (1_000.0, 1_000.0))  # an old mtime a copy kept; its ctime is now
    os.utime(folder / "post.md", (1_000.0, 1_000.0))
    [waiting] = look(tmp_path, RULES, os.stat(folder / "1.jpg").st_ctime + 10).waiting
    assert not waiting.stuck  # the kept mtime is not when it came: a folder holding still goes within the window
    assert waiting.until is not None and abs(waiting.until - (os.stat(folder / "1.jpg").st_ctime + 45)) < 1


def test_check_and_status_say_until_when_a_fresh_folder_waits_and_leave_it_untouched(
    tmp_path: Path, inbox: Path, sandbox: Sandbox
) -> None:
    config = write_config(tmp_path, sandbox.url, inbox={"folder_settle_seconds": 45.0})
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY, "HOME": str(tmp_path), "PYTHONIOENCODING": "utf-8"}
    env.pop("PQDROP_CONFIG", None)

    def pqdrop(*args: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "pqdrop", *args, "--config", str(config)], env=env,
                              cwd=tmp_path, capture_output=True, timeout=120, check=False, text=True)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout

    folder = inbox / "trip"
    folder.mkdir()
    sidecar(folder / "post.md", "intent: publish\n", "Two photos")
    make_image(folder / "1.jpg", width=640, height=800)
    make_image(folder / "2.jpg", width=648, height=800)
    until = clock(max(os.stat(path).st_ctime for path in (folder, *folder.iterdir())) + 45)
    code, out = pqdrop("check")
    assert code == 0  # the folder is fine; it only has not held still yet
    assert out.startswith(f"wait  trip: still arriving: waiting for the folder to hold still until {until} ")
    assert out.endswith("1 checked, 0 with problems\n")
    code, out = pqdrop("status", "--json")
    [row] = json.loads(out)["waiting"]
    assert row["name"] == "trip" and f"until {until}" in row["reason"] and row["until"].endswith("Z")
    (folder / "hold.txt").write_text("")
    code, out = pqdrop("check")
    assert out.startswith("wait  trip: held: trip/hold.txt is there; delete it when every file is in")
    os.unlink(folder / "hold.txt")
    before = tree_digest(inbox)
    code, out = pqdrop("check", str(folder))  # the folder named alone reads as the one item it is
    assert out.startswith("wait  trip: still arriving: waiting for the folder to hold still until ")
    assert tree_digest(inbox) == before and sandbox.state_summary()["publishes"] == []


def test_once_waits_for_a_folder_made_a_moment_before_and_posts_it_whole(
    tmp_path: Path, inbox: Path, sandbox: Sandbox
) -> None:
    config = write_config(tmp_path, sandbox.url, inbox={"folder_settle_seconds": 8.0})  # longer than once's start
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY, "HOME": str(tmp_path)}
    env.pop("PQDROP_CONFIG", None)
    folder = inbox / "trip"
    folder.mkdir()
    sidecar(folder / "post.md", "intent: publish\n", "Two photos")
    make_image(folder / "1.jpg", width=640, height=800)
    make_image(folder / "2.jpg", width=648, height=800)
    last = max(os.stat(path).st_ctime for path in (folder, *folder.iterdir()))
    done = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config)], env=env, cwd=tmp_path,
                          capture_output=True, timeout=120, check=False, text=True)
    assert done.returncode == 0, done.stderr
    assert "trip: still arriving: waiting for the folder to hold still until " in done.stderr
    [publish] = sandbox.state_summary()["publishes"]
    assert len(publish["contentIds"]) == 2
    status = json.loads((inbox / "sent" / "trip.status.json").read_text())
    assert datetime.fromisoformat(publish["createdAt"].replace("Z", "+00:00")).timestamp() >= last + 8 - 1
    assert status["state"] == "published"
