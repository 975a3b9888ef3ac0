"""One target's options from the sidecar and the account's table, checked against its platform's table (pure).

A value comes from, first to last: the target's entry, the sidecar's top level, the account's
table. Top-level `options:` are shared by an item's targets, so each takes the keys its
platform has; a key no platform of the item has is an error, with the nearest valid one named.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pqdrop.platforms.rules import Platform, normalized, option_problem
from pqdrop.platforms.tiktok import OPTION_TYPES
from pqdrop.suggest import nearest


class OptionProblem(Exception):
    """A key of a sidecar's options is wrong: `key` as the user wrote it, `problem` what would be right."""

    def __init__(self, key: str, problem: str, code: str = "SIDECAR_VALUE") -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem, self.code = key, problem, code


def target_options(
    table: Platform,
    *,
    account: Mapping[str, object],
    top: Mapping[str, object],
    entry: Mapping[str, object],
    prefix: str,
    item_tables: Collection[Platform],
    misplaced: Mapping[str, str],
) -> dict[str, object]:
    """The options a target of `table`'s platform sends; raises OptionProblem naming the key."""
    tiktok = table.name == "tiktok"
    chosen = dict(account)
    chosen.update(_level(table, top, "", item_tables, misplaced, shared=True, tiktok=tiktok))
    chosen.update(_level(table, entry, prefix, (table,), misplaced, shared=False, tiktok=tiktok))
    for key, value in chosen.items():
        problem = option_problem(table, key, value)
        if problem:
            raise OptionProblem(prefix + key, problem)
        chosen[key] = normalized(table.options[key], value)
    for key in table.required:
        if chosen.get(key) in (None, ""):
            raise OptionProblem(prefix + "options." + key,
                                f"required for {table.label}; write it under options:, e.g. options:\n  {key}: ...",
                                "SIDECAR_MISSING")
    return chosen


def _level(
    table: Platform, meta: Mapping[str, object], prefix: str, tables: Collection[Platform],
    misplaced: Mapping[str, str], *, shared: bool, tiktok: bool,
) -> dict[str, object]:
    """The options one mapping (the top level or one entry) gives this target."""
    nested = meta.get("options", {})
    if nested is None:  # an `options:` line with nothing under it
        nested = {}
    if not isinstance(nested, dict):
        raise OptionProblem(prefix + "options", "must be `option: value` lines indented under options:")
    flat = {key: meta[key] for key in OPTION_TYPES if key in meta}  # TikTok's options may stand at the top
    for key in nested:
        if key in meta:
            raise OptionProblem(prefix + key, "given both at the top level and under options:; keep one",
                                "SIDECAR_DUPLICATE_KEY")
    known = list(dict.fromkeys(key for other in tables for key in other.options))
    for key in nested:
        if key in table.options or key in known:
            continue
        if key in misplaced:
            raise OptionProblem(prefix + "options." + key, misplaced[key], "SIDECAR_UNKNOWN_KEY")
        near = nearest(str(key), known)
        labels = " or ".join(other.label for other in tables)
        advice = f"did you mean {near}?" if near else f"valid keys are {', '.join(known) or 'none'}"
        problem = "unknown key; " + advice if tiktok and len(tables) == 1 else f"not an option of {labels}; {advice}"
        raise OptionProblem(prefix + "options." + key, problem, "SIDECAR_UNKNOWN_KEY")
    if flat and not tiktok and not shared:
        key = next(iter(flat))
        raise OptionProblem(prefix + key, f"is a TikTok option; this target posts to {table.label}, whose options "
                            f"are {', '.join(table.options) or 'none'}", "SIDECAR_UNKNOWN_KEY")
    taken = {key: value for key, value in nested.items() if key in table.options}
    return {**(flat if tiktok else {}), **taken}
