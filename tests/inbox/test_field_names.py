"""Tests of the field: names, sidecars and what pqdrop prints, through `python -m pqdrop` as a user runs it.

Sidecars written without their `---` fences or with near misses (`--`, `***`, `+++`), ordinary names
that look like a OneDrive copy (`teaser-FINAL`, `sunset-HDR`) beside real ones (`-DESKTOP-1A2B3C4`),
file names holding a line feed or an ESC under journald, and the advice `check` and `once` give.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, tree_digest, write_config
from tests.system.test_field import clip, pqdrop, status

from pqdrop.media.mediagen import make_image, make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED

LATIN1 = os.fsdecode(b"caf\xe9")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment whose standard streams are strict UTF-8: a name printed raw would raise."""
    scrubbed = ("PQDROP_CONFIG", "POSTQUED_API_KEY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")
    env = {name: value for name, value in os.environ.items() if name not in scrubbed}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), POSTQUED_API_KEY=SANDBOX_KEY,
               PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8")
    return env


@pytest.fixture
def config_path(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Path:
    return write_config(tmp_path, sandbox.url)


def publishes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(sandbox.state_summary()["publishes"])


# --- names in what pqdrop prints ------------------------------------------------------------------

FORGED = "a\n<3>pqdrop: FORGED error line"


def test_a_line_feed_in_a_name_forges_no_journald_line_and_an_esc_never_reaches_the_terminal(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    clip(inbox / FORGED)
    clip(inbox / "esc\x1b[2Jclear")
    clip(Path(os.fsdecode(os.fsencode(inbox) + b"/caf\xe9")))
    done = pqdrop("once", "--config", str(config_path), env={**env, "JOURNAL_STREAM": "8:1234"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    err, out = done.stderr.decode("utf-8"), done.stdout.decode("utf-8")
    assert b"\x1b" not in done.stderr + done.stdout
    assert all(re.match(r"<[0-7]>", line) for line in err.splitlines()), err  # every line is pqdrop's own
    assert not [line for line in err.splitlines() if line.startswith("<3>")]  # nothing failed, nothing forged
    sent = {line.split(": published (publish")[0] for line in err.splitlines() if ": published (publish" in line}
    assert sent == {"<6>a\\n<3>pqdrop: FORGED error line", "<6>esc\\x1b[2Jclear", "<6>caf\\xe9"}
    rows = {line.split("  ")[0] for line in out.splitlines()[1:]}
    assert rows == {"a\\n<3>pqdrop: FORGED error line", "esc\\x1b[2Jclear", "caf\\xe9"}  # the table alike
    assert len(out.splitlines()) == 4
    assert sorted(os.listdir(inbox / "sent"))[:2] == [f"{FORGED}.md", f"{FORGED}.mp4"]  # the files keep their names


def test_a_failure_for_a_name_with_a_line_feed_is_one_error_line_and_its_status_message_shows_it_escaped(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    clip(inbox / FORGED, frontmatter="dispatchat: tomorrow\n")  # a typo in a key: the item fails
    done = pqdrop("once", "--config", str(config_path), env={**env, "JOURNAL_STREAM": "8:1234"}, cwd=tmp_path)
    assert done.returncode == EXIT_FAILED
    errors = [line for line in done.stderr.decode().splitlines() if line.startswith("<3>")]
    assert errors == ["<3>a\\n<3>pqdrop: FORGED error line: failed: a\\n<3>pqdrop: FORGED error line.md: "
                      "dispatchat: unknown key; did you mean dispatchAt?"]
    filed = json.loads((inbox / "failed" / f"{FORGED}.status.json").read_text(encoding="utf-8"))
    assert filed["item"] == FORGED  # the item keeps its name, byte for byte
    assert filed["error"]["message"] == ("a\\n<3>pqdrop: FORGED error line.md: dispatchat: unknown key; "
                                         "did you mean dispatchAt?")
    listed = pqdrop("status", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert "  a\\n<3>pqdrop: FORGED error line  SIDECAR_UNKNOWN_KEY: a\\n<3>pqdrop: FORGED" in listed
    assert "\n<3>" not in listed


def test_a_latin1_name_reads_the_same_in_info_lines_errors_and_status_files(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    raw = os.fsencode(inbox)
    clip(Path(os.fsdecode(raw + b"/caf\xe9")))
    clip(Path(os.fsdecode(raw + b"/na\xefve")), frontmatter="intent: sometimes\n")
    done = pqdrop("once", "-v", "--config", str(config_path), env=env, cwd=tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == EXIT_FAILED, err
    assert "\\udc" not in err and "caf\\xe9: published (publish" in err
    assert "ERROR   na\\xefve: failed: na\\xefve.md: intent: " in err
    filed = json.loads(Path(os.fsdecode(raw + b"/failed/na\xefve.status.json")).read_bytes())
    assert filed["error"]["message"].startswith("na\\xefve.md: intent: ")
    assert os.fsencode(filed["item"]) == b"na\xefve"  # lossless where it is a name, not a message


# --- sidecars without their fences --------------------------------------------------------------


def test_sidecars_without_fences_or_with_near_misses_fail_in_check_and_once_and_nothing_is_posted(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    written = {"nofence": b"intent: publish\nprivacyLevel: SELF_ONLY\n\nbody\n",
               "two": b"--\nintent: publish\n--\nbody\n", "toml": b'+++\nintent = "publish"\n+++\nbody\n',
               "stars": b"***\r\nintent: publish\r\n***\r\nbody\r\n"}
    for stem, text in written.items():
        make_video(inbox / f"{stem}.mp4", width=360 + 8 * len(stem), height=640, seconds=1)
        (inbox / f"{stem}.md").write_bytes(text)
    make_video(inbox / "recipe.mp4", width=480, height=640, seconds=1)
    (inbox / "recipe.md").write_text("Recipe: pasta\nwith basil #food\n", encoding="utf-8")  # a caption, no settings
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    lines = checked.stdout.decode().splitlines()
    assert checked.returncode == 1
    assert "FAIL  nofence: nofence.md: line 1 'intent: publish' is a setting, but the sidecar has no --- fences, " \
           "so it would be posted as the caption, with default settings; put a line --- above and below the " \
           "settings" in lines
    assert "FAIL  two: two.md: line 1 is '--', not a frontmatter fence, so the settings below it would be posted as " \
           "the caption, with default settings; put a line --- above and below the settings" in lines
    assert [line.split(":")[0] for line in lines if line.startswith("FAIL")] == [
        "FAIL  nofence", "FAIL  stars", "FAIL  toml", "FAIL  two"]
    assert "ok    recipe" in lines
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == EXIT_FAILED
    for stem in written:
        error = status(inbox, stem, "failed")["error"]
        assert error["code"] == "SIDECAR_FENCES" and error["message"].endswith(
            "put a line --- above and below the settings"), error
        assert (inbox / "failed" / f"{stem}.md").read_bytes() == written[stem]  # the file as the user wrote it
    [publish] = publishes(sandbox)
    assert publish["targets"][0]["caption"] == "Recipe: pasta\nwith basil #food"


# --- names that look like a OneDrive copy ---------------------------------------------------------


def test_editing_suffixes_are_posted_while_real_onedrive_copies_still_hold_their_item(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    for stem in ("teaser", "teaser-FINAL", "clip-4K", "vlog-DAY2"):
        clip(inbox / stem, caption=f"This is {stem}")
    beach = inbox / "beach"
    beach.mkdir()
    make_image(beach / "sunset.jpg", width=720, height=960)
    make_image(beach / "sunset-HDR.jpg", width=736, height=960)
    sidecar(beach / "beach.md", body="Beach")
    clip(inbox / "launch", caption="Launch from the desktop")  # OneDrive kept both versions of launch
    clip(inbox / "launch-DESKTOP-1A2B3C4", caption="Launch from the laptop")
    clip(inbox / "promo", caption="Promo")
    sidecar(inbox / "promo-STUDIO-PC.md", body="Promo, as the studio PC saved it")  # a copy of the sidecar only
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode().splitlines()
    assert [line for line in checked if line.startswith("ok")] == [
        "ok    clip-4K", "ok    teaser", "ok    teaser-FINAL", "ok    vlog-DAY2", "ok    beach"]
    assert ("FAIL  launch: launch-DESKTOP-1A2B3C4.mp4 is a OneDrive conflicted copy of launch.mp4: keep one version "
            "(delete or move the other out of the inbox), then the item is posted") in checked
    assert "FAIL  promo: promo-STUDIO-PC.md is a OneDrive conflicted copy of promo.md: keep one version" in "\n".join(
        checked)
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout.decode()
    captions = sorted(publish["targets"][0]["caption"] for publish in publishes(sandbox))
    assert captions == ["Beach", "This is clip-4K", "This is teaser", "This is teaser-FINAL", "This is vlog-DAY2"]
    assert len(status(inbox, "beach")["media"]) == 2
    held = sorted(path.name for path in inbox.iterdir() if path.name.startswith(("launch", "promo")))
    assert held == ["launch-DESKTOP-1A2B3C4.md", "launch-DESKTOP-1A2B3C4.mp4", "launch.md", "launch.mp4",
                    "promo-STUDIO-PC.md", "promo.md", "promo.mp4"]


# --- the advice check and once give ---------------------------------------------------------------


def test_check_advises_a_folder_without_a_sidecar_as_once_does_and_following_it_posts_the_folder(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    (inbox / "nomd").mkdir()
    make_image(inbox / "nomd" / "1.jpg", width=720, height=960)
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert checked.returncode == 1
    assert checked.stdout.decode().splitlines()[0] == "FAIL  nomd: no sidecar: add nomd/<any name>.md inside the folder"
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert "nomd  waiting  waiting for its sidecar nomd/<any name>.md" in done
    sidecar(inbox / "nomd" / "caption.md", body="Following the advice")  # any name, inside the folder
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert (checked.returncode, checked.stdout.decode().splitlines()[0]) == (0, "ok    nomd")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    [publish] = publishes(sandbox)
    assert publish["targets"][0]["caption"] == "Following the advice"


def test_a_conflicted_copy_with_no_original_is_said_by_check_once_and_status_and_posted_once_renamed(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    copy = "beach (Anna's conflicted copy 2026-12-01)"
    clip(inbox / copy, caption="The only version")
    said = (f"not posted: {copy}.md and {copy}.mp4 are Dropbox/Nextcloud conflicted copies, and beach.md and "
            "beach.mp4 are not there; rename them to beach.md and beach.mp4 to post them")
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert checked.returncode == 1
    assert checked.stdout.decode().splitlines() == [f"FAIL  beach: {said}", "1 checked, 1 with problems"]
    one = pqdrop("check", "--config", str(config_path), str(inbox / f"{copy}.mp4"), env=env, cwd=tmp_path)
    assert one.stdout.decode().splitlines()[0] == f"FAIL  beach: {said}"  # named by one of its files, too
    before = tree_digest(inbox)
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.decode().splitlines()[1:] == [f"beach  waiting  {said}"]
    assert f"WARNING beach: {said}" in done.stderr.decode()
    listed = pqdrop("status", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert f"  {copy}.mp4  not posted: conflicted copy" in listed
    assert tree_digest(inbox) == before and publishes(sandbox) == []
    for suffix in (".mp4", ".md"):  # as the message says
        (inbox / f"{copy}{suffix}").rename(inbox / f"beach{suffix}")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    [publish] = publishes(sandbox)
    assert publish["targets"][0]["caption"] == "The only version"
