"""`pqdrop check`: read sidecars and probe media exactly as posting would, without uploading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from daemon.config import Config, DefaultsConfig
from daemon.errors import ItemError
from daemon.inbox import Item, Rules, plan_items, scan_entries
from daemon.pipeline import prepare_item


def check_paths(config: Config | None, paths: Sequence[Path]) -> int:
    """Check every item under the given paths (default: the inbox); 1 when any has a problem."""
    if not paths:
        if config is None:
            print("pqdrop check: name files or folders to check, or write a config with `pqdrop init`")
            return 2
        paths = [config.inbox.path]
    defaults = config.defaults if config else DefaultsConfig()
    problems = 0
    checked = 0
    for path in paths:
        for folder, item in items_under(path, config):
            checked += 1
            problem = check_item(folder, item, defaults)
            print(f"{'FAIL' if problem else 'ok  '}  {item.name}" + (f": {problem}" if problem else ""))
            problems += bool(problem)
    if checked == 0:
        print("nothing to check: no media or sidecar found")
    print(f"{checked} checked, {problems} with problems")
    return 1 if problems else 0


def check_item(folder: Path, item: Item, defaults: DefaultsConfig) -> str | None:
    """The problem that would fail this item, or None."""
    if item.problem:
        return item.problem
    if item.sidecar is None:
        return f"no sidecar: add {item.name}.md beside the media"
    try:
        prepare_item(folder, item, defaults, datetime.now(UTC))
    except ItemError as exc:
        return exc.message
    return None


def items_under(path: Path, config: Config | None) -> list[tuple[Path, Item]]:
    """The items a path names: a folder is read like an inbox, a file picks the item that holds it."""
    ignore = config.inbox.ignore if config else ()
    # Settling does not matter here: check looks at what is there now.
    rules = Rules(settle_seconds=0, sidecar_wait_seconds=0, require_sidecar=False, ignore=ignore)
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        bundle = _bundle_named(path, rules)
        if bundle is not None:
            return [(path.parent, bundle)]
    plan = plan_items(scan_entries(folder, ignore), float("inf"), rules)
    items = list(plan.ready)
    if not path.is_dir():
        items = [item for item in items if path.name in {p.name for p in (*item.media, *_sidecar(item))}]
    for waiting in plan.waiting:
        items.append(Item(waiting.name, (), None, problem=waiting.reason))
    return [(folder, item) for item in items]


def _bundle_named(path: Path, rules: Rules) -> Item | None:
    """The bundle item a folder forms inside its parent, when it is one (media plus a sidecar)."""
    plan = plan_items(scan_entries(path.parent, rules.ignore), float("inf"), rules)
    for item in plan.ready:
        if item.folder is not None and item.folder.name == path.name and item.sidecar is not None:
            return item
    return None


def _sidecar(item: Item) -> tuple[Path, ...]:
    return (Path(item.sidecar),) if item.sidecar else ()
