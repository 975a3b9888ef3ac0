"""The names sync tools and browsers give files while they write them, and after a conflict.

Three tables, each the one place its kind is known (issue 12): `TEMPORARIES` (a file still being
written under another name: its item is still arriving), `CONFLICTS` (a second version of one
file: its item waits until one version remains) and `CLUTTER_PATTERNS` (never items).
Pure functions of a name; no I/O.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

from pqdrop.names import pairing_key


@dataclass(frozen=True)
class Rule:
    """One tool's naming: a regex whose `target` group (when there is one) is the name the file will have."""

    tool: str
    pattern: re.Pattern[str]


def _rule(tool: str, regex: str) -> Rule:
    return Rule(tool, re.compile(regex, re.DOTALL))


# A temporary's `target` is the final file name, when the tool keeps it in the temporary's name.
TEMPORARIES: tuple[Rule, ...] = (
    _rule("Syncthing", r"^\.syncthing\.(?P<target>.+)\.tmp$"),
    _rule("Syncthing", r"^~syncthing~(?P<target>.+)\.tmp$"),
    _rule("Unison", r"^\.unison\.(?P<target>.+)\.[0-9a-f]+\.unison\.tmp$"),
    _rule("Dropbox", r"^\.dropbox\.cache$"),  # Dropbox downloads into it, then renames into place
    _rule("Nextcloud/ownCloud", r"^\.(?P<target>.+)\.~[0-9a-f]+$"),
    _rule("rsync", r"^\.(?P<target>.+\.[^.]+)\.[A-Za-z0-9]{6}$"),
    _rule("OneDrive/rclone", r"^(?P<target>.+?)(?:\.[0-9a-f]+)?\.partial$"),
    _rule("Resilio Sync", r"^(?P<target>.+)\.!sync$"),
    _rule("Firefox", r"^(?P<target>.+)\.part$"),
    _rule("Chrome/Edge", r"^(?P<target>.+)\.crdownload$"),
    _rule("Safari", r"^(?P<target>.+)\.download$"),
    _rule("Opera", r"^(?P<target>.+)\.opdownload$"),
    _rule("a download", r"^(?P<target>.+)\.tmp$"),
)

# A conflict's `base` plus `ext` is the name of the version it competes with.
CONFLICTS: tuple[Rule, ...] = (
    # Dropbox `clip (Anna's conflicted copy 2026-12-01).mp4`; Nextcloud `clip (conflicted copy 2026-12-01 101010).mp4`
    _rule("Dropbox/Nextcloud", r"^(?P<base>.+?) \([^()]*conflicted copy[^()]*\)(?P<ext>\.[^.]*)?$"),
    _rule("Dropbox", r"^(?P<base>.+?) \(Case Conflict(?: \d+)?\)(?P<ext>\.[^.]*)?$"),
    _rule("Syncthing", r"^(?P<base>.+?)\.sync-conflict-\d{8}-\d{6}(?:-[A-Z0-9]+)?(?P<ext>\.[^.]*)?$"),
    _rule("ownCloud", r"^(?P<base>.+?)_conflict-\d{8}-\d{6}(?P<ext>\.[^.]*)?$"),
    _rule("Seafile", r"^(?P<base>.+?) \(SFConflict [^()]*\)(?P<ext>\.[^.]*)?$"),
    _rule("OneDrive", r"^(?P<base>.+?)-[^-]+-safeBackup-\d{4}(?P<ext>\.[^.]*)?$"),
)
# OneDrive keeps both versions as `clip.mp4` and `clip-DESKTOP-1A2B3C4.mp4`: it appends the name of the
# computer whose version lost (Microsoft's OneDrive sync client; abraunegg/onedrive issues 207 and 265 show
# the same `NAME-HOSTNAME`). Only the pair tells it from an ordinary name, and an editing suffix looks just
# like a host name (`teaser-FINAL`, `sunset-HDR`, `clip-4K`, `vlog-DAY2`), so a name is taken for a copy
# only when both hold: its original is beside it, and either
# - the suffix is a name Windows makes up for a computer nobody named (DESKTOP- plus 7 letters or digits,
#   LAPTOP- plus 7 or 8, WIN- plus 8 to 11 on Windows Server): always a copy; or
# - the suffix is some other computer name (up to 15 capitals, digits and hyphens) and the file has nothing of
#   its own to pair with: a loose file whose stem no other file in the folder shares (`teaser-FINAL.mp4`
#   beside `teaser-FINAL.md` is an item of its own), or a second `.md` inside a folder item. A photo inside a
#   carousel folder (`beach/sunset-HDR.jpg`) has no sidecar of its own, so only a default name makes it a copy.
# Cheap first looks, since a scan asks this of every name (bench/scale.py): a word every CONFLICTS rule
# holds, and a hyphen followed by an upper-case letter for OneDrive's host names.
_CONFLICT_HINT = re.compile(r"onflict|safeBackup")
_HOST_HINT = re.compile(r"-[A-Z0-9-]*[A-Z]")
ONEDRIVE_HOST = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,14}$")  # a Windows computer name, as OneDrive writes it
WINDOWS_DEFAULT_HOST = re.compile(r"^(?:DESKTOP-[A-Z0-9]{7}|LAPTOP-[A-Z0-9]{7,8}|WIN-[A-Z0-9]{8,11})$")
SIDECAR_EXTENSION = "md"


@dataclass(frozen=True)
class Match:
    """What a rule says about one name: the tool, and the name it stands for (None when unknown)."""

    tool: str
    name: str | None


@lru_cache(maxsize=4096)
def temporary(name: str) -> Match | None:
    """The tool writing `name` and the final name it will have, when `name` is a temporary."""
    for rule in TEMPORARIES:
        found = rule.pattern.match(name)
        if found:
            return Match(rule.tool, found.groupdict().get("target"))
    return None


def conflict(name: str, siblings: frozenset[str] = frozenset(), *, in_folder: bool = False) -> Match | None:
    """The tool and the competing version's name, when `name` is a conflicted copy.

    `siblings` are the other names in the same folder (for OneDrive's `NAME-HOSTNAME`); `in_folder` says the
    folder is an item's (a carousel), whose photos have no sidecar of their own to pair with.
    """
    if _CONFLICT_HINT.search(name):
        for rule in CONFLICTS:
            found = rule.pattern.match(name)
            if found:
                return Match(rule.tool, found["base"] + (found["ext"] or ""))
    stem, dot, ext = name.rpartition(".")
    if not dot or not siblings or not _HOST_HINT.search(stem):
        return None
    # `clip-LAPTOP-7Q2.mp4`: the host name may hold hyphens itself, so try each split.
    for at in (index for index, char in enumerate(stem) if char == "-"):
        host, original = stem[at + 1:], f"{stem[:at]}.{ext}"
        if original not in siblings or not ONEDRIVE_HOST.match(host) or not any(char.isalpha() for char in host):
            continue
        if WINDOWS_DEFAULT_HOST.match(host) or _nothing_to_pair_with(stem, ext, siblings, in_folder):
            return Match("OneDrive", original)
    return None


def _nothing_to_pair_with(stem: str, ext: str, siblings: frozenset[str], in_folder: bool) -> bool:
    """True when a file stands alone: no other file shares its stem (loose), or it is a second sidecar (a folder)."""
    if in_folder:
        return ext.lower() == SIDECAR_EXTENSION
    return _stem_counts(siblings).get(pairing_key(stem), 0) <= (1 if f"{stem}.{ext}" in siblings else 0)


@lru_cache(maxsize=8)
def _stem_counts(siblings: frozenset[str]) -> dict[str, int]:
    """How many names of a folder share each stem, as pairing sees stems; once per folder listing."""
    return dict(Counter(pairing_key(name.rpartition(".")[0] or name) for name in siblings))


def describe_conflict(path: str, match: Match, *, present: bool = True) -> str:
    """The status line for a held item: which file to resolve, and how (`present`: the original is there)."""
    if not present:
        return (f"{path} is a {match.tool} conflicted copy of {match.name}, which is not there: rename it to "
                f"{match.name}, then the item is posted")
    return (f"{path} is a {match.tool} conflicted copy of {match.name}: keep one version "
            "(delete or move the other out of the inbox), then the item is posted")


@dataclass(frozen=True)
class LoneCopies:
    """Conflicted copies with no original beside them, grouped by the item they would make once renamed."""

    item: str
    paths: tuple[PurePosixPath, ...]
    message: str  # not posted, and the rename that posts them


def lone_copies(conflicts: Iterable[PurePosixPath], items: Iterable[str]) -> list[LoneCopies]:
    """What to say of the conflicted copies that hold none of `items` (their original is not there), by the item
    each would make once renamed.

    `conflicts` are relative to the inbox (`beach (Anna's conflicted copy 2026-12-01).mp4`, `trip/01 (…).jpg`),
    as `Plan.conflicts` lists them; `items` are the names of the items the inbox holds.
    """
    made = {pairing_key(name) for name in items}
    groups: dict[str, list[tuple[PurePosixPath, PurePosixPath, str]]] = {}
    for path in conflicts:
        match = conflict(path.name)  # a lone copy is a pattern's: OneDrive's is one only beside its original
        if match is None or match.name is None:
            continue
        original = path.parent / match.name
        item = path.parts[0] if len(path.parts) > 1 else (original.stem or original.name)
        if pairing_key(item) not in made:
            groups.setdefault(item, []).append((path, original, match.tool))
    said = []
    for item, copies in groups.items():
        copied, originals = _and(str(path) for path, _, _ in copies), _and(str(original) for _, original, _ in copies)
        tools = _and(sorted({tool for _, _, tool in copies}))
        if len(copies) == 1:
            message = (f"not posted: {copied} is a {tools} conflicted copy, and {originals} is not there; "
                       f"rename it to {originals} to post it")
        else:
            message = (f"not posted: {copied} are {tools} conflicted copies, and {originals} are not there; "
                       f"rename them to {originals} to post them")
        said.append(LoneCopies(item, tuple(path for path, _, _ in copies), message))
    return said


def _and(words: Iterable[str]) -> str:
    listed = list(words)
    return ", ".join(listed[:-1]) + f" and {listed[-1]}" if len(listed) > 1 else "".join(listed)


# Files that sync tools, browsers and operating systems leave behind while they work, or as
# clutter; never items, never touched (paperless-ngx consumer issues; Syncthing, Dropbox docs).
CLUTTER_PATTERNS: tuple[str, ...] = (
    ".*",
    "~syncthing~*.tmp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "*.opdownload",
    "*.!sync",
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


def is_clutter(name: str, extra_patterns: Sequence[str] = ()) -> bool:
    """True for names that are never items: hidden, temporary, partial or OS files."""
    return any_of((*CLUTTER_PATTERNS, *extra_patterns))(name) is not None


@lru_cache(maxsize=8)
def any_of(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """One compiled regex for a set of case-sensitive shell patterns (POSIX names).

    A scan asks this of every name; one fnmatch call per pattern per name was a third of the
    time of a 10,000-item look (bench/scale.py, issue 4).
    """
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns)).match
