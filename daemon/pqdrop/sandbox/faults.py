"""Misbehaviour on request: failed replies, a lost publish reply, a slow server."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class _Failure:
    remaining: int
    status: int
    path_prefix: str
    after: int = 0  # matching requests still served before the failures start


class Faults:
    """Faults the tests switch on; the server consults them on every API request."""

    def __init__(self) -> None:
        self.delay_seconds = 0.0
        self.storage_bytes_per_second: float | None = None  # throttles presigned uploads when set
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._drops = 0

    def fail_next(self, n: int, status: int = 503, path_prefix: str = "/v", *, after: int = 0) -> None:
        """Answer `n` API requests (v1 and v2) under `path_prefix` with `status`, once `after` were served."""
        if n < 1 or not 400 <= status <= 599 or after < 0:
            raise ValueError("fail_next needs n >= 1, after >= 0 and an error status between 400 and 599")
        with self._lock:
            self._failures.append(_Failure(n, status, path_prefix, after))

    def drop_next_publish_reply(self) -> None:
        """Accept and record the next publish, then close the connection without replying."""
        with self._lock:
            self._drops += 1

    def take_failure(self, path: str) -> int | None:
        """The status to fail this request with, or None to serve it."""
        with self._lock:
            for failure in self._failures:
                if path.startswith(failure.path_prefix):
                    if failure.after:
                        failure.after -= 1
                        return None
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                    return failure.status
        return None

    def take_publish_drop(self) -> bool:
        """Whether this publish reply is to be lost."""
        with self._lock:
            if self._drops == 0:
                return False
            self._drops -= 1
            return True

    def reset(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._failures.clear()
            self._drops = 0
            self.delay_seconds = 0.0
            self.storage_bytes_per_second = None

    def apply(self, control: Mapping[str, Any]) -> None:
        """Switch faults on from a /_sandbox/faults JSON body."""
        if control.get("reset"):
            self.reset()
        if "fail_next" in control:
            status = control.get("status", 503)
            prefix = control.get("path_prefix", "/v1/")
            after = control.get("after", 0)
            numbers = (control["fail_next"], status, after)
            if not all(isinstance(number, int) for number in numbers) or not isinstance(prefix, str):
                raise ValueError("fail_next, status and after must be integers, path_prefix a string")
            self.fail_next(control["fail_next"], status, prefix, after=after)
        if control.get("drop_next_publish_reply"):
            self.drop_next_publish_reply()
        if "delay_seconds" in control:
            delay = control["delay_seconds"]
            if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
                raise ValueError("delay_seconds must be a number >= 0")
            self.delay_seconds = float(delay)
        if "storage_bytes_per_second" in control:
            rate = control["storage_bytes_per_second"]
            if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
                raise ValueError("storage_bytes_per_second must be a number > 0, or null")
            self.storage_bytes_per_second = None if rate is None else float(rate)

    def snapshot(self) -> dict[str, Any]:
        """The faults still armed, for GET /_sandbox/state."""
        with self._lock:
            failures = [vars(failure).copy() for failure in self._failures]
            return {
                "fail_next": failures,
                "drop_next_publish_reply": self._drops,
                "delay_seconds": self.delay_seconds,
                "storage_bytes_per_second": self.storage_bytes_per_second,
            }
