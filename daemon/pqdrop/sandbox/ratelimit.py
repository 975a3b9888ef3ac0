"""Per-key, per-category request quotas over a sliding window, as PostQued's documented limits."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_RATE_LIMITS: Mapping[str, int] = {"upload": 20, "read": 30, "publish": 10, "delete": 20}


@dataclass(frozen=True)
class Verdict:
    """Whether one request fits its quota, and what the rate-limit headers should say."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait (RFC 9110 Retry-After takes integers), never less than one."""
        return max(1, math.ceil(self.reset_seconds))

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers, plus Retry-After on a refusal."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{self.reset_seconds:.3f}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class SlidingWindow:
    """Counts accepted requests per (key, category) over the last `window_seconds`; refusals cost nothing."""

    def __init__(self, limits: Mapping[str, int], window_seconds: float) -> None:
        self.limits = {**DEFAULT_RATE_LIMITS, **limits}
        self.window_seconds = window_seconds
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def take(self, key: str, category: str, now: float) -> Verdict:
        """Count one request at `now` if it fits, and say so."""
        limit = self.limits[category]
        seen = self._seen.setdefault((key, category), deque())
        while seen and seen[0] <= now - self.window_seconds:
            seen.popleft()
        if len(seen) >= limit:
            return Verdict(False, limit, 0, self._reset(seen, now))
        seen.append(now)
        return Verdict(True, limit, limit - len(seen), self._reset(seen, now))

    def _reset(self, seen: deque[float], now: float) -> float:
        """Seconds until the oldest counted request leaves the window and frees a slot."""
        return max(0.0, seen[0] + self.window_seconds - now)
