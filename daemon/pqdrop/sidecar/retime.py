"""A sidecar's text with its dispatchAt lines saying a new time: what `pqdrop reschedule` writes into the
scheduled sidecar, so the folder never shows a time the post no longer has (issue 22).

Pure text in, text out: only the values of the frontmatter's `dispatchAt:` lines change (top level and in
`targets:` entries), each keeping its indent, its `- ` and any comment after it; every other byte stays.
"""

from __future__ import annotations

import re

FENCE = "---"
# `dispatchAt: 2026-12-01T18:00` · `  - dispatchAt: "next"  # comment` · `dispatchAt:` (null). A value
# that runs on to other lines (a block scalar) is not a time anyone writes, and is left alone.
_LINE = re.compile(r"^(?P<lead>\s*(?:-\s+)?)dispatchAt(?P<gap>\s*):(?P<value>[ \t]*(?:\"[^\"]*\"|'[^']*'|[^#\s]\S*)?)"
                   r"(?P<rest>(?:[ \t]+#.*)?[ \t]*)$")


def with_dispatch_at(text: str, when: str) -> str | None:
    """`text` with every dispatchAt in its frontmatter set to `when` (added at the top when it has none);
    None when the text has no frontmatter between `---` fences to write it in."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].lstrip("\ufeff").rstrip("\r\n").rstrip() != FENCE:
        return None
    closing = next((number for number, line in enumerate(lines[1:], 1) if line.rstrip("\r\n").rstrip() == FENCE),
                   None)
    if closing is None:
        return None
    ending = "\r\n" if lines[0].endswith("\r\n") else "\n"
    found = False
    for number in range(1, closing):
        body = lines[number].rstrip("\r\n")
        match = _LINE.match(body)
        if match is None:
            continue
        found = True
        lines[number] = (f"{match['lead']}dispatchAt{match['gap']}: {when}{match['rest']}"
                         f"{lines[number][len(body):]}")
    if not found:
        lines.insert(1, f"dispatchAt: {when}{ending}")
    return "".join(lines)
