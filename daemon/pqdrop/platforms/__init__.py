"""The platforms PostQued posts to, one option table each (reference A8), checked the same strict way.

An unknown option gets the nearest valid one named; a wrong type or value gets the allowed
ones; a required option (Reddit's `subreddit`, Pinterest's `boardId`) is demanded before any
upload. Media rules the sources do not give are left to the API, whose refusal is shown verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from pqdrop.platforms import tiktok
from pqdrop.platforms.others import (
    BLUESKY,
    FACEBOOK,
    INSTAGRAM,
    LINKEDIN,
    MASTODON,
    PINTEREST,
    REDDIT,
    THREADS,
    TWITTER,
    YOUTUBE,
)
from pqdrop.platforms.rules import Option, Platform, normalized, option_problem, unknown_option

_TABLES = (tiktok.PLATFORM, INSTAGRAM, FACEBOOK, THREADS, LINKEDIN, YOUTUBE, TWITTER, PINTEREST, REDDIT, MASTODON,
           BLUESKY)
TABLES: Mapping[str, Platform] = {table.name: table for table in _TABLES}
PLATFORMS: tuple[str, ...] = tuple(TABLES)
POSTQUED_CAPTION_MAX_CHARS = 63206  # v2's one caption cap, for the platforms beside TikTok (reference A4)


# Other platforms publish within minutes once due; an hour without a word is worth telling (issue 23).
CONFIRM_WITHIN_ELSEWHERE = timedelta(hours=1)


def confirm_within(name: str, intent: str) -> timedelta:
    """How long a due post on `name` may go unconfirmed before pqdrop says so: TikTok by intent, others an hour."""
    if name == tiktok.PLATFORM.name:
        return tiktok.CONFIRM_WITHIN.get(intent, tiktok.CONFIRM_WITHIN["publish"])
    return CONFIRM_WITHIN_ELSEWHERE


def platform(name: str) -> Platform:
    return TABLES[name]


def owners(key: str) -> tuple[Platform, ...]:
    """The platforms that have `key` among their options."""
    return tuple(table for table in _TABLES if key in table.options)


def elsewhere(key: str, tables: Sequence[Platform]) -> str | None:
    """Where a key that none of `tables` has belongs: "an option of Instagram, Facebook and LinkedIn, not of
    YouTube; YouTube takes visibility, ..."; None when no other platform has it either."""
    others = [table.label for table in owners(key) if table not in tables]
    if not others or not tables:
        return None
    named = f"an option of {listed(others, 'and')}, not of {listed([table.label for table in tables], 'or')}"
    if len(tables) == 1:
        takes = ", ".join(tables[0].options)
        named += f"; {tables[0].label} takes {takes}" if takes else f"; {tables[0].label} takes no options"
    return named


def listed(words: Sequence[str], last: str) -> str:
    """Words as a sentence lists them: "a", "a or b", "a, b and c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


# The options whose value is text a person reads (a title, a first comment): kept as typed (issue 22).
TEXT_OPTIONS = frozenset(key for table in _TABLES for key, option in table.options.items()
                         if option.kind in ("text", "comment", "texts"))


def missing_options(name: str, options: Mapping[str, object]) -> tuple[str, ...]:
    """The required options of `name` that `options` lacks."""
    return tuple(key for key in TABLES[name].required if options.get(key) in (None, ""))


__all__ = ["PLATFORMS", "POSTQUED_CAPTION_MAX_CHARS", "TABLES", "TEXT_OPTIONS", "Option", "Platform", "describe",
           "elsewhere", "listed", "markdown_table", "missing_options", "normalized", "option_problem", "owners",
           "platform", "unknown_option"]


def describe(option: Option) -> str:
    """An option's kind as the options table (docs/reference/platforms.md) shows it."""
    if option.kind == "choice":
        return " \\| ".join(option.choices)
    if option.kind == "texts":
        return f"list of texts (≤ {option.max_items})" if option.max_items else "list of texts"
    if option.kind == "object":
        return "table of " + ", ".join(option.fields)
    return {"bool": "true/false", "int": "whole number", "text": "text", "comment": "text (or {text})"}[option.kind]


def markdown_table() -> str:
    """The docs' table of the options of every platform but TikTok (whose rules have their own table)."""
    lines = ["| platform | option | value |", "|---|---|---|"]
    for table in list(TABLES.values())[1:]:
        if not table.options:
            lines.append(f"| `{table.name}` | (none) | |")
        for key, option in table.options.items():
            required = " **(required)**" if key in table.required else ""
            lines.append(f"| `{table.name}` | `{key}`{required} | {describe(option)} |")
    return "\n".join(lines)
