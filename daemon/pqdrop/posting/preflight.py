"""TikTok's rules checked before any upload: pure functions over `MediaInfo`, the sidecar and the rules table.

Better to say "11:02 is over TikTok's 10:00 limit" before a 2 GB upload than after it (issue 8).
Each refusal names the rule and the measured value; every problem of an item is listed at once,
so one round of fixes is enough. What a machine can fix (a PNG, a photo above 1080p or 20 MB) is
not a problem here: photos.py fixes it, and the fixed copy is checked again (issue 13).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from pqdrop.errors import MediaError, SidecarError
from pqdrop.media.probe import MediaInfo
from pqdrop.platforms.tiktok import (
    PHOTO_DESCRIPTION_MAX_UNITS,
    PHOTO_LIMITS,
    PHOTO_TITLE_MAX_UNITS,
    VIDEO_CAPTION_MAX_UNITS,
    VIDEO_LIMITS,
    VIDEO_ONLY_OPTIONS,
    CreatorInfo,
    PhotoLimits,
    VideoLimits,
    utf16_units,
)
from pqdrop.sidecar.parse import Sidecar, Target

PREFLIGHT = "PREFLIGHT"

# The MIME types `media.probe` reports, by the container names of the limits table.
CONTAINER_MIMES: dict[str, str] = {"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime"}
PHOTO_MIMES: dict[str, str] = {"jpeg": "image/jpeg", "webp": "image/webp"}
FORMAT_NAMES: dict[str, str] = {"mp4": "MP4", "webm": "WebM", "mov": "MOV", "jpeg": "JPEG", "webp": "WebP"}
CODEC_NAMES: dict[str, str] = {"h264": "H.264", "hevc": "H.265", "vp8": "VP8", "vp9": "VP9"}

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
    if info.codec not in limits.codecs:
        names = ", ".join(CODEC_NAMES[name] for name in limits.codecs)
        problems.append(f"codec {info.codec} is not one TikTok takes ({names}); re-export the video as H.264")
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


def photo_problems(info: MediaInfo, limits: PhotoLimits = PHOTO_LIMITS, *, as_sent: bool = False) -> list[str]:
    """What keeps this photo from TikTok; empty when it passes or pqdrop can fix it.

    A PNG, a photo above 1080p and one over 20 MB are converted or downscaled before the upload;
    `as_sent` checks the file that goes up, after that fix, where every limit counts.
    """
    problems = []
    allowed = {PHOTO_MIMES[name] for name in limits.formats}
    if info.mime not in allowed | (set() if as_sent else CONVERTED_MIMES):
        names = " or ".join(FORMAT_NAMES[name] for name in limits.formats)
        problems.append(
            f"format {info.mime} is not one TikTok takes for photos ({names}, or PNG/HEIC, which pqdrop converts)"
        )
    if as_sent and info.size > limits.max_bytes:
        limit = _bytes(limits.max_bytes)
        problems.append(f"size {_bytes(info.size, up=True)} is over TikTok's {limit} limit per photo")
    if as_sent and not fits_1080p(info.width, info.height, limits):
        problems.append(f"{info.width}x{info.height} px is over TikTok's 1080p limit for photos")
    return problems


def fits_1080p(width: int, height: int, limits: PhotoLimits = PHOTO_LIMITS) -> bool:
    """Whether a picture fits TikTok's 1080p frame, 1080 x 1920 either way up."""
    return min(width, height) <= limits.max_short_side_px and max(width, height) <= limits.max_long_side_px


def needs_downscale(info: MediaInfo, limits: PhotoLimits = PHOTO_LIMITS) -> bool:
    """A photo that must be made smaller before TikTok takes it: above 1080p or over 20 MB."""
    return info.kind == "image" and (not fits_1080p(info.width, info.height, limits) or info.size > limits.max_bytes)


def check_post(name: str, media: Sequence[MediaInfo], sidecar: Sidecar | None = None) -> None:
    """Raise naming every file and rule that TikTok would refuse: the post's rules first, then the media's."""
    if sidecar is not None:
        problems = post_problems(sidecar, media)
        if problems:
            caption = any(problem.split(": ")[0].endswith("caption") for problem in problems)
            code = "CAPTION_TOO_LONG" if caption else "TIKTOK_RULE"
            raise SidecarError("; ".join(f"{_where(sidecar, name)}: {problem}" for problem in problems), code=code)
    problems = []
    photos = [info for info in media if info.kind == "image"]
    if len(photos) > PHOTO_LIMITS.max_count:
        problems.append(f"{name}: {len(photos)} photos is over TikTok's {PHOTO_LIMITS.max_count} photos per post")
    for info in media:
        found = video_problems(info) if info.kind == "video" else photo_problems(info)
        problems.extend(f"{info.path.name}: {problem}" for problem in found)
    if problems:
        raise MediaError("; ".join(problems), code=PREFLIGHT)


def post_problems(sidecar: Sidecar, media: Sequence[MediaInfo]) -> list[str]:
    """The rules of the post as a whole, per target: caption length, branded content, the cover photo."""
    photos = sum(info.kind == "image" for info in media)
    problems = []
    for number, target in enumerate(sidecar.targets, start=1):
        prefix = f"targets[{number}]." if len(sidecar.targets) > 1 else ""
        problems += [prefix + problem for problem in target_problems(target, photos)]
    return problems


def target_problems(target: Target, photos: int) -> list[str]:
    """One target's refusals; `photos` is the number of photos in the post (0 for a video)."""
    problems = []
    caption = caption_problem(target, photo_post=photos > 0)
    if caption:
        problems.append(f"caption: {caption}")
    options = target.options
    if options.get("brandContentToggle") is True and options.get("privacyLevel") == "SELF_ONLY":
        problems.append(
            "brandContentToggle: TikTok does not allow branded content to be private (privacyLevel SELF_ONLY); "
            "choose PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS or FOLLOWER_OF_CREATOR, or mark it "
            "brandOrganicToggle (your own brand), which may be private"
        )
    cover = options.get("photoCoverIndex")
    if isinstance(cover, int) and photos and cover >= photos:
        problems.append(
            f"photoCoverIndex: {cover} is not one of this post's {photos} photos; TikTok counts from 0, "
            f"so write 0 to {photos - 1}"
        )
    return problems


def caption_problem(target: Target, *, photo_post: bool) -> str | None:
    """A caption over TikTok's limit in UTF-16 units, with the measured count; None when it fits."""
    units = utf16_units(target.caption)
    limit = PHOTO_DESCRIPTION_MAX_UNITS if photo_post else VIDEO_CAPTION_MAX_UNITS
    if units <= limit:
        return None
    characters = len(target.caption)
    counted = f" ({characters:,} characters; TikTok counts an emoji as 2)" if characters != units else ""
    suffix = target.caption_suffix
    with_suffix = (
        f' with the {utf16_units(suffix):,} of [accounts."{target.account}"].caption_suffix' if suffix else ""
    )
    kind = "photo post's description" if photo_post else "video caption"
    return (
        f"{units:,} UTF-16 units{counted}{with_suffix}, over TikTok's {limit:,} for a {kind}; "
        f"shorten it by {units - limit:,}"
    )


def post_warnings(sidecar: Sidecar, media: Sequence[MediaInfo]) -> list[str]:
    """What goes out as it is but may not look as meant on TikTok."""
    if not any(info.kind == "image" for info in media):
        return []
    warnings = []
    for target in sidecar.targets:
        units = utf16_units(target.caption)
        if units > PHOTO_TITLE_MAX_UNITS:
            warnings.append(
                f"{target.account}: caption: {units:,} UTF-16 units; pqdrop sends it as the photo post's description "
                f"(TikTok allows {PHOTO_DESCRIPTION_MAX_UNITS:,}), but if it becomes the title TikTok shows only "
                f"{PHOTO_TITLE_MAX_UNITS}"
            )
    return warnings


def applicable(sidecar: Sidecar, media: Sequence[MediaInfo]) -> Sidecar:
    """The sidecar without the options TikTok ignores for photo posts (duet, stitch, cover time)."""
    if not any(info.kind == "image" for info in media):
        return sidecar
    targets = tuple(
        dataclasses.replace(target, options={k: v for k, v in target.options.items() if k not in VIDEO_ONLY_OPTIONS})
        for target in sidecar.targets
    )
    return dataclasses.replace(sidecar, targets=targets)


def creator_problems(target: Target, media: Sequence[MediaInfo], info: CreatorInfo) -> list[str]:
    """The account's own rules from TikTok's creator info (T1): privacy choices, its maximum duration, switches."""
    problems = []
    options = target.options
    privacy = options.get("privacyLevel")
    if privacy is not None and info.privacy_level_options and privacy not in info.privacy_level_options:
        problems.append(
            f"privacyLevel: {target.account} offers {', '.join(info.privacy_level_options)}, not {privacy}"
            + ("; a private account cannot post PUBLIC_TO_EVERYONE" if privacy == "PUBLIC_TO_EVERYONE" else "")
        )
    video = next((item for item in media if item.kind == "video"), None)
    limit = info.max_video_post_duration_sec
    if video is not None and video.duration_ms is not None and limit is not None and video.duration_ms > limit * 1000:
        measured = _clock(math.ceil(video.duration_ms / 1000))
        problems.append(f"{video.path.name}: duration {measured} is over {target.account}'s {_clock(limit)} maximum")
    switches = [("disableComment", info.comment_disabled, "comments")]
    if video is not None:  # duet and stitch do not exist for photos
        switches += [("disableDuet", info.duet_disabled, "duets"), ("disableStitch", info.stitch_disabled, "stitches")]
    for key, disabled, what in switches:
        if disabled and options.get(key) is False:
            problems.append(
                f"{key}: false switches {what} on, but {target.account} has {what} off; "
                f"write {key}: true or leave it out"
            )
    return problems


def _where(sidecar: Sidecar, name: str) -> str:
    return sidecar.path.name if sidecar.path is not None else name


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
