"""Whether a media file's end has arrived, on real files made with PyAV, Pillow and libheif, cut the way copies stop."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import make_heic

from pqdrop.errors import MediaError
from pqdrop.media.containers import _jpeg_shortfall, _next_jpeg_marker, container_shortfall
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.media.probe import probe

NO_MOOV = "no moov box yet: the end of the file has not arrived"
NO_EOI = "no JPEG end marker (FFD9) yet: the end of the file has not arrived"


def top_level_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box of an ISO base media file, by the sizes it declares."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        boxes.append((data[offset + 4:offset + 8], offset, size))
        offset += size
    return boxes


def camera_mp4(path: Path, seconds: float = 2) -> bytes:
    """An MP4/MOV with its index (moov) after the pictures, as cameras, phones and a plain FFmpeg write it."""
    data = make_video(path, seconds=seconds).read_bytes()
    kinds = [kind for kind, _, _ in top_level_boxes(data)]
    assert kinds.index(b"mdat") < kinds.index(b"moov") == len(kinds) - 1  # not faststart
    return data


def cut_after_mdat(path: Path) -> Path:
    """The copy stopped exactly where the pictures end: every box it holds is whole, the index is not there."""
    data = path.read_bytes()
    [moov] = [offset for kind, offset, _ in top_level_boxes(data) if kind == b"moov"]
    path.write_bytes(data[:moov])
    return path


def recording(path: Path) -> Path:
    """A recorder's file while it records: `mdat` left open (size 0, "to the end of the file") and no moov."""
    data = bytearray(cut_after_mdat(path).read_bytes())
    [mdat] = [offset for kind, offset, _ in top_level_boxes(bytes(data)) if kind == b"mdat"]
    data[mdat:mdat + 4] = bytes(4)
    path.write_bytes(bytes(data))
    return path


def jpeg_bytes(picture: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", **options)
    return out.getvalue()


def with_exif_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    """A camera's JPEG: an APP1 segment right after SOI carrying a whole small JPEG, with its own FFD9."""
    payload = b"Exif\x00\x00" + thumbnail
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_camera_mp4_cut_right_after_its_pictures_has_no_moov_yet_and_probe_cannot_read_it(
    tmp_path: Path, suffix: str
) -> None:
    whole = camera_mp4(tmp_path / f"nomoov{suffix}")
    assert container_shortfall(tmp_path / f"nomoov{suffix}") is None
    cut = cut_after_mdat(tmp_path / f"nomoov{suffix}")
    assert 0 < cut.stat().st_size < len(whole)
    assert container_shortfall(cut) == NO_MOOV
    with pytest.raises(MediaError, match="is not a readable video/image"):
        probe(cut)  # what filed it as failed before


def test_a_recording_mp4_whose_mdat_runs_to_the_end_of_the_file_has_no_moov_yet(tmp_path: Path) -> None:
    camera_mp4(tmp_path / "rec.mp4")
    assert container_shortfall(recording(tmp_path / "rec.mp4")) == NO_MOOV


def test_an_open_mdat_after_a_moov_at_the_front_is_whole(tmp_path: Path) -> None:
    data = bytearray(make_video(tmp_path / "clip.mp4", seconds=1).read_bytes())
    boxes = {kind: (offset, size) for kind, offset, size in top_level_boxes(bytes(data))}
    ftyp_end, (mdat, _), (moov, moov_size) = boxes[b"ftyp"][1], boxes[b"mdat"], boxes[b"moov"]
    front = bytes(data[:ftyp_end]) + bytes(data[moov:moov + moov_size]) + bytes(4) + bytes(data[mdat + 4:moov])
    (tmp_path / "front.mp4").write_bytes(front)  # moov first, then mdat with size 0: nothing is missing
    assert container_shortfall(tmp_path / "front.mp4") is None


def test_a_camera_mp4_whose_tail_is_zeros_a_tool_preallocated_has_no_moov_yet(tmp_path: Path) -> None:
    camera_mp4(tmp_path / "pre.mp4")
    cut = cut_after_mdat(tmp_path / "pre.mp4")
    cut.write_bytes(cut.read_bytes() + bytes(64 * 1024))
    assert container_shortfall(cut) == NO_MOOV


def test_a_vendor_box_before_the_moov_is_stepped_over(tmp_path: Path) -> None:
    data = camera_mp4(tmp_path / "cam.mp4")
    [moov] = [offset for kind, offset, _ in top_level_boxes(data) if kind == b"moov"]
    vendor = (16).to_bytes(4, "big") + b"camd" + bytes(8)  # a maker's own box between mdat and moov
    (tmp_path / "cam.mp4").write_bytes(data[:moov] + vendor + data[moov:])
    assert container_shortfall(tmp_path / "cam.mp4") is None
    (tmp_path / "cam.mp4").write_bytes(data[:moov] + vendor)
    assert container_shortfall(tmp_path / "cam.mp4") == NO_MOOV


def test_a_jpeg_cut_short_has_no_end_marker_yet_and_a_whole_one_is_whole(tmp_path: Path) -> None:
    photo = make_image(tmp_path / "photo.jpg", width=1280, height=960)
    whole = photo.read_bytes()
    assert len(whole) > 7000 and container_shortfall(photo) is None
    (tmp_path / "tj.jpg").write_bytes(whole[:7000])  # head -c 7000 photo.jpg > tj.jpg
    assert container_shortfall(tmp_path / "tj.jpg") == NO_EOI
    (tmp_path / "tj.jpg").write_bytes(whole[:-1])
    assert container_shortfall(tmp_path / "tj.jpg") == NO_EOI
    (tmp_path / "tj.jpg").write_bytes(whole[:3])
    assert container_shortfall(tmp_path / "tj.jpg") == NO_EOI


def test_bytes_after_a_jpegs_end_marker_are_not_the_photos(tmp_path: Path) -> None:
    whole = make_image(tmp_path / "photo.jpg", width=640, height=480).read_bytes()
    clip = make_video(tmp_path / "motion.mp4", seconds=1).read_bytes()
    for name, tail in (("padded.jpg", bytes(4096)), ("fill.jpg", b"\xff" * 16), ("motion.jpg", clip)):
        (tmp_path / name).write_bytes(whole + tail)  # zero padding, fill bytes, a motion photo's clip
        assert container_shortfall(tmp_path / name) is None, name


def test_an_exif_thumbnails_end_marker_is_not_taken_for_the_photos(tmp_path: Path) -> None:
    thumbnail = jpeg_bytes(Image.new("RGB", (160, 120), (200, 40, 40)))
    whole = with_exif_thumbnail(make_image(tmp_path / "photo.jpg", width=1280, height=960).read_bytes(), thumbnail)
    (tmp_path / "cam.jpg").write_bytes(whole)
    assert container_shortfall(tmp_path / "cam.jpg") is None
    end_of_thumbnail = whole.find(thumbnail) + len(thumbnail)
    for cut in (end_of_thumbnail, end_of_thumbnail + 200, len(whole) - 100):
        (tmp_path / "cam.jpg").write_bytes(whole[:cut])
        assert container_shortfall(tmp_path / "cam.jpg") == NO_EOI, cut


def test_a_progressive_jpeg_cut_between_its_scans_has_no_end_marker_yet(tmp_path: Path) -> None:
    picture = Image.open(make_image(tmp_path / "photo.png", width=640, height=480)).convert("RGB")
    whole = jpeg_bytes(picture, progressive=True, quality=90)
    scans = [index for index in range(len(whole) - 1) if whole[index:index + 2] == b"\xff\xda"]
    assert len(scans) > 2  # several scans, with tables between them
    (tmp_path / "prog.jpg").write_bytes(whole)
    assert container_shortfall(tmp_path / "prog.jpg") is None
    (tmp_path / "prog.jpg").write_bytes(whole[:scans[2]])
    assert container_shortfall(tmp_path / "prog.jpg") == NO_EOI


def test_a_png_cut_short_or_missing_its_iend_chunk_is_not_whole(tmp_path: Path) -> None:
    whole = make_image(tmp_path / "shot.png", width=640, height=480).read_bytes()
    assert container_shortfall(tmp_path / "shot.png") is None
    (tmp_path / "shot.png").write_bytes(whole[:-12])  # every chunk whole but IEND
    assert container_shortfall(tmp_path / "shot.png") == "no PNG IEND chunk yet: the end of the file has not arrived"
    (tmp_path / "shot.png").write_bytes(whole[:len(whole) // 2])
    message = container_shortfall(tmp_path / "shot.png")
    assert message is not None and message.startswith("its PNG chunks hold ")
    assert message.endswith(f"but the file has {len(whole) // 2:,} (a copy cut short); waiting for the rest")
    (tmp_path / "shot.png").write_bytes(whole + bytes(512))
    assert container_shortfall(tmp_path / "shot.png") is None


def test_a_webp_shorter_than_its_riff_size_is_cut_short(tmp_path: Path) -> None:
    whole = make_image(tmp_path / "shot.webp", width=640, height=480).read_bytes()
    assert container_shortfall(tmp_path / "shot.webp") is None
    (tmp_path / "shot.webp").write_bytes(whole[:1000])
    assert container_shortfall(tmp_path / "shot.webp") == (
        f"its container holds {len(whole):,} bytes but the file has 1,000 (a copy cut short); waiting for the rest")


def test_a_heic_photo_cut_short_or_missing_its_pictures_is_not_whole(tmp_path: Path) -> None:
    whole = make_heic(tmp_path / "IMG_0001.HEIC", width=320, height=240).read_bytes()
    assert container_shortfall(tmp_path / "IMG_0001.HEIC") is None
    boxes = {kind: (offset, size) for kind, offset, size in top_level_boxes(whole)}
    assert list(boxes) == [b"ftyp", b"meta", b"mdat"]
    (tmp_path / "IMG_0001.HEIC").write_bytes(whole[:-20])
    assert container_shortfall(tmp_path / "IMG_0001.HEIC") == (
        f"its container holds {len(whole):,} bytes but the file has {len(whole) - 20:,} (a copy cut short); "
        "waiting for the rest")
    (tmp_path / "IMG_0001.HEIC").write_bytes(whole[:boxes[b"mdat"][0]])
    assert container_shortfall(tmp_path / "IMG_0001.HEIC") == (
        "no mdat box (the pictures) yet: the end of the file has not arrived")
    (tmp_path / "IMG_0001.HEIC").write_bytes(whole[:boxes[b"meta"][0]])
    assert container_shortfall(tmp_path / "IMG_0001.HEIC") == NO_MOOV.replace("moov", "meta")


def test_a_marker_split_between_two_reads_is_found_where_it_stands() -> None:
    mib = 1024 * 1024
    assert _next_jpeg_marker(io.BytesIO(bytes(mib - 1) + b"\xff\xd9"), 0) == mib - 1
    stuffed = bytes(mib - 1) + b"\xff\x00\xff\xd0" + b"\xff\xd9"  # a stuffed 0xFF and a restart marker are data
    assert _next_jpeg_marker(io.BytesIO(stuffed), 0) == mib + 3
    assert _next_jpeg_marker(io.BytesIO(bytes(mib) + b"\xff"), 0) is None  # the copy stopped inside the marker


def test_a_jpeg_shortened_while_it_is_read_ends_the_read_as_still_arriving(tmp_path: Path) -> None:
    whole = make_image(tmp_path / "photo.jpg", width=640, height=480).read_bytes()
    # The size was taken before a writer truncated the file in place (`head -c … > photo.jpg`): reads come up short.
    assert _jpeg_shortfall(io.BytesIO(whole[:5000]), len(whole)) == NO_EOI
    assert _jpeg_shortfall(io.BytesIO(whole[:3]), len(whole)) == NO_EOI


def test_a_fifo_or_a_link_swapped_in_after_the_scan_is_never_opened_for_its_structure(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "clip.mp4")  # a blocking open would hold the scan until someone writes
    assert container_shortfall(tmp_path / "clip.mp4") is None
    outside = make_video(tmp_path / "outside.mp4", seconds=1)
    with outside.open("r+b") as stream:
        stream.truncate(outside.stat().st_size // 2)  # what a read through the link would call cut short
    (tmp_path / "linked.mp4").symlink_to(outside)
    assert container_shortfall(tmp_path / "linked.mp4") is None
    assert container_shortfall(outside) is not None
