"""How a platform's option table is written and checked: the same strict way for every platform (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pqdrop.suggest import choice_problem, nearest, show

Kind = Literal["bool", "int", "text", "choice", "texts", "object", "comment"]


@dataclass(frozen=True)
class Option:
    """One key of a target's `options`: its kind, and for a choice the values the API takes."""

    kind: Kind
    choices: tuple[str, ...] = ()
    max_items: int | None = None  # texts: how many at most
    fields: tuple[str, ...] = ()  # object: the keys it may hold


@dataclass(frozen=True)
class Platform:
    """A platform PostQued posts to: its name in the API, its options (reference A8), the ones it demands."""

    name: str
    label: str
    options: Mapping[str, Option]
    required: tuple[str, ...] = ()
    source: str = "reference A8"
    problem: Callable[[str, object], str | None] | None = None  # a table with its own wording (TikTok's)
    notes: Mapping[str, str] = field(default_factory=dict)


def option_problem(platform: Platform, key: str, value: object) -> str | None:
    """What is wrong with `value` for `key` on `platform`, worded for the user; None when it is right."""
    if key not in platform.options:
        return unknown_option(platform, key)
    if platform.problem is not None:
        return platform.problem(key, value)
    return value_problem(key, platform.options[key], value)


def unknown_option(platform: Platform, key: str) -> str:
    names = tuple(platform.options)
    if not names:
        return f"not an option of {platform.label}, which takes no options"
    near = nearest(key, names)
    advice = f"did you mean {near}?" if near else f"{platform.label} takes {', '.join(names)}"
    return f"not an option of {platform.label}; {advice}"


def value_problem(key: str, option: Option, value: object) -> str | None:
    if option.kind == "choice":
        return choice_problem(value, option.choices)
    if option.kind == "bool":
        if isinstance(value, bool):
            return None
        return f"{show(value)} is not true or false; write {key}: true or {key}: false, without quotes"
    if option.kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return None
        return f"{show(value)} is not a whole number of 0 or more; write e.g. {key}: 2"
    if option.kind == "text":
        return None if isinstance(value, str) and value.strip() else f"{show(value)} is not text; put it in quotes"
    if option.kind == "texts":
        return _texts_problem(key, option, value)
    if option.kind == "comment":
        # A first comment is text, or {text: ...} as Instagram's table writes it.
        if isinstance(value, str) and value.strip():
            return None
        if isinstance(value, dict) and set(value) == {"text"} and isinstance(value["text"], str):
            return None
        return f"{show(value)} is not a comment; write {key}: \"the text\""
    if not isinstance(value, dict):
        return f"{show(value)} is not a table of keys; write {key}: with {', '.join(option.fields)} indented below"
    unknown = sorted(str(name) for name in value if name not in option.fields)
    if unknown:
        near = nearest(unknown[0], option.fields)
        advice = f"did you mean {near}?" if near else f"it takes {', '.join(option.fields)}"
        return f"{key}.{unknown[0]} is not a key of {key}; {advice}"
    return None


def _texts_problem(key: str, option: Option, value: object) -> str | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        return f"{show(value)} is not a list of texts; write {key}: [\"one\", \"two\"]"
    if option.max_items is not None and len(value) > option.max_items:
        return f"{len(value)} entries; at most {option.max_items} are allowed"
    return None


def normalized(option: Option, value: object) -> object:
    """The value as the API wants it: a single text where a list is taken becomes a list of one."""
    if option.kind == "texts" and isinstance(value, str):
        return [value]
    return value


def choice(*values: str) -> Option:
    return Option("choice", choices=values)


BOOL = Option("bool")
INT = Option("int")
TEXT = Option("text")
COMMENT = Option("comment")
