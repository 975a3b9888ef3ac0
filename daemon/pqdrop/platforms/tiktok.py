"""TikTok's rules in one table: captions, post options, media limits, daily caps and error codes.

When TikTok or PostQued changes a rule, this is the only file to edit. `RULES` lists every rule
with the page it comes from (docs/reference/platforms.md is generated from it); the
limits below hold the numbers the checks in preflight.py use. The sidecar and the config's
per-account defaults both check option values with `option_problem`, so the two never disagree.
Value types only: nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pqdrop.errors import ApiAccountBlocked, ApiError, ApiRejected, PlatformBusy
from pqdrop.platforms.rules import BOOL, INT, TEXT, Option, Platform, choice
from pqdrop.suggest import choice_problem, show

PLATFORMS: tuple[str, ...] = ("tiktok",)

# PostQued's intent values: "draft" lands in the creator's TikTok inbox, "publish" posts directly.
INTENTS: tuple[str, ...] = ("draft", "publish")

# How long after it is due a post may go unconfirmed before pqdrop calls it "unconfirmed" (issue 23).
# A draft ends at SEND_TO_USER_INBOX once TikTok has processed the file (about a minute per GB, T6); a
# direct post is confirmed only after moderation, "usually under a minute, sometimes hours" (T6).
CONFIRM_WITHIN: Mapping[str, timedelta] = {"draft": timedelta(minutes=30), "publish": timedelta(hours=2)}

# TikTok counts captions in UTF-16 code units ("runes"): an emoji or any character outside the
# Basic Multilingual Plane counts 2 (T2, T3). The single `caption` PostQued takes becomes a video's
# title (2,200); for a photo post pqdrop treats it as TikTok's description (4,000) and warns above
# the photo title's 90, since PostQued does not document which of the two it fills.
VIDEO_CAPTION_MAX_UNITS = 2200
PHOTO_DESCRIPTION_MAX_UNITS = 4000
PHOTO_TITLE_MAX_UNITS = 90


def utf16_units(text: str) -> int:
    """The length TikTok measures: UTF-16 code units, 2 for an emoji such as 🔥."""
    return len(text.encode("utf-16-le")) // 2

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
    "photoCoverIndex": int,
}

# Interaction switches TikTok ignores for photo posts (T1, T7): duet and stitch exist for videos only.
VIDEO_ONLY_OPTIONS: tuple[str, ...] = ("disableDuet", "disableStitch", "videoCoverTimestampMs")

INT_EXAMPLES: dict[str, int] = {"videoCoverTimestampMs": 1500, "photoCoverIndex": 0}

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
        return f"{show(value)} is not a whole number of 0 or more; write e.g. {key}: {INT_EXAMPLES.get(key, 1)}"
    return None if isinstance(value, expected) else f"{show(value)} is not a {expected.__name__}"


@dataclass(frozen=True)
class VideoLimits:
    """What TikTok accepts as a video post (T5 "Video restrictions")."""

    containers: tuple[str, ...] = ("mp4", "webm", "mov")
    # FFmpeg's names for H.264, H.265, VP8 and VP9.
    codecs: tuple[str, ...] = ("h264", "hevc", "vp8", "vp9")
    max_bytes: int = 4 * 1024**3
    max_duration_seconds: float = 10 * 60
    min_fps: float = 23
    max_fps: float = 60
    min_side_px: int = 360
    max_side_px: int = 4096


@dataclass(frozen=True)
class PhotoLimits:
    """What TikTok accepts as a photo post, one image or a carousel (T3, T5 "Image restrictions")."""

    formats: tuple[str, ...] = ("jpeg", "webp")
    max_bytes: int = 20 * 1024**2
    max_count: int = 35
    # "1080p": the picture fits a 1080 x 1920 frame, either way up.
    max_short_side_px: int = 1080
    max_long_side_px: int = 1920


VIDEO_LIMITS = VideoLimits()
PHOTO_LIMITS = PhotoLimits()

# TikTok's caps per account in a rolling 24 h, pqdrop's defaults for [accounts."@name"] (T7, T3, T4).
DAILY_POSTS = 15
DAILY_DRAFTS = 5

SOURCES: dict[str, str] = {
    "T1": "https://developers.tiktok.com/doc/content-posting-api-reference-query-creator-info",
    "T2": "https://developers.tiktok.com/doc/content-posting-api-reference-direct-post",
    "T3": "https://developers.tiktok.com/doc/content-posting-api-reference-photo-post",
    "T4": "https://developers.tiktok.com/doc/content-posting-api-reference-upload-video",
    "T5": "https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide",
    "T6": "https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status",
    "T7": "https://developers.tiktok.com/doc/content-sharing-guidelines",
}


class Handling(StrEnum):
    """What pqdrop does with an item that breaks a rule."""

    REFUSED = "refused before any upload"
    FIXED = "fixed in the state folder"
    WARNED = "warned, sent as it is"
    PACED = "waits for the window"
    IGNORED = "not sent"


@dataclass(frozen=True)
class Rule:
    """One of TikTok's rules: what it covers, the limit, what pqdrop does, and where TikTok says so."""

    key: str
    limit: str
    handling: Handling
    source: str  # a key of SOURCES, and the section of that page

    @property
    def url(self) -> str:
        return SOURCES[self.source.split()[0]]


_V, _P = VIDEO_LIMITS, PHOTO_LIMITS
RULES: tuple[Rule, ...] = (
    Rule("video caption", f"at most {VIDEO_CAPTION_MAX_UNITS:,} UTF-16 units (an emoji counts 2), "
         "caption_suffix included", Handling.REFUSED, "T2 post_info.title"),
    Rule("photo caption", f"at most {PHOTO_DESCRIPTION_MAX_UNITS:,} UTF-16 units, sent as the description",
         Handling.REFUSED, "T3 post_info.description"),
    Rule("photo caption as title", f"over {PHOTO_TITLE_MAX_UNITS} UTF-16 units may not fit the photo title",
         Handling.WARNED, "T3 post_info.title"),
    Rule("video container", "MP4, WebM or MOV", Handling.REFUSED, "T5 Video restrictions"),
    Rule("video codec", "H.264, H.265, VP8 or VP9", Handling.REFUSED, "T5 Video restrictions"),
    Rule("video frame rate", f"{_V.min_fps:g}-{_V.max_fps:g} fps", Handling.REFUSED, "T5 Video restrictions"),
    Rule("video picture size", f"each side {_V.min_side_px}-{_V.max_side_px} px", Handling.REFUSED,
         "T5 Video restrictions"),
    Rule("video duration", f"at most {_V.max_duration_seconds / 60:g} min, and the account's own maximum "
         "(creator info)", Handling.REFUSED, "T5 Video restrictions, T1 max_video_post_duration_sec"),
    Rule("video size", f"at most {_V.max_bytes // 1024**3} GB", Handling.REFUSED, "T5 Video restrictions"),
    Rule("photo format", "JPEG or WebP; a PNG is converted to JPEG", Handling.FIXED, "T3 photo_images"),
    Rule("photo picture size", f"within 1080p ({_P.max_short_side_px} x {_P.max_long_side_px} either way up); "
         "larger photos are downscaled", Handling.FIXED, "T5 Image restrictions"),
    Rule("photo file size", f"at most {_P.max_bytes // 1024**2} MB; larger photos are re-encoded", Handling.FIXED,
         "T5 Image restrictions"),
    Rule("photos per post", f"at most {_P.max_count}", Handling.REFUSED, "T3 photo_images"),
    Rule("photoCoverIndex", "0 up to the number of photos minus 1", Handling.REFUSED, "T3 photo_cover_index"),
    Rule("duet, stitch and cover time on photos", "TikTok ignores them for photos", Handling.IGNORED,
         "T7 UX guidance, T1 duet_disabled"),
    Rule("branded content", "brandContentToggle is never SELF_ONLY (public or friends only)", Handling.REFUSED,
         "T7 Commercial content disclosure"),
    Rule("privacy level", "one of the account's privacy_level_options (creator info)", Handling.REFUSED,
         "T1 privacy_level_options, T2 privacy_level_option_mismatch"),
    Rule("comments, duet, stitch", "not switched on where the account has them off (creator info)",
         Handling.REFUSED, "T1 comment_disabled"),
    Rule("direct posts per day", f"[accounts].daily_posts, default {DAILY_POSTS}, per rolling 24 h",
         Handling.PACED, "T7 daily post cap, T2 spam_risk_too_many_posts"),
    Rule("drafts per day", f"[accounts].daily_drafts, default {DAILY_DRAFTS}, pending per rolling 24 h",
         Handling.PACED, "T4 spam_risk_too_many_pending_share"),
)


def rules_markdown() -> str:
    """RULES as the Markdown table docs/reference/platforms.md carries."""
    lines = ["| rule | limit | pqdrop | source |", "|---|---|---|---|"]
    for rule in RULES:
        name, _, section = rule.source.partition(" ")
        lines.append(f"| {rule.key} | {rule.limit} | {rule.handling} | [{name}]({rule.url}) {section} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class CreatorInfo:
    """What TikTok's creator info says about one account (T1); PostQued v2 relays it per integration."""

    privacy_level_options: tuple[str, ...]
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    max_video_post_duration_sec: int | None = None


def parse_creator_info(raw: Mapping[str, Any]) -> CreatorInfo:
    """Read creator info in TikTok's snake_case or an aggregator's camelCase, under `data` or not."""
    inner = raw.get("data")
    data: Mapping[str, Any] = inner if isinstance(inner, Mapping) else raw

    def pick(snake: str) -> Any:
        head, *rest = snake.split("_")
        camel = head + "".join(word.capitalize() for word in rest)
        return data.get(snake, data.get(camel))

    options = pick("privacy_level_options") or ()
    duration = pick("max_video_post_duration_sec")
    return CreatorInfo(
        privacy_level_options=tuple(str(option) for option in options),
        comment_disabled=bool(pick("comment_disabled")),
        duet_disabled=bool(pick("duet_disabled")),
        stitch_disabled=bool(pick("stitch_disabled")),
        max_video_post_duration_sec=int(duration) if isinstance(duration, int | float) and duration > 0 else None,
    )


class Reaction(StrEnum):
    """What pqdrop does when TikTok answers with an error code or a post's fail reason."""

    RETRY = "retry later"
    FAIL = "fail the item"
    PAUSE = "pause posting"


@dataclass(frozen=True)
class Answer:
    """One TikTok error code or fail reason: what pqdrop does, and the words it tells the user."""

    reaction: Reaction
    meaning: str


# TikTok's init error codes (T2, T3, T4; T9) and post fail reasons (T6), by what pqdrop does next.
ANSWERS: dict[str, Answer] = {
    "invalid_param": Answer(Reaction.FAIL, "TikTok refused a field of the post"),
    "app_version_check_failed": Answer(Reaction.FAIL, "drafts need TikTok app 31.8 or newer on the creator's phone"),
    "spam_risk_too_many_posts": Answer(Reaction.RETRY, "the account reached TikTok's daily post cap; "
                                       "it goes out when the 24 h window allows"),
    "spam_risk_too_many_pending_share": Answer(Reaction.RETRY, "the account has 5 drafts pending in its TikTok "
                                               "inbox; it goes out when the 24 h window allows"),
    "reached_active_user_cap": Answer(Reaction.RETRY, "PostQued's TikTok client reached its daily creator quota"),
    "rate_limit_exceeded": Answer(Reaction.RETRY, "TikTok's rate limit"),
    "internal_error": Answer(Reaction.RETRY, "TikTok had an internal error"),
    "internal": Answer(Reaction.RETRY, "a part of TikTok was unavailable"),
    "video_pull_failed": Answer(Reaction.RETRY, "TikTok could not download the video"),
    "photo_pull_failed": Answer(Reaction.RETRY, "TikTok could not download a photo"),
    "spam_risk_user_banned_from_posting": Answer(Reaction.FAIL, "TikTok has banned the account from posting"),
    "unaudited_client_can_only_post_to_private_accounts": Answer(
        Reaction.FAIL, "PostQued's TikTok client is unaudited and may only post to private accounts"),
    "url_ownership_unverified": Answer(Reaction.FAIL, "PostQued's media domain is not verified with TikTok"),
    "privacy_level_option_mismatch": Answer(Reaction.FAIL, "the privacyLevel is not one this account offers"),
    "file_format_check_failed": Answer(Reaction.FAIL, "TikTok does not take this file format"),
    "duration_check_failed": Answer(Reaction.FAIL, "the video is longer or shorter than TikTok allows"),
    "frame_rate_check_failed": Answer(Reaction.FAIL, "the frame rate is outside TikTok's 23-60 fps"),
    "picture_size_check_failed": Answer(Reaction.FAIL, "a picture is larger or smaller than TikTok allows"),
    "publish_cancelled": Answer(Reaction.FAIL, "the post was cancelled"),
    "spam_risk_text": Answer(Reaction.FAIL, "TikTok judged the caption spam; change the caption"),
    "spam_risk": Answer(Reaction.FAIL, "TikTok judged the post a spam risk"),
    "access_token_invalid": Answer(Reaction.PAUSE, "the account's TikTok connection expired; reconnect it in "
                                   "PostQued"),
    "scope_not_authorized": Answer(Reaction.PAUSE, "the account's TikTok connection lacks the posting permission; "
                                   "reconnect it in PostQued"),
    "auth_removed": Answer(Reaction.PAUSE, "the creator removed PostQued's access to the TikTok account; "
                           "reconnect it in PostQued"),
}


def answer_to(code: str) -> Answer:
    """What a TikTok code means for the item; an unknown one fails it, naming the code."""
    known = ANSWERS.get(code.strip().lower())
    if known is not None:
        return known
    return Answer(Reaction.FAIL, f"TikTok answered {code!r}, a code pqdrop does not know")


_TIKTOK_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def is_tiktok_code(code: str) -> bool:
    """TikTok's codes are snake_case (`spam_risk_too_many_posts`); PostQued's own are UPPER_CASE."""
    return code in ANSWERS or _TIKTOK_CODE.fullmatch(code) is not None


def tiktok_error(status: int, code: str, message: str) -> ApiError:
    """The error of pqdrop's tree for a reply carrying one of TikTok's init codes (T2, T3, T4)."""
    answer = answer_to(code)
    text = f"{message}; TikTok: {answer.meaning}"
    if answer.reaction is Reaction.PAUSE:
        return ApiAccountBlocked(text, status=status, code=code)
    if answer.reaction is Reaction.RETRY:
        return PlatformBusy(text, status=status, code=code)
    return ApiRejected(text, status=status, code=code)


# The option table PostQued's v2 checks a TikTok target against (reference A8).
_KINDS = {bool: BOOL, int: INT, str: TEXT}


def _option(key: str, kind: type) -> Option:
    choices = OPTION_CHOICES.get(key)
    return choice(*choices) if choices else _KINDS.get(kind, TEXT)


PLATFORM = Platform(
    name="tiktok",
    label="TikTok",
    options={key: _option(key, kind) for key, kind in OPTION_TYPES.items()},
    problem=option_problem,
)
