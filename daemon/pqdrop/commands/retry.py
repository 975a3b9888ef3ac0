"""`pqdrop retry`: put failed items back into the inbox, as the user dropped them.

It checks each item first as `pqdrop check` does (its sidecar and media, and with a key and an answering
PostQued its accounts, workspace and creator info): an item that would fail again stays in failed/ and the
reply says why, unless `--force` puts it back anyway (issue 22). It moves only the item's own files (those
its status file lists) and removes that status file; status.log keeps the story. Works while the daemon runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pqdrop.commands.status import Filed, filed_items
from pqdrop.config import Config, inbox_not_a_folder
from pqdrop.folders.filing import append_status_log, move
from pqdrop.inbox.items import CANCELED_DIR, FAILED_DIR, SCHEDULED_DIR, SENT_DIR, STATUS_SUFFIX
from pqdrop.names import shown

if TYPE_CHECKING:
    from pqdrop.commands.check import Online


def retry_failed(config: Config, names: Sequence[str], *, every: bool, force: bool = False) -> int:
    """Move failed items back into the inbox once they pass the checks (or with `force`); their old status file
    is removed, status.log keeps the story."""
    inbox = config.inbox.path
    if not inbox.is_dir():
        print(shown(f"pqdrop: {inbox_not_a_folder(inbox)}"), file=sys.stderr)
        return 1
    failed = {item.name: item for item in filed_items(inbox, FAILED_DIR)}
    if not names and not every:
        print(shown("name the items to retry, or --all; failed items: " + (", ".join(sorted(failed)) or "none")))
        return 2
    chosen = sorted(failed) if every else [_item_named(name, failed) for name in names]
    if every and not chosen:
        print(f"nothing to retry: {FAILED_DIR}/ holds no items")
    unknown = [name for name in chosen if name not in failed]
    for name in unknown:
        listed = ", ".join(sorted(failed)) or "none"
        print(shown(f"{name}: not in {FAILED_DIR}/{_found_elsewhere(inbox, name)} (failed items: {listed})"))
    code = 1 if unknown else 0
    known = [failed[name] for name in chosen if name in failed]
    if not known:
        return code
    from pqdrop.commands.check import online

    with online(config) as api:
        for filed in known:
            problem = still_fails(config, filed, api)
            if problem is not None and not force:
                print(shown(f"{filed.name}: still fails, left in {FAILED_DIR}/: {problem}; fix it there and retry, "
                            f"or `pqdrop retry --force {filed.name}` to put it back as it is"))
                code = 1
                continue
            if problem is not None:
                print(shown(f"{filed.name}: still fails: {problem}; put back all the same (--force)"))
            code = max(code, _retry_one(inbox, filed))
        if (note := api.note()) is not None:
            print(shown(f"pqdrop retry: {note}"), file=sys.stderr)
    return code


def _item_named(name: str, failed: dict[str, Filed]) -> str:
    """The failed item a name stands for: its name, or one of its files as the user sees it in failed/
    (`tmrw.md`, `failed/tmrw.mp4`)."""
    if name in failed:
        return name
    base = PurePosixPath(name).name
    for filed in failed.values():
        if base in (str(file) for file in filed.status.get("files", [])) or base == filed.status_path.name:
            return filed.name
    stem = base.rsplit(".", 1)[0]
    return stem if stem in failed else base


def _found_elsewhere(inbox: Path, name: str) -> str:
    """Where an item that is not in failed/ is instead, said after "not in failed/"; "" when nowhere."""
    for folder, why in ((SENT_DIR, "gone out already"), (SCHEDULED_DIR, "scheduled, waiting to go out"),
                        (CANCELED_DIR, "canceled")):
        for stem in dict.fromkeys((name, name.rsplit(".", 1)[0])):
            if (inbox / folder / f"{stem}{STATUS_SUFFIX}").is_file():
                return f": {stem} is in {folder}/ ({why}), so there is nothing to retry"
    with suppress(OSError):
        if any(entry.name == name or entry.name.rsplit(".", 1)[0] == name for entry in os.scandir(inbox)
               if not entry.is_dir()):
            return f": {name} is still in the inbox, not failed; `pqdrop status` says what it waits for"
    return ""


def still_fails(config: Config, filed: Filed, api: Online) -> str | None:
    """What would fail the item again, checked where it lies in failed/ as `pqdrop check` checks (None: nothing)."""
    from pqdrop.commands.check import check_item, items_under

    if api.refused is not None:
        return f"PostQued: {api.refused}"
    files = [str(name) for name in filed.status.get("files", [])]
    if not files:
        return None  # an older status file that does not list them: nothing to check by
    path = config.inbox.path / FAILED_DIR / files[0]
    try:
        found = items_under(path, config, holding_still=False)
    except OSError as exc:
        return f"{shown(files[0])} in {FAILED_DIR}/ cannot be read: {exc.strerror or exc}"
    problems = [problem for root, item, _ in found
                if (problem := check_item(root, item, config.defaults, config, api=api)) is not None]
    return "; ".join(problems) or None


def _retry_one(inbox: Path, filed: Filed) -> int:
    files = [str(name) for name in filed.status.get("files", [])]
    clashes = [name for name in files if (inbox / name).exists()]
    if clashes:
        print(shown(f"{filed.name}: {', '.join(clashes)} already in the inbox; move or rename it first"))
        return 1
    try:
        for name in files:
            source = inbox / FAILED_DIR / name
            if source.exists() or source.is_symlink():
                move(source, inbox / name)
        filed.status_path.unlink()
    except OSError as exc:  # a read-only share: said in one line, and `retry` again moves the rest
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{filed.name}: cannot move it back into the inbox {inbox}: {exc.strerror or exc}{where}; "
              "run `pqdrop retry` again once the inbox can be written")
        return 1
    append_status_log(inbox, {"item": filed.name, "state": "retried"})
    print(shown(f"{filed.name}: back in the inbox"))
    return 0
