"""Photos turned into what TikTok takes, in a scratch folder outside the inbox.

TikTok's photo posts accept JPEG and WebP only (issue 8), within 1080p and 20 MB (issue 13). A
PNG is converted at high quality (JPEG q 2, no chroma subsampling, so text in screenshots stays
sharp); an iPhone's HEIC becomes a JPEG, upright, with its EXIF. A photo above 1080p or 20 MB
(a HEIC's JPEG too) is downscaled to fit 1080 x 1920 with Lanczos resampling, turned upright by
its EXIF orientation, and written without its EXIF, so the copy names neither the phone (make,
model, serial) nor the place (GPS). The original is read, never altered, and the
copy lives only for its upload. A PNG with transparent pixels is refused instead: JPEG has no
transparency, and pqdrop does not guess a background colour.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from PIL import Image, ImageOps, UnidentifiedImageError

from pqdrop.errors import MediaError
from pqdrop.media.probe import MediaInfo, media_stream
from pqdrop.platforms.tiktok import PHOTO_LIMITS, PhotoLimits
from pqdrop.posting.preflight import PREFLIGHT, fits_1080p, needs_downscale, photo_problems

JPEG_PIXEL_FORMAT = "yuvj444p"
# FFmpeg's MJPEG quantiser scale: 2 is `ffmpeg -q:v 2`, visually lossless for photos.
JPEG_QUALITY = {"qmin": "1", "qmax": "2"}
# Pillow's JPEG quality for a downscaled photo: visually lossless, a few MB at 1080p, never 20.
DOWNSCALE_QUALITY = 92
# Pixel formats FFmpeg's PNG decoder gives for pictures without an alpha channel or palette.
OPAQUE_FORMATS = frozenset({"gray", "gray16be", "rgb24", "rgb48be", "monob", "monow"})


HEIF_MIME = "image/heic"
# Pillow's JPEG writer: quality 95 with 4:4:4 chroma, visually lossless like the PNG path's q 2.
HEIF_JPEG_OPTIONS: dict[str, object] = {"quality": 95, "subsampling": 0, "optimize": True}


def needs_conversion(mime: str) -> bool:
    return mime in ("image/png", HEIF_MIME)


def conversion_note(media: Sequence[MediaInfo]) -> str | None:
    """What the status file says of photos that went up as a JPEG pqdrop made (converted, made smaller)."""
    said = []
    for info in media:
        if info.kind != "image":
            continue
        kind = {"image/png": "PNG", HEIF_MIME: "HEIC"}.get(info.mime)
        smaller = needs_downscale(info)
        if kind is None and not smaller:
            continue
        why = [f"TikTok takes no {kind}"] if kind else []
        if smaller:
            limits = PHOTO_LIMITS
            why.append(f"made smaller to fit {limits.max_short_side_px}x{limits.max_long_side_px} and "
                       f"{limits.max_bytes // 1024**2} MB")
        said.append(f"{info.path.name} went up as a JPEG made from it ({', '.join(why)})")
    if not said:
        return None
    return "; ".join(said) + "; the file itself is unchanged"


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
            with media_stream(info) as stream:  # the file probed, never a link swapped in since
                _opaque_picture(info.path, stream)


@contextmanager
def tiktok_photo(info: MediaInfo, scratch: Path) -> Iterator[MediaInfo]:
    """The photo to upload: `info` itself, or a fixed JPEG copy that lives until the block ends.

    The copy is written in a fresh folder under `scratch` (the state folder, never the inbox), and
    checked against every photo limit, since a PNG's size says little about its JPEG's.
    """
    downscale = needs_downscale(info)
    if not downscale and not needs_conversion(info.mime):
        yield info
        return
    with tempfile.TemporaryDirectory(prefix="photo-", dir=scratch) as folder:
        work = Path(folder)
        # A private copy of the file probed, made from its descriptor: the conversion never reads the inbox's path.
        (work / "original").mkdir()
        source = private_copy(info, work / "original")
        if info.mime == HEIF_MIME:  # an iPhone photo: JPEG first, then fitted like any other
            source = convert_heif_to_jpeg(source, work)
            too_large = source.stat().st_size > PHOTO_LIMITS.max_bytes
            downscale = downscale or too_large or not fits_1080p(*picture_size(source))
        if downscale:
            (work / "fitted").mkdir()
            jpeg = downscale_photo(source, work / "fitted")
        elif info.mime == HEIF_MIME:
            jpeg = source
        else:
            jpeg = convert_to_jpeg(source, work)
        width, height = picture_size(jpeg)
        converted = dataclasses.replace(info, path=jpeg, mime="image/jpeg", size=jpeg.stat().st_size, codec="mjpeg",
                                        width=width, height=height, identity=None)
        problems = photo_problems(converted, as_sent=True)
        if problems:
            raise MediaError(f"{info.path.name} (as JPEG): {'; '.join(problems)}", code=PREFLIGHT)
        yield converted


def downscale_photo(source: Path, folder: Path, limits: PhotoLimits = PHOTO_LIMITS) -> Path:
    """Write `folder/<stem>.jpg`: `source` upright, within 1080p, without EXIF; `source` is only read.

    Pillow rather than PyAV: FFmpeg's image decoders neither apply EXIF orientation nor let the
    metadata be read and dropped selectively.
    """
    try:
        with Image.open(source) as opened:
            picture = ImageOps.exif_transpose(opened)
            icc = opened.info.get("icc_profile")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{source.name}: the photo cannot be decoded to fit TikTok's 1080p: {exc}") from exc
    if picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    width, height = picture.size
    scale = min(1.0, limits.max_short_side_px / min(width, height), limits.max_long_side_px / max(width, height))
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    if size != picture.size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    target = folder / f"{source.stem}.jpg"
    if target.resolve() == source.resolve():
        raise ValueError(f"{source}: the copy must go to another folder than the photo, never over it")
    # No `exif=`: Pillow writes none, so GPS, make, model and serial stay behind; the colour profile is kept.
    extra = {"icc_profile": icc} if icc else {}
    picture.save(target, "JPEG", quality=DOWNSCALE_QUALITY, subsampling=0, optimize=True, **extra)
    return target


def picture_size(path: Path) -> tuple[int, int]:
    """Width and height of a picture file, as stored."""
    with Image.open(path) as picture:
        return picture.size


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


def private_copy(info: MediaInfo, folder: Path) -> Path:
    """`folder/<name>`: a copy of the file probed, read from a descriptor that followed no link."""
    target = folder / info.path.name
    with media_stream(info) as stream, target.open("xb") as copy:
        shutil.copyfileobj(stream, copy)
    return target


def _opaque_picture(path: Path, stream: BinaryIO | None = None) -> VideoFrame:
    """The decoded picture (from `stream` when given), refused when any pixel is not fully opaque."""
    try:
        with av.open(stream if stream is not None else str(path), "r") as container:
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
