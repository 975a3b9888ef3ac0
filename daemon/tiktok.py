"""TikTok's rules in one table: caption length, post options, intents and media limits.

When TikTok or PostQued changes a rule, this is the only file to edit.
"""

from __future__ import annotations

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
