"""Sidecars that Apple's Smart Punctuation rewrote: refused with what happened and how to stop it.

iOS and macOS turn `---` into `—-` or `–-` and straight quotes into curly ones as you type
(issue 12). YAML then reads no frontmatter at all, or `“@otherbrand”` as an account name with
quotes in it; pqdrop refuses such a file instead of posting its text as a caption on defaults.
"""

from __future__ import annotations

import re

from pqdrop.errors import SidecarError

_DASHES = "\u2012\u2013\u2014\u2015\u2212"
_MANGLED_FENCE = re.compile(f"^[-{_DASHES}]{{1,4}}$")
_CURLY_QUOTE_VALUE = re.compile(r"^\s*[\w.-]+\s*:\s*[\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb]", re.MULTILINE)
SMART_PUNCTUATION_OFF = (
    "turn off smart punctuation where you write it (iPhone/iPad: Settings > General > Keyboard > "
    "Smart Punctuation; Mac: System Settings > Keyboard > Text Input > Edit > \"Use smart quotes and dashes\")"
)


def check_punctuation(text: str, name: str) -> str:
    """`text`, unless smart punctuation rewrote its fences or quotes: then a SidecarError saying so and how to stop it.

    Checked before YAML reads the text, which would take `“@otherbrand”` for a name with quotes in it.
    """
    lines = text.replace("\r\n", "\n").strip().split("\n")
    fences = [number for number, line in enumerate(lines, start=1)
              if _MANGLED_FENCE.match(line.strip()) and line.strip() != "---" and any(c in _DASHES for c in line)]
    if fences and (fences[0] == 1 or lines[0].strip() == "---"):
        line = lines[fences[0] - 1].strip()
        raise SidecarError(
            f"{name}: line {fences[0]} is {line!r}, a frontmatter fence that smart punctuation turned into dashes; "
            f"write three plain hyphens --- and {SMART_PUNCTUATION_OFF}",
            code="SIDECAR_SMART_PUNCTUATION",
        )
    if lines[0].strip() != "---":
        return text
    closing = next((index for index, line in enumerate(lines[1:], start=1) if line.strip() == "---"), len(lines))
    curly = _CURLY_QUOTE_VALUE.search("\n".join(lines[1:closing]))
    if curly:
        number = "\n".join(lines[1:closing])[: curly.start()].count("\n") + 2
        raise SidecarError(
            f"{name}: line {number} quotes a value with curly quotes (“ ” or ‘ ’), which YAML does not read as "
            f'quotes; use straight quotes, e.g. account: "@mybrand", and {SMART_PUNCTUATION_OFF}',
            code="SIDECAR_SMART_PUNCTUATION",
        )
    return text
