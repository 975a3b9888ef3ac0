"""Client-side rate limits: one sliding window per PostQued request category, and retry backoff.

PostQued allows 20 uploads, 30 reads, 10 publishes and 20 deletes a minute (API docs,
"Rate Limits"); pacing requests here means the server never has to answer 429. The limits are
per API key, so every pqdrop process on a machine that uses one key (one inbox per client, issue
17) keeps its windows in one shared file, locked with fcntl while a slot is taken: one budget,
no coordinating daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from pqdrop.errors import Interrupted

if TYPE_CHECKING:
    from pqdrop.config import RateLimits

Category = Literal["upload", "read", "publish", "delete"]
CATEGORIES: tuple[Category, ...] = ("upload", "read", "publish", "delete")


# PostQued counts a request when it arrives, a little after we stamp it here; a slot is
# reused only this much after the window ends, so jitter in that delay never makes a 429.
ARRIVAL_MARGIN_SECONDS = 1.0
MAX_PAUSE_SECONDS = 3600.0  # a budget file claiming a longer pause is not from this boot


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

    def restamp(self, stamp: float, now: float) -> None:
        """The request taken at `stamp` has its reply by `now`: the server counted it no later, so count it from then.

        A slot gone meanwhile (a 429's pause respread the window) is left as the pause made it.
        """
        if stamp in self.sent:
            self.sent.remove(stamp)
            self.sent = deque(sorted((*self.sent, now)))

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
    """The windows of all categories, shared by every thread that talks to the API.

    With a `budget` file they are shared by every process that names the same file too; its
    stamps are CLOCK_MONOTONIC readings, which all processes of one boot share.
    """

    def __init__(
        self,
        limits: Mapping[Category, int],
        window_seconds: float = 60.0,
        *,
        budget: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._windows = {name: RequestWindow(limit, window_seconds) for name, limit in limits.items()}
        self._budget = budget
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    @classmethod
    def of(cls, limits: RateLimits, *, budget: Path | None = None) -> RateLimiter:
        """The windows `[postqued.rate_limits]` sets (PostQued's own limits by default)."""
        counts: dict[Category, int] = {
            "upload": limits.upload, "read": limits.read, "publish": limits.publish, "delete": limits.delete,
        }
        return cls(counts, limits.window_seconds, budget=budget)

    def acquire(self, category: Category) -> float:
        """Block until a request of `category` may go out; returns the seconds waited."""
        return self._take(category)[0]

    @contextlib.contextmanager
    def slot(self, category: Category) -> Iterator[None]:
        """One request of `category`, sent inside the block: a slot taken before it, restamped after the reply.

        The server counts a request when it arrives, somewhere between our send and its reply; a stamp
        from before the send alone would let the next window open early by however long the request
        took to arrive, and a slow moment (a loaded machine, a long route) would meet a 429.
        """
        stamp = self._take(category)[1]
        try:
            yield
        finally:
            with self._held() as windows:
                windows[category].restamp(stamp, self._clock())

    def _take(self, category: Category) -> tuple[float, float]:
        """(seconds waited, the slot's stamp) once a request of `category` may go out."""
        waited = 0.0
        while True:
            with self._held() as windows:
                now = self._clock()
                delay = windows[category].wait_time(now)
            if delay <= 0.0:
                return waited, now
            self._sleep(delay)
            waited += delay

    def back_off(self, category: Category, seconds: float) -> None:
        """The server said 429: hold the whole category for `seconds`."""
        with self._held() as windows:
            windows[category].pause(self._clock(), seconds)

    @contextlib.contextmanager
    def _held(self) -> Iterator[dict[Category, RequestWindow]]:
        """The windows, read from the budget file under its lock and written back after the change."""
        with self._lock:
            if self._budget is None:
                yield self._windows
                return
            with _locked(self._budget) as handle:
                _load(self._windows, handle.read(), self._clock())
                yield self._windows
                handle.seek(0)
                handle.truncate()
                handle.write(_dump(self._windows))


def budget_path(api_key: str, base_url: str, environ: Mapping[str, str] | None = None) -> Path:
    """The shared budget file for one key at one API: named by a hash, never by the key itself.

    The folder is one every instance can write: systemd's $RUNTIME_DIRECTORY (RuntimeDirectory=
    in the units), else $XDG_RUNTIME_DIR/pqdrop, else a private folder in the system's temp dir.
    """
    env = os.environ if environ is None else environ
    digest = hashlib.sha256(f"pqdrop rate budget\n{base_url}\n{api_key}".encode()).hexdigest()[:32]
    if env.get("RUNTIME_DIRECTORY"):
        folder = Path(env["RUNTIME_DIRECTORY"].split(":")[0])
    elif env.get("XDG_RUNTIME_DIR"):
        folder = Path(env["XDG_RUNTIME_DIR"]) / "pqdrop"
    else:
        folder = Path(tempfile.gettempdir()) / f"pqdrop-{os.getuid()}"
    return folder / f"budget-{digest}.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[BinaryIO]:
    """The budget file opened and exclusively locked; created (owner-only) on first use."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with os.fdopen(descriptor, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield handle


def _dump(windows: Mapping[Category, RequestWindow]) -> bytes:
    state = {name: {"sent": list(window.sent), "paused_until": window.paused_until} for name, window in windows.items()}
    return json.dumps(state).encode()


def _load(windows: Mapping[Category, RequestWindow], raw: bytes, now: float) -> None:
    """Take the stamps other processes left; a torn, foreign or previous-boot file counts as empty."""
    try:
        state = json.loads(raw or b"{}")
    except ValueError:
        state = {}
    for name, window in windows.items():
        entry = state.get(name) if isinstance(state, dict) else None
        sent = entry.get("sent") if isinstance(entry, dict) else None
        paused = entry.get("paused_until") if isinstance(entry, dict) else None
        stamps = [float(stamp) for stamp in sent if isinstance(stamp, int | float)] if isinstance(sent, list) else []
        until = float(paused) if isinstance(paused, int | float) else 0.0
        # A pause spreads its stamps up to its end, never beyond; later ones (or a pause past any
        # Retry-After) come from before a reboot, when the monotonic clock restarted.
        fresh = until <= now + MAX_PAUSE_SECONDS and all(stamp <= max(now, until) for stamp in stamps)
        window.sent = deque(sorted(stamps) if fresh else ())
        window.paused_until = until if fresh else 0.0


def pause(seconds: float, sleep: Callable[[float], None], stop: threading.Event | None) -> None:
    """Wait `seconds` before a retry: with `sleep`, or on `stop`, whose setting ends the wait at once (Interrupted)."""
    if stop is None:
        sleep(seconds)
    elif stop.wait(seconds) or stop.is_set():
        raise Interrupted


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter" (AWS Architecture Blog): half fixed, half random."""
    ceiling = min(cap, base * 2.0**attempt)
    return ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2)
