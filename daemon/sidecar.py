"""The Markdown sidecar: YAML frontmatter and a caption body, read into a validated `Sidecar`.

Nothing is posted on a guess: an unknown key, a bad value or a doubtful time raises a
`SidecarError` whose message names the file, the key and what would be right.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import yaml
from frontmatter.default_handlers import YAMLHandler

from daemon.config import DefaultsConfig
from daemon.errors import SidecarError
from daemon.tiktok import CAPTION_MAX_CHARS, INTENTS, OPTION_CHOICES, OPTION_TYPES, PLATFORMS

Intent = Literal["draft", "publish"]

# Keys of one post target; a later `targets:` list will hold mappings of these same keys.
TARGET_KEYS: tuple[str, ...] = ("account", "caption", "dispatchAt", "intent", "platform", "options")
# Keys about the item as a whole, whatever its targets.
ITEM_KEYS: tuple[str, ...] = ("repost",)
TOP_LEVEL_KEYS: tuple[str, ...] = TARGET_KEYS + ITEM_KEYS + tuple(OPTION_TYPES)

DISPATCH_EXAMPLE = "2026-12-01T18:00:00+01:00"
# A schedule further ahead than this is far likelier a mistyped year than a plan.
MAX_SCHEDULE_AHEAD = timedelta(days=5 * 366)

# YAML allows "2026-12-01 18:00:00 +01:00" and a lowercase t/z; fromisoformat does not.
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:[zZ]|[+-]\d\d(?::?\d\d)?)$)")
_YAML_HINTS = {
    "'@'": 'quote a value that starts with @, e.g. account: "@mybrand"',
    "'`'": "quote a value that starts with `",
    "'\\t'": "indent with spaces, not tabs",
    "mapping values are not allowed": 'quote a value that contains ": ", e.g. caption: "Look: this"',
}


@dataclass(frozen=True)
class Target:
    """One place to post the item: a platform account, with caption, time and options."""

    platform: str
    account: str  # as written: "@username" or an account id; resolved to an id via the API later
    intent: Intent
    caption: str
    dispatch_at: datetime | None  # timezone-aware UTC, or None for "now"
    options: Mapping[str, object]  # TikTok options, camelCase keys as the API wants, only those given


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar asks for: where to post the item, and whether to post it again."""

    path: Path | None  # None when the item has no sidecar and the defaults apply
    targets: tuple[Target, ...]
    repost: bool = False


class _DuplicateKey(yaml.YAMLError):
    """A mapping names the same key twice."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


class _SidecarLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where its silent choices could post at the wrong time."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Keys as written (`on:` stays "on"), and a repeated key is an error, not last-one-wins."""
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain word such as caption", key_node.start_mark
                )
            key = str(key_node.value)
            if key in mapping:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # PyYAML's own timestamps differ by version (5.3 made offsets aware, older ones gave naive
    # UTC) and turn "2026-12-01" into a date; keeping the text gives bare and quoted one parser.
    return str(loader.construct_scalar(node))


_SidecarLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def parse_sidecar(path: Path, defaults: DefaultsConfig, now: datetime) -> Sidecar:
    """Read the sidecar file (UTF-8, a BOM is fine) and validate it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SidecarError(f"{path.name}: cannot read the sidecar: {exc.strerror}", code="SIDECAR_UNREADABLE") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarError(
            f"{path.name}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); save it as UTF-8",
            code="SIDECAR_ENCODING",
        ) from exc
    return parse_sidecar_text(text, path, defaults, now)


def parse_sidecar_text(text: str, path: Path, defaults: DefaultsConfig, now: datetime) -> Sidecar:
    """Validate a sidecar's text; `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    name = path.name
    meta, body = _split_frontmatter(text, name)
    _check_keys(meta, TOP_LEVEL_KEYS, name)
    target = _target(meta, body, defaults, now.astimezone(timezone.utc), name)
    repost = _boolean(meta.get("repost", False), "repost", name)
    return Sidecar(path=path, targets=(target,), repost=repost)


def default_sidecar(defaults: DefaultsConfig) -> Sidecar:
    """The sidecar a media file without one gets: the configured defaults and no caption."""
    if not defaults.account:
        raise SidecarError(
            "no sidecar and no [defaults].account to post to; add a NAME.md with account:, "
            "or set account in [defaults]",
            code="SIDECAR_MISSING",
        )
    target = Target(
        platform=defaults.platform,
        account=defaults.account,
        intent=defaults.intent,
        caption="",
        dispatch_at=None,
        options=MappingProxyType({}),
    )
    return Sidecar(path=None, targets=(target,))


def _split_frontmatter(text: str, name: str) -> tuple[dict[str, Any], str]:
    """The frontmatter as a mapping and the stripped body; no frontmatter means body only."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").strip()
    handler = YAMLHandler()
    if not handler.detect(text):
        return {}, text
    try:
        raw, body = handler.split(text)
    except ValueError:
        raise SidecarError(
            f"{name}: the frontmatter opened with --- is never closed; end it with a line of ---",
            code="SIDECAR_YAML",
        ) from None
    try:
        meta = yaml.load(raw, Loader=_SidecarLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        problem = f"given twice (again on line {exc.line}); keep one"
        raise _fail(name, exc.key, problem, "SIDECAR_DUPLICATE_KEY") from exc
    except yaml.YAMLError as exc:
        problem = f"the frontmatter is not valid YAML: {_yaml_problem(exc)}"
        raise SidecarError(f"{name}: {problem}", code="SIDECAR_YAML") from exc
    if meta is None:
        return {}, body.strip()
    if not isinstance(meta, dict):
        raise SidecarError(
            f"{name}: the frontmatter must be `key: value` lines, not a {type(meta).__name__}; "
            'e.g. account: "@mybrand"',
            code="SIDECAR_YAML",
        )
    return meta, body.strip()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint with its file line number, plus a hint for the usual mistakes."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return str(exc)
    # The frontmatter text starts on the file's first line, right after the opening ---.
    where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
    problem = exc.problem or exc.context or "cannot be read"
    hints = [hint for needle, hint in _YAML_HINTS.items() if needle in problem]
    return f"{where}: {problem}" + "".join(f"; {hint}" for hint in hints)


def _check_keys(meta: Mapping[str, Any], allowed: Iterable[str], name: str, prefix: str = "") -> None:
    """Every key must be a known one; a near miss is named, so a typo never goes unnoticed."""
    allowed = tuple(allowed)
    for key in meta:
        if key in allowed:
            continue
        if prefix and key in TOP_LEVEL_KEYS:
            problem = "not a TikTok option; write it at the top level, not under options:"
            raise _fail(name, prefix + key, problem, "SIDECAR_UNKNOWN_KEY")
        near = _nearest(key, allowed)
        advice = f"did you mean {near}?" if near else f"valid keys are {', '.join(allowed)}"
        raise _fail(name, prefix + key, f"unknown key; {advice}", "SIDECAR_UNKNOWN_KEY")


def _target(meta: Mapping[str, Any], body: str, defaults: DefaultsConfig, now: datetime, name: str) -> Target:
    """One target from the keys of a mapping, falling back to the configured defaults."""
    return Target(
        platform=_choice(meta.get("platform", defaults.platform), "platform", PLATFORMS, name),
        account=_account(meta, defaults, name),
        intent=cast(Intent, _choice(meta.get("intent", defaults.intent), "intent", INTENTS, name)),
        caption=_caption(meta, body, name),
        dispatch_at=_dispatch_at(meta.get("dispatchAt"), defaults, now, name),
        options=MappingProxyType(_options(meta, name)),
    )


def _account(meta: Mapping[str, Any], defaults: DefaultsConfig, name: str) -> str:
    """The account as written, else the configured default."""
    if "account" not in meta:
        if defaults.account:
            return defaults.account
        problem = 'missing and there is no [defaults].account; write account: "@username", or set it in the config'
        raise _fail(name, "account", problem, "SIDECAR_MISSING")
    value = meta["account"]
    if not isinstance(value, str) or len(value.split()) != 1:
        advice = 'write the username in quotes, e.g. account: "@mybrand", or the account id'
        raise _fail(name, "account", f"{_show(value)} is not an account; {advice}")
    return value.strip()


def _caption(meta: Mapping[str, Any], body: str, name: str) -> str:
    """The `caption:` key or else the body; both at once is an error, since one would be lost."""
    if "caption" in meta:
        value = meta["caption"]
        if body:
            raise _fail(name, "caption", "given both as a caption: key and as text below the frontmatter; keep one")
        if value is None:
            advice = 'quote the text (an unquoted # starts a YAML comment), e.g. caption: "#fyp"'
            raise _fail(name, "caption", f"is empty; {advice}")
        if not isinstance(value, str):
            raise _fail(name, "caption", f'{_show(value)} is not text; put it in quotes: caption: "{_show(value)}"')
        caption = value.strip()
    else:
        caption = body
    if len(caption) > CAPTION_MAX_CHARS:
        over = len(caption) - CAPTION_MAX_CHARS
        problem = f"{len(caption)} characters, TikTok allows at most {CAPTION_MAX_CHARS}; shorten it by {over}"
        raise _fail(name, "caption", problem, "CAPTION_TOO_LONG")
    return caption


def _choice(value: object, key: str, choices: tuple[str, ...], name: str) -> str:
    """A value that must be exactly one of `choices`; a near miss is suggested, never taken."""
    if isinstance(value, str) and value in choices:
        return value
    near = _nearest(value, choices) if isinstance(value, str) else None
    advice = f"; did you mean {near}?" if near else ""
    raise _fail(name, key, f"{_show(value)} is not one of {', '.join(choices)}{advice}")


def _boolean(value: object, key: str, name: str) -> bool:
    """A real YAML boolean; the quoted text "true" or "yes" is refused, not interpreted."""
    if isinstance(value, bool):
        return value
    advice = f"write {key}: true or {key}: false, without quotes"
    raise _fail(name, key, f"{_show(value)} is not true or false; {advice}")


def _options(meta: Mapping[str, Any], name: str) -> dict[str, object]:
    """TikTok options from the top level and from `options:`, each given in one place only."""
    nested = meta.get("options", {})
    if nested is None:  # an `options:` line with nothing under it
        nested = {}
    if not isinstance(nested, dict):
        raise _fail(name, "options", "must be `option: value` lines indented under options:")
    _check_keys(nested, OPTION_TYPES, name, prefix="options.")
    for key in nested:
        if key in meta:
            raise _fail(name, key, "given both at the top level and under options:; keep one", "SIDECAR_DUPLICATE_KEY")
    given = {**{key: meta[key] for key in OPTION_TYPES if key in meta}, **nested}
    return {key: _option_value(given[key], key, name) for key in OPTION_TYPES if key in given}


def _option_value(value: object, key: str, name: str) -> object:
    """One TikTok option checked against its type in the table of `daemon.tiktok`."""
    if key in OPTION_CHOICES:
        return _choice(value, key, OPTION_CHOICES[key], name)
    expected = OPTION_TYPES[key]
    if expected is bool:
        return _boolean(value, key, name)
    if expected is int:
        # bool is an int in Python; `true` must not pass as 1 millisecond.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise _fail(name, key, f"{_show(value)} is not a whole number of 0 or more; write e.g. {key}: 1500")
    if isinstance(value, expected):
        return value
    raise _fail(name, key, f"{_show(value)} is not a {expected.__name__}")


def _dispatch_at(value: object, defaults: DefaultsConfig, now: datetime, name: str) -> datetime | None:
    """When to post, in UTC; None means now, including a time just past within the grace."""
    if value is None:
        return None
    when = _parse_time(value, defaults.zone, name).astimezone(timezone.utc)
    late = now - when
    grace = timedelta(minutes=defaults.late_grace_minutes)
    if late > grace:
        problem = (
            f"{_show(value)} is {_duration(late)} in the past, more than the {defaults.late_grace_minutes:g} "
            "minutes allowed by [defaults].late_grace_minutes; write a future time, or leave dispatchAt out to post now"
        )
        raise _fail(name, "dispatchAt", problem, "SIDECAR_DISPATCH_PAST")
    if late >= timedelta(0):
        return None
    if -late > MAX_SCHEDULE_AHEAD:
        raise _fail(name, "dispatchAt", f"{_show(value)} is more than 5 years ahead; check the year")
    return when


def _parse_time(value: object, zone: ZoneInfo, name: str) -> datetime:
    """An aware datetime from ISO 8601 text; text without an offset is wall time in `zone`."""
    not_a_time = _fail(name, "dispatchAt", f"{_show(value)} is not a date-time; write e.g. {DISPATCH_EXAMPLE}")
    if not isinstance(value, str):
        raise not_a_time
    text = _SPACE_BEFORE_OFFSET.sub("", value.strip())
    text = text[:10] + text[10:].upper()  # the t and z YAML allows in lowercase
    if _is_date_only(text):
        advice = f"write e.g. {text}T18:00:00 or {DISPATCH_EXAMPLE}"
        raise _fail(name, "dispatchAt", f"{_show(value)} needs a time of day; {advice}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise not_a_time from None
    if parsed.tzinfo is None:
        return _localize(parsed, zone, value, name)
    return parsed


def _is_date_only(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _localize(wall: datetime, zone: ZoneInfo, value: str, name: str) -> datetime:
    """Wall time in `zone`; a time the clocks skip or repeat is refused rather than guessed."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    normalized = first.astimezone(timezone.utc).astimezone(zone)
    if normalized.replace(tzinfo=None) != wall:
        problem = (
            f"{_show(value)} does not exist in {zone.key}: the clocks skip it when daylight saving time starts; "
            f"write another time or an offset, e.g. {normalized.isoformat()}"
        )
    else:
        problem = (
            f"{_show(value)} happens twice in {zone.key}: the clocks go back at that hour; add the offset you "
            f"mean, {first.isoformat()} (the first) or {second.isoformat()} (the second)"
        )
    raise _fail(name, "dispatchAt", problem)


def _nearest(word: str, choices: Iterable[str]) -> str | None:
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


def _duration(span: timedelta) -> str:
    """A span in the largest units that matter: "3 days 2 hours", "40 minutes"."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count]
    return " ".join(words[:2]) or "less than a minute"


def _show(value: object) -> str:
    """A value as the user would write it in YAML: text in double quotes, true/false, null."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _fail(name: str, key: str, problem: str, code: str = "SIDECAR_VALUE") -> SidecarError:
    """The error for one key, worded as the contract promises: file, key, what would be right."""
    return SidecarError(f"{name}: {key}: {problem}", code=code)
