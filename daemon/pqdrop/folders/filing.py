"""Filing finished items: moving their files into sent/ or failed/, the status file, status.log.

Moves never overwrite and never delete: a name already taken gets a suffix, and a move
across filesystems copies, syncs and renames before it unlinks the original. Nothing written in
the inbox follows a symlink or replaces what is not a plain file: the inbox is synced, and a link
there may point anywhere (`status.log -> ../outside/victim.txt`).
"""

from __future__ import annotations

import errno
import filecmp
import logging
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from pqdrop.descriptors import Refused, opened, read_limited
from pqdrop.errors import InboxBlocked
from pqdrop.inbox.items import STATUS_LOG, STATUS_LOG_OLDER, STATUS_SUFFIX, Item
from pqdrop.inbox.synctools import conflict
from pqdrop.instants import iso_z
from pqdrop.journal.store import Record
from pqdrop.names import NAME_MAX, fit, fit_with, json_text, shown
from pqdrop.secrecy import SECRETS, WITHHELD_MARK
from pqdrop.states import DRAFT_WAITS, ItemState

log = logging.getLogger("pqdrop")

MAX_SUFFIX = 10_000
TEMPORARY_SUFFIX = ".pqdrop-tmp"  # marks write_json_atomically's half-written files
COPY_SUFFIX = ".pqdrop-copy"
# The random part (8 hex digits) and the dots around it, so a temporary's name fits NAME_MAX too.
_TEMPORARY_EXTRA = 2 + 8 + len(TEMPORARY_SUFFIX)
# Created as any program creates a file: 0666 less the umask (the unit's UMask=0007 lets the syncing
# user's group read the status files). mkstemp's 0600 would hide them from that user.
FILE_MODE = 0o666
NO_LINKS: Mapping[str, Path] = MappingProxyType({})  # no filing folder may be a symlink
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a folder", stat.S_IFREG: "a file",
          stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def kind_of(path: Path) -> str | None:
    """What is at `path` itself, a link not followed: "a file", "a folder", "a symbolic link"...; None when nothing."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "something other than a file")


def ensure_folder(folder: Path, links: Mapping[str, Path] = NO_LINKS) -> None:
    """Make a filing folder (sent/, failed/, scheduled/, canceled/, processing/) unless it is there.

    A symlink is followed only to the place `links` ([inbox].filing_links) names for it: sent/ on a bigger
    disk is the user's choice, said in the config; any other link may be a stranger's, leading the user's
    files out of the synced inbox (issue 21), and InboxBlocked says so. Anything else under its name is
    the user's: it is left as it is, and InboxBlocked says what to move.
    """
    with suppress(FileExistsError):
        folder.mkdir()
    kind = kind_of(folder)
    if kind == "a symbolic link":
        _check_link(folder, links.get(folder.name))
    if not folder.is_dir():
        raise InboxBlocked(
            f"{shown(folder.name)} in {shown(str(folder.parent))} is {kind or 'gone'}, not a folder; move it away: "
            f"pqdrop needs a {shown(folder.name)}/ folder there, and never moves or deletes what you put there"
        )


def _check_link(folder: Path, named: Path | None) -> None:
    """InboxBlocked unless the filing folder `folder`, a symlink, leads to the place the config names for it."""
    try:
        leads_to = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        leads_to = None
    if named is not None and leads_to is not None and leads_to == named.resolve():
        return
    name, where = shown(folder.name), shown(str(folder.parent))
    target = shown(os.readlink(folder)) if folder.is_symlink() else "?"
    if named is None:
        raise InboxBlocked(
            f"{name} in {where} is a symbolic link (to {target}); pqdrop does not move your files out of the inbox "
            f"through a link it was not told of: make {name}/ a folder again, or, if the link is yours, name its "
            f"place in the config: [inbox.filing_links] {name} = \"{shown(str(leads_to or target))}\""
        )
    raise InboxBlocked(
        f"{name} in {where} is a symbolic link to {target}, not to {shown(str(named))} as [inbox.filing_links].{name} "
        f"says; pqdrop moves nothing through it: point the link back, or change the config if the move was yours"
    )


def status_name(stem: str) -> str:
    """`NAME.status.json`, NAME shortened when the whole would be longer than the filesystem allows."""
    return fit_with(stem, STATUS_SUFFIX)


def free_stem(folder: Path, stem: str, names: Sequence[str]) -> str:
    """The first of `stem`, `stem (2)`, `stem (3)`… under which none of the item's files exist yet."""
    for number in range(1, MAX_SUFFIX):
        candidate = stem if number == 1 else f"{stem} ({number})"
        wanted = [_renamed(name, stem, candidate) for name in names] + [status_name(candidate)]
        if not any((folder / name).exists() or (folder / name).is_symlink() for name in wanted):
            return candidate
    raise FileExistsError(f"{folder}: no free name for {stem!r}")


def filed_names(names: Sequence[str], name: str, stem: str) -> list[str]:
    """The names an item's files take in sent/ or failed/ under `stem`."""
    return [_renamed(filename, name, stem) for filename in names]


def file_claim(
    source: Path,
    folder: Path,
    name: str,
    stem: str,
    names: Sequence[str],
    status: Mapping[str, Any],
    *,
    remove_source: bool = True,
    links: Mapping[str, Path] = NO_LINKS,
) -> Path:
    """Move a claim folder's files into `folder` under `stem` and write the status file beside them.

    Safe to run again after a crash: what already moved is skipped, a move across filesystems cut
    short after its copy landed is finished, and nothing is overwritten. A file where `folder` goes
    raises InboxBlocked before anything moves.
    """
    ensure_folder(folder, links)
    for filename in names:
        origin = source / filename
        if not (origin.exists() or origin.is_symlink()):
            continue
        target = folder / _renamed(filename, name, stem)
        if (target.exists() or target.is_symlink()) and _holds_copy_of(target, origin):
            _remove(origin)  # a move across filesystems was cut short after its copy landed: finish it
        else:
            move(origin, target)
    status_path = folder / status_name(stem)
    write_json_atomically(status_path, {**status, "files": filed_names(names, name, stem)})
    if remove_source and source.is_dir() and not any(source.iterdir()):
        source.rmdir()
    return status_path


def move(source: Path, target: Path) -> None:
    """Rename within a filesystem; across filesystems copy, fsync, rename, and only then unlink."""
    if target.exists() or target.is_symlink():
        raise FileExistsError(f"{target} already exists; refusing to overwrite it")
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_then_unlink(source, target)
    _fsync_dir(target.parent)


def write_json_atomically(path: Path, payload: Mapping[str, Any]) -> None:
    """Write a JSON file so that readers see the old one or the new one, never half of it; the API key withheld."""
    write_text_atomically(path, withheld(json_text(payload, indent=2), path) + "\n")


def withheld(text: str, path: Path) -> str:
    """`text` without the API key, whatever put it there (secrecy.py); a status file is read by whoever syncs it."""
    if not SECRETS.found_in(text):
        return text
    log.warning("%s: a text to be written held the API key; it is written as %s", shown(path.name), WITHHELD_MARK)
    return SECRETS.withheld(text)


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file so that readers (and sync tools) see the old one or the new one, never half of it.

    Only a plain file is replaced: a symlink, a folder or anything else under the name is the user's,
    and InboxBlocked says so. The file gets 0666 less the umask, as a plain `open()` would give it.
    """
    kind = kind_of(path)
    if kind not in (None, "a file"):
        raise InboxBlocked(f"{shown(path.name)} in {shown(str(path.parent))} is {kind}, not a file pqdrop wrote; "
                           "pqdrop leaves it as it is; move it away to have pqdrop write its file there")
    _remove_stale_temporaries(path)
    handle, temporary = _create_temporary(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


SIDECAR_REWRITE_LIMIT = 1 << 20  # a scheduled sidecar larger than this is not one pqdrop rewrites


def read_plain_text(path: Path, limit: int = SIDECAR_REWRITE_LIMIT) -> tuple[str, os.stat_result] | None:
    """A plain file's UTF-8 text and its stat, read through one descriptor that follows no link; None when it is
    not a plain file, is larger than `limit`, cannot be read or is not UTF-8."""
    try:
        with opened(path) as descriptor:
            return read_limited(descriptor, limit).decode("utf-8"), os.fstat(descriptor)
    except (OSError, Refused, UnicodeDecodeError):
        return None


def rewrite_text(path: Path, expected: str, text: str) -> bool:
    """Replace a plain file that still holds `expected` with `text`, atomically, keeping its mode; False (and
    nothing written) when it changed meanwhile (the user's own edit wins) or is not a plain file any more.

    The one rewrite of a user's file pqdrop makes: a scheduled sidecar's dispatchAt after `pqdrop reschedule`.
    """
    current = read_plain_text(path)
    if current is None or current[0] != expected:
        return False
    _remove_stale_temporaries(path)
    handle, temporary = _create_temporary(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), stat.S_IMODE(current[1].st_mode))
            os.fsync(stream.fileno())
        again = os.lstat(path)
        if (again.st_ino, again.st_size, again.st_mtime_ns) != (current[1].st_ino, current[1].st_size,
                                                                 current[1].st_mtime_ns):
            Path(temporary).unlink(missing_ok=True)
            return False
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Delete what a kill between writing and renaming left of earlier writes of `path`.

    Only the pqdrop holding an item writes its status file, one write at a time, so any such
    temporary is a dead process's; without this, each would stay in the user's sent/ for good.
    """
    prefix = _temporary_prefix(path)
    with os.scandir(path.parent) as listing:
        stale = [entry.path for entry in listing
                 if entry.name.startswith(prefix) and entry.name.endswith(TEMPORARY_SUFFIX)]
    for leftover in stale:
        Path(leftover).unlink(missing_ok=True)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside `path` under a random dot-name (kept out of the inbox scan), mode 0666 less the umask.

    Not os.umask() to learn the mask: it sets the mask too, for every thread of the process at once.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        temporary = str(path.parent / f"{_temporary_prefix(path)}{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
        try:
            return os.open(temporary, flags, FILE_MODE), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _temporary_prefix(path: Path) -> str:
    return f".{fit(path.name, NAME_MAX - _TEMPORARY_EXTRA)}."


# status.log's trouble already said, by path: said once, not on every line (issue: a symlink's victim).
_log_troubles: dict[Path, str] = {}
_log_troubles_lock = threading.Lock()
_rotate_lock = threading.Lock()
STATUS_LOG_MAX_BYTES = 1024 * 1024  # status.log's bound; the lines before it are in status.log.1
_APPEND_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def append_status_log(inbox: Path, record: Mapping[str, Any], now: datetime | None = None) -> bool:
    """One JSON line per change of an item's state, in the inbox where the user looks; False when not written.

    status.log is a courtesy: a symlink, a folder or anything but a plain file under its name is the
    user's and left alone, and a disk that refuses the line costs the line, never the item. Either is
    said once in the log. A last line a person left without its newline gets one first (JSON Lines).
    A line that would take it past STATUS_LOG_MAX_BYTES first moves it to status.log.1 (replacing the one
    before), so the newest lines are always in status.log and the two never hold more than 2 MiB.
    """
    path = inbox / STATUS_LOG
    if record.get("state") == ItemState.SENT and "message" not in record:
        record = {**record, "message": DRAFT_WAITS}  # a draft: "sent" alone reads as done
    line = withheld(json_text({"time": iso_z(now or datetime.now(UTC)), **record}), path) + "\n"
    kind = kind_of(path)
    if kind not in (None, "a file"):
        _say_log_trouble(path, f"it is {kind}, not a file")  # never opened: a pipe would block, a device act
        return False
    if kind is not None:
        _rotate(path, len(line.encode("utf-8")))
    try:
        descriptor = os.open(path, _APPEND_FLAGS, FILE_MODE)
    except OSError as exc:
        _say_log_trouble(path, _why(path, exc))
        return False
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            _say_log_trouble(path, f"it is {_KINDS.get(stat.S_IFMT(info.st_mode), 'not a file')}, not a file")
            return False
        if info.st_size and os.pread(descriptor, 1, info.st_size - 1) != b"\n":
            line = "\n" + line
        _write_all(descriptor, line.encode("utf-8"))
        os.fsync(descriptor)
    except OSError as exc:
        _say_log_trouble(path, _why(path, exc))
        return False
    finally:
        os.close(descriptor)
    _say_log_trouble(path, None)
    return True


def _rotate(path: Path, incoming: int) -> None:
    """Move status.log to status.log.1 when `incoming` more bytes would take it past STATUS_LOG_MAX_BYTES.

    The size is read with lstat, never the file (a stranger's sparse 6 GiB status.log costs a rename).
    status.log.1 is pqdrop's: a file or a link there is replaced (rename never follows it); a folder is
    the user's, and then status.log is not rotated, which is said once.
    """
    older = path.with_name(STATUS_LOG_OLDER)
    with _rotate_lock:
        try:
            if os.lstat(path).st_size + incoming <= STATUS_LOG_MAX_BYTES:
                return
            if kind_of(older) not in (None, "a file", "a symbolic link"):
                _say_log_trouble(older, f"it is {kind_of(older)}, so {STATUS_LOG} is not rotated and grows")
                return
            os.replace(path, older)
        except FileNotFoundError:
            return  # rotated by another writer (a pqdrop command) in between
        except OSError as exc:
            _say_log_trouble(older, _why(older, exc))
            return
    _say_log_trouble(older, None)


def _why(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link, not a file"
    if exc.errno == errno.EISDIR:
        return "it is a folder, not a file"
    return f"cannot write it: {exc.strerror or exc}"


def _write_all(descriptor: int, data: bytes) -> None:
    while data:
        data = data[os.write(descriptor, data):]


def _say_log_trouble(path: Path, trouble: str | None) -> None:
    """Once per trouble: what is wrong with status.log and what to do; once more when it is written again."""
    with _log_troubles_lock:
        before = _log_troubles.pop(path, None) if trouble is None else _log_troubles.get(path)
        if trouble is not None:
            _log_troubles[path] = trouble
    if trouble is not None and trouble != before:
        advice = ("move it away, and pqdrop starts a new status.log there" if trouble.startswith("it is")
                  else "pqdrop goes on without it")
        log.warning("%s: %s; pqdrop leaves it as it is and writes no state lines there until it can; %s",
                    shown(str(path)), trouble, advice)
    elif trouble is None and before is not None:
        log.info("%s is written again", shown(str(path)))


def _renamed(filename: str, stem: str, new_stem: str) -> str:
    """`clip.mp4` becomes `clip (2).mp4` when `clip` is taken; other names get the suffix before their dot."""
    if stem == new_stem:
        return filename
    if filename == stem or filename.startswith(stem + "."):
        base, rest = stem, filename[len(stem):]
    else:
        base, dot, ext = filename.partition(".")
        rest = dot + ext
    # A name near NAME_MAX has no room for ` (2)`: its base gives way, never the suffix or the extension.
    return fit_with(base, new_stem[len(stem):] + rest)


def _copy_then_unlink(source: Path, target: Path) -> None:
    staging = target.with_name(f".{fit(target.name, NAME_MAX - 1 - len(COPY_SUFFIX))}{COPY_SUFFIX}")
    if staging.exists() or staging.is_symlink():
        _remove(staging)  # a copy a crash cut short; the original is still whole
    if source.is_dir():
        shutil.copytree(source, staging, symlinks=True)
        for file in staging.rglob("*"):
            if file.is_file() and not file.is_symlink():
                _fsync_file(file)
    else:
        shutil.copy2(source, staging, follow_symlinks=False)
        if not staging.is_symlink():
            _fsync_file(staging)
    os.rename(staging, target)
    _fsync_dir(target.parent)
    _remove(source)


def _holds_copy_of(target: Path, origin: Path) -> bool:
    """Whether everything still at `origin` is at `target` byte for byte (a file, a link, or a folder's tree)."""
    if origin.is_symlink() or target.is_symlink():
        return origin.is_symlink() and target.is_symlink() and os.readlink(origin) == os.readlink(target)
    if origin.is_dir():
        return target.is_dir() and all(_holds_copy_of(target / entry.name, entry) for entry in origin.iterdir())
    return origin.is_file() and target.is_file() and filecmp.cmp(origin, target, shallow=False)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as stream:
        os.fsync(stream.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some network filesystems cannot sync a directory; the rename itself stands
    finally:
        os.close(handle)


# --- where an edited item lies ------------------------------------------------------------------


def filed_item(record: Record) -> Item:
    """The item as it lies filed (scheduled/STEM...): its paths relative to that folder."""
    folder, sidecar = record.item.folder, record.item.sidecar
    media = [str(path) for path in record.item.media]
    stem, name = str(record.stem), record.name
    if folder:
        [top] = filed_names([str(folder)], name, stem)
        inside = PurePosixPath(top)
        return Item(stem, tuple(inside / PurePosixPath(path).relative_to(str(folder)) for path in media),
                    inside / PurePosixPath(str(sidecar)).relative_to(str(folder)) if sidecar else None, inside)
    filed = [PurePosixPath(path) for path in filed_names([*media, *([str(sidecar)] if sidecar else [])], name, stem)]
    return Item(stem, tuple(filed[:len(media)]), filed[len(media)] if sidecar else None)


def filed_sidecar(inbox: Path, record: Record) -> Path | None:
    """Where the item's sidecar lies now that it is filed (scheduled/NAME.md, or inside its folder)."""
    sidecar, folder = record.item.sidecar, record.item.folder
    if not sidecar or not (record.destination and record.stem):
        return None
    top = str(folder) if folder else PurePosixPath(str(sidecar)).name
    [filed] = filed_names([top], record.name, record.stem)
    path = inbox / record.destination / filed
    if folder:
        path = path / PurePosixPath(str(sidecar)).relative_to(str(folder))
    return path if path.is_file() else None


def files_gone(inbox: Path, record: Record) -> list[str]:
    """The filed item's names no longer in its folder (deleted from scheduled/ on a phone, a sync tool's glitch)."""
    if not (record.destination and record.stem):
        return []
    folder = inbox / record.destination
    names = filed_names([str(path) for path in record.item.paths], record.name, record.stem)
    return [name for name in names if not os.path.lexists(folder / name)]


def conflicted_copy(sidecar: Path) -> str | None:
    """A sync tool's conflicted copy of the sidecar beside it: it holds the edit until one version remains."""
    try:
        names = sorted(entry.name for entry in sidecar.parent.iterdir())
    except OSError:
        return None
    siblings = frozenset(names)
    for name in names:
        found = conflict(name, siblings) if name != sidecar.name else None  # ingest's table of sync tools
        if found is not None and found.name == sidecar.name:
            return name
    return None
