"""File names as the filesystem holds them: any bytes, any normalization, up to NAME_MAX.

Python gives a name that is not UTF-8 (`caf\\xe9.mp4`, as an old SMB client or a Windows zip
writes it) as a str with lone surrogates (PEP 383). Such a str cannot be encoded as UTF-8, so
every place that stores or shows a name goes through here: JSON escapes the surrogates (and
reads them back exactly), SQLite gets the raw bytes, a person sees `caf\\xe9`.

A name may also hold control characters (a line feed, ESC): shown raw, `a\\n<3>pqdrop: …` would forge a
line of its own in journald, at a priority of its choosing, and ESC sequences would drive the terminal.
`shown` writes them as `\\n`, `\\x1b`, so every name pqdrop prints takes exactly one line.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from typing import Any

# Linux's NAME_MAX for ext4, btrfs, xfs and tmpfs, in bytes (a sync tool's peer has the same or less).
NAME_MAX = 255

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls, DEL, C1 controls (U+0085 is a line break to some readers) and the Unicode line and
# paragraph separators: what would break a log line or steer a terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_DIGITS = re.compile(r"(\d+)")


def is_clean(name: str) -> bool:
    """True when the name is valid UTF-8 as it stands (no escaped bytes)."""
    return _SURROGATE.search(name) is None


def shown(text: str) -> str:
    """A name (or a message holding names) for a person and for any UTF-8 stream, on one line.

    Bytes that are not UTF-8 appear as `\\xe9`, control characters as `\\n`, `\\t`, `\\x1b` or
    `\\u2028`. Showing a shown text again changes nothing.
    """
    if _UNPRINTABLE.search(text) is None:
        return text
    if not is_clean(text):
        try:
            text = os.fsencode(text).decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate no file name holds (PEP 383 makes only U+DC80..U+DCFF)
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def for_api(name: str, limit: int = NAME_MAX) -> str:
    """The file name PostQued is told (metadata only): UTF-8, no path separators, at most `limit` characters.

    Bytes that are not UTF-8 are read as Windows-1252, what an old Windows zip or SMB client most
    likely meant (`caf\xe9` is `café`); the file on disk keeps its own name.
    """
    text = name if is_clean(name) else os.fsencode(name).decode("cp1252", "replace")
    text = text.replace("/", "_").replace("\\", "_")
    if len(text) <= limit:
        return text
    stem, dot, suffix = text.rpartition(".")
    return (stem[: limit - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 16 else text[:limit]


def json_text(payload: Any, **options: Any) -> str:
    """`json.dumps` that keeps Unicode readable and writes a name's undecodable bytes as `\\udcXX` escapes.

    `json.loads` gives the same str back, and `os.fsencode` of it the original bytes: lossless.
    """
    text = json.dumps(payload, ensure_ascii=False, default=str, **options)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def to_column(name: str) -> str | bytes:
    """A name as SQLite stores it: text, or its raw bytes (a BLOB) when it is not UTF-8."""
    return name if is_clean(name) else os.fsencode(name)


def from_column(value: str | bytes | None) -> str | None:
    """The name `to_column` stored."""
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return value


def pairing_key(stem: str) -> str:
    """What makes two names the same to a person: `Café` composed (NFC) or decomposed (NFD, macOS)."""
    return unicodedata.normalize("NFC", stem)


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key in the order a person reads names: `2.jpg` before `10.jpg`, case aside."""
    parts = _DIGITS.split(pairing_key(name).casefold())
    key = tuple((0, int(part)) if index % 2 else (1, part) for index, part in enumerate(parts) if part != "")
    return (*key, (2, name))  # `01.jpg` and `1.jpg` still sort one way


def byte_length(name: str) -> int:
    return len(os.fsencode(name))


def fit(name: str, limit: int = NAME_MAX) -> str:
    """`name` cut at a character boundary so that it takes at most `limit` bytes on disk."""
    if byte_length(name) <= limit:
        return name
    kept = []
    used = 0
    for char in name:
        size = byte_length(char)
        if used + size > limit:
            break
        kept.append(char)
        used += size
    return "".join(kept)


def fit_with(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """`stem + tail`, the stem shortened when needed so the whole fits in `limit` bytes."""
    return fit(stem, max(0, limit - byte_length(tail))) + tail
