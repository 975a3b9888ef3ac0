"""Filing finished items: moving their files into sent/ or failed/, the status file, status.log.

Moves never overwrite and never delete: a name already taken gets a suffix, and a move
across filesystems copies, syncs and renames before it unlinks the original.
"""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pqdrop.inbox import STATUS_LOG, STATUS_SUFFIX
from pqdrop.names import NAME_MAX, fit, fit_with, json_text

MAX_SUFFIX = 10_000
TEMPORARY_SUFFIX = ".pqdrop-tmp"  # marks write_json_atomically's half-written files
COPY_SUFFIX = ".pqdrop-copy"
# mkstemp's random part and the dots around it, so a temporary's name fits NAME_MAX too.
_TEMPORARY_EXTRA = 2 + 8 + len(TEMPORARY_SUFFIX)


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
) -> Path:
    """Move a claim folder's files into `folder` under `stem` and write the status file beside them.

    Safe to run again after a crash: what already moved is skipped, a move across filesystems cut
    short after its copy landed is finished, and nothing is overwritten.
    """
    folder.mkdir(exist_ok=True)
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
    """Write a JSON file so that readers see the old one or the new one, never half of it."""
    write_text_atomically(path, json_text(payload, indent=2) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file so that readers (and sync tools) see the old one or the new one, never half of it."""
    _remove_stale_temporaries(path)
    # A dot-name keeps the half-written file out of the inbox scan.
    handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=TEMPORARY_SUFFIX, dir=path.parent)
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


def _temporary_prefix(path: Path) -> str:
    return f".{fit(path.name, NAME_MAX - _TEMPORARY_EXTRA)}."


def append_status_log(inbox: Path, record: Mapping[str, Any], now: datetime | None = None) -> None:
    """One JSON line per change of an item's state, in the inbox where the user looks."""
    line = {"time": (now or datetime.now(UTC)).isoformat(timespec="seconds"), **record}
    with (inbox / STATUS_LOG).open("a", encoding="utf-8") as stream:
        stream.write(json_text(line) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


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
