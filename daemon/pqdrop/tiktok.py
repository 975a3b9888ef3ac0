"""TikTok's rules in one table: caption length, post options, intents and media limits.

When TikTok or PostQued changes a rule, this is the only file to edit. The sidecar and the
config's per-account defaults both check option values with `option_problem`, so the two never
disagree about what is valid.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

PLATFORMS: tuple[str, ...] = ("tiktok",)

# PostQued's intent values: "draft" lands in the creator's TikTok inbox, "publish" posts directly.
INTENTS: tuple[str, ...] = ("draft", "publish")

# TikTok's caption limit; pqdrop counts Python characters (code points), what an editor shows.
CAPTION_MAX_CHARS = 2200

PRIVACY_LEVELS: tuple[str, ...] = (
    "PUBLIC_TO_EVERYONE",
    "MUTUAL_FOLLOW_FRIENDS",
    "FOLLOWER_OF_CREATOR",
    "SELF_ONLY",
)

# The TikTok options PostQued accepts in a target's `options`, camelCase exactly as the API wants.
OPTION_TYPES: dict[str, type] = {
    "privacyLevel": str,
    "disableDuet": bool,
    "disableStitch": bool,
    "disableComment": bool,
    "videoCoverTimestampMs": int,
    "autoAddMusic": bool,
    "brandContentToggle": bool,
    "brandOrganicToggle": bool,
}

# Options whose text value must be one of a fixed set.
OPTION_CHOICES: dict[str, tuple[str, ...]] = {"privacyLevel": PRIVACY_LEVELS}


def option_problem(key: str, value: object) -> str | None:
    """What is wrong with `value` for the TikTok option `key`, worded for the user; None when it is right."""
    if key in OPTION_CHOICES:
        return choice_problem(value, OPTION_CHOICES[key])
    expected = OPTION_TYPES[key]
    if expected is bool:
        if isinstance(value, bool):
            return None
        return f"{show(value)} is not true or false; write {key}: true or {key}: false, without quotes"
    if expected is int:
        # bool is an int in Python; `true` must not pass as 1 millisecond.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return None
        return f"{show(value)} is not a whole number of 0 or more; write e.g. {key}: 1500"
    return None if isinstance(value, expected) else f"{show(value)} is not a {expected.__name__}"


def choice_problem(value: object, choices: tuple[str, ...]) -> str | None:
    """A value must be exactly one of `choices`; a near miss is suggested, never taken."""
    if isinstance(value, str) and value in choices:
        return None
    near = nearest(value, choices) if isinstance(value, str) else None
    advice = f"; did you mean {near}?" if near else ""
    return f"{show(value)} is not one of {', '.join(choices)}{advice}"


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word`, ignoring case, `_`, `-` and spaces; None if none is close."""
    folded = {_fold(choice): choice for choice in choices}
    key = _fold(word)
    if key in folded:
        return folded[key]
    containing = [choice for fold, choice in folded.items() if len(key) >= 3 and key in fold]
    if len(containing) == 1:
        return containing[0]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _fold(word: str) -> str:
    return re.sub(r"[\s_\-]", "", word).lower()


def show(value: object) -> str:
    """A value as the user would write it in YAML: text in double quotes, true/false, null."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


@dataclass(frozen=True)
class VideoLimits:
    """What TikTok accepts as a video post."""

    containers: tuple[str, ...] = ("mp4", "webm", "mov")
    max_bytes: int = 4 * 1024**3
    max_duration_seconds: float = 10 * 60
    min_fps: float = 23
    max_fps: float = 60
    min_side_px: int = 360
    max_side_px: int = 4096


@dataclass(frozen=True)
class PhotoLimits:
    """What TikTok accepts as a photo post (one image or a carousel)."""

    formats: tuple[str, ...] = ("jpeg", "webp")
    max_bytes: int = 20 * 1024**2
    max_count: int = 35


# From TikTok's Content Posting API media rules
# (https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide): videos MP4/WebM/MOV
# up to 4 GB and 10 minutes at 23-60 fps with each side 360-4096 px; photos JPEG/WebP up to
# 20 MB each, at most 35 per post. A creator's own maximum duration may be shorter.
VIDEO_LIMITS = VideoLimits()
PHOTO_LIMITS = PhotoLimits()
