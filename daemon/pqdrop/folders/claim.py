"""Claims, Maildir-style: an item is taken by renaming its files into `processing/<claim>/`.

A rename is atomic, so of two pqdrop processes on one inbox exactly one wins an item; the
other sees the file gone. A claim's folder name carries its owner, and each running owner
holds a lock file, so a sweep can tell a dead owner's claims from a live twin's. An owner marks
a claim before it starts filing it; a twin's sweep leaves a marked claim alone, since returning
its files then would split the item between sent/ and the inbox, or have it filed twice.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from pqdrop.errors import ConfigError, InboxBlocked, PqdropError, ServiceUnavailable
from pqdrop.folders.filing import FILE_MODE, NO_LINKS, ensure_folder, move
from pqdrop.inbox.items import PROCESSING_DIR, Item
from pqdrop.names import fit_with, shown

SEPARATOR = "~"
OWNER_FILE = "owner"
FILING_MARK = ".pqdrop-filing"  # inside a claim folder: its owner has begun to file it (hidden names are never items)
LOCK_WAIT_SECONDS = 5.0  # how long a starting pqdrop waits for its owner lock
LOCK_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ClaimName:
    """`NAME~OWNER~TOKEN`: the item, the pqdrop that claimed it, and a unique token."""

    item: str
    owner: str
    token: str

    def __str__(self) -> str:
        # The item's part gives way for a name near NAME_MAX; the journal keeps the whole name.
        tail = SEPARATOR.join(("", self.owner, self.token))
        return fit_with(self.item, tail)

    @classmethod
    def parse(cls, text: str) -> ClaimName | None:
        parts = text.rsplit(SEPARATOR, 2)
        return cls(*parts) if len(parts) == 3 and all(parts) else None

    @classmethod
    def new(cls, item: str, owner: str) -> ClaimName:
        return cls(item, owner, secrets.token_hex(4))


def owner_id(state_dir: Path) -> str:
    """This pqdrop's identity, kept beside (not inside) the journal so it outlives a lost journal."""
    path = state_dir / OWNER_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        identity = secrets.token_hex(4)
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(identity + "\n", encoding="ascii")
        return identity


# Errors of the inbox's own filesystem that pass (a NAS remounted read-only, a full disk): `once` exits 75.
# Permissions are the admin's to mend, as a config is: exit 2, which systemd does not restart in a loop.
_PERMISSIONS = (errno.EACCES, errno.EPERM)


def unwritable_inbox(inbox: Path, exc: OSError) -> PqdropError:
    """The error an inbox pqdrop cannot write in ends `once` with: one line naming the inbox and the cause."""
    where = f" ({exc.filename})" if exc.filename else ""
    message = f"cannot write in the inbox {inbox}: {exc.strerror or exc}{where}"
    if exc.errno in _PERMISSIONS:
        return ConfigError(f"{message}; give the user pqdrop runs as write access to it")
    return ServiceUnavailable(message)


def processing_dir(inbox: Path) -> Path:
    return inbox / PROCESSING_DIR


def claim_dir(inbox: Path, claim: str) -> Path:
    return processing_dir(inbox) / claim


def own_claim_dir(inbox: Path, claim: str) -> Path:
    """The claim folder pqdrop made, refused (InboxBlocked) when it is a symlink now (issue 21).

    Moving or writing through a link there would bring files from wherever it leads into the synced
    inbox (filing, a give-back), or write pqdrop's own marks there.
    """
    folder = claim_dir(inbox, claim)
    if folder.is_symlink():
        raise InboxBlocked(
            f"{shown(str(folder.relative_to(inbox)))} is a symbolic link (to {shown(os.readlink(folder))}), not the "
            "folder pqdrop made for the item; pqdrop moves and writes nothing through it: delete the link (the "
            "item's own files were moved away with the folder it replaced)"
        )
    return folder


def take(inbox: Path, item: Item, claim: str) -> bool:
    """Rename the item's files into its claim folder; False when another process was first."""
    target = claim_dir(inbox, claim)
    target.mkdir(parents=True)
    first, *rest = item.paths
    try:
        os.rename(inbox / first, target / first.name)  # the claim itself
    except FileNotFoundError:
        target.rmdir()
        return False
    except OSError:
        target.rmdir()  # the inbox refused the rename (read-only now): nothing is claimed
        raise
    complete(inbox, rest, claim)
    return True


def complete(inbox: Path, paths: Sequence[PurePosixPath], claim: str) -> None:
    """Move the item's remaining files into its claim folder; also finishes a claim a crash cut short."""
    target = claim_dir(inbox, claim)
    for path in paths:
        if (target / path.name).exists():
            continue
        try:
            os.rename(inbox / path, target / path.name)
        except FileNotFoundError:
            continue  # vanished in between (deleted, or claimed as its own item): the check will tell


def give_back(inbox: Path, claim: str) -> list[str]:
    """Return a claim's files to the inbox, all or none; returns the names taken there meanwhile.

    When any name is taken, nothing moves: a half-returned item would be taken afresh as a new
    post with the wrong sidecar, while its other half failed for lack of one. Running it again
    after a crash moves the rest.
    """
    folder = own_claim_dir(inbox, claim)
    entries = sorted(entry for entry in folder.iterdir() if entry.name != FILING_MARK) if folder.is_dir() else []
    taken = [entry.name for entry in entries if (inbox / entry.name).exists() or (inbox / entry.name).is_symlink()]
    if taken:
        return taken
    for entry in entries:
        move(entry, inbox / entry.name)
    release(inbox, claim)
    return []


def mark_filing(inbox: Path, claim: str) -> None:
    """Say in the claim folder that its owner begins to file it; written before the journal says so."""
    folder = own_claim_dir(inbox, claim)
    os.close(os.open(folder / FILING_MARK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE))
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def being_filed(inbox: Path, claim: str) -> bool:
    """True when the claim's owner has begun to file it: only that owner may carry it on."""
    return (claim_dir(inbox, claim) / FILING_MARK).exists()


def release(inbox: Path, claim: str) -> None:
    """Remove an emptied claim folder, with its filing mark; one still holding files stays."""
    folder = claim_dir(inbox, claim)
    (folder / FILING_MARK).unlink(missing_ok=True)
    with suppress(FileNotFoundError):
        if not any(folder.iterdir()):
            folder.rmdir()


class OwnerLock:
    """An flock held for as long as this pqdrop runs; a free lock means its owner is gone.

    Taking it waits a few seconds: a twin may hold it for a moment, to test it or while it
    returns this owner's orphaned claims to the inbox (`stopped_owner`). Only a lock still held
    after that means another pqdrop runs with the same state dir.
    """

    def __init__(self, inbox: Path, owner: str, *, wait_seconds: float = LOCK_WAIT_SECONDS,
                 links: Mapping[str, Path] = NO_LINKS) -> None:
        # A file `processing`, or a link the config does not name ([inbox].filing_links): InboxBlocked says so.
        ensure_folder(processing_dir(inbox), links)
        self._path = lock_path(inbox, owner)
        deadline = time.monotonic() + wait_seconds
        while True:
            stream = open_lock(self._path)
            try:
                fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                stream.close()
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable(
                        f"another pqdrop with the same [state].dir is already working on {inbox}; "
                        "stop it first, or give this one its own state dir"
                    ) from exc
                time.sleep(LOCK_POLL_SECONDS)
                continue
            if _is_at(stream, self._path):
                self._stream = stream
                return
            stream.close()  # its last holder unlinked it while this one waited: lock the file there now

    def close(self) -> None:
        """Release the lock; an empty processing/ goes too, so an idle inbox shows no trace of pqdrop."""
        self._path.unlink(missing_ok=True)
        self._stream.close()
        with suppress(OSError):  # claims still inside, or another pqdrop's lock: leave it
            self._path.parent.rmdir()


@contextmanager
def stopped_owner(inbox: Path, owner: str) -> Iterator[bool]:
    """True, holding the owner's lock, when that pqdrop is not running; False when it is.

    A sweep returns another owner's claims only inside this, so that owner, starting in the
    meantime, waits for its lock instead of resuming an item whose files are being moved away.
    """
    with open_lock(lock_path(inbox, owner)) as stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)


def open_lock(path: Path, *, create: bool = True) -> IO[bytes]:
    """An owner's lock file, opened without following a symlink (processing/ is inside the synced inbox).

    Read-only: flock needs no write access, and a file held open for writing would keep an admin from
    remounting the share read-only ("mount point is busy").
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    return os.fdopen(os.open(path, flags, FILE_MODE), "rb")


def _is_at(stream: IO[bytes], path: Path) -> bool:
    """Whether the open file is still the one at `path` (not unlinked or replaced)."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(stream.fileno())
    return (held.st_dev, held.st_ino) == (here.st_dev, here.st_ino)


def lock_path(inbox: Path, owner: str) -> Path:
    return processing_dir(inbox) / f".owner-{owner}.lock"


def owner_alive(inbox: Path, owner: str) -> bool:
    """True when another running pqdrop holds the owner's lock."""
    try:
        with open_lock(lock_path(inbox, owner), create=False) as stream:
            try:
                fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(stream, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


PROC_LOCKS = Path("/proc/locks")
# `1: FLOCK  ADVISORY  WRITE 2150 fd:01:1837218 0 EOF`; a waiter's line has `->` before FLOCK and does not match.
_FLOCK_LINE = re.compile(r"^\d+:\s+FLOCK\s+\w+\s+WRITE\s+(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s", re.MULTILINE)


def running_owners(inbox: Path, lock_table: Path = PROC_LOCKS) -> dict[str, int | None]:
    """The owners whose lock is held now, with the holder's pid, read from the kernel's lock table.

    Trying the lock, as `owner_alive` does, holds it for a moment that a starting pqdrop would
    have to wait out; reading /proc/locks touches nothing. Without it (not Linux), the lock is
    tried after all and the pid is unknown.
    """
    owners = {path.name[len(".owner-"): -len(".lock")]: path for path in processing_dir(inbox).glob(".owner-*.lock")}
    try:
        table = lock_table.read_text(encoding="ascii")
    except OSError:
        return {owner: None for owner in owners if owner_alive(inbox, owner)}
    holders = [(int(major, 16), int(minor, 16), int(inode), int(pid))
               for pid, major, minor, inode in _FLOCK_LINE.findall(table)]
    running: dict[str, int | None] = {}
    for owner, path in owners.items():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # its owner stopped in between
        same_inode = [entry for entry in holders if entry[2] == stat.st_ino]
        # On overlayfs the table names the underlying file's device, not the one stat() shows: the inode decides then.
        exact = [entry for entry in same_inode if entry[:2] == (os.major(stat.st_dev), os.minor(stat.st_dev))]
        if exact or same_inode:
            running[owner] = (exact or same_inode)[0][3]
    return running
