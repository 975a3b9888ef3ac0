"""A sidecar's problems, gathered so the user fixes them all in one round, not one per sync (issue 22)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from pqdrop.errors import SidecarError

_T = TypeVar("_T")


class Problems:
    """Every problem of one sidecar, each named once, raised together by `check`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.errors: list[SidecarError] = []
        self.key_lines: dict[str, int] = {}  # where each key stands in the file, to tell problems in its order

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
        """Raise every problem noted, in the order of the file's lines (a key left out: where its parent stands)."""
        if self.errors:
            raise SidecarError.of(self.name, sorted(self.errors, key=lambda error: self._line(self._key(error))))

    def _line(self, key: str) -> tuple[int, int]:
        """The line a key stands on; a key left out sorts after the last line of its parent."""
        if key in self.key_lines:
            return self.key_lines[key], 0
        while key:
            parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", key)  # targets[2].options.boardId -> targets[2].options
            if parent == key:  # "[defaults]": no parent in the file
                break
            key = parent
            inside = [line for name, line in self.key_lines.items() if name == key or name.startswith((f"{key}.",
                                                                                                       f"{key}["))]
            if inside:
                return max(inside), 1
        return 1 << 30, 0  # [defaults].account and the like: after what the file holds


def fail(name: str, key: str, problem: str, code: str = "SIDECAR_VALUE") -> SidecarError:
    """The error for one key, worded as the contract promises: file, key, what would be right."""
    return SidecarError(f"{name}: {key}: {problem}", code=code)
