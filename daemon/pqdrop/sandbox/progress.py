"""How a publish moves on: target and request status as pure functions of the time.

A target waits `scheduled` until its dispatchAt, is `queued` for one step, `processing` for
another, then ends `published` (intent publish), `sent` (intent draft: in the TikTok inbox)
or `failed`. Canceling freezes every target that had not ended yet as `canceled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WAITING = ("queued", "scheduled")
SUCCEEDED = ("published", "sent")
TERMINAL = ("published", "sent", "failed", "canceled")


@dataclass(frozen=True)
class Timeline:
    """When one target starts and ends, and how it ends."""

    created_at: float
    dispatch_at: float | None
    step_seconds: float
    outcome: str
    canceled_at: float | None = None

    @property
    def starts_at(self) -> float:
        """When work begins: the dispatch time, or creation for an immediate post."""
        if self.dispatch_at is None:
            return self.created_at
        return max(self.created_at, self.dispatch_at)

    @property
    def ends_at(self) -> float:
        """When the target reaches its outcome unless canceled first."""
        return self.starts_at + 2 * self.step_seconds

    @property
    def scheduled(self) -> bool:
        """Whether the target waits for a future dispatch time."""
        return self.starts_at > self.created_at

    def canceled_before_end(self) -> bool:
        """Whether a cancel arrived while the target was still open."""
        return self.canceled_at is not None and self.canceled_at < self.ends_at

    def status_at(self, now: float) -> str:
        """The target's status at `now`."""
        if self.canceled_before_end() and self.canceled_at is not None and now >= self.canceled_at:
            return "canceled"
        if now < self.starts_at:
            return "scheduled"
        if now >= self.ends_at:
            return self.outcome
        if now >= self.starts_at + self.step_seconds:
            return "processing"
        return "queued"

    def initial_status(self) -> str:
        """The status the publish reply shows at creation, whatever the step length."""
        return "scheduled" if self.scheduled else "queued"


def request_status(target_statuses: Sequence[str]) -> str:
    """The publish request's status derived from its targets' statuses."""
    if all(status in WAITING for status in target_statuses):
        return "pending"
    if any(status not in TERMINAL for status in target_statuses):
        return "processing"
    succeeded = sum(status in SUCCEEDED for status in target_statuses)
    failed = sum(status == "failed" for status in target_statuses)
    if succeeded == 0 and failed == 0:
        return "canceled"
    if failed == 0:
        return "completed"
    return "failed" if succeeded == 0 else "partial_failed"
