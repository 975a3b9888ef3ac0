"""Client-side rate limits: one sliding window per PostQued request category, and retry backoff.

PostQued allows 20 uploads, 30 reads, 10 publishes and 20 deletes a minute (API docs,
"Rate Limits"); pacing requests here means the server never has to answer 429.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Category = Literal["upload", "read", "publish", "delete"]
CATEGORIES: tuple[Category, ...] = ("upload", "read", "publish", "delete")


# PostQued counts a request when it arrives, a little after we stamp it here; a slot is
# reused only this much after the window ends, so jitter in that delay never makes a 429.
ARRIVAL_MARGIN_SECONDS = 1.0


@dataclass
class RequestWindow:
    """At most `capacity` requests in any `window_seconds`: the sliding window PostQued counts in.

    A token bucket refilled continuously would allow up to twice `capacity` in one window
    (a full bucket, then the refill), which the server answers with 429s.
    """

    capacity: int
    window_seconds: float
    sent: deque[float] = field(init=False, default_factory=deque)
    paused_until: float = field(init=False, default=0.0)

    @property
    def margin(self) -> float:
        """Extra wait past the window; a twentieth of it at most, so short test windows stay short."""
        return min(ARRIVAL_MARGIN_SECONDS, self.window_seconds / 20)

    def wait_time(self, now: float) -> float:
        """Seconds until a request may go out; takes the slot when it may go now."""
        if now < self.paused_until:
            return self.paused_until - now
        span = self.window_seconds + self.margin
        # One expression decides both "free" and "how long": with two, float rounding could
        # keep a slot taken yet report a wait of 0.0, which acquire() takes as "go".
        while self.sent and self.sent[0] + span <= now:
            self.sent.popleft()
        if len(self.sent) < self.capacity:
            self.sent.append(now)
            return 0.0
        return self.sent[0] + span - now

    def pause(self, now: float, seconds: float) -> None:
        """After a 429: send nothing for `seconds`, then one request per `window_seconds / capacity`.

        The server's window is full but we do not know when its requests were made, so we
        assume the worst spread: one frees at the end of the pause, the next a step later.
        """
        self.paused_until = max(self.paused_until, now + seconds)
        step = self.window_seconds / self.capacity
        first_free = self.paused_until - self.window_seconds - self.margin
        self.sent = deque(first_free + index * step for index in range(self.capacity))


class RateLimiter:
    """The windows of all categories, shared by every thread that talks to the API."""

    def __init__(
        self,
        limits: dict[Category, int],
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._windows = {name: RequestWindow(limit, window_seconds) for name, limit in limits.items()}
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self, category: Category) -> float:
        """Block until a request of `category` may go out; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                delay = self._windows[category].wait_time(self._clock())
            if delay <= 0.0:
                return waited
            self._sleep(delay)
            waited += delay

    def back_off(self, category: Category, seconds: float) -> None:
        """The server said 429: hold the whole category for `seconds`."""
        with self._lock:
            self._windows[category].pause(self._clock(), seconds)


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter" (AWS Architecture Blog): half fixed, half random."""
    ceiling = min(cap, base * 2.0**attempt)
    return ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2)
