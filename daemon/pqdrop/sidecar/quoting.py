"""The usual YAML quoting mistakes in a sidecar's `key: value` line, and the line to write instead.

PyYAML only says where it stopped (`expected <block end>, but found '<scalar>'`); a person wrote an
apostrophe inside single quotes, a double quote inside double quotes, or `: ` in a value left bare (a tab
for indentation has its hint in `parse`). Each fix offered is read back by YAML before it is shown, so the
line to copy is one that gives the text as typed.
"""

from __future__ import annotations

import json
import re

import yaml

_LINE = re.compile(r"^(?P<indent>[ ]*)(?P<key>[A-Za-z_][\w.-]*):[ ]+(?P<value>\S.*?)\s*$")
_BODY_KEYS = frozenset({"caption"})


def quoting_fix(line: str) -> str | None:
    """What went wrong on one frontmatter line and the line to write instead; None when none of the usual."""
    match = _LINE.match(line)
    if match is None:
        return None
    key, value = match["key"], match["value"]
    if len(value) >= 2 and value[0] == value[-1] == "'" and "'" in value[1:-1].replace("''", ""):
        # A doubled '' is YAML's apostrophe inside '…': the one its writer knew; the lone one ended the text.
        text, why = value[1:-1].replace("''", "'"), "an apostrophe inside '…' ends the text early"
    elif len(value) >= 2 and value[0] == value[-1] == '"' and '"' in value[1:-1].replace('\\"', ""):
        text, why = value[1:-1], 'a " inside "…" ends the text early'
    elif value[0] not in "'\"|>" and ": " in value:
        text, why = value, 'a ": " in a value without quotes reads as another key'
    else:
        return None
    fixed = f"{key}: {_quoted(text)}"
    if _reads(fixed) != {key: text}:
        return None
    below = " (or put the caption below the closing ---)" if key in _BODY_KEYS and not match["indent"] else ""
    return f"{why}; write {fixed}{below}"


def _quoted(text: str) -> str:
    """Text in the quotes that need no escape inside it: double quotes, or single ones around a `"`."""
    if '"' in text and "'" not in text:
        return f"'{text}'"
    return json.dumps(text, ensure_ascii=False)


def _reads(line: str) -> object:
    try:
        return yaml.safe_load(line)
    except yaml.YAMLError:
        return None
