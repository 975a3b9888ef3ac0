"""TikTok's media rules checked before any upload: pure functions over `MediaInfo` and the limits table.

Better to say "11:02 is over TikTok's 10:00 limit" before a 2 GB upload than after it (issue 8).
Each refusal names the rule and the measured value; every problem of a file is listed at once,
so one round of fixes is enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pqdrop.errors import MediaError
from pqdrop.media import MediaInfo
from pqdrop.tiktok import PHOTO_LIMITS, VIDEO_LIMITS, PhotoLimits, VideoLimits

PREFLIGHT = "PREFLIGHT"

# The MIME types `media.probe` reports, by the container names of the limits table.
CONTAINER_MIMES: dict[str, str] = {"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime"}
PHOTO_MIMES: dict[str, str] = {"jpeg": "image/jpeg", "webp": "image/webp"}
FORMAT_NAMES: dict[str, str] = {"mp4": "MP4", "webm": "WebM", "mov": "MOV", "jpeg": "JPEG", "webp": "WebP"}

# PNG is not a TikTok photo format; pqdrop converts it to a JPEG before the upload (photos.py).
CONVERTED_MIMES: frozenset[str] = frozenset({"image/png", "image/heic"})

# The average rate of a variable-frame-rate phone clip wanders a little around its nominal rate
# (a 60 fps iPhone clip can average 60.02); TikTok judges the nominal one.
FPS_TOLERANCE = 0.05


def video_problems(info: MediaInfo, limits: VideoLimits = VIDEO_LIMITS) -> list[str]:
    """What keeps this video from TikTok, each with its measured value; empty when it passes."""
    problems = []
    allowed = {CONTAINER_MIMES[name] for name in limits.containers}
    if info.mime not in allowed:
        names = ", ".join(FORMAT_NAMES[name] for name in limits.containers)
        problems.append(f"container {info.mime} is not one TikTok takes ({names})")
    if info.size > limits.max_bytes:
        problems.append(f"size {_bytes(info.size, up=True)} is over TikTok's {_bytes(limits.max_bytes)} limit")
    if info.duration_ms is not None and info.duration_ms > limits.max_duration_seconds * 1000:
        # Rounded up, so a clip a fraction of a second too long never reads as exactly the limit.
        measured = _clock(math.ceil(info.duration_ms / 1000))
        problems.append(f"duration {measured} is over TikTok's {_clock(limits.max_duration_seconds)} limit")
    # A rate the probe cannot read is not guessed at; TikTok has the last word on it.
    if info.fps is not None:
        if info.fps < limits.min_fps - FPS_TOLERANCE:
            problems.append(f"fps {_number(info.fps)} is below TikTok's {_number(limits.min_fps)} fps minimum")
        elif info.fps > limits.max_fps + FPS_TOLERANCE:
            problems.append(f"fps {_number(info.fps)} is over TikTok's {_number(limits.max_fps)} fps maximum")
    for side, pixels in (("width", info.width), ("height", info.height)):
        if pixels < limits.min_side_px:
            problems.append(f"{side} {pixels} px is below TikTok's {limits.min_side_px} px minimum")
        elif pixels > limits.max_side_px:
            problems.append(f"{side} {pixels} px is over TikTok's {limits.max_side_px} px maximum")
    return problems


def photo_problems(info: MediaInfo, limits: PhotoLimits = PHOTO_LIMITS) -> list[str]:
    """What keeps this photo from TikTok; a PNG passes, since it is converted before the upload."""
    problems = []
    allowed = {PHOTO_MIMES[name] for name in limits.formats}
    if info.mime not in allowed | CONVERTED_MIMES:
        names = " or ".join(FORMAT_NAMES[name] for name in limits.formats)
        problems.append(
            f"format {info.mime} is not one TikTok takes for photos ({names}, or PNG/HEIC, which pqdrop converts)"
        )
    # A PNG's own size says little about the JPEG it becomes; that one is checked after conversion.
    if info.mime not in CONVERTED_MIMES and info.size > limits.max_bytes:
        problems.append(
            f"size {_bytes(info.size, up=True)} is over TikTok's {_bytes(limits.max_bytes)} limit per photo"
        )
    return problems


def check_post(name: str, media: Sequence[MediaInfo]) -> None:
    """Raise a PREFLIGHT MediaError naming every file and rule that TikTok would refuse."""
    problems = []
    photos = [info for info in media if info.kind == "image"]
    if len(photos) > PHOTO_LIMITS.max_count:
        problems.append(f"{name}: {len(photos)} photos is over TikTok's {PHOTO_LIMITS.max_count} photos per post")
    for info in media:
        found = video_problems(info) if info.kind == "video" else photo_problems(info)
        problems.extend(f"{info.path.name}: {problem}" for problem in found)
    if problems:
        raise MediaError("; ".join(problems), code=PREFLIGHT)


def _clock(seconds: float) -> str:
    """A duration as m:ss, as a video player shows it."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


def _bytes(size: int, *, up: bool = False) -> str:
    """A size in the binary units TikTok's limits are written in: 4 GB, 20 MB, 21.3 MB.

    `up` rounds up, so a measured size just over a limit never reads as the limit itself.
    """
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            tenths = size * 10 / scale
            return f"{(math.ceil(tenths) if up else round(tenths)) / 10:g} {unit}"
    return f"{size} bytes"
