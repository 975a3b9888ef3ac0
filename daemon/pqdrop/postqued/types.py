"""The values the PostQued client hands back, whichever dialect it speaks; no I/O library here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

TERMINAL_TARGET_STATES = frozenset({"sent", "published", "failed", "canceled"})
TERMINAL_REQUEST_STATES = frozenset({"completed", "partial_failed", "failed", "canceled"})

Progress = Callable[[int, int], None]


class Api(StrEnum):
    """The dialects of the PostQued API, and `auto` to ask the server which one it speaks."""

    AUTO = "auto"
    V1 = "v1"
    V2 = "v2"


@dataclass(frozen=True)
class UploadTicket:
    """What the start-upload call hands back: where and how to PUT the bytes."""

    content_id: str
    key: str
    url: str
    method: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Account:
    """A platform account the key may post to."""

    id: str
    username: str
    platform: str
    display_name: str = ""
    status: str = ""


@dataclass(frozen=True)
class Workspace:
    """A workspace an organization-bound v2 key reaches."""

    id: str
    name: str
    organization: str = ""


@dataclass(frozen=True)
class TargetState:
    """One target of a publish request as the API last reported it; `extra` keeps fields pqdrop does not know."""

    id: str
    account_id: str
    status: str
    dispatch_at: str | None = None
    reason: str | None = None
    post_id: str | None = None
    url: str | None = None
    platform: str | None = None
    error_code: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_TARGET_STATES


@dataclass(frozen=True)
class PublishState:
    """A publish request and its targets."""

    publish_id: str
    status: str
    targets: tuple[TargetState, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def settled(self) -> bool:
        """True when no target can change any more."""
        return all(target.terminal for target in self.targets) or self.status in TERMINAL_REQUEST_STATES


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently passing failures are retried within one call."""

    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0


DEFAULT_RETRY = RetryPolicy()
