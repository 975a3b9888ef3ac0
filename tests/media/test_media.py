"""Tests for media.probe and mediagen, on real files encoded in tmp_path."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import av
import pytest
from tests.conftest import make_heic

from pqdrop.errors import MediaError
from pqdrop.inbox.items import MEDIA_SUFFIXES
from pqdrop.media.containers import container_shortfall
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.media.probe import (
    clockwise_rotation,
    display_size,
    image_mime,
    mov_family_mime,
    probe,
    rotate_tag,
    video_mime,
)


def make_audio_only(path: Path) -> Path:
    """Write a short AAC-in-MP4 file with no picture stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for index in range(5):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.sample_rate = 44100
            frame.pts = index * 1024
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert a minimal EXIF APP1 segment carrying only the Orientation tag (0x0112)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 1) + entry + b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# --- pure helpers -------------------------------------------------------------------


def test_media_suffixes_are_the_contract_suffixes() -> None:
    # CONTRACT "An item in the inbox", plus iPhone photos (HEIC/HEIF), which pqdrop converts, and
    # `.m4v`, Apple's name for an MP4, which goes up as one.
    assert {".mp4", ".m4v", ".mov", ".webm", ".jpg", ".jpeg", ".webp", ".png", ".heic", ".heif"} == MEDIA_SUFFIXES


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "video/quicktime"),
        (b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x1cftyp3gp4\x00\x00\x00\x00", "video/3gpp"),
        (b"\x00\x00\x00\x08wide\x00\x00\x11Dmdat", "video/quicktime"),
    ],
)
def test_mov_family_mime_follows_the_ftyp_major_brand(head: bytes, mime: str) -> None:
    assert mov_family_mime(head) == mime


def test_video_mime_tells_webm_from_matroska_by_doctype() -> None:
    webm = b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm"
    matroska = b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x88matroska"
    assert video_mime("matroska,webm", webm) == "video/webm"
    assert video_mime("matroska,webm", matroska) == "video/x-matroska"


def test_video_mime_is_none_for_an_unknown_demuxer() -> None:
    assert video_mime("yuv4mpegpipe", b"YUV4MPEG2 W320") is None


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"hello world", None),
    ],
)
def test_image_mime_follows_magic_bytes(head: bytes, mime: str | None) -> None:
    assert image_mime(head) == mime


@pytest.mark.parametrize(("ccw", "cw"), [(0, 0), (-90, 90), (90, 270), (-180, 180), (180, 180), (-89.6, 90)])
def test_clockwise_rotation_normalises_ffmpeg_angles(ccw: float, cw: int) -> None:
    assert clockwise_rotation(ccw) == cw


def test_rotate_tag_reads_legacy_clockwise_degrees_and_ignores_junk() -> None:
    assert rotate_tag({"rotate": "90"}) == 90
    assert rotate_tag({"rotate": "-90"}) == 270
    assert rotate_tag({"rotate": "sideways"}) == 0
    assert rotate_tag({}) == 0


def test_display_size_swaps_only_for_quarter_turns() -> None:
    assert display_size(1920, 1080, 90) == (1080, 1920)
    assert display_size(1920, 1080, 270) == (1080, 1920)
    assert display_size(1920, 1080, 180) == (1920, 1080)


# --- probing real videos ------------------------------------------------------------


def test_probe_mp4_reports_video_facts(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", width=320, height=240, seconds=1.0, fps=25)
    info = probe(path)
    assert (info.path, info.kind, info.mime) == (path, "video", "video/mp4")
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.size == path.stat().st_size
    assert info.codec in {"h264", "mpeg4"}


def test_probe_mov_reports_quicktime_mime(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "clip.mov"))
    assert info.mime == "video/quicktime"


def test_probe_webm_reports_webm_mime_and_vpx_codec(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "clip.webm", width=160, height=120))
    assert (info.mime, info.width, info.height) == ("video/webm", 160, 120)
    assert info.codec in {"vp8", "vp9"}


def test_probe_reports_real_mime_when_the_extension_lies(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mov")
    lying = path.rename(tmp_path / "clip.mp4")
    assert probe(lying).mime == "video/quicktime"


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".webm"])
@pytest.mark.parametrize(("rotation", "shown"), [(90, (360, 640)), (180, (640, 360)), (270, (360, 640))])
def test_probe_applies_the_display_matrix(
    tmp_path: Path, suffix: str, rotation: int, shown: tuple[int, int]
) -> None:
    path = make_video(tmp_path / f"turned{suffix}", width=640, height=360, seconds=0.2, rotation=rotation)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (*shown, rotation)


@pytest.mark.parametrize(("suffix", "seconds"), [(".mp4", 1.0), (".mov", 2.5), (".webm", 3.0)])
def test_probe_duration_matches_the_encoded_length(tmp_path: Path, suffix: str, seconds: float) -> None:
    info = probe(make_video(tmp_path / f"clip{suffix}", width=64, height=64, seconds=seconds, fps=10))
    assert info.duration_ms is not None
    assert abs(info.duration_ms - seconds * 1000) <= 100


@pytest.mark.parametrize("fps", [1, 24, 30])
def test_probe_reports_the_average_frame_rate(tmp_path: Path, fps: int) -> None:
    info = probe(make_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2.0, fps=fps))
    assert info.fps == pytest.approx(fps, rel=0.01)


def test_probe_handles_a_long_low_rate_clip(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "long.mp4", width=360, height=640, seconds=660, fps=1))
    assert (info.duration_ms, info.width, info.height) == (660_000, 360, 640)


# --- probing real images ------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "mime", "codec"),
    [
        (".jpg", "image/jpeg", "mjpeg"),
        (".jpeg", "image/jpeg", "mjpeg"),
        (".png", "image/png", "png"),
        (".webp", "image/webp", "webp"),
    ],
)
def test_probe_image_reports_mime_size_and_codec(tmp_path: Path, suffix: str, mime: str, codec: str) -> None:
    path = make_image(tmp_path / f"photo{suffix}", width=300, height=200)
    info = probe(path)
    assert (info.kind, info.mime, info.codec) == ("image", mime, codec)
    assert (info.width, info.height, info.rotation) == (300, 200, 0)
    assert (info.duration_ms, info.fps) == (None, None)


def test_probe_reports_png_bytes_named_jpg_as_png(tmp_path: Path) -> None:
    path = make_image(tmp_path / "photo.png", width=40, height=30)
    info = probe(path.rename(tmp_path / "photo.jpg"))
    assert (info.mime, info.codec, info.width) == ("image/png", "png", 40)


def test_probe_applies_jpeg_exif_orientation(tmp_path: Path) -> None:
    plain = make_image(tmp_path / "plain.jpg", width=64, height=32).read_bytes()
    path = tmp_path / "portrait.jpg"
    path.write_bytes(with_exif_orientation(plain, 6))  # 6: turn 90 degrees clockwise to view
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)


# --- what probe refuses -------------------------------------------------------------


def test_probe_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(MediaError, match=r"empty\.mp4 is empty \(0 bytes\)"):
        probe(path)


def test_probe_refuses_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    # Seeded: a few of all possible 4 KiB noises happen to parse as an audio file with no video stream.
    path.write_bytes(random.Random(4096).randbytes(4096))
    with pytest.raises(MediaError, match=r"noise\.mp4 is not a readable video/image: .+"):
        probe(path)


def test_probe_refuses_text_renamed_to_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture, just some words\n" * 20)
    with pytest.raises(MediaError, match=r"notes\.jpg is not a readable video/image"):
        probe(path)


def test_probe_refuses_a_truncated_mp4(tmp_path: Path) -> None:
    whole = make_video(tmp_path / "whole.mp4", width=160, height=120, seconds=2.0).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(MediaError, match=r"half\.mp4 is not a readable video/image"):
        probe(path)


def test_probe_refuses_a_symlink_even_to_good_media(tmp_path: Path) -> None:
    target = make_video(tmp_path / "real.mp4", width=64, height=64)
    link = tmp_path / "link.mp4"
    link.symlink_to(target)
    with pytest.raises(MediaError, match=r"link\.mp4 is a symlink"):
        probe(link)


def test_probe_refuses_audio_without_a_picture(tmp_path: Path) -> None:
    path = make_audio_only(tmp_path / "voice.mp4")
    with pytest.raises(MediaError, match=r"voice\.mp4 has no video stream"):
        probe(path)


def test_probe_refuses_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "album.mp4"
    folder.mkdir()
    with pytest.raises(MediaError, match=r"album\.mp4 is not a regular file"):
        probe(folder)


def test_probe_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"gone\.mp4 cannot be read: No such file"):
        probe(tmp_path / "gone.mp4")


# --- mediagen's own rules -----------------------------------------------------------


def test_make_video_refuses_an_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.avi'"):
        make_video(tmp_path / "clip.avi")


def test_make_video_refuses_odd_dimensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        make_video(tmp_path / "clip.mp4", width=321)


def test_make_video_refuses_a_non_quarter_rotation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rotation"):
        make_video(tmp_path / "clip.mp4", rotation=45)


def test_make_image_refuses_an_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.gif'"):
        make_image(tmp_path / "photo.gif")


# --- issue 12: a copy cut short, and iPhone photos ----------------------------------------------

def make_faststart_mp4(path: Path, seconds: float) -> Path:
    """An MP4 with its index (moov) at the front, as cameras and `ffmpeg -movflags faststart` write it."""
    source = make_video(path.with_name("source.mp4"), seconds=seconds)
    with av.open(str(source)) as given, av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(given.streams.video[0])
        for packet in given.demux(given.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def cut_to_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_faststart_mp4_cut_to_half_its_bytes_is_found_by_its_box_sizes_where_probe_sees_nothing(
    tmp_path: Path,
) -> None:
    clip = make_faststart_mp4(tmp_path / "clip.mp4", seconds=10)
    data = clip.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the header really is at the front
    assert container_shortfall(clip) is None
    cut_to_half(clip)
    assert probe(clip).duration_ms == 10_000  # the header still promises all 10 s: the old bug
    assert container_shortfall(clip) == (
        f"its container holds {len(data):,} bytes but the file has {len(data) // 2:,} (a copy cut short); "
        "waiting for the rest")


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".webm"])
def test_a_video_cut_short_in_any_container_is_found_and_a_whole_one_is_not(tmp_path: Path, suffix: str) -> None:
    clip = make_video(tmp_path / f"clip{suffix}", seconds=2)
    assert container_shortfall(clip) is None
    assert container_shortfall(cut_to_half(clip)) is not None


def test_an_unknown_layout_is_left_to_probe(tmp_path: Path) -> None:
    (tmp_path / "noise.mp4").write_bytes(random.Random(4096).randbytes(4096))
    assert container_shortfall(tmp_path / "noise.mp4") is None


def test_a_heic_photo_is_probed_as_an_image_at_its_displayed_size(tmp_path: Path) -> None:
    photo = make_heic(tmp_path / "IMG_0001.HEIC", width=64, height=32, orientation=6)
    info = probe(photo)
    assert (info.kind, info.mime, info.width, info.height) == ("image", "image/heic", 32, 64)


def test_bytes_after_the_last_box_are_not_read_as_a_cut_box(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", seconds=1)
    with clip.open("ab") as stream:  # padding some tools leave (and tests make): not a box, no size to trust
        stream.write(b"\xff\xff\xff\xf0" + random.Random(4096).randbytes(4096))
    assert container_shortfall(clip) is None
