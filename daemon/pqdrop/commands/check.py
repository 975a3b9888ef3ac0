"""`pqdrop check`: read sidecars and probe media exactly as posting would, without uploading."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pqdrop.config import Config, DefaultsConfig, inbox_not_a_folder
from pqdrop.errors import AccountBlocked, ConfigError, ItemError, TransientError
from pqdrop.inbox.items import RESERVED_NAMES, SIDECAR_SUFFIX, Item, Rules, expected_sidecar, look, scan_entries
from pqdrop.inbox.synctools import lone_copies
from pqdrop.names import pairing_key, shown

if TYPE_CHECKING:
    from pqdrop.posting.accounts import AccountCheck

NOT_CHECKED = "accounts, workspace, creator info and platform availability"


@dataclass
class Online:
    """PostQued as `check` and `retry` ask it, read-only: the account check `once` makes, or why it cannot be made."""

    check: AccountCheck | None = None
    skipped: str | None = None  # why the API's checks were not made (no config, no key, PostQued unreachable)
    refused: str | None = None  # the key refused or the subscription lapsed: a problem for every item

    def note(self) -> str | None:
        """What to say when some checks could not be made."""
        if self.skipped is None:
            return None
        return (f"not checked with PostQued: {NOT_CHECKED} ({self.skipped}); "
                "once and run check them before any upload")


@contextmanager
def online(config: Config | None) -> Iterator[Online]:
    """PostQued for the checks `once` makes, when a config, a key and an answering API allow; closed afterwards."""
    if config is None:
        yield Online(skipped="no config, so no PostQued to ask")
        return
    from pqdrop.config import resolve_api_key

    try:
        resolve_api_key(config, os.environ)
    except ConfigError:
        yield Online(skipped="no API key: set POSTQUED_API_KEY, or api_key_file in [postqued]")
        return
    from pqdrop.commands.run import connect
    from pqdrop.posting.accounts import AccountCheck
    from pqdrop.posting.creators import CreatorInfos, fetcher_of

    with connect(config, patient=False) as client:
        try:
            client.connect()  # which API and which workspace; a workspace to choose is a config to fix (exit 2)
        except TransientError as exc:
            yield Online(skipped=f"PostQued cannot be reached: {exc.message}")
            return
        except AccountBlocked as exc:
            yield Online(skipped="PostQued refused the key", refused=exc.message)
            return
        yield Online(AccountCheck(client, CreatorInfos(fetcher_of(client), lambda: datetime.now(UTC)),
                                  config.postqued.api))


def check_paths(config: Config | None, paths: Sequence[Path]) -> int:
    """Check every item under the given paths (default: the inbox); 1 when any has a problem."""
    if not paths:
        if config is None:
            print("pqdrop check: no config found; name files or folders to check (pqdrop check clip.mp4), "
                  "or write a config with `pqdrop init`", file=sys.stderr)
            return 2
        if not config.inbox.path.is_dir():
            raise ConfigError(inbox_not_a_folder(config.inbox.path))  # as `once` and `run` say it
        paths = [config.inbox.path]
    missing = [path for path in paths if not path.exists()]
    if missing:
        for path in missing:
            print(shown(f"pqdrop check: {path}: no such file or folder"), file=sys.stderr)
        return 2
    with online(config) as api:
        return _check_all(config, paths, api)


def _check_all(config: Config | None, paths: Sequence[Path], api: Online) -> int:
    defaults = config.defaults if config else DefaultsConfig()
    problems = 0
    checked = 0
    if api.refused is not None:
        print(shown(f"FAIL  PostQued: {api.refused}"))
        problems += 1
    for path in paths:
        try:
            found = items_under(path, config)
        except OSError as exc:
            print(shown(f"FAIL  {path}: cannot read it: {exc.strerror or exc}"))
            problems += 1
            continue
        for folder, item, wait in found:
            checked += 1
            warnings: list[str] = []
            several: list[str] = []
            problem = check_item(folder, item, defaults, config, warnings, several, api)
            if several:  # one line each, so a phone's narrow screen shows every fix (issue 22)
                problem = problem[:problem.rindex(" problems: (1) ") + len(" problems:")] if problem else problem
            if wait is not None:  # a folder holding still (or held): not a problem, but not going yet either
                print(f"wait  {shown(item.name)}: {shown(wait)}")
            if problem:
                print(f"FAIL  {shown(item.name)}: {shown(problem)}")
            elif wait is None:
                print(f"ok    {shown(item.name)}")
            for line in several:
                print(f"      - {shown(line)}")
            for warning in warnings:
                print(f"      warning: {shown(warning)}")
            problems += bool(problem)
    if checked == 0:
        print("nothing to check: no media or sidecar found")
    print(f"{checked} checked, {problems} with problems")
    if (note := api.note()) is not None and checked:
        print(f"pqdrop check: {note}", file=sys.stderr)
    return 1 if problems else 0


def check_item(
    folder: Path, item: Item, defaults: DefaultsConfig, config: Config | None = None, warnings: list[str] | None = None,
    several: list[str] | None = None,
    api: Online | None = None,
) -> str | None:
    """The problem that would fail this item, or None; with a config, its accounts and schedule count too, and
    with PostQued at hand (`api`) what `once` asks it before any upload. A sidecar with several problems adds
    each to `several`.

    What goes out as it is but may not look as meant (a photo caption longer than TikTok's title) is
    added to `warnings`.
    """
    if item.problem:
        return item.problem
    if item.sidecar is None:
        if item.folder is None and f"{item.name}{SIDECAR_SUFFIX}" in RESERVED_NAMES:
            return (f"no sidecar: {item.name}{SIDECAR_SUFFIX} is the name of pqdrop's schedule in the inbox root, "
                    "never a sidecar; rename the media and its sidecar (e.g. to "
                    f"{item.name}-1{item.media[0].suffix if item.media else ''} and {item.name}-1{SIDECAR_SUFFIX})")
        where = "inside the folder" if item.folder is not None else "beside the media"
        return f"no sidecar: add {shown(expected_sidecar(item))} {where}"  # as `once` says it
    from pqdrop.posting.preflight import post_warnings  # PyAV loads only when there is media to probe
    from pqdrop.posting.prepare import left_out, prepare_item

    try:
        if config is None:
            sidecar, media = prepare_item(folder, item, defaults, datetime.now(UTC))
        else:
            sidecar, media = prepare_item(
                folder, item, defaults, datetime.now(UTC), accounts=config.accounts, schedule=config.schedule
            )
    except ItemError as exc:
        if several is not None:
            several += [problem.message for problem in exc.problems]
        return exc.message
    if config is not None and config.postqued.api == "v1":
        from pqdrop.posting.publish import check_v1_platforms

        try:
            check_v1_platforms(sidecar.targets, sidecar.path or item.name, "v1")  # as once and run do on v1
        except ItemError as exc:
            return exc.message
    if config is not None and config.postqued.api != "v1":
        from pqdrop.posting.publish import check_captions

        try:
            check_captions(sidecar.targets, sidecar.path or item.name)  # as once and run do on v2
        except ItemError as exc:
            if config.postqued.api == "v2":
                return exc.message
            if warnings is not None:  # auto: it fails where PostQued answers in v2
                warnings.append(f"{exc.message} (once [postqued].api = \"auto\" finds v2)")
    if api is not None and api.check is not None:
        try:
            api.check.check(sidecar, media, item.name)  # the accounts, their creator info, v2's captions
        except ItemError as exc:
            return exc.message
        except TransientError as exc:  # PostQued does not answer: the rest is checked offline, and said so
            api.check, api.skipped = None, f"PostQued cannot be reached: {exc.message}"
        except AccountBlocked as exc:  # the key refused, the subscription lapsed: once would post nothing
            api.check, api.skipped, api.refused = None, "PostQued refused the key", exc.message
            return f"PostQued: {exc.message}"
    if warnings is not None:
        warnings += post_warnings(sidecar, media) + [note for note in (left_out(item),) if note]
    return None


def items_under(
    path: Path, config: Config | None, *, holding_still: bool = True
) -> list[tuple[Path, Item, str | None]]:
    """The items a path names: a bundle folder is one item, any other folder is read like an inbox,
    a file picks the item that holds it. The third value says what a folder item waits for before it goes
    (to hold still, or a hold.txt), checked all the same; not `holding_still`, a folder never waits (failed/)."""
    ignore = config.inbox.ignore if config else ()
    # Settling does not matter here: check looks at what is there now; still arriving does (issue 12), and so
    # does a folder's wait to hold still, read from its files' times (issue 22).
    stuck = config.inbox.stuck_arriving_hours * 3600 if config else Rules.stuck_seconds
    # No config, no inbox a folder waits in; nor does a folder in failed/ that `retry` checks.
    folder_settle = config.inbox.folder_settle_seconds if config and holding_still else 0.0
    rules = Rules(settle_seconds=0, sidecar_wait_seconds=0, require_sidecar=False, ignore=ignore, stuck_seconds=stuck,
                  folder_settle_seconds=folder_settle)
    if path.is_dir():
        bundle = None if _is_inbox(path, config) else _bundle_named(path, rules)
        return [(path.parent, *bundle)] if bundle is not None else _items_in(path, rules)
    folder = path.parent
    bundle = None if _is_inbox(folder, config) else _bundle_named(folder, rules)
    if bundle is not None:
        return [(folder.parent, *bundle)]
    return [(where, item, wait) for where, item, wait in _items_in(folder, rules) if _holds(item, path)]


def _items_in(folder: Path, rules: Rules) -> list[tuple[Path, Item, str | None]]:
    plan = look(folder, rules, time.time())
    items: list[tuple[Item, str | None]] = [(item, None) for item in plan.ready]
    for waiting in plan.waiting:
        if waiting.item is not None and waiting.item.sidecar is not None:
            items.append((waiting.item, waiting.reason))
        else:
            items.append((Item(waiting.name, (), None, problem=waiting.reason), None))
    # A conflicted copy whose original is not there is never posted: said as a problem, with the rename that posts it.
    alone = lone_copies(plan.conflicts, [item.name for item, _ in items])
    items += [(Item(lone.item, lone.paths, None, problem=lone.message), None) for lone in alone]
    return [(folder, item, wait) for item, wait in items]


def _holds(item: Item, path: Path) -> bool:
    names = {p.name for p in (*item.media, *_sidecar(item))}
    return path.name in names if names else pairing_key(item.name) == pairing_key(path.stem)


def _is_inbox(folder: Path, config: Config | None) -> bool:
    return config is not None and folder.resolve() == config.inbox.path.resolve()


def _bundle_named(path: Path, rules: Rules) -> tuple[Item, str | None] | None:
    """The bundle item a folder forms inside its parent, when it is one (media plus a sidecar).

    A folder of loose pairs (a.mp4 + a.md, b.mp4 + b.md) reads as an inbox, not as a bundle with two
    sidecars; a single pair reads the same either way.
    """
    if _holds_pairs(path, rules):
        return None
    plan = look(path.parent, rules, time.time())
    for item in plan.ready:
        if item.folder is not None and item.folder.name == path.name and item.sidecar is not None:
            return item, None
    for waiting in plan.waiting:
        held = waiting.item
        if held is not None and held.folder is not None and held.folder.name == path.name and held.sidecar is not None:
            return held, waiting.reason
    return None


def _holds_pairs(folder: Path, rules: Rules) -> bool:
    """A sidecar beside media of its own name, as in an inbox."""
    entries = [entry for entry in scan_entries(folder, rules.ignore) if len(entry.rel.parts) == 1 and not entry.is_dir]
    stems = {pairing_key(entry.rel.stem) for entry in entries if entry.rel.suffix.lower() != SIDECAR_SUFFIX}
    sidecars = [pairing_key(entry.rel.stem) for entry in entries if entry.rel.suffix.lower() == SIDECAR_SUFFIX]
    return any(stem in stems for stem in sidecars)


def _sidecar(item: Item) -> tuple[Path, ...]:
    return (Path(item.sidecar),) if item.sidecar else ()
