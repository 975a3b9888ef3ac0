"""The platforms PostQued posts to, one option table each (reference A8), checked the same strict way.

An unknown option gets the nearest valid one named; a wrong type or value gets the allowed
ones; a required option (Reddit's `subreddit`, Pinterest's `boardId`) is demanded before any
upload. Media rules the sources do not give are left to the API, whose refusal is shown verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping

from pqdrop.platforms import (
    bluesky,
    facebook,
    instagram,
    linkedin,
    mastodon,
    pinterest,
    reddit,
    threads,
    tiktok,
    twitter,
    youtube,
)
from pqdrop.platforms.rules import Option, Platform, normalized, option_problem, unknown_option

_MODULES = (tiktok, instagram, facebook, threads, linkedin, youtube, twitter, pinterest, reddit, mastodon, bluesky)
TABLES: Mapping[str, Platform] = {table.PLATFORM.name: table.PLATFORM for table in _MODULES}
PLATFORMS: tuple[str, ...] = tuple(TABLES)
POSTQUED_CAPTION_MAX_CHARS = 63206  # v2's one caption cap, for the platforms beside TikTok (reference A4)


def platform(name: str) -> Platform:
    return TABLES[name]


def missing_options(name: str, options: Mapping[str, object]) -> tuple[str, ...]:
    """The required options of `name` that `options` lacks."""
    return tuple(key for key in TABLES[name].required if options.get(key) in (None, ""))


__all__ = ["PLATFORMS", "POSTQUED_CAPTION_MAX_CHARS", "TABLES", "Option", "Platform", "missing_options", "normalized", "option_problem", "platform",
           "unknown_option"]
