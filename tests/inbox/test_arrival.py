"""A media file whose end has not arrived, and a video format pqdrop does not take: what `check` and `once` say.

Real media made with PyAV, cut the way a copy stops (a camera's MP4 right after its pictures, a
recorder's open `mdat`, `head -c 7000 photo.jpg`), read by the real commands in subprocesses against
the sandbox. `check` and `once` must agree: what one calls still arriving the other leaves untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import av
import pytest
from av.video.stream import VideoStream
from tests.conftest import SANDBOX_KEY, Running, make_heic, sidecar, tree_digest, wait_until, write_config
from tests.media.test_containers import camera_mp4, cut_after_mdat, recording

from pqdrop.inbox.items import Entry, Item, Rules, plan_items, scan_entries
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED

PQDROP = [sys.executable, "-m", "pqdrop"]
NO_MOOV = "no moov box yet: the end of the file has not arrived"
NO_EOI = "no JPEG end marker (FFD9) yet: the end of the file has not arrived"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    scrubbed = ("PQDROP_CONFIG", "POSTQUED_API_KEY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    env = {name: value for name, value in os.environ.items() if name not in scrubbed}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
               POSTQUED_API_KEY=SANDBOX_KEY, PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8")
    return env


@pytest.fixture
def run(tmp_path: Path, inbox: Path, sandbox: Sandbox, env: dict[str, str]) -> Callable[..., tuple[int, str]]:
    """Run a pqdrop command on the test's inbox; (exit code, stdout)."""
    config = write_config(tmp_path, sandbox.url)

    def pqdrop(*args: str) -> tuple[int, str]:
        done = subprocess.run([*PQDROP, *args, "--config", str(config)], env=env, cwd=tmp_path, capture_output=True,
                              timeout=90, check=False)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        return done.returncode, done.stdout.decode()

    return pqdrop


def filed(inbox: Path, name: str, folder: str) -> dict[str, Any]:
    return dict(json.loads((inbox / folder / f"{name}.status.json").read_text(encoding="utf-8")))


def age(paths: list[Path], hours: float) -> None:
    long_ago = time.time() - hours * 3600
    for path in paths:
        os.utime(path, (long_ago, long_ago))


@pytest.mark.parametrize("shape", [cut_after_mdat, recording], ids=["cut-after-mdat", "mdat-to-end-of-file"])
def test_a_camera_mp4_without_its_moov_yet_is_still_arriving_for_check_and_once_then_posted_whole(
    run: Callable[..., tuple[int, str]], inbox: Path, tmp_path: Path, sandbox: Sandbox,
    shape: Callable[[Path], Path],
) -> None:
    whole = camera_mp4(tmp_path / "whole.mp4")
    (inbox / "nomoov.mp4").write_bytes(whole)
    shape(inbox / "nomoov.mp4")
    sidecar(inbox / "nomoov.md")
    before = tree_digest(inbox)
    code, shown = run("check")
    assert (code, shown.splitlines()[0]) == (1, f"FAIL  nomoov: still arriving: nomoov.mp4: {NO_MOOV}")
    assert run("once")[0] == 0
    assert tree_digest(inbox) == before and not (inbox / "failed").exists()
    assert sandbox.state_summary()["contents"] == {}
    (inbox / "nomoov.mp4").write_bytes(whole)  # the copy ends: the moov arrives
    assert run("check") == (0, "ok    nomoov\n1 checked, 0 with problems\n")
    assert run("once")[0] == 0
    assert filed(inbox, "nomoov", "sent")["state"] == "published"


def test_a_camera_mp4_without_its_moov_for_longer_than_stuck_arriving_hours_is_stuck_and_left_alone(
    run: Callable[..., tuple[int, str]], inbox: Path, tmp_path: Path, sandbox: Sandbox,
) -> None:
    camera_mp4(inbox / "nomoov.mp4")
    cut_after_mdat(inbox / "nomoov.mp4")
    sidecar(inbox / "nomoov.md")
    age([inbox / "nomoov.mp4", inbox / "nomoov.md"], hours=30)
    before = tree_digest(inbox)
    stuck = f"stuck arriving for 30 h: nomoov.mp4: {NO_MOOV}"
    assert run("check") == (1, f"FAIL  nomoov: {stuck}\n1 checked, 1 with problems\n")
    assert f"nomoov  {stuck}" in run("status")[1]
    assert run("once")[0] == 0
    assert tree_digest(inbox) == before and not (inbox / "failed").exists()


def test_the_daemon_says_once_that_an_mp4_without_its_moov_is_stuck_and_posts_it_when_the_moov_arrives(
    start: Callable[..., Running], tmp_path: Path,
) -> None:
    running = start(settle_seconds=0.2, stuck_arriving_hours=2 / 3600)  # stuck after 2 s
    whole = camera_mp4(tmp_path / "whole.mp4")
    (tmp_path / "rec.mp4").write_bytes(whole)
    recording(tmp_path / "rec.mp4")
    sidecar(running.inbox / "rec.md")
    os.rename(tmp_path / "rec.mp4", running.inbox / "rec.mp4")
    log = running.inbox / "status.log"
    wait_until(lambda: log.exists() and "stuck arriving" in log.read_text(encoding="utf-8"))
    [line] = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert (line["item"], line["state"]) == ("rec", "waiting")
    assert line["reason"].startswith("stuck arriving for ") and line["reason"].endswith(f": rec.mp4: {NO_MOOV}")
    assert running.contents() == {} and not (running.inbox / "failed").exists()
    (running.inbox / "rec.mp4").write_bytes(whole)  # the recorder stops and writes its moov
    wait_until(lambda: running.filed("rec") is not None)
    assert running.filed("rec", "sent") is not None and len(running.publishes()) == 1


def test_a_jpeg_cut_short_is_still_arriving_alone_and_in_a_carousel_and_posted_once_whole(
    run: Callable[..., tuple[int, str]], inbox: Path, tmp_path: Path, sandbox: Sandbox,
) -> None:
    photo = make_image(tmp_path / "photo.jpg", width=720, height=960).read_bytes()
    (inbox / "tj.jpg").write_bytes(photo[:7000])  # head -c 7000 photo.jpg > tj.jpg
    sidecar(inbox / "tj.md")
    trip = inbox / "trip"
    trip.mkdir()
    make_image(trip / "01.jpg", width=720, height=960)
    (trip / "02.jpg").write_bytes(photo[:7000])
    sidecar(trip / "trip.md", body="Trip")
    before = tree_digest(inbox)
    code, shown = run("check")
    assert code == 1 and shown.splitlines() == [
        f"FAIL  tj: still arriving: tj.jpg: {NO_EOI}", f"FAIL  trip: still arriving: trip/02.jpg: {NO_EOI}",
        "2 checked, 2 with problems"]
    assert run("once")[0] == 0
    assert tree_digest(inbox) == before and sandbox.state_summary()["publishes"] == []
    (inbox / "tj.jpg").write_bytes(photo + bytes(256))  # whole, with the zero padding some cameras leave
    (trip / "02.jpg").write_bytes(photo)
    assert run("check")[0] == 0
    assert run("once")[0] == 0
    assert filed(inbox, "tj", "sent")["state"] == "published"
    assert [media["file"] for media in filed(inbox, "trip", "sent")["media"]] == ["trip/01.jpg", "trip/02.jpg"]


def test_a_png_a_webp_and_a_heic_cut_short_are_still_arriving_for_check_and_once(
    run: Callable[..., tuple[int, str]], inbox: Path, sandbox: Sandbox,
) -> None:
    for name, data in (("shot.png", make_image(inbox / "shot.png").read_bytes()),
                       ("pic.webp", make_image(inbox / "pic.webp").read_bytes()),
                       ("IMG_0001.HEIC", make_heic(inbox / "IMG_0001.HEIC", width=320, height=240).read_bytes())):
        (inbox / name).write_bytes(data[:len(data) // 2])
        sidecar(inbox / f"{Path(name).stem}.md")
    before = tree_digest(inbox)
    code, shown = run("check")
    lines = shown.splitlines()
    assert code == 1 and [line.split(": ")[:2] for line in lines[:3]] == [
        ["FAIL  IMG_0001", "still arriving"], ["FAIL  pic", "still arriving"], ["FAIL  shot", "still arriving"]]
    assert "IMG_0001.HEIC: its container holds " in lines[0] and "pic.webp: its container holds " in lines[1]
    assert "shot.png: its PNG chunks hold " in lines[2] and lines[3] == "3 checked, 3 with problems"
    assert run("once")[0] == 0
    assert tree_digest(inbox) == before and sandbox.state_summary()["contents"] == {}


def test_an_m4v_is_posted_as_the_mp4_it_is(
    run: Callable[..., tuple[int, str]], inbox: Path, sandbox: Sandbox,
) -> None:
    make_video(inbox / "staging.mp4", seconds=1).rename(inbox / "clip.m4v")  # HandBrake's and Apple's name for it
    sidecar(inbox / "clip.md")
    assert run("check") == (0, "ok    clip\n1 checked, 0 with problems\n")
    assert run("once")[0] == 0
    [content] = sandbox.state_summary()["contents"].values()
    assert (content["filename"], content["contentType"]) == ("clip.m4v", "video/mp4")
    assert filed(inbox, "clip", "sent")["state"] == "published"


def write_avi(path: Path) -> Path:
    """A real AVI (MPEG-4 Part 2 in Microsoft's container), as an old camera or a screen recorder writes it."""
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = 360, 640, "yuv420p"
        for index in range(10):
            frame = av.VideoFrame(360, 640, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([index * 20]) * plane.buffer_size)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_an_mkv_and_an_avi_are_refused_by_name_by_check_and_once_never_left_waiting(
    run: Callable[..., tuple[int, str]], inbox: Path, sandbox: Sandbox,
) -> None:
    make_video(inbox / "staging.webm", seconds=1).rename(inbox / "trip.mkv")  # a WebM is a Matroska file
    write_avi(inbox / "old.avi")
    sidecar(inbox / "trip.md")
    sidecar(inbox / "old.md")
    advice = "TikTok takes MP4, MOV and WebM videos: convert it to MP4 with H.264 video and AAC sound"
    code, shown = run("check")
    assert code == 1 and shown.splitlines() == [
        f"FAIL  old: old.avi: pqdrop cannot post AVI files; {advice} (ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4)",
        f"FAIL  trip: trip.mkv: pqdrop cannot post MKV files; {advice} (ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4)",
        "2 checked, 2 with problems"]
    assert run("once")[0] == EXIT_FAILED
    for name, kind in (("old", "AVI"), ("trip", "MKV")):
        error = filed(inbox, name, "failed")["error"]
        assert error["message"] == (f"{name}: {name}.{kind.lower()}: pqdrop cannot post {kind} files; {advice} "
                                    "(ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4)")
    assert sorted(os.listdir(inbox / "failed")) == [
        "old.avi", "old.md", "old.status.json", "trip.md", "trip.mkv", "trip.status.json"]
    assert sandbox.state_summary()["contents"] == {}


@pytest.mark.parametrize("name", ["clip.mts", "clip.M2TS", "clip.wmv", "clip.flv", "clip.3gp", "clip.mpg", "clip.ts"])
def test_every_video_format_tiktok_does_not_take_is_refused_by_name_not_ignored(tmp_path: Path, name: str) -> None:
    make_video(tmp_path / "staging.mp4", seconds=1).rename(tmp_path / name)
    sidecar(tmp_path / "clip.md")
    [item] = plan_items(scan_entries(tmp_path), time.time() + 60, Rules(settle_seconds=0)).ready
    kind = Path(name).suffix.lstrip(".").upper()
    assert item == Item("clip", (PurePosixPath(name),), PurePosixPath("clip.md"), problem=(
        f"{name}: pqdrop cannot post {kind} files; TikTok takes MP4, MOV and WebM videos: convert it to MP4 with "
        "H.264 video and AAC sound (ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4)"))


def test_a_carousel_holding_an_avi_is_refused_naming_it() -> None:
    entries = [Entry(PurePosixPath("trip"), 0, 0.0, is_dir=True), Entry(PurePosixPath("trip/01.jpg"), 9, 0.0),
               Entry(PurePosixPath("trip/02.AVI"), 9, 0.0), Entry(PurePosixPath("trip/trip.md"), 9, 0.0)]
    [item] = plan_items(entries, 1000.0, Rules(settle_seconds=0)).ready
    assert (item.folder, item.media) == (PurePosixPath("trip"), tuple(PurePosixPath(f"trip/{name}")
                                                                      for name in ("01.jpg", "02.AVI")))
    assert item.problem == (
        "trip/02.AVI: pqdrop cannot post AVI files; TikTok takes MP4, MOV and WebM videos: "
        "convert it to MP4 with H.264 video and AAC sound (ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4)")
