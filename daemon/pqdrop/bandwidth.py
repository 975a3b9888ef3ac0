"""The upload bandwidth cap: one token bucket that every upload of the process draws from.

A GCRA-style bucket (the "virtual scheduling" form of RFC 2697's token bucket): each piece of
an upload reserves its slot on one shared timeline, so concurrent uploads split the rate
between them and the total never runs ahead of it. Pieces last 1/20 s at the capped rate and
no idle time is banked, so the link never sees a multi-second burst (issue 16).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable

SLICE_SECONDS = 0.05  # one piece's worth of time at the capped rate
MIN_PIECE_BYTES = 16 * 1024  # below this the per-call cost outweighs the smoothness
UNITS = {
    "B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
    "bit": 1 / 8, "kbit": 1000 / 8, "Kbit": 1000 / 8, "Mbit": 1000**2 / 8, "Gbit": 1000**3 / 8,
}  # fmt: skip
RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)/s\s*")


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


def parse_rate(value: str | float | int) -> float:
    """Bytes per second from "40 Mbit/s", "5 MB/s", "512 KiB/s" or a plain number; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a rate is a number or a string such as \"40 Mbit/s\", not true/false")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a rate; write a finite number of bytes per second, a string such as "
                             "\"40 Mbit/s\", or 0 for no cap")
    elif not isinstance(value, str):
        raise ValueError(f"{value!r} is not a rate; write a string such as \"40 Mbit/s\" or \"5 MB/s\", "
                         "or bytes per second as a number (0 = no cap)")
    else:
        found = RATE.fullmatch(value)
        if found is None or found.group(2) not in UNITS:
            if value.strip().replace(".", "", 1).isdigit():
                return float(value)
            units = ", ".join(UNITS)
            raise ValueError(f"{value!r} is not a rate; write \"40 Mbit/s\", \"5 MB/s\", \"512 KiB/s\" "
                             f"(units {units}, case matters: B is bytes, bit is bits) or bytes per second as a number")
        number = float(found.group(1)) * UNITS[found.group(2)]
    if number < 0:
        raise ValueError(f"{value!r}: a rate cannot be negative; 0 means no cap")
    return number
