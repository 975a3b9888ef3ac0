"""PNG and HEIC photos turned into the JPEG that TikTok takes, in a scratch folder outside the inbox.

TikTok's photo posts accept JPEG and WebP only (issue 8). A PNG is converted at high quality
(JPEG q 2, no chroma subsampling, so text in screenshots stays sharp); the original is read,
never altered, and the JPEG lives only for its upload. A PNG with transparent pixels is refused
instead: JPEG has no transparency, and pqdrop does not guess a background colour.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame

from pqdrop.errors import MediaError
from pqdrop.media import MediaInfo
from pqdrop.preflight import PREFLIGHT, photo_problems

JPEG_PIXEL_FORMAT = "yuvj444p"
# FFmpeg's MJPEG quantiser scale: 2 is `ffmpeg -q:v 2`, visually lossless for photos.
JPEG_QUALITY = {"qmin": "1", "qmax": "2"}
# Pixel formats FFmpeg's PNG decoder gives for pictures without an alpha channel or palette.
OPAQUE_FORMATS = frozenset({"gray", "gray16be", "rgb24", "rgb48be", "monob", "monow"})


HEIF_MIME = "image/heic"
# Pillow's JPEG writer: quality 95 with 4:4:4 chroma, visually lossless like the PNG path's q 2.
HEIF_JPEG_OPTIONS: dict[str, object] = {"quality": 95, "subsampling": 0, "optimize": True}


def needs_conversion(mime: str) -> bool:
    return mime in ("image/png", HEIF_MIME)


def check_convertible(path: Path) -> None:
    """Refuse a PNG that a JPEG cannot show as it is: one with transparent pixels."""
    _opaque_picture(path)


def convert_heif_to_jpeg(source: Path, folder: Path) -> Path:
    """Write `folder/<stem>.jpg` from the HEIC/HEIF `source`, upright, and return its path; `source` is only read.

    pillow-heif (libheif) applies the file's rotation and mirroring and sets the EXIF orientation
    to 1; `exif_transpose` covers a photo whose EXIF still says to turn it. The EXIF goes along
    (camera, date), so the JPEG is the photo the phone showed.
    """
    import pillow_heif
    from PIL import Image, ImageOps

    try:
        heif = pillow_heif.open_heif(str(source), convert_hdr_to_8bit=True)
        picture = ImageOps.exif_transpose(heif.to_pillow())
    except (ValueError, OSError, RuntimeError) as exc:
        raise MediaError(f"{source.name}: the HEIC photo cannot be decoded for conversion to JPEG: {exc}") from exc
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    exif = picture.getexif()
    exif[0x0112] = 1  # Orientation: the pixels are upright now
    target = folder / f"{source.stem}.jpg"
    picture.save(target, "JPEG", exif=exif.tobytes(), **HEIF_JPEG_OPTIONS)
    Image.Image.close(picture)
    return target


def check_conversions(media: Sequence[MediaInfo]) -> None:
    """Refuse, before any upload, a photo that would need a conversion pqdrop does not make."""
    for info in media:
        if info.kind == "image" and info.mime == "image/png":
            check_convertible(info.path)


@contextmanager
def tiktok_photo(info: MediaInfo, scratch: Path) -> Iterator[MediaInfo]:
    """The photo to upload: `info` itself, or a JPEG converted from it that lives until the block ends.

    The JPEG is written in a fresh folder under `scratch` (the state folder, never the inbox), and
    checked against TikTok's photo limits, since a PNG's size says little about its JPEG's.
    """
    if not needs_conversion(info.mime):
        yield info
        return
    with tempfile.TemporaryDirectory(prefix="photo-", dir=scratch) as folder:
        convert = convert_heif_to_jpeg if info.mime == HEIF_MIME else convert_to_jpeg
        jpeg = convert(info.path, Path(folder))
        converted = dataclasses.replace(info, path=jpeg, mime="image/jpeg", size=jpeg.stat().st_size, codec="mjpeg")
        problems = photo_problems(converted)
        if problems:
            raise MediaError(f"{info.path.name} (as JPEG): {'; '.join(problems)}", code=PREFLIGHT)
        yield converted


def convert_to_jpeg(source: Path, folder: Path) -> Path:
    """Write `folder/<stem>.jpg` from the PNG `source` and return its path; `source` is only read."""
    picture = _opaque_picture(source)
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, VideoCodecContext)  # mjpeg is a video codec
    encoder.width, encoder.height, encoder.pix_fmt = picture.width, picture.height, JPEG_PIXEL_FORMAT
    encoder.time_base = Fraction(1, 1)
    encoder.options = dict(JPEG_QUALITY)
    packets = encoder.encode(picture.reformat(format=JPEG_PIXEL_FORMAT)) + encoder.encode(None)
    target = folder / f"{source.stem}.jpg"
    # The one packet MJPEG emits for a picture is a complete JPEG file.
    target.write_bytes(b"".join(bytes(packet) for packet in packets))
    return target


def _opaque_picture(path: Path) -> VideoFrame:
    """The decoded picture, refused when any pixel is not fully opaque."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, OSError, StopIteration) as exc:
        raise MediaError(f"{path.name}: the PNG cannot be decoded for conversion to JPEG: {exc}") from exc
    if frame.format.name not in OPAQUE_FORMATS and _has_transparent_pixel(frame):
        raise MediaError(
            f"{path.name}: has transparent pixels; TikTok takes JPEG or WebP photos and JPEG has no transparency, "
            "so pqdrop would have to guess a background; export it as JPEG (or WebP) yourself",
            code=PREFLIGHT,
        )
    return frame


def _has_transparent_pixel(frame: VideoFrame) -> bool:
    rgba = frame.reformat(format="rgba")
    plane = rgba.planes[0]
    data = bytes(plane)
    row_bytes = rgba.width * 4
    for top in range(0, rgba.height * plane.line_size, plane.line_size):
        # Every fourth byte of an RGBA row is alpha; 255 is fully opaque.
        if min(data[top + 3 : top + row_bytes : 4]) < 255:
            return True
    return False
