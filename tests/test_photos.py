"""HEIC/HEIF photos (iPhones) become the JPEG TikTok takes, upright, beside an untouched original."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image
from tests.conftest import make_heic

from pqdrop.media import probe
from pqdrop.photos import convert_heif_to_jpeg, needs_conversion, tiktok_photo


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
