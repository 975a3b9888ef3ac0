"""Photos made what TikTok takes: HEIC (iPhones) to an upright JPEG; photos above 1080p or 20 MB downscaled in the
state folder, naming neither phone nor place; the original only read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import make_heic, sidecar

from pqdrop.config import Config
from pqdrop.media.mediagen import make_image
from pqdrop.media.probe import probe
from pqdrop.posting.photos import (
    conversion_note,
    convert_heif_to_jpeg,
    downscale_photo,
    needs_conversion,
    tiktok_photo,
)
from pqdrop.posting.preflight import fits_1080p, needs_downscale
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_OK, Workers, once


def test_a_heic_photo_becomes_an_upright_jpeg_and_the_original_is_only_read(tmp_path: Path) -> None:
    photo = make_heic(tmp_path / "IMG_0001.HEIC", width=64, height=32, orientation=6)  # turned a quarter, as held
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    (tmp_path / "scratch").mkdir()
    jpeg = convert_heif_to_jpeg(photo, tmp_path / "scratch")
    assert jpeg == tmp_path / "scratch" / "IMG_0001.jpg"
    with Image.open(jpeg) as picture:
        assert (picture.format, picture.size) == ("JPEG", (32, 64))  # the orientation is in the pixels now
        assert picture.getexif().get(0x0112, 1) == 1  # so no viewer turns it a second time
        # The blue mark from the top-left of the stored picture is at the top-right once turned clockwise.
        red, green, blue = picture.convert("RGB").getpixel((28, 4))  # type: ignore[misc]
        assert blue > 150 and red < 100
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before


def test_the_photo_uploaded_for_a_heic_is_a_jpeg_in_the_state_folder_deleted_afterwards(tmp_path: Path) -> None:
    photo = make_heic(tmp_path / "beach.heic")
    info = probe(photo)
    assert needs_conversion(info.mime)
    scratch = tmp_path / "state"
    scratch.mkdir()
    with tiktok_photo(info, scratch) as upload:
        assert (upload.mime, upload.path.suffix, upload.path.is_relative_to(scratch)) == ("image/jpeg", ".jpg", True)
        assert upload.path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert list(scratch.iterdir()) == []


# EXIF tags: Make, Model, Orientation, BodySerialNumber; the GPS IFD pointer.
MAKE, MODEL, ORIENTATION, SERIAL, GPS_IFD = 0x010F, 0x0110, 0x0112, 0xA431, 0x8825


def phone_photo(path: Path, width: int = 4032, height: int = 3024, orientation: int = 1) -> Path:
    """A JPEG as a phone writes it: make, model, serial, GPS and an orientation in its EXIF."""
    picture = Image.new("RGB", (width, height), (200, 120, 40))
    picture.paste((20, 40, 220), (0, 0, width // 4, height // 4))  # a blue top-left corner shows the turn
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[SERIAL], exif[ORIENTATION] = "Apple", "iPhone 15 Pro", "F17XK0LMQ", orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    picture.save(path, "JPEG", quality=90, exif=exif)
    return path


def test_1080p_means_1080_by_1920_either_way_up() -> None:
    assert [fits_1080p(*size) for size in [(1080, 1920), (1920, 1080), (1081, 1920), (1080, 1921), (1086, 1448)]] == [
        True, True, False, False, False]


def test_a_4032x3024_phone_photo_becomes_a_1440x1080_jpeg_without_exif(tmp_path: Path) -> None:
    source = phone_photo(tmp_path / "IMG_0001.jpg")
    before = source.read_bytes()
    (tmp_path / "state").mkdir()
    copy = downscale_photo(source, tmp_path / "state")
    with Image.open(copy) as picture:
        assert (copy.parent, picture.format, picture.size) == (tmp_path / "state", "JPEG", (1440, 1080))
        exif = picture.getexif()
        assert (dict(exif), exif.get_ifd(GPS_IFD)) == ({}, {})
    assert b"iPhone" not in copy.read_bytes() and b"F17XK0LMQ" not in copy.read_bytes()
    assert source.read_bytes() == before


def test_the_exif_orientation_is_applied_before_fitting(tmp_path: Path) -> None:
    # Orientation 6: stored landscape, shown turned 90 degrees clockwise, i.e. portrait.
    (tmp_path / "state").mkdir()
    copy = downscale_photo(phone_photo(tmp_path / "turned.jpg", orientation=6), tmp_path / "state")
    with Image.open(copy) as picture:
        assert picture.size == (1080, 1440)
        red, green, blue = picture.convert("RGB").getpixel((1080 - 10, 10))  # the blue corner is now top-right
        assert blue > 150 and red < 100


def test_the_copy_is_never_written_over_the_photo(tmp_path: Path) -> None:
    source = phone_photo(tmp_path / "IMG_0002.jpg", width=2000, height=1000)
    before = source.read_bytes()
    with pytest.raises(ValueError, match="never over it"):
        downscale_photo(source, tmp_path)
    assert source.read_bytes() == before


def test_a_1086x1448_photo_just_outside_1080p_is_downscaled_to_1080x1440(tmp_path: Path) -> None:
    info = probe(make_image(tmp_path / "tall.jpg", width=1086, height=1448))
    assert needs_downscale(info)
    with tiktok_photo(info, tmp_path) as sent:
        assert (sent.width, sent.height, sent.mime) == (1080, 1440, "image/jpeg")


def test_a_photo_just_inside_1080p_goes_up_as_it_is(tmp_path: Path) -> None:
    info = probe(make_image(tmp_path / "fits.jpg", width=1080, height=1920))
    assert not needs_downscale(info)
    with tiktok_photo(info, tmp_path) as sent:
        assert sent is info


@pytest.mark.parametrize("suffix", [".webp", ".png"])
def test_large_webp_and_png_photos_are_downscaled_to_jpeg(tmp_path: Path, suffix: str) -> None:
    info = probe(make_image(tmp_path / f"big{suffix}", width=2400, height=1200))
    with tiktok_photo(info, tmp_path) as sent:
        assert (sent.width, sent.height, sent.mime) == (1920, 960, "image/jpeg")
        assert sent.path.is_relative_to(tmp_path) and sent.path.parent != tmp_path
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"big{suffix}"]  # the copy lived for the upload


def test_a_4032x3024_photo_is_posted_as_a_1080p_jpeg_and_the_inbox_file_keeps_its_bytes(
    service: Workers, inbox: Path, sandbox: Sandbox, config: Config
) -> None:
    folder = inbox / "trip"
    folder.mkdir()
    phone_photo(folder / "IMG_0001.jpg")
    make_image(folder / "IMG_0002.jpg", width=1080, height=1080)
    sidecar(folder / "trip.md")
    original = hashlib.sha256((folder / "IMG_0001.jpg").read_bytes()).hexdigest()
    assert once(service)[0] == EXIT_OK
    assert json.loads((inbox / "sent" / "trip.status.json").read_text())["state"] in ("sent", "published")
    [publish] = sandbox.state_summary()["publishes"]
    first = sandbox.state_summary()["contents"][publish["contentIds"][0]]
    assert (first["filename"], first["contentType"]) == ("IMG_0001.jpg", "image/jpeg")
    assert first["sha256"] != original  # the downscaled copy went up
    assert hashlib.sha256((inbox / "sent" / "trip" / "IMG_0001.jpg").read_bytes()).hexdigest() == original
    assert list(config.state.dir.glob("photo-*")) == []


def test_a_large_heic_photo_goes_up_as_a_jpeg_within_1080p(tmp_path: Path) -> None:
    info = probe(make_heic(tmp_path / "IMG_0003.HEIC", width=2400, height=1800))
    (tmp_path / "state").mkdir()
    with tiktok_photo(info, tmp_path / "state") as sent:
        assert (sent.mime, sent.width, sent.height) == ("image/jpeg", 1440, 1080)
        with Image.open(sent.path) as picture:
            assert dict(picture.getexif()) == {}
    assert list((tmp_path / "state").iterdir()) == []


def test_the_conversion_note_names_each_photo_made_anew_and_why_and_none_for_photos_sent_as_they_are(
    tmp_path: Path
) -> None:
    heic = probe(make_heic(tmp_path / "IMG_0001.HEIC"))
    big = probe(phone_photo(tmp_path / "big.jpg"))
    plain = probe(make_image(tmp_path / "plain.jpg", width=1080, height=1350))
    assert conversion_note([plain]) is None
    assert conversion_note([heic, plain, big]) == (
        "IMG_0001.HEIC went up as a JPEG made from it (TikTok takes no HEIC); big.jpg went up as a JPEG made from it "
        "(made smaller to fit 1080x1920 and 20 MB); the file itself is unchanged")
