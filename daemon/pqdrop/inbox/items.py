"""What files in the inbox form an item, and when an item is ready to be posted.

`scan_entries` (and `arrival.Truncation`, for media files) are the only parts that touch the disk; `plan_items` is a
pure function of what the scan saw, the time and the rules. `look` is the one way `check`,
`status`, `once` and `run` all see the inbox, so they agree on every name (issue 12).
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pqdrop.config import InboxConfig

from pqdrop.inbox import synctools
from pqdrop.inbox.arrival import Entry, Truncation
from pqdrop.inbox.formats import MEDIA_SUFFIXES, REFUSED_SUFFIXES, refusal
from pqdrop.inbox.synctools import any_of, is_clutter
from pqdrop.names import natural_key, pairing_key, shown

SIDECAR_SUFFIX = ".md"
SENT_DIR = "sent"
FAILED_DIR = "failed"
SCHEDULED_DIR = "scheduled"  # items whose post waits for its dispatchAt on PostQued's side (issue 15)
CANCELED_DIR = "canceled"
PROCESSING_DIR = "processing"
STATUS_LOG = "status.log"
STATUS_LOG_OLDER = "status.log.1"  # the lines before the newest MiB: status.log is rotated (filing.py)
SCHEDULE_FILE = "SCHEDULE.md"  # the schedule for a phone; a .md at the top, but never a sidecar
STATUS_SUFFIX = ".status.json"
RESERVED_NAMES = frozenset(
    {SENT_DIR, FAILED_DIR, SCHEDULED_DIR, CANCELED_DIR, PROCESSING_DIR, STATUS_LOG, STATUS_LOG_OLDER, SCHEDULE_FILE}
)

# A folder item waits while any sync-tool temporary in the inbox changed this recently: sync tools
# deliver a folder's files in any order, so a photo not begun yet leaves no trace in the folder.
SYNC_QUIET_SECONDS = 120.0
STUCK_ARRIVING_SECONDS = 24 * 3600.0
# A folder item goes only after nothing in it changed this long: a person copying a carousel by hand, one
# photo at a time in any order, pauses up to 30 s between files (CONTRACT; issue 22: a folder whose photos
# came 8 s apart went out with its first photo only). [inbox].folder_settle_seconds.
FOLDER_SETTLE_SECONDS = 45.0
# A file of one of these names (any letter case) inside a folder item holds it until the user deletes it:
# a switch a phone's file app can set, for uploads slower than the settle window.
HOLD_NAMES = frozenset({"hold", "hold.txt"})


@dataclass(frozen=True)
class Item:
    """One post-to-be: media plus sidecar, or a bundle folder."""

    name: str
    media: tuple[PurePosixPath, ...]
    sidecar: PurePosixPath | None
    folder: PurePosixPath | None = None
    problem: str | None = None
    subfolders: tuple[PurePosixPath, ...] = ()  # inside a bundle folder: never posted, filed with the folder

    @property
    def paths(self) -> tuple[PurePosixPath, ...]:
        """What moves when the item is filed: the folder, or the loose files."""
        if self.folder is not None:
            return (self.folder,)
        return self.media + ((self.sidecar,) if self.sidecar else ())


def item_to_json(item: Item) -> dict[str, Any]:
    """The item as the journal keeps it."""
    return {"name": item.name, "media": [str(path) for path in item.media],
            "sidecar": str(item.sidecar) if item.sidecar else None, "folder": str(item.folder) if item.folder else None,
            "problem": item.problem, "subfolders": [str(path) for path in item.subfolders]}


def item_from_json(data: Mapping[str, Any]) -> Item:
    sidecar, folder = data.get("sidecar"), data.get("folder")
    return Item(data["name"], tuple(PurePosixPath(path) for path in data["media"]),
                PurePosixPath(sidecar) if sidecar else None, PurePosixPath(folder) if folder else None,
                data.get("problem"), tuple(PurePosixPath(path) for path in data.get("subfolders") or ()))


def claim_entries(item: Item) -> list[str]:
    """The top-level names inside a claim folder of a journaled item: the bundle folder, or the loose files."""
    return [str(path) for path in item.paths]


@dataclass(frozen=True)
class Waiting:
    """Something in the inbox that is not an item yet, and why; `kind` says what it waits for."""

    name: str
    reason: str
    kind: Literal["arriving", "sidecar", "media", "conflict", "held", "unreadable"]
    since: float | None = None  # when it began to wait for what it waits for (arriving, conflict)
    stuck: bool = False  # still arriving after [inbox].stuck_arriving_hours: said in STATUS and `pqdrop status`
    until: float | None = None  # a folder holding still: when it goes unless something in it changes again
    item: Item | None = None  # the folder item that waits to hold still (or is held), as it would go now


@dataclass(frozen=True)
class Plan:
    """The result of one look at the inbox."""

    ready: tuple[Item, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    conflicts: tuple[PurePosixPath, ...] = ()


def arriving(plan: Plan) -> bool:
    """True while a file of the inbox is still being written (and not stuck: `once` does not wait for those)."""
    return any(waiting.kind == "arriving" and not waiting.stuck for waiting in plan.waiting)


@dataclass(frozen=True)
class Rules:
    """The inbox settings that decide readiness."""

    settle_seconds: float = 5.0
    sidecar_wait_seconds: float = 30.0
    require_sidecar: bool = True
    ignore: tuple[str, ...] = ()
    stuck_seconds: float = STUCK_ARRIVING_SECONDS
    sync_quiet_seconds: float = SYNC_QUIET_SECONDS
    folder_settle_seconds: float = FOLDER_SETTLE_SECONDS

    @classmethod
    def of(cls, inbox: InboxConfig) -> Rules:
        """The rules an `[inbox]` table sets."""
        return cls(inbox.settle_seconds, inbox.sidecar_wait_seconds, inbox.require_sidecar, tuple(inbox.ignore),
                   stuck_seconds=inbox.stuck_arriving_hours * 3600, folder_settle_seconds=inbox.folder_settle_seconds)


@dataclass
class _Group:
    media: list[Entry] = field(default_factory=list)
    sidecars: list[Entry] = field(default_factory=list)


def unreadable_reason(folder: Entry) -> str:
    """What `check`, `status`, the log and status.log say of a folder in the inbox pqdrop cannot list."""
    return (f"{folder.rel}/ cannot be read ({folder.unreadable}): nothing in it is posted, and it stays where it is "
            "until pqdrop's user may read it; give that user read access, or move the folder out of the inbox")


def is_conflict(name: str) -> bool:
    """True for conflicted copies made by Dropbox, Syncthing, Nextcloud and the like (synctools.CONFLICTS)."""
    return synctools.conflict(name) is not None


def scan_entries(root: Path, extra_patterns: Sequence[str] = ()) -> list[Entry]:
    """List the inbox and its bundle folders (one level deep), without following links.

    OSError when the inbox itself cannot be listed: an unreadable inbox is not an empty one.
    """
    entries: list[Entry] = []
    for top in _list_dir(root, PurePosixPath(), extra_patterns, strict=True):
        inside: Iterable[Entry] = ()
        if top.is_dir and not top.is_symlink and top.rel.name not in RESERVED_NAMES:
            try:
                inside = _list_dir(root / top.rel.name, top.rel, extra_patterns, strict=True)
            except FileNotFoundError:
                pass  # went between the two listings: the next scan tells
            except OSError as exc:
                top = dataclasses.replace(top, unreadable=exc.strerror or str(exc))
        entries.append(top)
        entries.extend(inside)
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
        if not rel.parts and entry.name in RESERVED_NAMES:
            continue
        temporary = False
        if is_clutter(entry.name, extra_patterns):
            # Clutter is never an item, but a sync tool's temporary says that something is still arriving.
            user_ignored = bool(extra_patterns) and any_of(tuple(extra_patterns))(entry.name) is not None
            temporary = synctools.temporary(entry.name) is not None and not user_ignored
            if not temporary:
                continue
        try:
            stat = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
            is_symlink = entry.is_symlink()
        except OSError:
            continue  # vanished between listing and stat: the next scan will tell
        entries.append(Entry(rel / entry.name, stat.st_size, stat.st_mtime, is_dir=is_dir, is_symlink=is_symlink,
                             is_file=is_dir or is_symlink or S_ISREG(stat.st_mode), temporary=temporary,
                             ctime=stat.st_ctime))
    return entries


def plan_items(
    entries: Sequence[Entry],
    now: float,
    rules: Rules,
    first_seen: Mapping[PurePosixPath, float] | None = None,
    still_since: Mapping[PurePosixPath, float] | None = None,
    truncated: Mapping[PurePosixPath, str] | None = None,
    watching_since: float | None = None,
) -> Plan:
    """Group entries into items and sort them into ready and waiting.

    `still_since` comes from `Settling`; without it a file counts as still when its mtime is
    older than settle_seconds (good enough for a one-off look such as `pqdrop check`).
    `truncated` names the media files whose end has not arrived (`Truncation`). `watching_since` is this
    process's first look: what it saw then changed when the filesystem says, what came later when it saw it.
    """
    context = _Context(now, rules, first_seen or {}, still_since, truncated or {}, watching_since)
    # Keyed by the parent's parts: `rel.parent` would build a path object per entry, each look.
    by_parent: dict[tuple[str, ...], list[Entry]] = defaultdict(list)
    for entry in entries:
        by_parent[entry.rel.parts[:-1]].append(entry)
    for parent, siblings in by_parent.items():
        context.sort_out(parent, siblings)
    # Conflicted copies are never items of their own (issue 12): they only hold the item they compete with.
    copies = set(context.conflicts)
    top_level = [entry for entry in by_parent.get((), []) if not entry.temporary and entry.rel not in copies]
    context.loose_names = tuple(entry.rel.name for entry in top_level if not entry.is_dir)
    for key, group in sorted(_group_loose_files(top_level).items()):
        context.decide(_loose_item(group), group, (), context.held.get(((), key), []))
    folders = [entry for entry in top_level if entry.is_dir or entry.is_symlink and not entry.rel.suffix]
    for folder in sorted(folders, key=lambda entry: entry.rel):
        if folder.is_symlink:
            context.ready.append(Item(folder.rel.name, (), None, folder.rel, "is a symbolic link"))
            continue
        if folder.unreadable is not None:
            context.waiting.append(Waiting(folder.rel.name, unreadable_reason(folder), "unreadable", now))
            continue
        inside = by_parent.get(folder.rel.parts, [])
        group = _group_of([entry for entry in inside if not (entry.is_dir or entry.temporary or entry.rel in copies)])
        held = [hold for key, holds in context.held.items() if key[0] == folder.rel.parts for hold in holds]
        subfolders = tuple(entry.rel for entry in inside
                           if entry.is_dir and not entry.is_symlink and not entry.rel.name.startswith("."))
        switch = next((entry for entry in inside if not entry.is_dir and entry.rel.name.lower() in HOLD_NAMES), None)
        # The folder itself must hold still too: a carousel filling file by file changes its mtime.
        context.decide(_bundle_item(folder.rel, group, subfolders), group, (folder,), held, in_folder=True,
                       switch=switch)
    ready = _apart(context.ready)
    waiting = [*context.waiting, *(Waiting(item.name, why, "conflict", now) for item, why in ready.items() if why)]
    return Plan(tuple(item for item, why in ready.items() if not why), tuple(waiting), tuple(sorted(context.conflicts)))


def _apart(items: Sequence[Item]) -> dict[Item, str]:
    """Each ready item, with why it waits when another has its name (`clip.mp4` + `clip.md` beside a folder
    `clip/`): the two would share every name pqdrop keeps for them, so both wait until one is renamed."""
    named: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        named[pairing_key(item.name)].append(item)
    clashing = {key: " and ".join(map(_called, group)) for key, group in named.items() if len(group) > 1}
    return {item: f"{clashing[key]} are two items of one name; rename one, and both go" if key in clashing else ""
            for item in items for key in (pairing_key(item.name),)}


def _called(item: Item) -> str:
    return f"the folder {shown(str(item.folder))}/" if item.folder else shown(str((*item.media, item.sidecar)[0]))


@dataclass(frozen=True)
class _Hold:
    """Something beside an item that keeps it waiting: a temporary, or a conflicted copy."""

    entry: Entry
    kind: Literal["arriving", "conflict"]
    reason: str


@dataclass
class _Context:
    now: float
    rules: Rules
    first_seen: Mapping[PurePosixPath, float]
    still_since: Mapping[PurePosixPath, float] | None
    truncated: Mapping[PurePosixPath, str]
    watching_since: float | None = None
    ready: list[Item] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    conflicts: list[PurePosixPath] = field(default_factory=list)
    # (folder parts, pairing key of the stem) -> what holds that item; a folder's own holds use any key.
    held: dict[tuple[tuple[str, ...], str], list[_Hold]] = field(default_factory=lambda: defaultdict(list))
    recent_temporary: Entry | None = None  # a sync tool still writing somewhere in the inbox
    loose_names: tuple[str, ...] = ()  # the inbox's own files, for the near misses of a name

    def is_still(self, entry: Entry) -> bool:
        return self.now - self.changed_at(entry) >= self.rules.settle_seconds

    def changed_at(self, entry: Entry) -> float:
        return entry.mtime if self.still_since is None else self.still_since.get(entry.rel, self.now)

    def folder_changed_at(self, entry: Entry) -> float:
        """When an entry of a folder item last changed: by the filesystem (mtime or ctime, whichever is later:
        a copy that keeps the source's mtime still sets ctime), unless this process saw it come or change
        since its first look (then by our own clock: a NAS's clock may be off). A time ahead of our clock is
        taken as our first sight of it."""
        on_disk = max(entry.mtime, entry.ctime)
        if self.still_since is None:
            return min(on_disk, self.now)
        since = self.still_since.get(entry.rel, self.now)
        origin = self.watching_since if self.watching_since is not None else float("-inf")
        if since > origin:
            return since
        return on_disk if on_disk <= self.now else max(since, origin)

    def arrived_at(self, entry: Entry) -> float:
        """Since when the entry has been here as it is: its inode's last change (ctime), or this process's first look
        at it, whichever is earlier; a new `once` or a restart thus knows how long a file has been stuck."""
        seen = self.first_seen.get(entry.rel, min(entry.mtime, self.now))
        return min(seen, entry.ctime) if entry.ctime else seen

    def sort_out(self, parent: tuple[str, ...], siblings: Sequence[Entry]) -> None:
        """Take the temporaries and conflicted copies out of one folder's entries, as holds on their items."""
        names = frozenset(entry.rel.name for entry in siblings if not entry.temporary)
        for entry in siblings:
            if entry.temporary:
                match = synctools.temporary(entry.rel.name)
                target = match.name if match and match.name else ""
                tool = match.tool if match else "a sync tool"
                reason = f"still arriving: {shown(str(entry.rel))} is a {tool} temporary, still being written"
                self.held[(parent, _stem_key(target))].append(_Hold(entry, "arriving", reason))
                if self.now - self.changed_at(entry) < self.rules.sync_quiet_seconds:
                    recent = self.recent_temporary
                    if recent is None or self.changed_at(entry) > self.changed_at(recent):
                        self.recent_temporary = entry
                continue
            conflict = synctools.conflict(entry.rel.name, names, in_folder=bool(parent)) if not entry.is_dir else None
            if conflict is not None:
                self.conflicts.append(entry.rel)
                reason = synctools.describe_conflict(shown(str(entry.rel)), conflict, present=conflict.name in names)
                self.held[(parent, _stem_key(str(conflict.name)))].append(_Hold(entry, "conflict", reason))

    def decide(
        self, item: Item | None, group: _Group, extra: Sequence[Entry], held: Sequence[_Hold], *,
        in_folder: bool = False, switch: Entry | None = None,
    ) -> None:
        """Put one candidate into ready or waiting; still arriving comes first, even for a problem item."""
        if item is None:
            if all(hold.kind == "conflict" for hold in held):
                return  # a lone conflicted copy: Plan.conflicts names it (synctools.lone_copies)
            item = Item(_held_name(held), (), None)
        if switch is not None and item.folder is not None:
            reason = (f"held: {shown(str(switch.rel))} is there; delete it when every file is in, and the folder "
                      f"goes {self.rules.folder_settle_seconds:g} s after its last change")
            self.waiting.append(Waiting(item.name, reason, "held", self.arrived_at(switch), item=item))
            return
        arriving = self._arriving(group, extra, held, in_folder, item)
        if arriving is not None:
            self.waiting.append(arriving)
            return
        conflicts = [hold for hold in held if hold.kind == "conflict"]
        if conflicts:
            since = min(self.arrived_at(hold.entry) for hold in conflicts)
            self.waiting.append(Waiting(item.name, conflicts[0].reason, "conflict", since))
            return
        rules, now = self.rules, self.now
        if item.problem is not None and not in_folder and len(group.sidecars) > 1:
            # One sidecar name written two ways: failing it would move one version and leave the other behind.
            self.waiting.append(Waiting(item.name, item.problem, "conflict", now))
        elif item.problem is not None:
            self.ready.append(item)
        elif not group.media:
            reason = f"{shown(str(group.sidecars[0].rel))} has no media beside it yet"
            if not in_folder:
                reason += _media_near_miss(group.sidecars[0].rel.name, self.loose_names)
            self.waiting.append(Waiting(item.name, reason, "media"))
        elif not group.sidecars:
            # Its arrival here, not its mtime (kept from the source by sync tools), nor this process's first look.
            arrived = min(min(self.first_seen.get(entry.rel, entry.ctime), entry.ctime) if entry.ctime
                          else self.first_seen.get(entry.rel, entry.mtime) for entry in group.media)
            # A sidecar written under a near name holds the item even when defaults are allowed: posting the
            # video without the words its owner wrote for it would be a guess.
            near = "" if in_folder else _sidecar_near_miss(group.media[0].rel.name, self.loose_names)
            if near or rules.require_sidecar or now - arrived < rules.sidecar_wait_seconds:
                reason = f"waiting for its sidecar {shown(expected_sidecar(item))}{near}"
                self.waiting.append(Waiting(item.name, reason, "sidecar"))
            else:
                self.ready.append(item)
        else:
            self.ready.append(item)

    def _arriving(
        self, group: _Group, extra: Sequence[Entry], held: Sequence[_Hold], in_folder: bool, item: Item | None = None
    ) -> Waiting | None:
        """The one still-arriving rule (CONTRACT "An item in the inbox"): why this item is not whole yet, if so."""
        files = (*group.media, *group.sidecars)
        reason: str | None = None
        culprits: list[Entry] = []
        temporaries = [hold for hold in held if hold.kind == "arriving"]
        empty = [entry for entry in files if entry.size == 0 and entry.is_file and not entry.is_symlink]
        cut = [entry for entry in group.media if entry.rel in self.truncated]
        unsettled = [entry for entry in (*files, *extra) if not self.is_still(entry)]
        recent = self.recent_temporary if in_folder else None
        until: float | None = None
        if temporaries:
            reason, culprits = temporaries[0].reason, [hold.entry for hold in temporaries]
        elif empty:
            reason, culprits = f"still arriving: {shown(str(empty[0].rel))} is empty (0 bytes)", empty
        elif cut:
            reason, culprits = f"still arriving: {shown(str(cut[0].rel))}: {self.truncated[cut[0].rel]}", cut
        elif unsettled:
            reason = (f"still arriving: {shown(str(unsettled[0].rel))} changed less than "
                      f"{self.rules.settle_seconds:g} s ago")
            culprits = unsettled
        elif recent is not None:
            reason = (f"still arriving: a sync tool is still writing in the inbox ({shown(str(recent.rel))}), "
                      "and a folder's photos may come in any order")
            culprits = [recent]
        elif in_folder and files and self.rules.folder_settle_seconds > 0:
            last = max((*files, *extra), key=self.folder_changed_at)
            changed = self.folder_changed_at(last)
            if self.now - changed < self.rules.folder_settle_seconds:
                until = changed + self.rules.folder_settle_seconds
                what = "the folder itself" if last in extra else shown(str(last.rel))
                reason = (f"still arriving: waiting for the folder to hold still until {_clock(until)} "
                          f"({self.rules.folder_settle_seconds:g} s after its last change, {what} at "
                          f"{_clock(changed)}); a file that comes or changes before then starts the wait again "
                          f"([inbox].folder_settle_seconds; a file named hold.txt in the folder holds it)")
                culprits = [last]
        if reason is None:
            return None
        name = _held_name(held) if not files and not extra else (extra[0].rel.name if extra else _name_of(group))
        if until is not None:  # a folder holding still is never stuck: it goes within the window
            return Waiting(name, reason, "arriving", until - self.rules.folder_settle_seconds, False, until, item)
        since = min(self.arrived_at(entry) for entry in (*files, *culprits))
        stuck = self.now - since >= self.rules.stuck_seconds
        if stuck:
            reason = f"stuck arriving for {_duration(self.now - since)}: {reason.removeprefix('still arriving: ')}"
        return Waiting(name, reason, "arriving", since, stuck)


_SIDECAR_LOOKALIKES = (".md.txt", ".txt", ".markdown", ".md.md", ".mdown", ".md.rtf", ".rtf")


def _sidecar_near_miss(media: str, names: Sequence[str]) -> str:
    """Why a file beside `media` that its owner surely meant as its sidecar does not pair, and the rename that
    pairs it: a name that differs only in letter case, or a phone's `.txt` added after `.md`."""
    stem = PurePosixPath(media).stem
    wanted = f"{stem}{SIDECAR_SUFFIX}"
    folded = pairing_key(stem).casefold()
    for name in sorted(names):
        lower = name.lower()
        if lower.endswith(SIDECAR_SUFFIX) and pairing_key(PurePosixPath(name).stem).casefold() == folded:
            return (f"; {shown(name)} differs from {shown(media)} only in letter case: rename {shown(name)} "
                    f"to {shown(wanted)} to pair them")
        for added in _SIDECAR_LOOKALIKES:
            if lower.endswith(added) and pairing_key(name[: -len(added)]).casefold() == folded:
                how = f"with {added[3:]} added" if added.startswith(".md.") else f"ending in {added}, not .md"
                return (f"; {shown(name)} looks like the sidecar {how}; rename it to {shown(wanted)}")
    return ""


def _media_near_miss(sidecar: str, names: Sequence[str]) -> str:
    """The media beside a lone sidecar whose name differs from it only in letter case, and the rename."""
    stem = PurePosixPath(sidecar).stem
    folded = pairing_key(stem).casefold()
    for name in sorted(names):
        path = PurePosixPath(name)
        if path.suffix.lower() in MEDIA_SUFFIXES and pairing_key(path.stem).casefold() == folded:
            return (f"; {shown(name)} differs from it only in letter case: rename {shown(sidecar)} to "
                    f"{shown(path.stem + SIDECAR_SUFFIX)} to pair them")
    return ""


def _stem_key(filename: str) -> str:
    """The pairing key of a loose file's name: its stem, as a person sees it."""
    return pairing_key(PurePosixPath(filename).stem if PurePosixPath(filename).suffix else filename)


def _held_name(held: Sequence[_Hold]) -> str:
    """The item name a hold stands for when none of the item's own files is there yet."""
    hold = held[0]
    match = synctools.temporary(hold.entry.rel.name) if hold.kind == "arriving" else synctools.conflict(
        hold.entry.rel.name, frozenset({hold.entry.rel.name}))
    target = match.name if match is not None and match.name else hold.entry.rel.name
    return PurePosixPath(target).stem or target


def _name_of(group: _Group) -> str:
    first = (group.media or group.sidecars)[0]
    return first.rel.stem


def _clock(moment: float) -> str:
    """A moment as this machine's wall clock shows it, to the second: what the user compares with their own."""
    return datetime.fromtimestamp(moment).astimezone().strftime("%H:%M:%S %Z")


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{seconds / 60:.0f} min"


def _group_loose_files(entries: Sequence[Entry]) -> dict[str, _Group]:
    """Media and sidecars by the name a person sees: `Café` in NFC and in NFD (macOS) are one name."""
    groups: dict[str, _Group] = defaultdict(_Group)
    for entry in entries:
        if entry.is_dir or (entry.is_symlink and not entry.rel.suffix):
            continue
        suffix = entry.rel.suffix.lower()
        if suffix == SIDECAR_SUFFIX:
            groups[pairing_key(entry.rel.stem)].sidecars.append(entry)
        elif suffix in MEDIA_SUFFIXES or suffix in REFUSED_SUFFIXES:
            groups[pairing_key(entry.rel.stem)].media.append(entry)
    return groups


def _group_of(entries: Sequence[Entry]) -> _Group:
    """A folder's media in the order a person reads their names (`2.jpg` before `10.jpg`), and its sidecars."""
    group = _Group()
    for entry in sorted(entries, key=lambda entry: natural_key(entry.rel.name)):
        suffix = entry.rel.suffix.lower()
        if suffix == SIDECAR_SUFFIX:
            group.sidecars.append(entry)
        elif suffix in MEDIA_SUFFIXES or suffix in REFUSED_SUFFIXES:
            group.media.append(entry)
    return group


def _common_problem(entries: Sequence[Entry]) -> str | None:
    """What makes a file unpostable whatever else: a link, not a regular file, a format pqdrop does not take."""
    for entry in entries:
        if entry.is_symlink:
            return f"{shown(str(entry.rel))} is a symbolic link; put the file itself into the inbox"
        if not entry.is_file:
            return f"{shown(str(entry.rel))} is not a regular file (a pipe, socket or device); remove it"
    refusals = (refusal(shown(str(entry.rel)), entry.rel.suffix.lower()) for entry in entries)
    return next((refused for refused in refusals if refused), None)


def _loose_item(group: _Group) -> Item:
    media = tuple(entry.rel for entry in group.media)
    sidecar = group.sidecars[0].rel if group.sidecars else None
    name = _name_of(group)
    problem = None
    if len(media) > 1:
        listed = ", ".join(shown(str(path)) for path in media)
        problem = f"{len(media)} media files share the name {shown(name)!r} ({listed}); rename all but one"
    elif len(group.sidecars) > 1:
        listed = ", ".join(sorted(shown(str(entry.rel)) for entry in group.sidecars))
        problem = f"{listed} are one name written two ways (letter case or Unicode normalization); keep one sidecar"
    else:
        problem = _common_problem(group.media + group.sidecars)
    return Item(name, media, sidecar, None, problem)


def _bundle_item(folder: PurePosixPath, group: _Group, subfolders: tuple[PurePosixPath, ...] = ()) -> Item | None:
    if not group.media and not group.sidecars:
        return None
    media = tuple(entry.rel for entry in group.media)
    sidecar = group.sidecars[0].rel if group.sidecars else None
    problem = None
    if len(group.sidecars) > 1:
        names = ", ".join(shown(entry.rel.name) for entry in group.sidecars)
        problem = f"folder {shown(str(folder))} holds {len(group.sidecars)} sidecars ({names}); keep exactly one .md"
    else:
        problem = _common_problem(group.media + group.sidecars)
        if problem and "symbolic link" in problem:
            problem = problem.replace("into the inbox", "into the folder")
    return Item(folder.name, media, sidecar, folder, problem, tuple(sorted(subfolders)))


def expected_sidecar(item: Item) -> str:
    if item.folder is not None:
        return f"{item.folder}/<any name>.md"
    return f"{item.name}{SIDECAR_SUFFIX}"


def media_files(entries: Sequence[Entry]) -> list[tuple[PurePosixPath, int, float]]:
    """(path, size, mtime) of the regular, non-empty media files a scan saw: what `Truncation` reads."""
    return [(entry.rel, entry.size, entry.mtime) for entry in entries
            if entry.is_file and not (entry.temporary or entry.is_symlink or entry.is_dir) and entry.size > 0
            and entry.rel.suffix.lower() in MEDIA_SUFFIXES]


def look(root: Path, rules: Rules, now: float) -> Plan:
    """One look at a folder, as `pqdrop check` and `pqdrop status` take it (no history of earlier scans)."""
    entries = scan_entries(root, rules.ignore)
    return plan_items(entries, now, rules, truncated=Truncation().check(root, media_files(entries)))
