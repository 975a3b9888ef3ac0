"""A sidecar's bytes, read once from a descriptor that never followed a link, and bounded (issue 21).

Everything about a sidecar — its settings, its caption, the digest an edit is judged by — comes from
one read of one descriptor, so a file swapped for a link to the API key between two looks is never
read, and a sparse 6 GB file is refused by its size before a byte of it is.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pqdrop.descriptors import Refused, open_below, read_file, read_limited
from pqdrop.errors import SidecarError

# Far above any real sidecar (a caption is at most a few thousand characters), far below harm.
SIDECAR_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SidecarSource:
    """What one read of a sidecar found: its bytes, and their digest."""

    path: Path
    raw: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def text(self) -> str:
        """The UTF-8 text (a BOM is fine); SidecarError naming the byte otherwise."""
        try:
            return self.raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SidecarError(
                f"{self.path.name}: not UTF-8 text (byte {self.raw[exc.start]:#04x} at offset {exc.start}); "
                "save it as UTF-8",
                code="SIDECAR_ENCODING",
            ) from exc


def read_sidecar(path: Path, root: Path | None = None) -> SidecarSource:
    """The sidecar's bytes, never through a link, at most SIDECAR_MAX_BYTES; SidecarError naming the file otherwise.

    With `root` (the item's folder), no part of the path below it is a link either.
    """
    try:
        if root is None:
            return SidecarSource(path, read_file(path, SIDECAR_MAX_BYTES))
        descriptor = open_below(root, path.relative_to(root))
        try:
            return SidecarSource(path, read_limited(descriptor, SIDECAR_MAX_BYTES))
        finally:
            os.close(descriptor)
    except Refused as exc:
        code = "SIDECAR_TOO_LARGE" if "limit" in exc.reason else "SIDECAR_NOT_A_FILE"
        advice = "; a sidecar holds settings and a caption, far less than 1 MiB" if code == "SIDECAR_TOO_LARGE" else ""
        raise SidecarError(f"{path.name}: {exc.reason}{advice}", code=code) from None
    except OSError as exc:
        raise SidecarError(f"{path.name}: cannot read the sidecar: {exc.strerror}", code="SIDECAR_UNREADABLE") from exc
