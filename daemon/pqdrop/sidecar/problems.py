"""A sidecar's problems, gathered so the user fixes them all in one round, not one per sync (issue 22)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pqdrop.errors import SidecarError

_T = TypeVar("_T")


class Problems:
    """Every problem of one sidecar, each named once, raised together by `check`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.errors: list[SidecarError] = []

    def add(self, error: SidecarError) -> None:
        # A shared key is named once, not per target; a text YAML misread is named for what YAML did, not again
        # for the value it left (`title: ~` is not also "null is not text").
        misread = {self._key(seen) for seen in self.errors if seen.code == "SIDECAR_TEXT"}
        if self._key(error) in misread or any(error.message == seen.message for seen in self.errors):
            return
        self.errors.append(error)

    def _key(self, error: SidecarError) -> str:
        """The key a problem names: its message reads "NAME: KEY: problem"; the name may hold ": " itself."""
        return error.message.removeprefix(f"{self.name}: ").split(": ")[0]

    def attempt(self, read: Callable[[], _T], fallback: _T) -> _T:
        """What `read` gives, or `fallback` with its problem noted."""
        try:
            return read()
        except SidecarError as exc:
            self.add(exc)
            return fallback

    def check(self) -> None:
        if self.errors:
            raise SidecarError.of(self.name, self.errors)


def fail(name: str, key: str, problem: str, code: str = "SIDECAR_VALUE") -> SidecarError:
    """The error for one key, worded as the contract promises: file, key, what would be right."""
    return SidecarError(f"{name}: {key}: {problem}", code=code)
