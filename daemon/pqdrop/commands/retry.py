"""`pqdrop retry`: put failed items back into the inbox, as the user dropped them.

It moves only the item's own files (those its status file lists) and removes that status file;
status.log keeps the story. Needs no API key and works while the daemon runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pqdrop.commands.status import Filed, filed_items
from pqdrop.config import Config, inbox_not_a_folder
from pqdrop.folders.filing import append_status_log, move
from pqdrop.inbox.items import FAILED_DIR
from pqdrop.names import shown


def retry_failed(config: Config, names: Sequence[str], *, every: bool) -> int:
    """Move failed items back into the inbox; their old status file is removed, status.log keeps the story."""
    inbox = config.inbox.path
    if not inbox.is_dir():
        print(shown(f"pqdrop: {inbox_not_a_folder(inbox)}"), file=sys.stderr)
        return 1
    failed = {item.name: item for item in filed_items(inbox, FAILED_DIR)}
    if not names and not every:
        print(shown("name the items to retry, or --all; failed items: " + (", ".join(sorted(failed)) or "none")))
        return 2
    chosen = sorted(failed) if every else list(names)
    if every and not chosen:
        print(f"nothing to retry: {FAILED_DIR}/ holds no items")
    code = 0
    for name in chosen:
        if name not in failed:
            print(shown(f"{name}: not in {FAILED_DIR}/ (failed items: {', '.join(sorted(failed)) or 'none'})"))
            code = 1
            continue
        code = max(code, _retry_one(inbox, failed[name]))
    return code


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
