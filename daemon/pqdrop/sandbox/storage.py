"""Where received bytes go: hashed and counted as they stream, kept on disk only with a storage folder."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO

HEAD_BYTES = 16  # enough for the JPEG, PNG and WebP signatures


class BodySink:
    """Takes a body chunk by chunk; `keep` files it under its storage key, `discard` drops it."""

    def __init__(self, storage_dir: Path | None) -> None:
        self.size = 0
        self.head = b""
        self._digest = hashlib.sha256()
        self._storage_dir = storage_dir
        self._partial: Path | None = None
        self._file: BinaryIO | None = None
        if storage_dir is not None:
            incoming = storage_dir / ".incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            self._partial = incoming / f"{uuid.uuid4().hex}.part"
            self._file = self._partial.open("wb")

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes so far."""
        return self._digest.hexdigest()

    def write(self, chunk: bytes) -> None:
        """Hash, count and maybe store one chunk."""
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.size += len(chunk)
        self._digest.update(chunk)
        if self._file is not None:
            self._file.write(chunk)

    def keep(self, key: str) -> None:
        """Close the file and move it to `storage_dir/key`."""
        self._close()
        if self._storage_dir is not None and self._partial is not None:
            final = self._storage_dir / key
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._partial, final)
            self._partial = None

    def discard(self) -> None:
        """Close and delete whatever was written; safe to call after `keep`."""
        self._close()
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
            self._partial = None

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def remove_stored(storage_dir: Path | None, key: str) -> None:
    """Delete the stored bytes of a deleted content, if any were kept."""
    if storage_dir is not None:
        (storage_dir / key).unlink(missing_ok=True)
