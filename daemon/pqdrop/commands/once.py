"""`pqdrop once`: process everything in the inbox now, print what happened, exit with its code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pqdrop.commands.run import serve
from pqdrop.inbox.synctools import lone_copies
from pqdrop.names import shown
from pqdrop.states import ItemState

if TYPE_CHECKING:
    from pqdrop.config import Config
    from pqdrop.inbox.items import Plan
    from pqdrop.posting.publish import Round
    from pqdrop.service.daemon import Signals
    from pqdrop.service.workers import Workers


def run_once(config: Config, signals: Signals) -> int:
    from pqdrop.service.workers import once

    def body(workers: Workers) -> int:
        code, round_ = once(workers)
        print_round(round_, workers.look())
        return code

    return serve(config, signals, body, daemon=False)


def print_round(round_: Round, plan: Plan) -> None:
    """The table `once` ends with: item, state, publishId or reason."""
    rows = [(r.name, str(r.state), r.message if r.message else (r.publish_id or "")) for r in round_.results]
    rows += [(name, ItemState.WAITING, reason) for name, reason in round_.deferred.items()]
    rows += [(name, ItemState.WAITING, f"local file trouble: {reason}") for name, reason in round_.local.items()]
    rows += [(name, ItemState.WAITING, f"not filed yet: {reason}") for name, reason in round_.inbox_blocked.items()]
    rows += [(name, ItemState.WAITING, reason) for name, reason in round_.interrupted.items()]
    rows += [(w.name, ItemState.WAITING, w.reason) for w in plan.waiting]
    made = [item.name for item in plan.ready] + [waiting.name for waiting in plan.waiting]
    rows += [(lone.item, ItemState.WAITING, lone.message) for lone in lone_copies(plan.conflicts, made)]
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
    # Measured as printed: a name that is not UTF-8 prints as `caf\xe9`, a line feed in one as `\n`.
    table = [[shown(str(cell)) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[col]) for row in table) for col in range(len(header) - 1)]
    for row in table:
        cells = [f"{cell:<{width}}" for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))

