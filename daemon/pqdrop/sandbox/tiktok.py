"""TikTok behind the sandbox's PostQued, played strictly: its rules, each account's settings, its daily caps.

Where TikTok refuses at init (T2, T3, T4: caption length, privacy, branded content, the cover
index, the caps), the publish is refused with TikTok's HTTP status and code. Where TikTok fails a
post later (T6: picture size, duration, format), the target ends `failed` with TikTok's fail reason
as its error code. The rules are pqdrop's own table (pqdrop.tiktok), so the sandbox and the
client agree by construction, and a rule pqdrop forgets to check fails a test.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pqdrop.platforms.tiktok import (
    DAILY_DRAFTS,
    DAILY_POSTS,
    PHOTO_DESCRIPTION_MAX_UNITS,
    PHOTO_LIMITS,
    VIDEO_CAPTION_MAX_UNITS,
    VIDEO_LIMITS,
    utf16_units,
)
from pqdrop.sandbox.refusal import Refusal

DAY_SECONDS = 24 * 3600
PUBLIC_OPTIONS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY")
PRIVATE_OPTIONS = ("FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY")
PHOTO_TYPES = ("image/jpeg", "image/webp")

# The HTTP status TikTok gives each init error code (T2, T3, T4, T9).
INIT_STATUS: dict[str, int] = {
    "invalid_param": 400,
    "app_version_check_failed": 400,
    "spam_risk_too_many_posts": 403,
    "spam_risk_user_banned_from_posting": 403,
    "spam_risk_too_many_pending_share": 403,
    "reached_active_user_cap": 403,
    "unaudited_client_can_only_post_to_private_accounts": 403,
    "url_ownership_unverified": 403,
    "privacy_level_option_mismatch": 403,
    "access_token_invalid": 401,
    "scope_not_authorized": 401,
    "rate_limit_exceeded": 429,
    "internal_error": 500,
}


@dataclass(frozen=True)
class Profile:
    """One TikTok account's own settings, as its creator info reports them (T1)."""

    private: bool = False
    max_video_post_duration_sec: int = 600
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    daily_posts: int = DAILY_POSTS
    daily_drafts: int = DAILY_DRAFTS

    @property
    def privacy_level_options(self) -> tuple[str, ...]:
        return PRIVATE_OPTIONS if self.private else PUBLIC_OPTIONS

    def creator_info(self) -> dict[str, Any]:
        """The account's creator info, in TikTok's snake_case."""
        return {
            "privacy_level_options": list(self.privacy_level_options),
            "comment_disabled": self.comment_disabled,
            # T1: duet and stitch read as disabled on a private account.
            "duet_disabled": self.duet_disabled or self.private,
            "stitch_disabled": self.stitch_disabled or self.private,
            "max_video_post_duration_sec": self.max_video_post_duration_sec,
        }


@dataclass(frozen=True)
class Media:
    """What TikTok learns of one content of a post."""

    kind: str  # "video" or "image"
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class Post:
    """One target as TikTok gets it."""

    account: str
    intent: str
    caption: str
    options: Mapping[str, Any]
    at: float  # when TikTok gets it: the dispatch time, or now


@dataclass
class TikTok:
    """TikTok's memory and switches: account profiles, the posts per account, and errors to play next."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    _posts: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    _next_init_errors: list[str] = field(default_factory=list)
    _next_fail_reasons: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self) -> dict[tuple[str, str], list[float]]:
        """When each account's posts and drafts were made (account, intent): the daily caps' memory."""
        with self._lock:
            return {key: list(times) for key, times in self._posts.items()}

    def restore_posts(self, posts: dict[tuple[str, str], list[float]]) -> None:
        """Take back what `posts` gave, so a restart keeps counting toward the caps."""
        with self._lock:
            self._posts = {key: list(times) for key, times in posts.items()}

    def profile(self, account: str) -> Profile:
        return self.profiles.get(account, Profile())

    def set_profile(self, account: str, profile: Profile) -> None:
        """Give an account (by username) its own settings: private, a shorter maximum, comments off, caps."""
        with self._lock:
            self.profiles[account] = profile

    def refuse_next_publish(self, code: str) -> None:
        """Refuse the next publish as TikTok's init would, with `code` and its HTTP status."""
        with self._lock:
            self._next_init_errors.append(code)

    def fail_next_post(self, reason: str) -> None:
        """Let the next publish be accepted and its targets fail later with TikTok's `reason`."""
        with self._lock:
            self._next_fail_reasons.append(reason)

    def accept(self, posts: Sequence[Post], media: Sequence[Media]) -> list[str | None]:
        """Check a publish as TikTok's init would, count its posts, and return each target's later fail reason.

        Raises the Refusal TikTok's init gives; nothing is counted then.
        """
        with self._lock:
            if self._next_init_errors:
                code = self._next_init_errors.pop(0)
                status = INIT_STATUS.get(code, 400)
                wait = {"Retry-After": "1"} if status == 429 else None
                raise Refusal(status, code, f"TikTok refused the post: {code}", wait)
            for index, post in enumerate(posts):
                problem = init_problem(post, media, self.profile(post.account), self._count(post))
                if problem is not None:
                    code, message = problem
                    raise Refusal(INIT_STATUS[code], code, f"targets[{index}].{message}")
            for post in posts:
                self._posts.setdefault((post.account, post.intent), []).append(post.at)
            planted = self._next_fail_reasons.pop(0) if self._next_fail_reasons else None
            return [planted or fail_reason(media, self.profile(post.account)) for post in posts]

    def _count(self, post: Post) -> int:
        """The account's posts of this intent in the 24 h up to this one."""
        return sum(post.at - DAY_SECONDS < at <= post.at for at in self._posts.get((post.account, post.intent), ()))


def init_problem(post: Post, media: Sequence[Media], profile: Profile, earlier: int) -> tuple[str, str] | None:
    """The code and message TikTok's init refuses this post with, or None."""
    photos = [item for item in media if item.kind == "image"]
    options = post.options
    units = utf16_units(post.caption)
    limit = PHOTO_DESCRIPTION_MAX_UNITS if photos else VIDEO_CAPTION_MAX_UNITS
    if units > limit:
        return "invalid_param", f"caption is {units} UTF-16 units; TikTok allows {limit}"
    privacy = options.get("privacyLevel")
    if privacy is not None and privacy not in profile.privacy_level_options:
        return "privacy_level_option_mismatch", f"options.privacyLevel {privacy} is not one of this account's options"
    if options.get("brandContentToggle") is True and privacy == "SELF_ONLY":
        return "invalid_param", "options.brandContentToggle: branded content cannot be private (SELF_ONLY)"
    cover = options.get("photoCoverIndex")
    if photos and isinstance(cover, int) and not 0 <= cover < len(photos):
        return "invalid_param", f"options.photoCoverIndex {cover} is outside the {len(photos)} photos"
    if profile.comment_disabled and options.get("disableComment") is False:
        return "invalid_param", "options.disableComment: comments are off for this account"
    if not photos and (profile.duet_disabled or profile.private) and options.get("disableDuet") is False:
        return "invalid_param", "options.disableDuet: duets are off for this account"
    if not photos and (profile.stitch_disabled or profile.private) and options.get("disableStitch") is False:
        return "invalid_param", "options.disableStitch: stitches are off for this account"
    if post.intent == "draft" and earlier >= profile.daily_drafts:
        return "spam_risk_too_many_pending_share", f"intent: {earlier} drafts pending in the last 24 h"
    if post.intent == "publish" and earlier >= profile.daily_posts:
        return "spam_risk_too_many_posts", f"intent: {earlier} posts in the last 24 h"
    return None


def fail_reason(media: Sequence[Media], profile: Profile) -> str | None:
    """The reason TikTok fails the post once it has the media (T6), or None when it goes through."""
    for item in media:
        if item.kind == "image":
            if item.content_type not in PHOTO_TYPES:
                return "file_format_check_failed"
            short, long = sorted((item.width or 0, item.height or 0))
            if short > PHOTO_LIMITS.max_short_side_px or long > PHOTO_LIMITS.max_long_side_px:
                return "picture_size_check_failed"
            if item.size > PHOTO_LIMITS.max_bytes:
                return "picture_size_check_failed"
            continue
        sides = [side for side in (item.width, item.height) if side is not None]
        if any(not VIDEO_LIMITS.min_side_px <= side <= VIDEO_LIMITS.max_side_px for side in sides):
            return "picture_size_check_failed"
        limit = min(profile.max_video_post_duration_sec, VIDEO_LIMITS.max_duration_seconds)
        if item.duration_ms is not None and item.duration_ms > limit * 1000:
            return "duration_check_failed"
    return None
