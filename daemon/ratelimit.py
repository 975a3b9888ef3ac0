"""Client-side rate limits: one token bucket per PostQued request category, and retry backoff.

PostQued allows 20 uploads, 30 reads, 10 publishes and 20 deletes a minute (API docs,
"Rate Limits"); pacing requests here means the server never has to answer 429.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Category = Literal["upload", "read", "publish", "delete"]
CATEGORIES: tuple[Category, ...] = ("upload", "read", "publish", "delete")


@dataclass
class TokenBucket:
    """At most `capacity` requests per `window_seconds`, refilled continuously."""

    capacity: int
    window_seconds: float
    tokens: float = field(init=False)
    updated: float | None = field(init=False, default=None)
    paused_until: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)

    @property
    def rate(self) -> float:
        return self.capacity / self.window_seconds

    def wait_time(self, now: float) -> float:
        """Seconds until a token is free; takes it when it is free now."""
        self._refill(now)
        if now < self.paused_until:
            return self.paused_until - now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def pause(self, now: float, seconds: float) -> None:
        """After a 429: take nothing for `seconds` and start again from an empty bucket."""
        self._refill(now)
        self.paused_until = max(self.paused_until, now + seconds)
        self.tokens = 0.0
        self.updated = self.paused_until

    def _refill(self, now: float) -> None:
        if self.updated is None:
            self.updated = now
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)


class RateLimiter:
    """The buckets of all categories, shared by every thread that talks to the API."""

    def __init__(
        self,
        limits: dict[Category, int],
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._buckets = {name: TokenBucket(limit, window_seconds) for name, limit in limits.items()}
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self, category: Category) -> float:
        """Block until a request of `category` may go out; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                delay = self._buckets[category].wait_time(self._clock())
            if delay <= 0.0:
                return waited
            self._sleep(delay)
            waited += delay

    def back_off(self, category: Category, seconds: float) -> None:
        """The server said 429: hold the whole category for `seconds`."""
        with self._lock:
            self._buckets[category].pause(self._clock(), seconds)


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter" (AWS Architecture Blog): half fixed, half random."""
    ceiling = min(cap, base * (2**attempt))
    return ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2)
