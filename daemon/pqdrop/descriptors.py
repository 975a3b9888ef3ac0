"""Files of the inbox opened once, without following links, and read from that descriptor (issue 21).

Anyone who writes the inbox may swap a file for a symlink between two looks at it, so a path is
looked at once: each part below a trusted folder is opened with O_NOFOLLOW relative to its folder's
descriptor, the file is `fstat`-checked to be a regular file, and everything after reads the
descriptor. A later look of the same file (the upload, after a restart) compares its device and
inode with the first (OpenSSH's `safe_path()` and Maildir's rename-then-read are the models).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

# O_NONBLOCK: a FIFO planted under an item's name must not hang the open (a regular file ignores it).
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_PIECE = 64 * 1024


class Refused(Exception):
    """A file that is not one pqdrop reads: a link, not a regular file, larger than its limit, or swapped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """Which file a descriptor reads, whatever name it has now: its device and inode."""

    device: int
    inode: int

    @classmethod
    def of(cls, status: os.stat_result) -> Identity:
        return cls(status.st_dev, status.st_ino)

    def __str__(self) -> str:
        return f"{self.device}:{self.inode}"


def kind_of(mode: int) -> str:
    """What a file that is not a regular one is, as a person names it."""
    for test, name in ((stat.S_ISLNK, "a symlink"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "an unknown kind of file"


def open_below(root: Path, relative: PurePath | str) -> int:
    """A descriptor of `root/relative`, a regular file: `root` as given, every part below it never a link.

    Raises Refused for a link, a folder on the way that is a link, or anything but a regular file;
    OSError for what the system refuses (a missing or unreadable file).
    """
    parts = PurePath(relative).parts
    if not parts or any(part in ("..", "/") for part in parts):
        raise Refused(f"{relative}: not a file name inside its folder")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                below = os.open(part, FOLDER_FLAGS, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise Refused(f"{part} is a link or not a folder; pqdrop does not follow links") from None
                raise
            os.close(folder)
            folder = below
        try:
            descriptor = os.open(parts[-1], FILE_FLAGS, dir_fd=folder)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Refused("is a symlink; pqdrop reads only regular files that live in the inbox") from None
            raise
    finally:
        os.close(folder)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise Refused(f"is not a regular file ({kind_of(mode)}); pqdrop reads only regular files")
    return descriptor


def open_file(path: Path) -> int:
    """A descriptor of the regular file `path`, its folder as given, the file itself never a link."""
    return open_below(path.parent, path.name)


@contextmanager
def opened(path: Path, expected: Identity | None = None) -> Iterator[int]:
    """`open_file` for a with-block; with `expected`, a file swapped since that first look is Refused."""
    with reopen(path, expected) as stream:
        yield stream.fileno()


def read_limited(descriptor: int, limit: int) -> bytes:
    """The whole file behind `descriptor`, refused (Refused) when larger than `limit` bytes.

    The size is checked with fstat before reading, and no more than `limit` + 1 bytes are ever read,
    so a sparse 6 GB file or one still growing costs nothing.
    """
    size = os.fstat(descriptor).st_size
    if size > limit:
        raise Refused(f"is {size:,} bytes, over the limit of {limit:,} bytes")
    pieces: list[bytes] = []
    total = 0
    while total <= limit:
        piece = os.pread(descriptor, min(READ_PIECE, limit + 1 - total), total)
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    if total > limit:
        raise Refused(f"grew past the limit of {limit:,} bytes while it was read")
    return b"".join(pieces)


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path` (never a link), at most `limit` of them."""
    with opened(path) as descriptor:
        return read_limited(descriptor, limit)


def reopen(path: Path, expected: Identity | None) -> BinaryIO:
    """The file `path` opened again for reading, unbuffered: never through a link, and with `expected`
    the very file first looked at (Refused when it was swapped since)."""
    descriptor = open_file(path)
    if expected is not None and (found := Identity.of(os.fstat(descriptor))) != expected:
        os.close(descriptor)
        raise Refused(f"was replaced by another file since pqdrop first read it (file {expected}, now {found}); "
                      "put the original back, or drop the item again")
    return os.fdopen(descriptor, "rb", buffering=0)
