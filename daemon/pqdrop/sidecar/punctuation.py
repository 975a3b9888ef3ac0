"""Sidecars whose settings would be misread: mangled fences and quotes, refused with what happened and the fix.

iOS and macOS turn `---` into `—-` or `–-` and straight quotes into curly ones as you type
(issue 12). YAML then reads no frontmatter at all, or `“@otherbrand”` as an account name with
quotes in it; pqdrop refuses such a file instead of posting its text as a caption on defaults.

The same holds for fences left out or mistyped by hand (`check_fences`): no `---` at all, `--`,
`- - -`, `***`, or TOML's `+++` from a static-site habit. The settings would be posted as the caption,
on default settings; a body whose first line is a sidecar key followed by `:` is refused instead.
Only known keys count, so a caption such as "Recipe: pasta" stays a caption.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pqdrop.errors import SidecarError

_DASHES = "\u2012\u2013\u2014\u2015\u2212"
_MANGLED_FENCE = re.compile(f"^[-{_DASHES}]{{1,4}}$")
_CURLY_QUOTE_VALUE = re.compile(r"^\s*[\w.-]+\s*:\s*[\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb]", re.MULTILINE)
# What python-frontmatter takes as a fence (three or more hyphens), and lines a person may have meant as one.
_FENCE = re.compile(r"^-{3,}\s*$")
_NEAR_FENCE = re.compile(r"^(?:[-*+_=~] ?){1,8}$")
_SETTING = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:(?:\s|$)")
_TOML_SETTING = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(?::(?:\s|$)|=)")  # below +++, TOML's `key = value` too
FENCES_ADVICE = "put a line --- above and below the settings"
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


def check_fences(text: str, name: str, keys: Collection[str]) -> None:
    """A SidecarError when settings (a line `key:` with one of `keys`) stand where they would be read as caption.

    That is: at the top of a sidecar with no `---` fence, after a line meant as one (`--`, `***`, `+++`),
    right below the closing fence, or inside a frontmatter whose closing fence is mistyped.
    """
    lines = text.replace("\r\n", "\n").strip().split("\n")
    if _FENCE.match(lines[0]):
        closing = next((index for index, line in enumerate(lines[1:], start=1) if _FENCE.match(line)), None)
        if closing is None:
            near = next((index for index, line in enumerate(lines[1:], start=1) if _near_fence(line)), None)
            if near is not None:
                raise _fence_error(name, f"line {near + 1} is {lines[near].strip()!r}, not a closing fence; "
                                         "end the settings with a line of three hyphens ---")
            return
        below = _first_setting(lines, closing + 1, keys)
        if below is not None:
            raise _fence_error(name, f"line {below + 1} {lines[below].strip()!r} is a setting below the closing --- "
                                     f"(line {closing + 1}), where it would be posted as caption text; move it "
                                     "above the closing ---")
        return
    start = 1 if _near_fence(lines[0]) else 0
    setting = _first_setting(lines, start, keys, _TOML_SETTING if "+" in lines[0] else _SETTING)
    if setting is None:
        return
    if start:
        toml = " (pqdrop reads YAML settings between --- lines, not TOML between +++)" if "+" in lines[0] else ""
        problem = (f"line 1 is {lines[0].strip()!r}, not a frontmatter fence, so the settings below it would be "
                   f"posted as the caption, with default settings{toml}; {FENCES_ADVICE}")
    else:
        problem = (f"line {setting + 1} {lines[setting].strip()!r} is a setting, but the sidecar has no --- fences, "
                   f"so it would be posted as the caption, with default settings; {FENCES_ADVICE}")
    raise _fence_error(name, problem)


def _near_fence(line: str) -> bool:
    """A line of fence-like marks that python-frontmatter does not take as `---`."""
    stripped = line.strip()
    return bool(_NEAR_FENCE.match(stripped)) and not _FENCE.match(stripped)


def _first_setting(lines: list[str], start: int, keys: Collection[str], form: re.Pattern[str] = _SETTING) -> int | None:
    """The index of the first non-blank line from `start` on, when it is `key: ...` with a known key."""
    for index in range(start, len(lines)):
        if not lines[index].strip():
            continue
        found = form.match(lines[index])
        return index if found is not None and found.group(1) in keys else None
    return None


def _fence_error(name: str, problem: str) -> SidecarError:
    return SidecarError(f"{name}: {problem}", code="SIDECAR_FENCES")
