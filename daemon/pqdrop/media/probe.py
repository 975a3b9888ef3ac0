"""What a media file really is: kind, MIME type, display size, duration and rotation.

The pure helpers decide from values (header bytes, demuxer names, matrix angles); only
`probe` opens files. It reads the container's headers and decodes a single frame, so it
takes milliseconds and constant memory however large the file is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Literal

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from pqdrop.descriptors import Identity, Refused, open_below, open_file, reopen
from pqdrop.errors import MediaError
from pqdrop.media.containers import HEIF_BRANDS

# Enough for every container signature below: ftyp brand at 8..12, EBML DocType in the
# first ~40 bytes, RIFF/WEBP at 8..12.
HEAD_BYTES = 64

# A decoder with B-frame reordering or frame threads holds back a few packets before the
# first picture; past this many the file is not a video we can show.
MAX_PACKETS_FOR_FIRST_FRAME = 64

MOV_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
MATROSKA_FAMILY = "matroska,webm"

# FFmpeg's single-picture demuxers; anything else is a moving picture.
IMAGE_DEMUXERS = frozenset({"image2", "jpeg_pipe", "png_pipe", "webp_pipe", "gif", "gif_pipe"})

# Containers outside the MP4 and Matroska families, by FFmpeg demuxer name.
OTHER_VIDEO_MIMES: dict[str, str] = {
    "avi": "video/x-msvideo",
    "flv": "video/x-flv",
    "mpegts": "video/mp2t",
    "mpeg": "video/mpeg",
    "asf": "video/x-ms-asf",
    "ogg": "video/ogg",
}

# Matroska EBML header: DocType element id 0x4282, size 0x84 (a 4-byte string), "webm".
WEBM_DOCTYPE = b"\x42\x82\x84webm"


@dataclass(frozen=True)
class MediaInfo:
    """The facts about one media file that posting decisions need."""

    path: Path
    kind: Literal["video", "image"]
    mime: str
    size: int
    width: int
    height: int
    duration_ms: int | None
    fps: float | None
    rotation: int
    codec: str
    # The file probed (device, inode): every later read checks it is still that file (issue 21).
    identity: Identity | None = field(default=None, compare=False)


def image_mime(head: bytes) -> str | None:
    """Return the image MIME type the file's magic bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def mov_family_mime(head: bytes) -> str:
    """Tell MP4 from QuickTime (and 3GPP) by the `ftyp` major brand, which FFmpeg does not report."""
    if head[4:8] != b"ftyp":
        # Classic QuickTime files predate `ftyp` and open straight with moov/mdat/wide.
        return "video/quicktime"
    brand = head[8:12]
    if brand == b"qt  ":
        return "video/quicktime"
    if brand.startswith(b"3g2"):
        return "video/3gpp2"
    if brand.startswith(b"3gp"):
        return "video/3gpp"
    return "video/mp4"


def video_mime(format_name: str, head: bytes) -> str | None:
    """Return the MIME type of a video container from its demuxer name and first bytes."""
    if format_name == MOV_FAMILY:
        return mov_family_mime(head)
    if format_name == MATROSKA_FAMILY:
        return "video/webm" if WEBM_DOCTYPE in head else "video/x-matroska"
    return OTHER_VIDEO_MIMES.get(format_name)


def clockwise_rotation(counter_clockwise: float) -> int:
    """Turn FFmpeg's counter-clockwise matrix angle into clockwise 0/90/180/270.

    Clockwise is the convention of the legacy `rotate` tag and of phone cameras: a
    portrait iPhone clip is stored landscape with rotation 90.
    """
    return int(round(-counter_clockwise / 90.0)) * 90 % 360


def rotate_tag(metadata: dict[str, str]) -> int:
    """Read the clockwise `rotate` tag older muxers wrote instead of a display matrix."""
    try:
        return int(round(float(metadata.get("rotate", "0")) / 90.0)) * 90 % 360
    except ValueError:
        return 0


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """Return the size a player shows: a quarter turn swaps width and height."""
    return (height, width) if rotation in (90, 270) else (width, height)


def is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def probe(path: Path, root: Path | None = None) -> MediaInfo:
    """Read what `path` really holds; raise MediaError naming the file if it is not usable media.

    The file is opened once, below `root` (default: its own folder) without following a link, and
    read only from that descriptor; the MediaInfo keeps its identity for every later read.
    """
    try:
        descriptor = open_file(path) if root is None else open_below(root, path.relative_to(root))
    except Refused as exc:
        raise MediaError(f"{path} {exc.reason}") from None
    except OSError as exc:
        raise MediaError(f"{path} cannot be read: {_reason(exc)}") from exc
    with os.fdopen(descriptor, "rb") as stream:
        return _probe_stream(path, stream)


def _probe_stream(path: Path, stream: BinaryIO) -> MediaInfo:
    status = os.fstat(stream.fileno())
    if status.st_size == 0:
        raise MediaError(f"{path} is empty (0 bytes)")
    try:
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
    except OSError as exc:
        raise MediaError(f"{path} cannot be read: {_reason(exc)}") from exc
    identity = Identity.of(status)
    if is_heif(head):
        return replace(_describe_heif(path, stream, status.st_size), identity=identity)
    try:
        with av.open(stream, "r", metadata_errors="replace") as container:
            return replace(_describe(path, status.st_size, head, container), identity=identity)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path} is not a readable video/image: {_reason(exc)}") from exc


@contextmanager
def media_stream(info: MediaInfo) -> Iterator[BinaryIO]:
    """The probed file opened again, never through a link; MediaError when it is not the file probed any more."""
    try:
        with reopen(info.path, info.identity) as stream:
            yield stream
    except Refused as exc:
        raise MediaError(f"{info.path.name} {exc.reason}", code="MEDIA_SWAPPED") from None
    except FileNotFoundError:
        raise MediaError(f"{info.path.name} is gone: it was removed while its item was being posted") from None


def _describe(path: Path, size: int, head: bytes, container: InputContainer) -> MediaInfo:
    """Build the MediaInfo of an opened container."""
    stream = _picture_stream(path, container)
    is_image = container.format.name in IMAGE_DEMUXERS
    first = _first_frame(path, container, stream)
    mime = image_mime(head) if is_image else video_mime(container.format.name, head)
    if mime is None:
        raise MediaError(
            f"{path} is not a supported video/image: "
            f"{container.format.long_name} with codec {stream.codec_context.name}"
        )
    rotation = clockwise_rotation(first.rotation) or rotate_tag(stream.metadata)
    width, height = _coded_size(path, stream)
    display_width, display_height = display_size(width, height, rotation)
    return MediaInfo(
        path=path,
        kind="image" if is_image else "video",
        mime=mime,
        size=size,
        width=display_width,
        height=display_height,
        duration_ms=None if is_image else _duration_ms(path, container, stream),
        fps=None if is_image else _fps(stream),
        rotation=rotation,
        codec=stream.codec_context.name,
    )


def _describe_heif(path: Path, stream: BinaryIO, size: int) -> MediaInfo:
    """An iPhone photo: its displayed size, read by libheif (FFmpeg reads no HEIF still images)."""
    import pillow_heif  # only HEIC photos need libheif

    try:
        heif = pillow_heif.open_heif(stream, convert_hdr_to_8bit=True)
        width, height = heif.size  # after the file's rotation and mirroring (irot/imir), as a phone shows it
    except (ValueError, OSError, RuntimeError) as exc:
        raise MediaError(f"{path} is not a readable HEIC/HEIF photo: {_reason(exc)}") from exc
    return MediaInfo(path=path, kind="image", mime="image/heic", size=size, width=width, height=height,
                     duration_ms=None, fps=None, rotation=0, codec="hevc")


def _picture_stream(path: Path, container: InputContainer) -> VideoStream:
    """Return the first real picture stream, skipping cover art in audio files."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise MediaError(f"{path} has no video stream (audio-only or data file)")


def _first_frame(path: Path, container: InputContainer, stream: VideoStream) -> VideoFrame:
    """Decode one picture: it proves the stream decodes and carries the display matrix.

    PyAV 18 exposes no stream-level side data, but FFmpeg copies the stream's display
    matrix (and a JPEG's EXIF orientation) onto decoded frames, where
    `VideoFrame.rotation` reads it.
    """
    for count, packet in enumerate(container.demux(stream)):
        frames = packet.decode()
        if frames:
            return frames[0]
        if count >= MAX_PACKETS_FOR_FIRST_FRAME:
            break
    raise MediaError(f"{path} is not a readable video/image: no picture could be decoded")


def _coded_size(path: Path, stream: VideoStream) -> tuple[int, int]:
    """Return the stream's stored width and height, refusing unknown sizes."""
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise MediaError(f"{path} has unknown picture dimensions ({width}x{height})")
    return width, height


def _duration_ms(path: Path, container: InputContainer, stream: VideoStream) -> int:
    """Return the video's length in ms, from the stream or else the whole container."""
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        # WebM keeps no per-track duration; the segment's is in AV_TIME_BASE units.
        seconds = container.duration / av.time_base
    if seconds is None or seconds <= 0:
        raise MediaError(f"{path} has an unknown or zero duration")
    return round(seconds * 1000)


def _fps(stream: VideoStream) -> float | None:
    """Return the average frame rate, or FFmpeg's guess when the container has none."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def _reason(exc: BaseException) -> str:
    """Return the short human part of an OS or FFmpeg error."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else str(exc)


FINGERPRINT_SPAN = 1024 * 1024


def fingerprint(info: MediaInfo) -> str:
    """A cheap identity of a media file: its size and its first and last MiB, hashed.

    Spots a re-dropped copy without a full read of a multi-GB video (the upload is the one full read).
    Read from the file probed, never through a link (MediaError when it was swapped since).
    """
    with media_stream(info) as stream:
        return fingerprint_of(stream)


def fingerprint_of(stream: BinaryIO) -> str:
    """The fingerprint of an open file."""
    size = os.fstat(stream.fileno()).st_size
    digest = hashlib.sha256(str(size).encode())
    digest.update(os.pread(stream.fileno(), FINGERPRINT_SPAN, 0))
    if size > 2 * FINGERPRINT_SPAN:
        digest.update(os.pread(stream.fileno(), FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
    return digest.hexdigest()
