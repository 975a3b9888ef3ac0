"""The Markdown sidecar: YAML frontmatter and a caption body, read into a validated `Sidecar`.

Nothing is posted on a guess: an unknown key, a bad value or a doubtful time raises a
`SidecarError` whose message names the file, the key and what would be right.

An item may go to several accounts (`targets:`, issue 8). Each target's value of a key comes from,
first to last: the target itself, the sidecar's top level, the account's `[accounts."@name"]`
table in the config, and `[defaults]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import yaml
from frontmatter.default_handlers import YAMLHandler

from pqdrop.config import AccountConfig, DefaultsConfig, ScheduleConfig, account_config, fold_account
from pqdrop.errors import SidecarError
from pqdrop.platforms import PLATFORMS, POSTQUED_CAPTION_MAX_CHARS
from pqdrop.platforms import platform as platform_of
from pqdrop.platforms.options import OptionProblem, target_options
from pqdrop.platforms.tiktok import INTENTS, OPTION_TYPES
from pqdrop.sidecar.changes import CANCEL_KEY
from pqdrop.sidecar.loader import DuplicateKey, SidecarLoader, TooComplex
from pqdrop.sidecar.punctuation import check_fences, check_punctuation
from pqdrop.sidecar.source import SidecarSource, read_sidecar
from pqdrop.suggest import choice_problem, nearest, show

Intent = Literal["draft", "publish"]

# Keys of one post target: at the top level they are the defaults of every entry of `targets:`.
TARGET_KEYS: tuple[str, ...] = ("account", "caption", "dispatchAt", "intent", "platform", "options")
# Keys about the item as a whole, whatever its targets.
ITEM_KEYS: tuple[str, ...] = ("repost", "targets", "cancel")  # cancel: true cancels a post in scheduled/
TOP_LEVEL_KEYS: tuple[str, ...] = TARGET_KEYS + ITEM_KEYS + tuple(OPTION_TYPES)
ENTRY_KEYS: tuple[str, ...] = TARGET_KEYS + tuple(OPTION_TYPES)
# A body whose first line is one of these and a colon is settings without their fences, never a caption.
SETTING_KEYS = frozenset((*TOP_LEVEL_KEYS, CANCEL_KEY))

# dispatchAt words: the account's next free posting slot, and "now" even when [schedule].auto is on.
NEXT_SLOT = "next"
RIGHT_NOW = "now"
NO_ACCOUNTS: Mapping[str, AccountConfig] = MappingProxyType({})

DISPATCH_EXAMPLE = "2026-12-01T18:00:00+01:00"
# A schedule further ahead than this is far likelier a mistyped year than a plan.
MAX_SCHEDULE_AHEAD = timedelta(days=5 * 366)

# YAML allows "2026-12-01 18:00:00 +01:00" and a lowercase t/z; fromisoformat does not.
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:[zZ]|[+-]\d\d(?::?\d\d)?)$)")
_TIME_OF_DAY = re.compile(r"\d\d?:\d\d(?::\d\d)?")  # no date: YAML 1.1 would have read 18:00 as 1080
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
    dispatch_at: datetime | None  # timezone-aware UTC, or None for "now" (or for a slot not reserved yet)
    options: Mapping[str, object]  # the platform's options, camelCase keys as the API wants, only those given
    next_slot: bool = False  # post at the account's next free slot, reserved in the journal before publishing
    caption_suffix: str = ""  # the account's fixed text, already in `caption`; named when the caption is too long
    # Where the account came from, for messages: "account", "targets[2].account" or "[defaults].account".
    account_key: str = field(default="account", compare=False)

    @property
    def key(self) -> str:
        """The account as one platform knows it: "@mybrand" on TikTok and on YouTube are two accounts."""
        return self.account if self.platform == "tiktok" else f"{self.platform}:{self.account}"


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar asks for: where to post the item, and whether to post it again."""

    path: Path | None  # None when the item has no sidecar and the defaults apply
    targets: tuple[Target, ...]
    repost: bool = False
    cancel: bool = False  # in scheduled/NAME.md: cancel the post (editor.py); refused on a fresh drop
    # What was read, once (source.py): the text and digest an edit in scheduled/ is later judged against.
    text: str | None = field(default=None, compare=False, repr=False)
    digest: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Context:
    """What a sidecar is read against: the config's defaults, per-account tables and schedule."""

    defaults: DefaultsConfig
    accounts: Mapping[str, AccountConfig]
    schedule: ScheduleConfig
    now: datetime  # UTC
    name: str  # the sidecar's file name, for messages


def parse_sidecar(
    path: Path,
    defaults: DefaultsConfig,
    now: datetime,
    *,
    accounts: Mapping[str, AccountConfig] = NO_ACCOUNTS,
    schedule: ScheduleConfig | None = None,
    root: Path | None = None,
    source: SidecarSource | None = None,
) -> Sidecar:
    """Read the sidecar file (UTF-8, a BOM is fine; never through a link, at most 1 MiB) and validate it.

    `root` is the item's folder, below which no part of the path may be a link; `source`, the bytes
    already read (an edit in scheduled/ is read once, then judged).
    """
    source = source or read_sidecar(path, root)
    text = source.text()
    sidecar = parse_sidecar_text(text, path, defaults, now, accounts=accounts, schedule=schedule)
    return replace(sidecar, text=text, digest=source.digest)


def parse_sidecar_text(
    text: str,
    path: Path,
    defaults: DefaultsConfig,
    now: datetime,
    *,
    accounts: Mapping[str, AccountConfig] = NO_ACCOUNTS,
    schedule: ScheduleConfig | None = None,
) -> Sidecar:
    """Validate a sidecar's text; `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    context = _Context(defaults, accounts, schedule or ScheduleConfig(), now.astimezone(UTC), path.name)
    check_fences(check_punctuation(text, path.name), path.name, SETTING_KEYS)
    meta, body = _split_frontmatter(text, path.name)
    _check_keys(meta, TOP_LEVEL_KEYS, path.name)
    repost = _boolean(meta.get("repost", False), "repost", path.name)
    cancel = _boolean(meta.get("cancel", False), "cancel", path.name)
    top_caption = _caption(meta, body, path.name)
    entries = _entries(meta, path.name)
    platforms = _item_platforms(meta, entries, context)
    targets = tuple(_target(meta, entry, prefix, top_caption, context, platforms) for prefix, entry in entries)
    if "tiktok" not in platforms and (flat := [key for key in OPTION_TYPES if key in meta]):
        raise _fail(path.name, flat[0], "is a TikTok option, and this item posts to no TikTok account")
    _check_distinct_accounts(targets, [prefix for prefix, _ in entries], path.name)
    return Sidecar(path=path, targets=targets, repost=repost, cancel=cancel)


def default_sidecar(
    defaults: DefaultsConfig,
    *,
    accounts: Mapping[str, AccountConfig] = NO_ACCOUNTS,
    schedule: ScheduleConfig | None = None,
) -> Sidecar:
    """The sidecar a media file without one gets: the configured defaults, [defaults].caption as its caption."""
    if not defaults.account:
        raise SidecarError(
            "no sidecar and no [defaults].account to post to; add a NAME.md with account:, "
            "or set account in [defaults]",
            code="SIDECAR_MISSING",
        )
    # No dispatchAt to judge, so the moment is never read.
    context = _Context(defaults, accounts, schedule or ScheduleConfig(), datetime.now(UTC), "(no sidecar)")
    return Sidecar(path=None, targets=(_target({}, {}, "", defaults.caption, context, (defaults.platform,)),))


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
        meta = yaml.load(raw, Loader=SidecarLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKey as exc:
        problem = f"given twice (again on line {exc.line}); keep one"
        raise _fail(name, exc.key, problem, "SIDECAR_DUPLICATE_KEY") from exc
    except TooComplex as exc:
        problem = f"the frontmatter {exc.problem} (line {exc.line}); a sidecar needs plain `key: value` lines"
        raise SidecarError(f"{name}: {problem}", code="SIDECAR_YAML") from exc
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


def _check_keys(
    meta: Mapping[str, Any],
    allowed: Iterable[str],
    name: str,
    prefix: str = "",
    misplaced: Mapping[str, str] | None = None,
) -> None:
    """Every key must be a known one; a near miss is named, so a typo never goes unnoticed.

    `misplaced` maps keys that are valid elsewhere in the sidecar to where they belong.
    """
    allowed = tuple(allowed)
    for key in meta:
        if key in allowed:
            continue
        if misplaced and key in misplaced:
            raise _fail(name, prefix + key, misplaced[key], "SIDECAR_UNKNOWN_KEY")
        near = nearest(key, allowed)
        advice = f"did you mean {near}?" if near else f"valid keys are {', '.join(allowed)}"
        raise _fail(name, prefix + key, f"unknown key; {advice}", "SIDECAR_UNKNOWN_KEY")


def _entries(meta: Mapping[str, Any], name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The `targets:` entries with the prefix their keys get in messages; one empty entry without the key."""
    if "targets" not in meta:
        return [("", {})]
    value = meta["targets"]
    example = 'e.g.\ntargets:\n  - account: "@mybrand"\n  - account: "@otherbrand"'
    if not isinstance(value, list) or not value:
        raise _fail(name, "targets", f"must be a list of targets, one `- account: ...` line each; {example}")
    entries: list[tuple[str, Mapping[str, Any]]] = []
    whole_item = "applies to the whole item; write it at the top level, not inside a target"
    for number, entry in enumerate(value, start=1):
        prefix = f"targets[{number}]."
        if not isinstance(entry, dict):
            raise _fail(name, prefix[:-1], f"{show(entry)} is not a target of `key: value` lines; {example}")
        _check_keys(entry, ENTRY_KEYS, name, prefix, misplaced=dict.fromkeys(ITEM_KEYS, whole_item))
        entries.append((prefix, entry))
    return entries


def _item_platforms(meta: Mapping[str, Any], entries: Sequence[tuple[str, Mapping[str, Any]]],
                    context: _Context) -> tuple[str, ...]:
    """The platforms an item's targets go to, each checked: top-level options are shared among them."""
    found = []
    for prefix, entry in entries:
        key = prefix + "platform" if "platform" in entry else "platform"
        value = entry.get("platform", meta.get("platform", context.defaults.platform))
        found.append(_choice(value, key, PLATFORMS, context.name))
    return tuple(dict.fromkeys(found))


def _target(
    meta: Mapping[str, Any], entry: Mapping[str, Any], prefix: str, caption: str, context: _Context,
    platforms: Sequence[str],
) -> Target:
    """One target: each key from the entry, else the sidecar's top level, else the account's table, else [defaults]."""
    name, defaults = context.name, context.defaults

    def pick(key: str, fallback: object) -> tuple[object, str]:
        """A key's value and the name it has in messages."""
        if key in entry:
            return entry[key], prefix + key
        return meta.get(key, fallback), key

    given = "account" in entry or "account" in meta
    account = _account(*pick("account", defaults.account), name, given=given)
    account_key = pick("account", None)[1] if given else "[defaults].account"
    settings = account_config(context.accounts, account)
    platform = _choice(*pick("platform", defaults.platform), PLATFORMS, name)
    intent = cast(Intent, _choice(*pick("intent", settings.intent or defaults.intent), INTENTS, name))
    caption = _caption(entry, "", name, prefix) if "caption" in entry else caption
    suffix = settings.caption_suffix
    caption = _with_suffix(caption, suffix, account, prefix, name, platform)
    elsewhere = f"not a {platform_of(platform).label} option; write it at the top level, not under options:"
    try:
        options = target_options(
            platform_of(platform), account=settings.platform_options(platform), top=meta, entry=entry, prefix=prefix,
            item_tables=[platform_of(other) for other in platforms], misplaced=dict.fromkeys(TOP_LEVEL_KEYS, elsewhere),
        )
    except OptionProblem as exc:
        raise _fail(name, exc.key, exc.problem, exc.code) from exc
    given = "dispatchAt" in entry or "dispatchAt" in meta
    value, key = pick("dispatchAt", None)
    if value == NEXT_SLOT or (not given and context.schedule.auto):
        _check_slots(account, settings, context, key, "next" if given else "[schedule].auto = true")
        return Target(platform, account, intent, caption, None, MappingProxyType(options), True,
                      caption_suffix=suffix, account_key=account_key)
    zone = settings.zone or defaults.zone
    dispatch_at = (
        None if value == RIGHT_NOW
        else _dispatch_at(value, zone, defaults.late_grace_minutes, context.now, name, key)
    )
    return Target(platform, account, intent, caption, dispatch_at, MappingProxyType(options),
                  caption_suffix=suffix, account_key=account_key)


def _check_slots(account: str, settings: AccountConfig, context: _Context, key: str, asked: str) -> None:
    """A slot can only be taken where posting slots are configured."""
    if settings.slots or context.schedule.slots:
        return
    problem = (
        f"{asked} takes {account}'s next free posting slot, but no slots are configured; set [schedule] slots = "
        f'["09:00", "18:30"] (or slots in [accounts."{account}"]) in the config, or write a date-time'
    )
    raise _fail(context.name, key, problem, "SIDECAR_NO_SLOTS")


def _check_distinct_accounts(targets: Sequence[Target], prefixes: Sequence[str], name: str) -> None:
    """One item posts once per account: two targets naming the same account are an error, not a double post."""
    seen: dict[tuple[str, str], str] = {}
    for target, prefix in zip(targets, prefixes, strict=False):
        folded = (target.platform, fold_account(target.account))
        if folded in seen:
            problem = f"{show(target.account)} is already the account of {seen[folded]}; an item posts once per account"
            raise _fail(name, prefix + "account", problem, "SIDECAR_DUPLICATE_ACCOUNT")
        seen[folded] = prefix.rstrip(".")


def _account(value: object, key: str, name: str, *, given: bool) -> str:
    """The account as written (else the configured default)."""
    if value is None and not given:
        problem = 'missing and there is no [defaults].account; write account: "@username", or set it in the config'
        raise _fail(name, key, problem, "SIDECAR_MISSING")
    if not isinstance(value, str) or len(value.split()) != 1:
        advice = 'write the username in quotes, e.g. account: "@mybrand", or the account id'
        raise _fail(name, key, f"{show(value)} is not an account; {advice}")
    return value.strip()


def _with_suffix(caption: str, suffix: str, account: str, prefix: str, name: str, platform: str = "tiktok") -> str:
    """The caption with the account's fixed text appended. TikTok's limit (preflight.py) applies to the whole, in
    UTF-16 units and per kind of post, so it is checked once the media are known; other platforms get PostQued's."""
    if suffix:
        # A suffix that starts with a line break or a space is kept as written; otherwise a space joins.
        caption = f"{caption}{suffix}" if not caption or suffix[0].isspace() else f"{caption} {suffix}"
        caption = caption.strip()
    limit = POSTQUED_CAPTION_MAX_CHARS
    if platform != "tiktok" and len(caption) > limit:
        with_suffix = f' with the {len(suffix)} of [accounts."{account}"].caption_suffix' if suffix else ""
        problem = f"{len(caption)} characters{with_suffix}, PostQued allows at most {limit}; shorten it by "
        raise _fail(name, prefix + "caption", problem + str(len(caption) - limit), "CAPTION_TOO_LONG")
    return caption


def _caption(meta: Mapping[str, Any], body: str, name: str, prefix: str = "") -> str:
    """The `caption:` key or else the body; both at once is an error, since one would be lost."""
    if "caption" not in meta:
        return body
    value = meta["caption"]
    key = prefix + "caption"
    if body:
        raise _fail(name, key, "given both as a caption: key and as text below the frontmatter; keep one")
    if value is None:
        advice = 'quote the text (an unquoted # starts a YAML comment), e.g. caption: "#fyp"'
        raise _fail(name, key, f"is empty; {advice}")
    if not isinstance(value, str):
        raise _fail(name, key, f'{show(value)} is not text; put it in quotes: caption: "{show(value)}"')
    return value.strip()


def _choice(value: object, key: str, choices: tuple[str, ...], name: str) -> str:
    """A value that must be exactly one of `choices`; a near miss is suggested, never taken."""
    problem = choice_problem(value, choices)
    if problem:
        raise _fail(name, key, problem)
    return cast(str, value)


def _boolean(value: object, key: str, name: str) -> bool:
    """A real YAML boolean; the quoted text "true" or "yes" is refused, not interpreted."""
    if isinstance(value, bool):
        return value
    advice = f"write {key}: true or {key}: false, without quotes"
    raise _fail(name, key, f"{show(value)} is not true or false; {advice}")


def _dispatch_at(
    value: object, zone: ZoneInfo, grace_minutes: float, now: datetime, name: str, key: str = "dispatchAt"
) -> datetime | None:
    """When to post, in UTC; None means now, including a time just past within the grace."""
    if value is None:
        return None
    when = _parse_time(value, zone, name, key).astimezone(UTC)
    late = now - when
    grace = timedelta(minutes=grace_minutes)
    if late > grace:
        problem = (
            f"{show(value)} is {_duration(late)} in the past, more than the {grace_minutes:g} "
            "minutes allowed by [defaults].late_grace_minutes; write a future time, or leave dispatchAt out to post now"
        )
        raise _fail(name, key, problem, "SIDECAR_DISPATCH_PAST")
    if late >= timedelta(0):
        return None
    if -late > MAX_SCHEDULE_AHEAD:
        raise _fail(name, key, f"{show(value)} is more than 5 years ahead; check the year")
    return when


def _parse_time(value: object, zone: ZoneInfo, name: str, key: str = "dispatchAt") -> datetime:
    """An aware datetime from ISO 8601 text; text without an offset is wall time in `zone`."""
    not_a_time = _fail(name, key, f"{show(value)} is not a date-time; write e.g. {DISPATCH_EXAMPLE}")
    if not isinstance(value, str):
        raise not_a_time
    text = _SPACE_BEFORE_OFFSET.sub("", value.strip())
    text = text[:10] + text[10:].upper()  # the t and z YAML allows in lowercase
    if _is_date_only(text):
        advice = f"write e.g. {text}T18:00:00 or {DISPATCH_EXAMPLE}"
        raise _fail(name, key, f"{show(value)} needs a time of day; {advice}")
    if _TIME_OF_DAY.fullmatch(text):
        raise _fail(name, key, f"{show(value)} needs its date; write e.g. {DISPATCH_EXAMPLE[:11]}{text:0>5}, "
                               "or dispatchAt: next for the account's next free slot")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise not_a_time from None
    if parsed.tzinfo is None:
        return _localize(parsed, zone, value, name, key)
    return parsed


def _is_date_only(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _localize(wall: datetime, zone: ZoneInfo, value: str, name: str, key: str = "dispatchAt") -> datetime:
    """Wall time in `zone`; a time the clocks skip or repeat is refused rather than guessed."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    normalized = first.astimezone(UTC).astimezone(zone)
    if normalized.replace(tzinfo=None) != wall:
        problem = (
            f"{show(value)} does not exist in {zone.key}: the clocks skip it when daylight saving time starts; "
            f"write another time or an offset, e.g. {normalized.isoformat()}"
        )
    else:
        problem = (
            f"{show(value)} happens twice in {zone.key}: the clocks go back at that hour; add the offset you "
            f"mean, {first.isoformat()} (the first) or {second.isoformat()} (the second)"
        )
    raise _fail(name, key, problem)


def _duration(span: timedelta) -> str:
    """A span in the largest units that matter: "3 days 2 hours", "40 minutes"."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count]
    return " ".join(words[:2]) or "less than a minute"


def _fail(name: str, key: str, problem: str, code: str = "SIDECAR_VALUE") -> SidecarError:
    """The error for one key, worded as the contract promises: file, key, what would be right."""
    return SidecarError(f"{name}: {key}: {problem}", code=code)
