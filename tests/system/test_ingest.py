"""Files written the way sync tools write them, watched by a real Service against the real sandbox."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import Running, sidecar, wait_until

from pqdrop.inbox.watcher import choose_mode, filesystem_type
from pqdrop.media.mediagen import make_image, make_video

CLUTTER = [".syncthing.x.mp4.tmp", "~syncthing~x.mp4.tmp", "x.mp4.part", "x.crdownload", "x.tmp", "._x.mp4",
           ".DS_Store", "Thumbs.db", "desktop.ini", ".dropbox.cache"]


def test_auto_mode_polls_network_and_fuse_filesystems_and_watches_local_ones() -> None:
    mounts = ["/dev/sda1 / ext4 rw 0 0", "nas:/share /mnt/nas nfs4 rw 0 0",
              "//nas/media /mnt/smb cifs rw 0 0", "sshfs#me@host: /mnt/ssh fuse.sshfs rw 0 0"]
    assert filesystem_type(Path("/mnt/nas/PostQued"), mounts) == "nfs4"
    assert filesystem_type(Path("/home/me/Dropbox"), mounts) == "ext4"
    assert [choose_mode("auto", fs) for fs in ("nfs4", "cifs", "fuse.sshfs", "ext4")] == [
        "poll", "poll", "poll", "events"]
    assert choose_mode("events", "nfs4") == "events"


@pytest.mark.slow
def test_a_file_written_slowly_in_place_is_not_uploaded_before_its_last_byte(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    running = start(watch="events", settle_seconds=1.0)
    source = make_video(tmp_path / "source.mp4", width=360, height=640, seconds=2)
    data = source.read_bytes()
    sidecar(running.inbox / "slow.md")
    with open(running.inbox / "slow.mp4", "wb") as stream:
        for start_at in range(0, len(data), len(data) // 4 + 1):
            stream.write(data[start_at:start_at + len(data) // 4 + 1])
            stream.flush()
            time.sleep(0.6)
            assert running.contents() == {}, "uploaded before the last byte was written"
    wait_until(lambda: running.filed("slow") is not None)
    [content] = running.contents().values()
    assert content["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_rename_from_a_temporary_name_counts_as_complete_at_once(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    running = start(watch="events", settle_seconds=30.0)
    sidecar(tmp_path / "clip.md")
    os.rename(tmp_path / "clip.md", running.inbox / "clip.md")
    make_video(tmp_path / "clip.mp4", width=360, height=640, seconds=1)
    shutil.move(tmp_path / "clip.mp4", running.inbox / ".syncthing.clip.mp4.tmp")
    os.rename(running.inbox / ".syncthing.clip.mp4.tmp", running.inbox / "clip.mp4")
    began = time.monotonic()
    wait_until(lambda: running.filed("clip") is not None, seconds=15)
    assert time.monotonic() - began < 15 < 30  # not held back by the 30 s settle time


@pytest.mark.parametrize("sidecar_first", [False, True], ids=["media-first", "sidecar-first"])
def test_media_and_sidecar_arriving_seconds_apart_make_one_post(
    start: Callable[..., Running], tmp_path: Path, sidecar_first: bool
) -> None:
    running = start(watch="events", settle_seconds=0.3)
    media = make_video(tmp_path / "clip.mp4", width=360, height=640, seconds=1)
    note = sidecar(tmp_path / "clip.md", body="Caption from the sidecar")
    first, second = (note, media) if sidecar_first else (media, note)
    shutil.move(first, running.inbox / first.name)
    time.sleep(2.0)
    assert running.publishes() == []
    shutil.move(second, running.inbox / second.name)
    wait_until(lambda: running.filed("clip") is not None)
    [publish] = running.publishes()
    assert publish["targets"][0]["caption"] == "Caption from the sidecar"


def test_a_bundle_folder_filling_file_by_file_posts_every_photo(start: Callable[..., Running]) -> None:
    running = start(watch="events", settle_seconds=1.0)
    folder = running.inbox / "trip"
    folder.mkdir()
    sidecar(folder / "post.md")
    for number in range(1, 4):
        time.sleep(0.5)
        make_image(folder / f"photo-{number}.jpg", width=720, height=960)
    wait_until(lambda: running.filed("trip") is not None)
    [publish] = running.publishes()
    assert len(publish["contentIds"]) == 3


def test_clutter_is_never_an_item_and_never_touched(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start(watch="events", settle_seconds=0.2)
    for number, name in enumerate(CLUTTER):
        (running.inbox / name).write_bytes(f"clutter {number}".encode())
    (running.inbox / "@eaDir").mkdir()
    (running.inbox / "@eaDir" / "x.jpg").write_bytes(b"synology thumbnail")
    make_video(running.inbox / "clip.mp4", width=360, height=640, seconds=1)
    sidecar(running.inbox / "clip.md")
    wait_until(lambda: running.filed("clip") is not None)
    for number, name in enumerate(CLUTTER):
        assert (running.inbox / name).read_bytes() == f"clutter {number}".encode()
    assert (running.inbox / "@eaDir" / "x.jpg").read_bytes() == b"synology thumbnail"
    logged = {json.loads(line)["item"] for line in (running.inbox / "status.log").read_text().splitlines()}
    assert logged == {"clip"}


@pytest.mark.slow
def test_the_inbox_renamed_away_and_back_is_watched_again(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start(watch="events", settle_seconds=0.2, poll_interval=0.2)
    away = tmp_path / "inbox-away"
    time.sleep(0.5)
    os.rename(running.inbox, away)
    wait_until(lambda: running.runner.watcher.problem is not None)
    assert "not there" in str(running.runner.watcher.problem)
    os.rename(away, running.inbox)
    wait_until(lambda: running.runner.watcher.problem is None)
    make_video(tmp_path / "clip.mp4", width=360, height=640, seconds=1)
    sidecar(tmp_path / "clip.md")
    shutil.move(tmp_path / "clip.md", running.inbox / "clip.md")
    shutil.move(tmp_path / "clip.mp4", running.inbox / "clip.mp4")
    wait_until(lambda: running.filed("clip") is not None)


def test_poll_mode_posts_without_any_filesystem_events(start: Callable[..., Running]) -> None:
    running = start(watch="poll", poll_interval=0.3, settle_seconds=0.5)
    assert running.runner.mode == "poll"
    make_video(running.inbox / "clip.mp4", width=360, height=640, seconds=1)
    sidecar(running.inbox / "clip.md")
    wait_until(lambda: running.filed("clip") is not None)


def test_a_dead_observer_is_restarted_and_the_rescan_catches_what_it_missed(start: Callable[..., Running]) -> None:
    running = start(watch="events", settle_seconds=0.2, rescan_seconds=1.0)
    wait_until(lambda: running.runner.watcher._observer is not None)
    observer = running.runner.watcher._observer
    assert observer is not None
    observer.stop()  # the observer thread dies, as after an inotify queue overflow or an unmount
    observer.join(timeout=5)
    make_video(running.inbox / "missed.mp4", width=360, height=640, seconds=1)
    sidecar(running.inbox / "missed.md")
    wait_until(lambda: running.filed("missed") is not None)
    assert running.runner.watcher._observer is not observer
