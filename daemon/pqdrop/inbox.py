"""What files in the inbox form an item, and when an item is ready to be posted.

`scan_entries` is the only function here that touches the disk; `plan_items` is a pure
function of what the scan saw, the time and the rules.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pqdrop.config import InboxConfig

# What the inbox takes as media (CONTRACT); the probe then reads what each file really holds.
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".mov", ".webm"})
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".webp", ".png"})
MEDIA_SUFFIXES: frozenset[str] = VIDEO_SUFFIXES | IMAGE_SUFFIXES
SIDECAR_SUFFIX = ".md"
SENT_DIR = "sent"
FAILED_DIR = "failed"
PROCESSING_DIR = "processing"
STATUS_LOG = "status.log"
STATUS_SUFFIX = ".status.json"
RESERVED_NAMES = frozenset({SENT_DIR, FAILED_DIR, PROCESSING_DIR, STATUS_LOG})

# Files that sync tools, browsers and operating systems leave behind while they work, or as
# clutter; never items, never touched (paperless-ngx consumer issues; Syncthing, Dropbox docs).
CLUTTER_PATTERNS: tuple[str, ...] = (
    ".*",
    "~syncthing~*.tmp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "*.tmp",
    "*.swp",
    "*~",
    "Thumbs.db",
    "desktop.ini",
    "@eaDir",
    "#recycle",
    "$RECYCLE.BIN",
    "lost+found",
)
CONFLICT_PATTERNS: tuple[str, ...] = ("* (*conflicted copy*)*", "*.sync-conflict-*", "*(Case Conflict*)*")


@dataclass(frozen=True)
class Entry:
    """One directory entry as the scan saw it; `rel` is relative to the inbox."""

    rel: PurePosixPath
    size: int
    mtime: float
    is_dir: bool = False
    is_symlink: bool = False


@dataclass(frozen=True)
class Item:
    """One post-to-be: media plus sidecar, or a bundle folder."""

    name: str
    media: tuple[PurePosixPath, ...]
    sidecar: PurePosixPath | None
    folder: PurePosixPath | None = None
    problem: str | None = None

    @property
    def paths(self) -> tuple[PurePosixPath, ...]:
        """What moves when the item is filed: the folder, or the loose files."""
        if self.folder is not None:
            return (self.folder,)
        return self.media + ((self.sidecar,) if self.sidecar else ())


def item_to_json(item: Item) -> dict[str, Any]:
    """The item as the journal keeps it."""
    return {
        "name": item.name,
        "media": [str(path) for path in item.media],
        "sidecar": str(item.sidecar) if item.sidecar else None,
        "folder": str(item.folder) if item.folder else None,
        "problem": item.problem,
    }


def item_from_json(data: Mapping[str, Any]) -> Item:
    return Item(
        name=data["name"],
        media=tuple(PurePosixPath(path) for path in data["media"]),
        sidecar=PurePosixPath(data["sidecar"]) if data.get("sidecar") else None,
        folder=PurePosixPath(data["folder"]) if data.get("folder") else None,
        problem=data.get("problem"),
    )


def claim_entries(data: Mapping[str, Any]) -> list[str]:
    """The top-level names inside a claim folder of a journaled item: the bundle folder, or the loose files."""
    return [str(path) for path in item_from_json(data).paths]


@dataclass(frozen=True)
class Waiting:
    """Something in the inbox that is not an item yet, and why; `kind` says what it waits for."""

    name: str
    reason: str
    kind: Literal["arriving", "sidecar", "media"]


@dataclass(frozen=True)
class Plan:
    """The result of one look at the inbox."""

    ready: tuple[Item, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    conflicts: tuple[PurePosixPath, ...] = ()


def arriving(plan: Plan) -> bool:
    """True while a file of the inbox is still being written."""
    return any(waiting.kind == "arriving" for waiting in plan.waiting)


@dataclass(frozen=True)
class Rules:
    """The inbox settings that decide readiness."""

    settle_seconds: float = 5.0
    sidecar_wait_seconds: float = 30.0
    require_sidecar: bool = True
    ignore: tuple[str, ...] = ()

    @classmethod
    def of(cls, inbox: InboxConfig) -> Rules:
        """The rules an `[inbox]` table sets."""
        return cls(inbox.settle_seconds, inbox.sidecar_wait_seconds, inbox.require_sidecar, tuple(inbox.ignore))


@dataclass
class _Group:
    media: list[Entry] = field(default_factory=list)
    sidecars: list[Entry] = field(default_factory=list)


def is_clutter(name: str, extra_patterns: Sequence[str] = ()) -> bool:
    """True for names that are never items: hidden, temporary, partial or OS files."""
    return _any_of((*CLUTTER_PATTERNS, *extra_patterns))(name) is not None


def is_conflict(name: str) -> bool:
    """True for conflicted copies made by Dropbox, Syncthing or Nextcloud."""
    return _any_of(CONFLICT_PATTERNS)(name) is not None


@lru_cache(maxsize=8)
def _any_of(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """One compiled regex for a set of case-sensitive shell patterns (POSIX names).

    A scan asks this of every name; one fnmatch call per pattern per name was a third of the
    time of a 10,000-item look (bench/scale.py, issue 4).
    """
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns)).match


def scan_entries(root: Path, extra_patterns: Sequence[str] = ()) -> list[Entry]:
    """List the inbox and its bundle folders (one level deep), without following links.

    OSError when the inbox itself cannot be listed: an unreadable inbox is not an empty one.
    """
    entries: list[Entry] = []
    for top in _list_dir(root, PurePosixPath(), extra_patterns, strict=True):
        entries.append(top)
        if top.is_dir and not top.is_symlink and top.rel.name not in RESERVED_NAMES:
            entries.extend(_list_dir(root / top.rel.name, top.rel, extra_patterns))
    return entries


def _list_dir(
    folder: Path, rel: PurePosixPath, extra_patterns: Sequence[str], *, strict: bool = False
) -> Iterable[Entry]:
    """The entries of one folder; with `strict`, an unreadable folder raises instead of looking empty."""
    try:
        with os.scandir(folder) as listing:
            found = list(listing)
    except OSError:
        if strict:
            raise
        return []  # a bundle folder that went or cannot be read: the next scan tells
    entries = []
    for entry in found:
        if is_clutter(entry.name, extra_patterns) or (not rel.parts and entry.name in RESERVED_NAMES):
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat: the next scan will tell
        entries.append(
            Entry(rel / entry.name, stat.st_size, stat.st_mtime, is_dir=is_dir, is_symlink=entry.is_symlink())
        )
    return entries


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


def plan_items(
    entries: Sequence[Entry],
    now: float,
    rules: Rules,
    first_seen: Mapping[PurePosixPath, float] | None = None,
    still_since: Mapping[PurePosixPath, float] | None = None,
) -> Plan:
    """Group entries into items and sort them into ready and waiting.

    `still_since` comes from `Settling`; without it a file counts as still when its mtime is
    older than settle_seconds (good enough for a one-off look such as `pqdrop check`).
    """
    context = _Context(now, rules, first_seen or {}, still_since)
    conflicts: list[PurePosixPath] = []
    # Keyed by the parent's parts: `rel.parent` would build a path object per entry, each look.
    by_parent: dict[tuple[str, ...], list[Entry]] = defaultdict(list)
    for entry in entries:
        if is_conflict(entry.rel.name):
            conflicts.append(entry.rel)
        else:
            by_parent[entry.rel.parts[:-1]].append(entry)
    top_level = by_parent.get((), [])
    for name, group in sorted(_group_loose_files(top_level).items()):
        context.decide(_loose_item(name, group), group, ())
    folders = [entry for entry in top_level if entry.is_dir or entry.is_symlink and not entry.rel.suffix]
    for folder in sorted(folders, key=lambda entry: entry.rel):
        if folder.is_symlink:
            context.ready.append(Item(folder.rel.name, (), None, folder.rel, "is a symbolic link"))
            continue
        group = _group_of([entry for entry in by_parent.get(folder.rel.parts, []) if not entry.is_dir])
        # The folder itself must hold still too: a carousel filling file by file changes its mtime.
        context.decide(_bundle_item(folder.rel, group), group, (folder,))
    return Plan(tuple(context.ready), tuple(context.waiting), tuple(sorted(conflicts)))


@dataclass
class _Context:
    now: float
    rules: Rules
    first_seen: Mapping[PurePosixPath, float]
    still_since: Mapping[PurePosixPath, float] | None
    ready: list[Item] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)

    def is_still(self, entry: Entry) -> bool:
        since = entry.mtime if self.still_since is None else self.still_since.get(entry.rel, self.now)
        return self.now - since >= self.rules.settle_seconds

    def decide(self, item: Item | None, group: _Group, extra: Sequence[Entry]) -> None:
        """Put one candidate into ready or waiting."""
        if item is None:
            return
        rules, now = self.rules, self.now
        unsettled = [entry for entry in (*group.media, *group.sidecars, *extra) if not self.is_still(entry)]
        if unsettled and item.problem is None:
            reason = f"still arriving: {unsettled[0].rel} changed less than {rules.settle_seconds:g} s ago"
            self.waiting.append(Waiting(item.name, reason, "arriving"))
        elif not group.media and item.problem is None:
            reason = f"{group.sidecars[0].rel} has no media beside it yet"
            self.waiting.append(Waiting(item.name, reason, "media"))
        elif not group.sidecars and item.problem is None:
            arrived = min(self.first_seen.get(entry.rel, entry.mtime) for entry in group.media)
            if rules.require_sidecar or now - arrived < rules.sidecar_wait_seconds:
                reason = f"waiting for its sidecar {_expected_sidecar(item)}"
                self.waiting.append(Waiting(item.name, reason, "sidecar"))
            else:
                self.ready.append(item)
        else:
            self.ready.append(item)


def _group_loose_files(entries: Sequence[Entry]) -> dict[str, _Group]:
    groups: dict[str, _Group] = defaultdict(_Group)
    for entry in entries:
        if entry.is_dir or (entry.is_symlink and not entry.rel.suffix):
            continue
        suffix = entry.rel.suffix.lower()
        if suffix == SIDECAR_SUFFIX:
            groups[entry.rel.stem].sidecars.append(entry)
        elif suffix in MEDIA_SUFFIXES:
            groups[entry.rel.stem].media.append(entry)
    return groups


def _group_of(entries: Sequence[Entry]) -> _Group:
    group = _Group()
    for entry in sorted(entries, key=lambda entry: entry.rel.name):
        suffix = entry.rel.suffix.lower()
        if suffix == SIDECAR_SUFFIX:
            group.sidecars.append(entry)
        elif suffix in MEDIA_SUFFIXES:
            group.media.append(entry)
    return group


def _loose_item(name: str, group: _Group) -> Item:
    media = tuple(entry.rel for entry in group.media)
    sidecar = group.sidecars[0].rel if group.sidecars else None
    symlinks = tuple(entry.rel for entry in group.media + group.sidecars if entry.is_symlink)
    problem = None
    if len(media) > 1:
        problem = f"{len(media)} media files share the name {name!r} ({', '.join(map(str, media))}); rename all but one"
    elif symlinks:
        problem = f"{symlinks[0]} is a symbolic link; put the file itself into the inbox"
    return Item(name, media, sidecar, None, problem)


def _bundle_item(folder: PurePosixPath, group: _Group) -> Item | None:
    if not group.media and not group.sidecars:
        return None
    media = tuple(entry.rel for entry in group.media)
    sidecar = group.sidecars[0].rel if group.sidecars else None
    symlinks = tuple(entry.rel for entry in group.media + group.sidecars if entry.is_symlink)
    problem = None
    if len(group.sidecars) > 1:
        names = ", ".join(entry.rel.name for entry in group.sidecars)
        problem = f"folder {folder} holds {len(group.sidecars)} sidecars ({names}); keep exactly one .md"
    elif symlinks:
        problem = f"{symlinks[0]} is a symbolic link; put the file itself into the folder"
    return Item(folder.name, media, sidecar, folder, problem)


def _expected_sidecar(item: Item) -> str:
    if item.folder is not None:
        return f"{item.folder}/<any name>.md"
    return f"{item.name}{SIDECAR_SUFFIX}"
