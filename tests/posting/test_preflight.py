"""TikTok preflight: every rule with a real file just inside it and one just outside it."""

from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from tests.conftest import sidecar

from pqdrop.commands.check import check_paths
from pqdrop.config import Config
from pqdrop.errors import MediaError
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.media.probe import MediaInfo, probe
from pqdrop.posting.photos import check_convertible, convert_to_jpeg
from pqdrop.posting.preflight import check_post, photo_problems, video_problems
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Workers, once

MB = 1024**2


def video(path: Path, **kwargs: int | float) -> MediaInfo:
    return probe(make_video(path, **kwargs))  # type: ignore[arg-type]


def only_problem(problems: list[str], word: str) -> list[str]:
    return [problem for problem in problems if problem.startswith(word)]


# --- videos ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".webm"])
def test_a_default_clip_in_each_tiktok_container_passes(tmp_path: Path, suffix: str) -> None:
    assert video_problems(video(tmp_path / f"clip{suffix}", seconds=1)) == []


def test_a_matroska_container_is_refused_naming_the_containers_tiktok_takes(tmp_path: Path) -> None:
    info = dataclasses.replace(video(tmp_path / "clip.webm", seconds=0.2), mime="video/x-matroska")
    assert video_problems(info) == ["container video/x-matroska is not one TikTok takes (MP4, WebM, MOV)"]


def test_ten_minutes_exactly_is_within_the_duration_limit(tmp_path: Path) -> None:
    info = video(tmp_path / "ten.mp4", seconds=600, fps=1)
    assert info.duration_ms == 600_000
    assert only_problem(video_problems(info), "duration") == []


def test_a_clip_over_ten_minutes_is_refused_with_its_duration(tmp_path: Path) -> None:
    info = video(tmp_path / "long.mp4", seconds=662, fps=1)
    assert only_problem(video_problems(info), "duration") == ["duration 11:02 is over TikTok's 10:00 limit"]


def test_a_clip_one_second_over_reads_as_over_not_as_the_limit(tmp_path: Path) -> None:
    info = video(tmp_path / "long.mp4", seconds=601, fps=1)
    assert only_problem(video_problems(info), "duration") == ["duration 10:01 is over TikTok's 10:00 limit"]


@pytest.mark.parametrize("fps", [23, 60])
def test_the_frame_rate_limits_themselves_pass(tmp_path: Path, fps: int) -> None:
    assert video_problems(video(tmp_path / "clip.mp4", seconds=1, fps=fps)) == []


def test_22_fps_is_refused_as_below_the_minimum(tmp_path: Path) -> None:
    info = video(tmp_path / "slow.mp4", seconds=1, fps=22)
    assert video_problems(info) == ["fps 22 is below TikTok's 23 fps minimum"]


def test_61_fps_is_refused_as_over_the_maximum(tmp_path: Path) -> None:
    info = video(tmp_path / "fast.mp4", seconds=1, fps=61)
    assert video_problems(info) == ["fps 61 is over TikTok's 60 fps maximum"]


def test_a_frame_rate_the_probe_cannot_read_is_left_to_tiktok(tmp_path: Path) -> None:
    info = dataclasses.replace(video(tmp_path / "clip.mp4", seconds=0.2), fps=None)
    assert video_problems(info) == []


def test_sides_of_360_and_4096_pixels_pass(tmp_path: Path) -> None:
    info = video(tmp_path / "tall.mp4", width=360, height=4096, seconds=0.04)
    assert (info.width, info.height) == (360, 4096)
    assert video_problems(info) == []


def test_a_width_of_358_pixels_is_refused(tmp_path: Path) -> None:
    info = video(tmp_path / "narrow.mp4", width=358, height=640, seconds=0.04)
    assert video_problems(info) == ["width 358 px is below TikTok's 360 px minimum"]


def test_a_height_of_4098_pixels_is_refused(tmp_path: Path) -> None:
    info = video(tmp_path / "tall.mp4", width=360, height=4098, seconds=0.04)
    assert video_problems(info) == ["height 4098 px is over TikTok's 4096 px maximum"]


def test_the_sides_are_judged_as_displayed_after_rotation(tmp_path: Path) -> None:
    # Stored 640x358 and turned a quarter: shown 358 wide.
    info = video(tmp_path / "phone.mp4", width=640, height=358, seconds=0.04, rotation=90)
    assert video_problems(info) == ["width 358 px is below TikTok's 360 px minimum"]


def test_a_video_of_exactly_4_gb_passes(tmp_path: Path) -> None:
    path = make_video(tmp_path / "big.mp4", seconds=0.04)
    os.truncate(path, 4 * 1024**3)  # sparse: costs no disk; the probe reads headers only
    assert video_problems(probe(path)) == []


def test_a_video_one_byte_over_4_gb_is_refused(tmp_path: Path) -> None:
    path = make_video(tmp_path / "big.mp4", seconds=0.04)
    os.truncate(path, 4 * 1024**3 + 1)
    assert video_problems(probe(path)) == ["size 4.1 GB is over TikTok's 4 GB limit"]


def test_every_problem_of_a_video_is_listed_at_once(tmp_path: Path) -> None:
    info = video(tmp_path / "clip.mp4", width=320, height=240, seconds=1, fps=15)
    assert video_problems(info) == [
        "fps 15 is below TikTok's 23 fps minimum",
        "width 320 px is below TikTok's 360 px minimum",
        "height 240 px is below TikTok's 360 px minimum",
    ]


# --- photos ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".png"])
def test_jpeg_webp_and_png_photos_pass(tmp_path: Path, suffix: str) -> None:
    assert photo_problems(probe(make_image(tmp_path / f"photo{suffix}"))) == []


def test_a_gif_photo_is_refused_naming_the_formats_tiktok_takes(tmp_path: Path) -> None:
    info = dataclasses.replace(probe(make_image(tmp_path / "photo.jpg")), mime="image/gif")
    assert photo_problems(info) == ["format image/gif is not one TikTok takes for photos (JPEG or WebP, "
                                    "or PNG/HEIC, which pqdrop converts)"]


def padded_jpeg(path: Path, size: int) -> MediaInfo:
    make_image(path, width=64, height=64)
    with path.open("ab") as handle:  # a JPEG with trailing bytes still decodes
        handle.write(b"\0" * (size - path.stat().st_size))
    return probe(path)


def test_a_photo_of_exactly_20_mb_passes(tmp_path: Path) -> None:
    info = padded_jpeg(tmp_path / "photo.jpg", 20 * MB)
    assert (info.size, photo_problems(info)) == (20 * MB, [])


def test_a_photo_one_byte_over_20_mb_is_fixed_not_refused_and_refused_if_sent_so(tmp_path: Path) -> None:
    info = padded_jpeg(tmp_path / "photo.jpg", 20 * MB + 1)
    assert photo_problems(info) == []  # photos.py re-encodes it before the upload
    assert photo_problems(info, as_sent=True) == ["size 20.1 MB is over TikTok's 20 MB limit per photo"]


def photo_set(tmp_path: Path, count: int) -> list[MediaInfo]:
    info = probe(make_image(tmp_path / "photo.jpg", width=64, height=64))
    return [dataclasses.replace(info, path=tmp_path / f"photo-{n:02d}.jpg") for n in range(count)]


def test_35_photos_make_a_post(tmp_path: Path) -> None:
    check_post("trip", photo_set(tmp_path, 35))


def test_36_photos_are_refused_with_the_count(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        check_post("trip", photo_set(tmp_path, 36))
    assert caught.value.code == "PREFLIGHT"
    assert caught.value.message == "trip: 36 photos is over TikTok's 35 photos per post"


def test_a_refusal_names_the_file_and_has_the_preflight_code(tmp_path: Path) -> None:
    info = video(tmp_path / "clip.mp4", seconds=1, fps=15)
    with pytest.raises(MediaError) as caught:
        check_post("clip", [info])
    assert (caught.value.code, caught.value.message) == (
        "PREFLIGHT", "clip.mp4: fps 15 is below TikTok's 23 fps minimum"
    )


# --- PNG conversion ----------------------------------------------------------------------


def rgba_png(path: Path, alpha: int) -> Path:
    """A 64x48 PNG with an alpha channel whose every pixel has the given alpha."""
    encoder = av.CodecContext.create("png", "w")
    assert isinstance(encoder, VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "rgba"
    encoder.time_base = Fraction(1, 1)
    frame = VideoFrame.from_bytes(bytes([200, 100, 50, alpha]) * 64 * 48, 64, 48, "rgba")
    path.write_bytes(b"".join(bytes(packet) for packet in encoder.encode(frame) + encoder.encode(None)))
    return path


def test_a_png_becomes_a_jpeg_of_the_same_size_outside_the_inbox(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "scratch").mkdir()
    source = make_image(tmp_path / "inbox" / "shot.png", width=400, height=300)
    before = source.read_bytes()
    jpeg = convert_to_jpeg(source, tmp_path / "scratch")
    info = probe(jpeg)
    assert (jpeg, info.mime, info.width, info.height) == (tmp_path / "scratch" / "shot.jpg", "image/jpeg", 400, 300)
    assert source.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["shot.png"]


def test_a_png_with_an_opaque_alpha_channel_is_converted(tmp_path: Path) -> None:
    jpeg = convert_to_jpeg(rgba_png(tmp_path / "shot.png", alpha=255), tmp_path)
    assert probe(jpeg).mime == "image/jpeg"


def test_a_png_with_transparent_pixels_is_refused_rather_than_given_a_guessed_background(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        check_convertible(rgba_png(tmp_path / "logo.png", alpha=128))
    assert caught.value.code == "PREFLIGHT"
    assert caught.value.message.startswith("logo.png: has transparent pixels")


# --- in the pipeline and in `pqdrop check` ---------------------------------------------------


def test_a_clip_breaking_a_rule_fails_before_any_upload(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    make_video(inbox / "tiny.mp4", width=320, height=640, seconds=1)
    sidecar(inbox / "tiny.md")
    assert once(service)[0] == EXIT_FAILED
    error = json.loads((inbox / "failed" / "tiny.status.json").read_text())["error"]
    assert error == {"code": "PREFLIGHT", "message": "tiny.mp4: width 320 px is below TikTok's 360 px minimum"}
    assert sandbox.state_summary()["contents"] == {}


def test_a_png_photo_is_uploaded_as_a_jpeg_and_filed_unchanged(
    service: Workers, inbox: Path, sandbox: Sandbox, config: Config
) -> None:
    folder = inbox / "shots"
    folder.mkdir()
    make_image(folder / "a.png", width=400, height=300)
    make_image(folder / "b.jpg", width=400, height=300)
    sidecar(folder / "post.md")
    original = (folder / "a.png").read_bytes()
    assert once(service)[0] == EXIT_OK
    contents = sandbox.state_summary()["contents"]
    [publish] = sandbox.state_summary()["publishes"]
    assert [(contents[cid]["filename"], contents[cid]["contentType"]) for cid in publish["contentIds"]] == [
        ("a.jpg", "image/jpeg"), ("b.jpg", "image/jpeg")]
    assert (inbox / "sent" / "shots" / "a.png").read_bytes() == original
    assert list(config.state.dir.glob("photo-*")) == []  # the JPEG lived only for its upload
    status = json.loads((inbox / "sent" / "shots.status.json").read_text())
    assert status["note"] == "a.png went up as a JPEG made from it (TikTok takes no PNG); the file itself is unchanged"


def test_check_exits_1_naming_the_rule_and_the_measured_value(
    config: Config, inbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_video(inbox / "slow.mp4", seconds=1, fps=15)
    sidecar(inbox / "slow.md")
    make_video(inbox / "fine.mp4", seconds=1)
    sidecar(inbox / "fine.md")
    assert check_paths(config, []) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "FAIL  slow: slow.mp4: fps 15 is below TikTok's 23 fps minimum" in lines
    assert "ok    fine" in lines
