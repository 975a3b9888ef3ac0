"""What the operator commands print: the `once` summary, `status`, and `retry`.

Everything here reads the inbox itself (sent/, failed/, status.log), so it works while the
daemon runs and needs no API key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.config import Config
from daemon.inbox import FAILED_DIR, SENT_DIR, STATUS_LOG, STATUS_SUFFIX, Plan, Rules, plan_items, scan_entries
from daemon.outbox import append_status_log, move
from daemon.service import Round

RECENT_LINES = 10


@dataclass(frozen=True)
class Filed:
    """An item filed in sent/ or failed/, as its status file tells."""

    name: str
    folder: str
    status_path: Path
    status: dict[str, Any]

    @property
    def state(self) -> str:
        return str(self.status.get("state", "?"))


def print_round(round_: Round, plan: Plan) -> None:
    """The table `once` ends with: item, state, publishId or reason."""
    rows = [(r.name, str(r.state), r.message if r.message else (r.publish_id or "")) for r in round_.results]
    rows += [(name, "waiting", reason) for name, reason in round_.deferred.items()]
    rows += [(w.name, "waiting", w.reason) for w in plan.waiting]
    # Ready items the round never reached: posting paused before them, or a stop request came first.
    done = {row[0] for row in rows}
    why = "not tried: posting is paused" if round_.blocked else "not tried yet"
    rows += [(item.name, "waiting", why) for item in plan.ready if item.name not in done]
    if round_.blocked:
        print(f"posting paused: {round_.blocked}")
    print_table(("item", "state", "publishId / reason"), rows)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("nothing to do: the inbox holds no items")
        return
    widths = [max(len(str(row[col])) for row in [header, *rows]) for col in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [f"{str(cell):<{width}}" for cell, width in zip(row, widths)]
        print("  ".join([*cells, str(row[-1])]))


def filed_items(inbox: Path, folder: str) -> list[Filed]:
    """The status files in sent/ or failed/, newest first."""
    found = []
    for path in sorted((inbox / folder).glob(f"*{STATUS_SUFFIX}"), key=_mtime, reverse=True):
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.append(Filed(path.name[: -len(STATUS_SUFFIX)], folder, path, status))
    return found


def print_status(config: Config) -> int:
    """Waiting, in flight, scheduled, recently done and failed."""
    inbox = config.inbox.path
    if not inbox.is_dir():
        print(f"inbox {inbox} is not there (unmounted share?)")
        return 1
    rules = Rules(config.inbox.settle_seconds, config.inbox.sidecar_wait_seconds, config.inbox.require_sidecar)
    plan = plan_items(scan_entries(inbox, config.inbox.ignore), time.time(), rules)
    sent, failed = filed_items(inbox, SENT_DIR), filed_items(inbox, FAILED_DIR)
    print(f"inbox {inbox}")
    _section("waiting", [(w.name, w.reason) for w in plan.waiting] + [(i.name, "ready") for i in plan.ready])
    _section("in flight", [(name, state) for name, state in in_flight(inbox / STATUS_LOG)])
    scheduled = [f for f in sent if f.state in ("scheduled", "accepted")]
    _section("scheduled", [(f.name, _dispatch_times(f.status)) for f in scheduled])
    _section("recently sent", [(f.name, f"{f.state} {f.status.get('publishId', '')}") for f in sent[:RECENT_LINES]])
    _section("failed", [(f.name, _error_message(f.status)) for f in failed[:RECENT_LINES]])
    return 0


def in_flight(status_log: Path) -> list[tuple[str, str]]:
    """Items whose last status.log line is a working state (uploading, publishing, following)."""
    last: dict[str, str] = {}
    for record in _read_log(status_log):
        last[str(record.get("item"))] = str(record.get("state"))
    return [(name, state) for name, state in last.items() if state in ("uploading", "publishing", "following")]


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


def _section(title: str, rows: Iterable[tuple[str, str]]) -> None:
    rows = list(rows)
    print(f"\n{title} ({len(rows)})")
    for name, detail in rows:
        print(f"  {name:<30} {detail}")


def _read_log(path: Path) -> Iterable[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash; the rest still reads
    return records


def _dispatch_times(status: dict[str, Any]) -> str:
    times = sorted({str(t.get("dispatchAt")) for t in status.get("targets", []) if t.get("dispatchAt")})
    return "at " + ", ".join(times) if times else str(status.get("state"))


def _error_message(status: dict[str, Any]) -> str:
    error = status.get("error") or {}
    return f"{error.get('code', '?')}: {error.get('message', '')}"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
