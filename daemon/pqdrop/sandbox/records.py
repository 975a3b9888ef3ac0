"""What the sandbox remembers: accounts, contents, publishes and idempotency records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pqdrop.sandbox.progress import Timeline

ContentStatus = Literal["awaiting_upload", "uploaded", "ready", "deleted"]
KeyStatus = Literal["ok", "revoked", "subscription_required", "payment_required"]
KEY_STATUSES: tuple[KeyStatus, ...] = ("ok", "revoked", "subscription_required", "payment_required")

# A fixed namespace keeps account ids the same on every start, like a real user's accounts.
_ACCOUNT_NAMESPACE = uuid.UUID("6f1c1f9e-5a52-4c0e-9d0c-2f7f3e0c9a11")


@dataclass(frozen=True)
class Account:
    """An account the sandbox pretends is connected; `rejection` makes every post to it fail.

    `private` and `max_video_seconds` are what TikTok's creator info says of a TikTok account.
    """

    username: str
    display_name: str
    rejection: str | None = None
    platform: str = "tiktok"
    private: bool = False
    max_video_seconds: int = 600

    @property
    def id(self) -> str:
        """A stable id derived from the username (and the platform, beside TikTok)."""
        name = self.username if self.platform == "tiktok" else f"{self.platform}:{self.username}"
        return "acc_" + uuid.uuid5(_ACCOUNT_NAMESPACE, name).hex[:16]


ACCOUNTS: tuple[Account, ...] = (
    Account("@mybrand", "My Brand"),
    Account("@otherbrand", "Other Brand", private=True, max_video_seconds=180),
    Account("@failing", "Always Failing", rejection="TikTok rejected the video: spam risk"),
    # The same brand on every other platform PostQued reaches (v2), so one clip can go everywhere.
    *(Account("@mybrand", "My Brand", platform=platform) for platform in (
        "instagram", "facebook", "threads", "linkedin", "youtube", "twitter", "pinterest", "reddit", "mastodon",
        "bluesky")),
    Account("@otherbrand", "Other Brand", platform="instagram"),
)


@dataclass
class Content:
    """One uploaded video or image, from upload session to ready."""

    content_id: str
    owner: str
    kind: Literal["video", "image"]
    key: str
    filename: str
    content_type: str
    declared_size: int
    created_at: float
    status: ContentStatus = "awaiting_upload"
    received_size: int | None = None
    sha256: str | None = None
    head: bytes = b""  # the first bytes received: the file signature a v2 image complete is checked by
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None


@dataclass
class Target:
    """One account a publish goes to, with its own clock of progress."""

    target_id: str
    account: Account
    intent: str
    caption: str
    options: dict[str, Any]
    timeline: Timeline
    fail_reason: str | None = None  # TikTok's reason when it fails the post after accepting it (T6)

    @property
    def platform(self) -> str:
        """The platform of the target's account."""
        return self.account.platform


@dataclass
class Publish:
    """An accepted publish request and the Idempotency-Key it came with."""

    publish_id: str
    owner: str
    idempotency_key: str
    body: dict[str, Any]
    content_ids: tuple[str, ...]
    targets: list[Target]
    created_at: float
    canceled_at: float | None = None


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first reply to an Idempotency-Key, replayed to any retry with the same body."""

    fingerprint: str
    status: int
    reply: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
