"""What the inbox remembers between two scans: since when each file has held still, and which media files are whole.

Both are asked of every scan, so both remember what they found and look again only at a file that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pqdrop.media.containers import container_shortfall


@dataclass(frozen=True)
class Entry:
    """One directory entry as the scan saw it; `rel` is relative to the inbox."""

    rel: PurePosixPath
    size: int
    mtime: float
    is_dir: bool = False
    is_symlink: bool = False
    is_file: bool = True  # a regular file (or a directory or link, told by the flags above); False for a FIFO, a socket
    temporary: bool = False  # a sync tool's or browser's file still being written (synctools.TEMPORARIES)
    ctime: float = 0.0  # the inode's last change: when the file came into this folder (a sync tool keeps mtime)
    unreadable: str | None = None  # a folder that cannot be listed, and why (issue 21: said, never taken as empty)


class Settling:
    """Remembers each file's size and mtime and since when they have held still.

    A file written in place is complete once it has held still for settle_seconds by our own
    clock (a NAS's clock may be off, so its mtime alone proves nothing); a file renamed into
    the inbox was complete before the rename, so it counts as still from the start.
    """

    def __init__(self) -> None:
        self._seen: dict[PurePosixPath, tuple[int, float, float]] = {}

    def update(self, entries: Sequence[Entry], now: float, renamed: Iterable[PurePosixPath] = ()) -> dict[
        PurePosixPath, float
    ]:
        """Record this scan; returns, per path, the moment since which it has not changed."""
        renamed = set(renamed)
        seen: dict[PurePosixPath, tuple[int, float, float]] = {}
        for entry in entries:
            previous = self._seen.get(entry.rel)
            if entry.rel in renamed:
                since = float("-inf")
            elif previous is not None and previous[:2] == (entry.size, entry.mtime):
                since = previous[2]
            else:
                since = now
            seen[entry.rel] = (entry.size, entry.mtime, since)
        self._seen = seen
        return {rel: values[2] for rel, values in seen.items()}


class Truncation:
    """Which media files are cut short: their structure says the end of the file has not arrived.

    A copy that stalled longer than settle_seconds holds still like a finished one; only the file's
    own structure tells (`containers.container_shortfall`: box sizes, a missing `moov`, a JPEG's end
    marker, a PNG's IEND; issue 12). Each file is read again only when it changed.
    """

    def __init__(self) -> None:
        self._known: dict[PurePosixPath, tuple[int, float, str | None]] = {}

    def check(self, root: Path, media: Iterable[tuple[PurePosixPath, int, float]]) -> dict[PurePosixPath, str]:
        """The cut ones among `media` (path under `root`, size, mtime), with what tells that their end is missing."""
        known: dict[PurePosixPath, tuple[int, float, str | None]] = {}
        for rel, size, mtime in media:
            previous = self._known.get(rel)
            if previous is not None and previous[:2] == (size, mtime):
                known[rel] = previous
                continue
            known[rel] = (size, mtime, container_shortfall(root / rel))
        self._known = known
        return {rel: shortfall for rel, (_, _, shortfall) in known.items() if shortfall is not None}
