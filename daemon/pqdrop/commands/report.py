"""What the operator commands print: the `once` summary, `status`, and `retry`.

Everything here reads the inbox itself (sent/, failed/, status.log) and, for `status`, the journal
read-only (commands/status.py), so it works while the daemon runs and needs no API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pqdrop.commands.status import Filed, filed_items, gather, render_json, render_text
from pqdrop.config import Config
from pqdrop.filing import append_status_log, move
from pqdrop.inbox import FAILED_DIR, Plan
from pqdrop.states import ItemState
from pqdrop.workers import Round


def print_round(round_: Round, plan: Plan) -> None:
    """The table `once` ends with: item, state, publishId or reason."""
    rows = [(r.name, str(r.state), r.message if r.message else (r.publish_id or "")) for r in round_.results]
    rows += [(name, ItemState.WAITING, reason) for name, reason in round_.deferred.items()]
    rows += [(w.name, ItemState.WAITING, w.reason) for w in plan.waiting]
    # Ready items the round never reached: posting paused before them, or a stop request came first.
    done = {row[0] for row in rows}
    why = "not tried: posting is paused" if round_.blocked else "not tried yet"
    rows += [(item.name, ItemState.WAITING, why) for item in plan.ready if item.name not in done]
    if round_.blocked:
        print(f"posting paused: {round_.blocked}")
    print_table(("item", "state", "publishId / reason"), rows)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("nothing to do: the inbox holds no items")
        return
    widths = [max(len(str(row[col])) for row in [header, *rows]) for col in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [f"{str(cell):<{width}}" for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, str(row[-1])]))


def print_status(config: Config, *, as_json: bool = False) -> int:
    """Waiting, in flight, scheduled, recently sent and failed; read-only, so safe while the daemon runs."""
    inbox = config.inbox.path
    if not inbox.is_dir():
        print(f"inbox {inbox} is not there (unmounted share?)")
        return 1
    view = gather(config, datetime.now(UTC))
    print(render_json(view) if as_json else render_text(view))
    return 0


def retry_failed(config: Config, names: Sequence[str], *, every: bool) -> int:
    """Move failed items back into the inbox; their old status file is removed, status.log keeps the story."""
    inbox = config.inbox.path
    failed = {item.name: item for item in filed_items(inbox, FAILED_DIR)}
    if not names and not every:
        print("name the items to retry, or --all; failed items: " + (", ".join(sorted(failed)) or "none"))
        return 2
    chosen = sorted(failed) if every else list(names)
    if every and not chosen:
        print(f"nothing to retry: {FAILED_DIR}/ holds no items")
    code = 0
    for name in chosen:
        if name not in failed:
            print(f"{name}: not in {FAILED_DIR}/ (failed items: {', '.join(sorted(failed)) or 'none'})")
            code = 1
            continue
        code = max(code, _retry_one(inbox, failed[name]))
    return code


def _retry_one(inbox: Path, filed: Filed) -> int:
    files = [str(name) for name in filed.status.get("files", [])]
    clashes = [name for name in files if (inbox / name).exists()]
    if clashes:
        print(f"{filed.name}: {', '.join(clashes)} already in the inbox; move or rename it first")
        return 1
    for name in files:
        source = inbox / FAILED_DIR / name
        if source.exists() or source.is_symlink():
            move(source, inbox / name)
    filed.status_path.unlink()
    append_status_log(inbox, {"item": filed.name, "state": "retried"})
    print(f"{filed.name}: back in the inbox")
    return 0
