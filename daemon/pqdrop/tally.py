"""Counts of what the process did since it started (requests, uploads, notifications), for `/metrics`.

Plain numbers under a lock, no I/O and no dependency: the layers that do things add to `TALLY`, and
`pqdrop.web` reads a snapshot when scraped. One process has one tally, as a Prometheus client has one
registry; counting decides nothing, so it is the one module-level state the house allows.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

Labels = tuple[tuple[str, str], ...]


class Tally:
    """Monotonic counters by name and labels; safe to add to from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Labels], float] = {}

    def add(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Count `amount` more of `name` (e.g. `add("api_requests", category="read", outcome="ok")`)."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0.0) + amount

    def snapshot(self) -> Mapping[tuple[str, Labels], float]:
        """Every count so far, as a copy."""
        with self._lock:
            return dict(self._counts)

    def value(self, name: str, **labels: str) -> float:
        """One count (0 when it never happened)."""
        with self._lock:
            return self._counts.get((name, tuple(sorted(labels.items()))), 0.0)


TALLY = Tally()
