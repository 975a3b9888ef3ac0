"""One target's options from the sidecar and the account's table, checked against its platform's table (pure).

A value comes from, first to last: the target's entry, the sidecar's top level, the account's
table. At either level an option may stand under `options:` or flat beside `platform:` (issue 22).
Top-level options are shared by an item's targets, so each takes the keys its platform has; a key
no platform of the item has is an error naming the platforms that have it, or the nearest valid one.
Every problem is collected, so a sidecar with several gets them all at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pqdrop.platforms import elsewhere
from pqdrop.platforms.rules import Platform, normalized, option_problem
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
    item_tables: Sequence[Platform],
    misplaced: Mapping[str, str],
    problems: list[OptionProblem],
) -> dict[str, object]:
    """The options a target of `table`'s platform sends; what is wrong is appended to `problems`, naming the key
    where it is written."""
    chosen: dict[str, object] = dict(account)
    written = {key: prefix + key for key in account}
    for level_prefix, meta, tables in (("", top, item_tables), (prefix, entry, (table,))):
        taken, names = _level(table, meta, level_prefix, tables, misplaced, problems)
        chosen.update(taken)
        written.update(names)
    options: dict[str, object] = {}
    for key, value in chosen.items():
        problem = option_problem(table, key, value)
        if problem:
            problems.append(OptionProblem(written[key], problem))
        else:
            options[key] = normalized(table.options[key], value)
    for key in table.required:
        if chosen.get(key) in (None, ""):
            problems.append(OptionProblem(
                prefix + "options." + key,
                f"required for {table.label}; write it under options: or beside platform:, e.g. {key}: ...",
                "SIDECAR_MISSING"))
    return options


def _level(
    table: Platform, meta: Mapping[str, object], prefix: str, tables: Sequence[Platform],
    misplaced: Mapping[str, str], problems: list[OptionProblem],
) -> tuple[dict[str, object], dict[str, str]]:
    """The options one mapping (the top level or one entry) gives this target, and the key each is written as."""
    nested = meta.get("options", {})
    if nested is None:  # an `options:` line with nothing under it
        nested = {}
    if not isinstance(nested, dict):
        problems.append(OptionProblem(prefix + "options", "must be `option: value` lines indented under options:"))
        nested = {}
    flat = {key: meta[key] for key in table.options if key in meta}  # beside platform:, as TikTok's always stood
    for key in nested:
        if key in meta:
            where = "in the target" if prefix else "at the top level"
            problems.append(OptionProblem(prefix + key, f"given both {where} and under options:; keep one",
                                          "SIDECAR_DUPLICATE_KEY"))
    known = list(dict.fromkeys(key for other in tables for key in other.options))
    for key in nested:
        if key in table.options or key in known:
            continue
        if key in misplaced:
            problems.append(OptionProblem(prefix + "options." + key, misplaced[key], "SIDECAR_UNKNOWN_KEY"))
            continue
        problems.append(OptionProblem(prefix + "options." + key, unknown_key(str(key), known, tables),
                                      "SIDECAR_UNKNOWN_KEY"))
    taken = {key: value for key, value in nested.items() if key in table.options and key not in meta}
    names = {key: prefix + key for key in flat} | {key: prefix + "options." + key for key in taken}
    return {**flat, **taken}, names


def unknown_key(key: str, valid: Sequence[str], tables: Sequence[Platform]) -> str:
    """Why `key` is not taken here: the platforms it belongs to, else the nearest valid key, else the valid keys."""
    belongs = elsewhere(key, tables)
    if belongs:
        return belongs
    near = nearest(key, valid)
    if near:
        return f"unknown key; did you mean {near}?"
    labels = " or ".join(other.label for other in tables)
    return f"not an option of {labels}; valid keys are {', '.join(valid) or 'none'}"
