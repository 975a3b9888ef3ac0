"""TikTok's options: the table and its wording live in pqdrop.tiktok (TikTok's rules in one place)."""

from pqdrop import tiktok
from pqdrop.platforms.rules import BOOL, INT, TEXT, Option, Platform, choice

_KINDS = {bool: BOOL, int: INT, str: TEXT}


def _option(key: str, kind: type) -> Option:
    choices = tiktok.OPTION_CHOICES.get(key)
    return choice(*choices) if choices else _KINDS.get(kind, TEXT)


PLATFORM = Platform(
    name="tiktok",
    label="TikTok",
    options={key: _option(key, kind) for key, kind in tiktok.OPTION_TYPES.items()},
    problem=tiktok.option_problem,
)
