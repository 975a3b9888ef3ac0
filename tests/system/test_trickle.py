"""Carousels copied in by hand (issue 22): one file at a time, in any order, with pauses a person makes.

A real `run` (the Running fixture: the service loop on a thread, watching with inotify) and a writer
thread per folder that copies real photos made by PyAV in chunks, sleeping between files as Finder over
SMB, a phone's upload app or scp file by file do. The sandbox records what was published.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, Running, sidecar, wait_until, write_config

from pqdrop.inbox.items import FOLDER_SETTLE_SECONDS
from pqdrop.media.mediagen import make_image
from pqdrop.sandbox import Sandbox

pytestmark = pytest.mark.slow


def copy_by_hand(source: Path, target: Path) -> None:
    """Written in place in three chunks, as a copy over a network share lands."""
    data = source.read_bytes()
    third = len(data) // 3 + 1
    with open(target, "wb") as stream:
        for begin in range(0, len(data), third):
            stream.write(data[begin:begin + third])
            stream.flush()
            time.sleep(0.05)


def trickle(folder: Path, files: list[Path], pause: float, done: threading.Event) -> None:
    """Make the folder, then copy the files into it one by one with `pause` seconds between them."""
    folder.mkdir()
    for number, source in enumerate(files):
        if number:
            time.sleep(pause)
        copy_by_hand(source, folder / source.name)
    done.set()


_widths = itertools.count(720, 8)


def photos(stage: Path, tag: str, count: int) -> list[Path]:
    """Photos unlike any other in the test: the same bytes twice would be refused as a repost."""
    return [make_image(stage / f"{tag}-{number}.jpg", width=next(_widths), height=960)
            for number in range(1, count + 1)]


def test_carousels_copied_by_hand_in_four_ways_are_each_posted_once_with_every_photo(
    start: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pqdrop")
    stage = tmp_path / "stage"
    stage.mkdir()
    rng = random.Random(22)
    plans: dict[str, tuple[list[Path], float, int]] = {}  # folder -> files in copy order, pause, photo count
    tags = {"sidecar-first-1s": "first", "sidecar-last-10s": "last", "sidecar-first-25s": "slow",
            "dozen-any-order": "dozen"}

    def sidecar_file(name: str) -> Path:
        return sidecar(stage / f"{name}.md", "intent: publish\n", f"The {name} carousel")

    first = photos(stage, "first", 3)
    plans["sidecar-first-1s"] = ([sidecar_file("sidecar-first-1s"), *first], 1.0, 3)
    last = photos(stage, "last", 3)
    plans["sidecar-last-10s"] = ([*last, sidecar_file("sidecar-last-10s")], 10.0, 3)
    slow = photos(stage, "slow", 2)
    plans["sidecar-first-25s"] = ([sidecar_file("sidecar-first-25s"), *slow], 25.0, 2)
    dozen = photos(stage, "dozen", 12)
    rng.shuffle(dozen)  # any order; the sidecar lands in the middle
    plans["dozen-any-order"] = ([*dozen[:6], sidecar_file("dozen-any-order"), *dozen[6:]], 1.0, 12)

    running = start(watch="events", settle_seconds=1.0, folder_settle_seconds=FOLDER_SETTLE_SECONDS)
    done = {name: threading.Event() for name in plans}
    writers = [threading.Thread(target=trickle, args=(running.inbox / name, files, pause, done[name]))
               for name, (files, pause, _) in plans.items()]
    for writer in writers:
        writer.start()
    while not all(event.is_set() for event in done.values()):
        posted = {running.contents()[cid]["filename"].partition("-")[0]
                  for publish in running.publishes() for cid in publish["contentIds"]}
        copying = {tags[name] for name, event in done.items() if not event.is_set()}
        assert not posted & copying, "a folder went out while it was still being copied into"
        time.sleep(0.5)
    for writer in writers:
        writer.join()
    wait_until(lambda: all(running.filed(name) is not None for name in plans), seconds=FOLDER_SETTLE_SECONDS + 60)

    contents = running.contents()
    posted = sorted(sorted(contents[cid]["filename"] for cid in publish["contentIds"])
                    for publish in running.publishes())
    expected = sorted(sorted(path.name for path in files if path.suffix == ".jpg") for files, _, _ in plans.values())
    assert posted == expected  # four posts, each exactly once and whole
    for name, (_, _, count) in plans.items():
        status = running.filed(name)
        assert status is not None and status["state"] == "published"
        assert len(status["media"]) == count
        said = f"{name}: still arriving: waiting for the folder to hold still until"
        assert any(record.getMessage().startswith(said) for record in caplog.records), f"no wait said for {name}"
    assert not (running.inbox / "failed").exists()
    assert {path.name for path in running.inbox.iterdir()} <= {"sent", "processing", "status.log", "SCHEDULE.md"}


def test_a_real_pqdrop_run_polling_a_share_posts_a_carousel_whose_sidecar_came_last_once_and_whole(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """As on a NAS share (poll mode): photos copied 10 s apart, the sidecar last; SIGTERM ends the run with 0."""
    config = write_config(tmp_path, sandbox.url, inbox={"watch": "poll", "poll_interval": 2.0, "settle_seconds": 1.0,
                                                        "folder_settle_seconds": FOLDER_SETTLE_SECONDS})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stage = tmp_path / "stage"
    stage.mkdir()
    files = [*photos(stage, "share", 3), sidecar(stage / "share.md", "intent: publish\n", "From the share")]
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY, "HOME": str(tmp_path)}
    env.pop("PQDROP_CONFIG", None)
    log = tmp_path / "run.log"
    with log.open("w") as output, subprocess.Popen([sys.executable, "-m", "pqdrop", "run", "--config", str(config)],
                                                   env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
                                                   text=True) as daemon:
        try:
            done = threading.Event()
            writer = threading.Thread(target=trickle, args=(inbox / "share", files, 10.0, done))
            writer.start()
            while not done.is_set():
                assert sandbox.state_summary()["publishes"] == [], "posted while the folder was being copied into"
                done.wait(0.5)
            writer.join()
            wait_until(lambda: (inbox / "sent" / "share.status.json").exists(), seconds=FOLDER_SETTLE_SECONDS + 60)
        finally:
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
    [publish] = sandbox.state_summary()["publishes"]
    assert sorted(sandbox.state_summary()["contents"][cid]["filename"] for cid in publish["contentIds"]) == [
        "share-1.jpg", "share-2.jpg", "share-3.jpg"]
    said = log.read_text()
    assert "share: still arriving: waiting for the folder to hold still until " in said
    assert "(45 s after its last change, share/share.md at " in said  # the sidecar came last
