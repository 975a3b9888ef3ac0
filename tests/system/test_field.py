"""Tests of the field (issue 12): what people running watched folders have met, made the way the world makes it.

Latin-1 names written through bytes paths, NFD names as a Mac writes them, a carousel whose photo a
real writer process delivers slowly under Syncthing's temporary name, a faststart MP4 cut to half its
bytes, sidecars mangled by smart punctuation, HEIC photos made by libheif, a 12-photo carousel, sync
conflicts, an exhausted inotify limit, and a run of hostile names beside one innocent item.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SANDBOX_KEY, Running, make_heic, sidecar, tree_digest, wait_until, write_config
from tests.media.test_media import cut_to_half, make_faststart_mp4

from pqdrop.folders.filing import status_name
from pqdrop.inbox.items import Plan, Waiting
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.names import NAME_MAX
from pqdrop.sandbox import Sandbox
from pqdrop.service.daemon import status_line
from pqdrop.service.workers import EXIT_FAILED, Round, exit_code

PQDROP = [sys.executable, "-m", "pqdrop"]
LATIN1 = os.fsdecode(b"caf\xe9")
_widths = itertools.count(360, 4)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment whose standard streams are strict UTF-8: a name printed raw would raise."""
    scrubbed = ("PQDROP_CONFIG", "POSTQUED_API_KEY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    env = {name: value for name, value in os.environ.items() if name not in scrubbed}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), POSTQUED_API_KEY=SANDBOX_KEY,
               PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8")
    return env


@pytest.fixture
def config_path(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Path:
    return write_config(tmp_path, sandbox.url)


def pqdrop(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*PQDROP, *args], env=env, cwd=cwd, capture_output=True, timeout=90, check=False)


def clip(path: Path, caption: str = "A caption #fyp", frontmatter: str = "") -> None:
    """A short clip (each of its own size, so no two are a re-drop) and its sidecar, at any str path."""
    make_video(Path(str(path) + ".mp4"), width=next(_widths), height=640, seconds=1)
    sidecar(Path(str(path) + ".md"), frontmatter, caption)


def status(inbox: Path, name: str, folder: str = "sent") -> dict[str, Any]:
    return dict(json.loads((inbox / folder / f"{name}.status.json").read_text(encoding="utf-8")))


# --- names --------------------------------------------------------------------------------------


def test_latin1_names_are_posted_by_once_and_check_says_the_same(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    raw = os.fsencode(inbox)
    clip(Path(os.fsdecode(raw + b"/caf\xe9")))  # as an old SMB client or a Windows zip writes it
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert (checked.returncode, checked.stdout.decode().splitlines()[0]) == (0, "ok    caf\\xe9")
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    assert sorted(os.listdir(raw + b"/sent")) == [b"caf\xe9.md", b"caf\xe9.mp4", b"caf\xe9.status.json"]
    filed = json.loads((Path(os.fsdecode(raw + b"/sent/caf\xe9.status.json"))).read_bytes())
    assert [os.fsencode(name) for name in filed["files"]] == [b"caf\xe9.mp4", b"caf\xe9.md"]  # lossless
    logged = [json.loads(line) for line in (inbox / "status.log").read_bytes().decode("utf-8").splitlines()]
    assert {os.fsencode(line["item"]) for line in logged} == {b"caf\xe9"}
    [content] = sandbox.state_summary()["contents"].values()
    assert content["filename"] == "café.mp4"  # the API hears it as Windows-1252 meant it


def test_a_scheduled_latin1_name_is_in_schedule_md_as_a_person_reads_it(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    raw = os.fsencode(inbox)
    clip(Path(os.fsdecode(raw + b"/caf\xe9")), frontmatter="dispatchAt: 2030-06-01T18:00:00\n")
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode()
    assert sorted(os.listdir(raw + b"/scheduled")) == [b"caf\xe9.md", b"caf\xe9.mp4", b"caf\xe9.status.json"]
    assert "- **18:00 CEST** · caf\\xe9 · @mybrand (tiktok) · scheduled" in (inbox / "SCHEDULE.md").read_text("utf-8")


def test_nfc_media_and_nfd_sidecar_pair_in_check_and_once(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    make_video(inbox / f"{unicodedata.normalize('NFC', 'Café')}.mp4", seconds=1)  # written on Linux
    sidecar(inbox / f"{unicodedata.normalize('NFD', 'Café')}.md", body="From the Mac")  # written on macOS
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout.decode()
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    [publish] = sandbox.state_summary()["publishes"]
    assert publish["targets"][0]["caption"] == "From the Mac"


def test_a_name_near_name_max_is_posted_and_no_derived_name_is_longer_than_allowed(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    stem = "é" * 125  # 250 bytes: `.mp4` makes 254, `.status.json` or a claim folder would make more
    (inbox / "sent").mkdir()
    (inbox / "sent" / f"{stem}.mp4").write_bytes(b"an earlier post of the same name")  # so the filing needs ` (2)`
    clip(inbox / stem)
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    names = sorted(path.name for path in (inbox / "sent").iterdir())
    assert len(names) == 4 and all(len(os.fsencode(name)) <= NAME_MAX for name in names)
    assert [name for name in names if name.endswith(" (2).mp4")] and [n for n in names if n.endswith(".status.json")]


# --- still arriving -----------------------------------------------------------------------------

SYNCTHING_WRITER = textwrap.dedent("""
    import os, sys, time
    folder, name, data, seconds = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read(), float(sys.argv[4])
    temporary = os.path.join(folder, ".syncthing." + name + ".tmp")
    with open(temporary, "wb") as stream:  # Syncthing writes blocks into its temporary, then renames it
        for start in range(0, len(data), len(data) // 8 + 1):
            stream.write(data[start:start + len(data) // 8 + 1])
            stream.flush()
            time.sleep(seconds / 8)
    os.rename(temporary, os.path.join(folder, name))
""")


@pytest.mark.slow
def test_a_carousel_waits_for_the_photo_syncthing_still_writes_and_never_moves_its_temporary(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    running = start(watch="events", settle_seconds=0.3)
    source = make_image(tmp_path / "02.jpg", width=720, height=960)
    folder = tmp_path / "trip"  # the folder arrives whole except for one photo, as Syncthing delivers it
    folder.mkdir()
    sidecar(folder / "trip.md", body="Trip")
    make_image(folder / "01.jpg", width=720, height=960)
    make_image(folder / "03.jpg", width=720, height=960)
    os.rename(folder, running.inbox / "trip")
    writer = subprocess.Popen([sys.executable, "-c", SYNCTHING_WRITER, str(running.inbox / "trip"), "02.jpg",
                               str(source), "3"])
    try:
        while writer.poll() is None:
            assert running.publishes() == [], "posted while Syncthing was still writing a photo"
            assert not (running.inbox / "sent").exists()
            time.sleep(0.1)
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == 0  # its final rename found its temporary where it left it
    wait_until(lambda: running.filed("trip") is not None)
    [publish] = running.publishes()
    assert len(publish["contentIds"]) == 3
    filed = running.filed("trip")
    assert filed is not None and [media["file"] for media in filed["media"]] == [
        "trip/01.jpg", "trip/02.jpg", "trip/03.jpg"]


@pytest.mark.slow
def test_a_faststart_mp4_cut_to_half_is_still_arriving_for_check_and_once_until_whole(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    whole = make_faststart_mp4(tmp_path / "clip.mp4", seconds=10).read_bytes()
    (inbox / "clip.mp4").write_bytes(whole)
    cut_to_half(inbox / "clip.mp4")  # a copy that stalled for longer than settle_seconds
    sidecar(inbox / "clip.md")
    before = tree_digest(inbox)
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert checked.returncode == 1
    assert "clip: still arriving: clip.mp4: its container holds" in checked.stdout.decode()
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert tree_digest(inbox) == before and sandbox.state_summary()["contents"] == {}
    (inbox / "clip.mp4").write_bytes(whole)  # the copy resumes and ends
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert status(inbox, "clip")["state"] == "published"


def test_an_empty_sidecar_is_still_arriving_and_posted_once_written(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    make_video(inbox / "clip.mp4", seconds=1)
    (inbox / "clip.md").write_bytes(b"")  # a new file someone is about to type into
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert sandbox.state_summary()["publishes"] == [] and (inbox / "clip.md").exists()
    sidecar(inbox / "clip.md", "intent: draft\n", "Typed in")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    [publish] = sandbox.state_summary()["publishes"]
    assert (publish["targets"][0]["caption"], publish["targets"][0]["intent"]) == ("Typed in", "draft")


# --- conflicts ----------------------------------------------------------------------------------


def test_a_sync_conflict_holds_the_item_and_every_status_names_the_file_to_resolve(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    clip(inbox / "clip", "Version from the laptop")
    copy = "clip (Jo's conflicted copy 2026-11-02).md"
    sidecar(inbox / copy, body="Version from the phone")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert sandbox.state_summary()["publishes"] == [] and not (inbox / "sent").exists()
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert f"FAIL  clip: {copy} is a Dropbox/Nextcloud conflicted copy of clip.md: keep one version" in checked
    shown = pqdrop("status", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert f"{copy} is a Dropbox/Nextcloud conflicted copy of clip.md" in shown
    logged = [json.loads(line) for line in (inbox / "status.log").read_text(encoding="utf-8").splitlines()]
    assert [(line["item"], line["state"]) for line in logged] == [("clip", "waiting")]
    assert copy in logged[0]["reason"]
    (inbox / copy).unlink()  # the user keeps one version
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    [publish] = sandbox.state_summary()["publishes"]
    assert publish["targets"][0]["caption"] == "Version from the laptop"


# --- sidecars and photos ------------------------------------------------------------------------


def test_a_sidecar_mangled_by_smart_dashes_is_refused_not_posted_on_defaults(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    make_video(inbox / "dash.mp4", seconds=1)
    (inbox / "dash.md").write_text("—-\naccount: “@otherbrand”\nintent: publish\n—-\nTeaser\n", encoding="utf-8")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == EXIT_FAILED
    error = status(inbox, "dash", "failed")["error"]
    assert error["code"] == "SIDECAR_SMART_PUNCTUATION"
    assert "smart punctuation" in error["message"] and "Smart Punctuation" in error["message"]
    assert sandbox.state_summary()["publishes"] == []


def test_a_folder_of_iphone_heic_photos_is_posted_as_jpegs_and_the_originals_are_untouched(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    folder = inbox / "beach"
    folder.mkdir()
    for number in range(1, 4):
        make_heic(folder / f"IMG_000{number}.HEIC", width=720, height=960, color=(number * 60, 90, 90))
    sidecar(folder / "beach.md", body="Beach")
    photos = {path.name: path.read_bytes() for path in folder.glob("*.HEIC")}
    done = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    contents = sorted(sandbox.state_summary()["contents"].values(), key=lambda content: content["filename"])
    assert [(c["filename"], c["contentType"]) for c in contents] == [
        (f"IMG_000{number}.jpg", "image/jpeg") for number in range(1, 4)]
    assert {path.name: path.read_bytes() for path in (inbox / "sent" / "beach").glob("*.HEIC")} == photos
    assert list((tmp_path / "state").glob("photo-*")) == []  # the JPEGs lived only for their upload


def test_a_photo_pqdrop_cannot_convert_is_refused_at_once_by_name(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    (inbox / "scan.tiff").write_bytes(b"II*\x00" + bytes(64))
    sidecar(inbox / "scan.md")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == EXIT_FAILED
    assert status(inbox, "scan", "failed")["error"]["message"].startswith("scan: scan.tiff: pqdrop cannot post TIFF")


def test_a_twelve_photo_carousel_goes_out_in_reading_order_and_its_status_lists_it(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    folder = inbox / "dozen"
    folder.mkdir()
    for number in range(12, 0, -1):
        make_image(folder / f"{number}.jpg", width=720 + 8 * number, height=960)
    sidecar(folder / "dozen.md")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    summary = sandbox.state_summary()
    [publish] = summary["publishes"]
    assert [summary["contents"][cid]["filename"] for cid in publish["contentIds"]] == [
        f"{number}.jpg" for number in range(1, 13)]
    assert [media["file"] for media in status(inbox, "dozen")["media"]] == [
        f"dozen/{number}.jpg" for number in range(1, 13)]


def test_a_subfolder_in_a_carousel_folder_is_said_by_check_and_the_status_and_filed_untouched(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    folder = inbox / "trip"
    (folder / "raw").mkdir(parents=True)
    (folder / ".thumbnails").mkdir()  # a hidden folder (a gallery app's) is nobody's business
    make_image(folder / "01.jpg", width=720, height=960)
    make_image(folder / "02.jpg", width=736, height=960)
    make_image(folder / "raw" / "03.jpg", width=752, height=960)
    sidecar(folder / "trip.md")
    said = ("raw/ inside the folder not posted: a folder item posts the media at its top level only; "
            "the subfolder is filed with the folder, untouched")
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert f"ok    trip\n      warning: trip/{said}\n" in checked.stdout.decode()
    raw_before = (folder / "raw" / "03.jpg").read_bytes()
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    [publish] = sandbox.state_summary()["publishes"]
    assert len(publish["contentIds"]) == 2
    assert status(inbox, "trip")["note"] == f"trip/{said}"
    assert (inbox / "sent" / "trip" / "raw" / "03.jpg").read_bytes() == raw_before
    assert (inbox / "sent" / "trip" / ".thumbnails").is_dir()


# --- resource limits ----------------------------------------------------------------------------


@pytest.mark.slow
def test_an_exhausted_inotify_instance_limit_falls_back_to_polling_and_says_so_once(
    start: Callable[..., Running], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_instance_left() -> Any:
        raise OSError(24, "inotify instance limit reached")  # what watchdog raises at max_user_instances

    monkeypatch.setattr("pqdrop.inbox.watcher._events_observer", no_instance_left)
    caplog.set_level(logging.INFO, logger="pqdrop")
    running = start(watch="events", settle_seconds=0.2, poll_interval=0.3)
    assert running.runner.watcher.mode == "poll"
    time.sleep(6)  # longer than the loop's 5 s look at the watch, which used to warn again each time
    clip(running.inbox / "clip")
    wait_until(lambda: running.filed("clip") is not None)
    said = [record for record in caplog.records if "inotify refused" in record.getMessage()]
    assert len(said) == 1 and "polling every 0.3 s instead" in said[0].getMessage()


def test_a_vanished_inbox_is_waited_for_and_said_once(
    start: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pqdrop")
    running = start(watch="poll", settle_seconds=0.2, poll_interval=0.2)
    away = tmp_path / "inbox-away"
    os.rename(running.inbox, away)
    time.sleep(2)  # ten looks at a missing inbox
    os.rename(away, running.inbox)
    clip(running.inbox / "clip")
    wait_until(lambda: running.filed("clip") is not None)
    said = [record.getMessage() for record in caplog.records if "nothing is posted until" in record.getMessage()]
    assert len(said) == 1 and "inbox" in said[0]


def test_local_file_trouble_never_exits_once_with_3() -> None:
    assert exit_code(Round(local={"clip": "OSError: [Errno 28] No space left on device"})) == EXIT_FAILED


# --- never crash on one item --------------------------------------------------------------------


LIMITS = {"upload": 20, "read": 30, "publish": 10, "delete": 20}
WINDOW = 2.0  # PostQued's minute, scaled down: the run posts some twenty items


@pytest.fixture
def quick_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_keys=(SANDBOX_KEY,), rate_limits=LIMITS, window_seconds=WINDOW, processing_seconds=0.02) as server:
        yield server


@pytest.fixture
def daemon(
    quick_sandbox: Sandbox, inbox: Path, tmp_path: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    config_path = write_config(tmp_path, quick_sandbox.url,
                               postqued={"rate_limits": {**LIMITS, "window_seconds": WINDOW}, "workers": 4})
    with open(tmp_path / "run.log", "wb") as output:
        process = subprocess.Popen([*PQDROP, "run", "--config", str(config_path)], env=env, cwd=tmp_path,
                                   stdout=output, stderr=subprocess.STDOUT)
        yield process
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.slow
def test_hostile_names_and_files_beside_an_innocent_item_never_stop_pqdrop_run(
    daemon: subprocess.Popen[bytes], inbox: Path, tmp_path: Path, quick_sandbox: Sandbox
) -> None:
    raw = os.fsencode(inbox)
    hostile_stems = [os.fsdecode(b"caf\xe9"), os.fsdecode(b"\xff\xfe bytes"), "é" * 125, "-rf", "new\nline",
                     "back\\slash", "a~b~c", "%s %d {}", "🎬 emoji", unicodedata.normalize("NFD", "Noël"),
                     "sent", " leading space", "trailing dot."]
    for stem in hostile_stems:
        clip(inbox / stem)
    (inbox / "zero.mp4").write_bytes(b"")  # empty: still arriving
    sidecar(inbox / "zero.md")
    os.mkfifo(inbox / "pipe.mp4")  # opening it would block forever
    sidecar(inbox / "pipe.md")
    (inbox / "noise.mp4").write_bytes(os.urandom(8192))
    sidecar(inbox / "noise.md")
    make_video(inbox / "latin1-sidecar.mp4", seconds=1)
    (inbox / "latin1-sidecar.md").write_bytes(b"---\n---\nCaf\xe9\n")  # not UTF-8 inside
    os.symlink("loop.mp4", inbox / "loop.mp4")  # a link to itself
    sidecar(inbox / "loop.md")
    (inbox / "folder.mp4").mkdir()  # a folder with a media suffix
    sidecar(inbox / "folder.mp4" / "x.md")
    Path(os.fsdecode(raw + b"/trip\xe9")).mkdir()  # a carousel with a Latin-1 name, photos in reading order
    for number in (10, 2, 1):
        make_image(Path(os.fsdecode(raw + b"/trip\xe9/" + str(number).encode() + b".jpg")), width=720, height=960)
    sidecar(Path(os.fsdecode(raw + b"/trip\xe9/post.md")))
    clip(inbox / "innocent", "The innocent one")

    wait_until(lambda: (inbox / "sent" / "innocent.status.json").exists(), seconds=90)
    captions = [publish["targets"][0]["caption"] for publish in quick_sandbox.state_summary()["publishes"]]
    assert "The innocent one" in captions
    # Each hostile item is posted whole under the bytes it was dropped with, or failed with a reason.
    posted = {os.fsencode(name) for stem in hostile_stems for name in (stem + ".mp4", stem + ".md", status_name(stem))}
    posted |= {b"trip\xe9", b"trip\xe9.status.json"}
    refused = {name + b".status.json" for name in (b"pipe", b"noise", b"latin1-sidecar", b"loop")}
    wait_until(lambda: posted <= set(os.listdir(raw + b"/sent")) and refused <= set(os.listdir(raw + b"/failed")),
               seconds=120)
    assert daemon.poll() is None, (tmp_path / "run.log").read_text(errors="replace")
    assert {name for name in os.listdir(raw + b"/failed") if name.endswith(b".json")} == refused
    assert (inbox / "zero.mp4").exists() and (inbox / "folder.mp4" / "x.md").exists()  # waiting, untouched
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert "Traceback" not in (tmp_path / "run.log").read_text(errors="replace")


def test_an_item_stuck_arriving_is_said_in_status_and_left_untouched(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    folder = inbox / "trip"
    folder.mkdir()
    make_image(folder / "01.jpg", width=720, height=960)
    sidecar(folder / "trip.md")
    (folder / ".syncthing.02.jpg.tmp").write_bytes(b"half a photo")  # a transfer that never finished
    long_ago = time.time() - 25 * 3600
    for path in (*folder.iterdir(), folder):
        os.utime(path, (long_ago, long_ago))
    before = tree_digest(inbox)
    shown = pqdrop("status", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert "trip  stuck arriving for 25 h: trip/.syncthing.02.jpg.tmp is a Syncthing temporary" in shown
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert tree_digest(inbox) == before and (folder / ".syncthing.02.jpg.tmp").read_bytes() == b"half a photo"


def test_a_pair_and_a_folder_of_one_name_both_wait_saying_so_in_check_and_once(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    clip(inbox / "x")
    (inbox / "x").mkdir()
    make_image(inbox / "x" / "01.jpg", width=720, height=960)
    sidecar(inbox / "x" / "x.md")
    said = "x.mp4 and the folder x/ are two items of one name; rename one, and both go"
    checked = pqdrop("check", "--config", str(config_path), env=env, cwd=tmp_path).stdout.decode()
    assert checked.count(f"FAIL  x: {said}") == 2, checked
    before = tree_digest(inbox)
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert sandbox.state_summary()["publishes"] == []
    assert tree_digest(inbox) == before
    (inbox / "x").rename(inbox / "x-photos")
    assert pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path).returncode == 0
    assert len(sandbox.state_summary()["publishes"]) == 2


@pytest.mark.parametrize("other", ["md2.MD", "md2.Md"])
def test_two_sidecars_of_one_name_in_another_case_hold_the_item_and_nothing_is_split(
    config_path: Path, inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox, other: str
) -> None:
    clip(inbox / "md2")
    sidecar(inbox / other, body="the other version")
    before = tree_digest(inbox)
    result = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert result.returncode == 0
    said = "one name written two ways (letter case or Unicode normalization); keep one sidecar"
    assert said in result.stdout.decode()
    assert tree_digest(inbox) == before and not (inbox / "failed").exists()
    assert sandbox.state_summary()["publishes"] == []


def test_a_new_once_knows_how_long_a_file_has_been_stuck_from_the_file_itself(
    inbox: Path, tmp_path: Path, env: dict[str, str], sandbox: Sandbox
) -> None:
    config = write_config(tmp_path, sandbox.url, inbox={"stuck_arriving_hours": 0.0005})  # 1.8 s
    (inbox / "blank.mp4").write_bytes(b"")  # a copy that created its file and never wrote it
    sidecar(inbox / "blank.md")
    time.sleep(2.5)
    result = pqdrop("once", "--config", str(config), env=env, cwd=tmp_path)
    assert result.returncode == 0
    [row] = [line for line in result.stdout.decode().splitlines() if line.startswith("blank ")]
    assert "stuck arriving for" in row and "blank.mp4 is empty" in row, row
    assert (inbox / "blank.mp4").read_bytes() == b"" and not (inbox / "failed").exists()


def test_the_systemd_status_line_counts_what_is_stuck_and_what_a_conflict_holds() -> None:
    plan = Plan(waiting=(Waiting("trip", "stuck arriving for 25 h: …", "arriving", 0.0, True),
                         Waiting("clip", "clip (conflicted copy).md is …", "conflict", 0.0)))
    assert status_line(plan, None, False) == (
        "2 waiting, 0 ready, 1 stuck arriving (trip), 1 held by a sync conflict (clip)")
