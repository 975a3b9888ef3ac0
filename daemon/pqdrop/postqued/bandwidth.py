"""The upload bandwidth cap: one token bucket that every upload of the process draws from.

A GCRA-style bucket (the "virtual scheduling" form of RFC 2697's token bucket): each piece of
an upload reserves its slot on one shared timeline, so concurrent uploads split the rate
between them and the total never runs ahead of it. Pieces last 1/20 s at the capped rate and
no idle time is banked, so the link never sees a multi-second burst (issue 16).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SLICE_SECONDS = 0.05  # one piece's worth of time at the capped rate
MIN_PIECE_BYTES = 16 * 1024  # below this the per-call cost outweighs the smoothness
class Bandwidth:
    """`take(n)` waits until up to n bytes may go and says how many; a rate of 0 is no cap."""

    def __init__(
        self,
        bytes_per_second: float = 0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = float(bytes_per_second)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = float("-inf")  # when the timeline has room for the next piece

    @property
    def rate(self) -> float:
        """Bytes per second, 0 when uncapped."""
        return self._rate

    def set_rate(self, bytes_per_second: float) -> None:
        """A new cap (from a reloaded config); pieces already reserved keep their slots."""
        with self._lock:
            self._rate = float(bytes_per_second)

    def take(self, want: int, stop: threading.Event | None = None) -> int:
        """Reserve the next slot on the shared timeline, wait for it, and return the piece's size.

        With `stop`, the wait ends as soon as it is set (at a low cap one piece is seconds long); the
        caller sees the stop and breaks the upload off.
        """
        with self._lock:
            rate = self._rate
            if rate <= 0:
                return want
            piece = min(want, max(MIN_PIECE_BYTES, int(rate * SLICE_SECONDS)))
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + piece / rate
        if start > now:
            if stop is None:
                self._sleep(start - now)
            else:
                stop.wait(start - now)
        return piece
