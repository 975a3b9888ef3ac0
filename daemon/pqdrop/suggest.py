"""Did-you-mean: the nearest valid word to a near miss, and values shown as the user writes them in YAML.

A near miss is only ever suggested, never taken: pqdrop posts nothing on a guess.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable


def choice_problem(value: object, choices: tuple[str, ...]) -> str | None:
    """A value must be exactly one of `choices`; a near miss is suggested, never taken."""
    if isinstance(value, str) and value in choices:
        return None
    near = nearest(value, choices) if isinstance(value, str) else None
    advice = f"; did you mean {near}?" if near else ""
    return f"{show(value)} is not one of {', '.join(choices)}{advice}"


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word`, ignoring case, `_`, `-` and spaces; None if none is close."""
    folded = {_fold(choice): choice for choice in choices}
    key = _fold(word)
    if key in folded:
        return folded[key]
    containing = [choice for fold, choice in folded.items() if len(key) >= 3 and key in fold]
    if len(containing) == 1:
        return containing[0]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _fold(word: str) -> str:
    return re.sub(r"[\s_\-]", "", word).lower()


def show(value: object) -> str:
    """A value as the user would write it in YAML: text in double quotes, true/false, null."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
