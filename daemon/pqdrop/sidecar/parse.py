"""The Markdown sidecar: YAML frontmatter and a caption body, read into a validated `Sidecar`.

Nothing is posted on a guess: an unknown key, a bad value or a doubtful time raises a
`SidecarError` whose message names the file, the key and what would be right; a sidecar with
several problems gets them all in one error (issue 22). Text values are kept as typed or refused
where YAML would change them (`loader.load_frontmatter`).

An item may go to several accounts (`targets:`, issue 8). Each target's value of a key comes from,
first to last: the target itself, the sidecar's top level, the account's `[accounts."@name"]`
table in the config, and `[defaults]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

import yaml
from frontmatter.default_handlers import YAMLHandler

from pqdrop.config import AccountConfig, DefaultsConfig, ScheduleConfig, account_config, fold_account
from pqdrop.errors import SidecarError
from pqdrop.platforms import PLATFORMS, POSTQUED_CAPTION_MAX_CHARS, TEXT_OPTIONS, Platform, elsewhere
from pqdrop.platforms import platform as platform_of
from pqdrop.platforms.options import OptionProblem, target_options, unknown_key
from pqdrop.platforms.tiktok import INTENTS, OPTION_TYPES
from pqdrop.sidecar.changes import CANCEL_KEY
from pqdrop.sidecar.loader import DuplicateKey, TooComplex, load_frontmatter
from pqdrop.sidecar.problems import Problems, fail
from pqdrop.sidecar.punctuation import check_fences, check_punctuation
from pqdrop.sidecar.quoting import quoting_fix
from pqdrop.sidecar.source import SidecarSource, read_sidecar
from pqdrop.sidecar.times import dispatch_at as when_to_post
from pqdrop.suggest import choice_problem, nearest, show

Intent = Literal["draft", "publish"]

# Keys of one post target: at the top level they are the defaults of every entry of `targets:`.
TARGET_KEYS: tuple[str, ...] = ("account", "caption", "dispatchAt", "intent", "platform", "options")
# Keys about the item as a whole, whatever its targets.
ITEM_KEYS: tuple[str, ...] = ("repost", "targets", "cancel")  # cancel: true cancels a post in scheduled/
TOP_LEVEL_KEYS: tuple[str, ...] = TARGET_KEYS + ITEM_KEYS + tuple(OPTION_TYPES)
# A TikTok entry's keys; an entry of another platform takes that platform's options instead (issue 22).
ENTRY_KEYS: tuple[str, ...] = TARGET_KEYS + tuple(OPTION_TYPES)
# A body whose first line is one of these and a colon is settings without their fences, never a caption.
SETTING_KEYS = frozenset((*TOP_LEVEL_KEYS, CANCEL_KEY))
# Keys whose value is posted as text: kept as typed, or refused where YAML would change it (issue 22).
TEXT_KEYS = frozenset(("caption", *TEXT_OPTIONS))

# dispatchAt words: the account's next free posting slot, and "now" even when [schedule].auto is on.
NEXT_SLOT = "next"
RIGHT_NOW = "now"
NO_ACCOUNTS: Mapping[str, AccountConfig] = MappingProxyType({})

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
    problems = Problems(path.name)
    meta, body = _split_frontmatter(text, path.name, problems)
    entries = _entries(meta, problems)
    tables = [platform_of(name) for name in _item_platforms(meta, entries, context, problems)]
    item_options = [key for table in tables for key in table.options if key not in TOP_LEVEL_KEYS]
    _check_keys(meta, (*TOP_LEVEL_KEYS, *item_options), problems, tables=tables)
    repost = problems.attempt(lambda: _boolean(meta.get("repost", False), "repost", path.name), False)
    cancel = problems.attempt(lambda: _boolean(meta.get("cancel", False), "cancel", path.name), False)
    top_caption = problems.attempt(lambda: _caption(meta, body, path.name), "")
    targets = [_target(meta, entry, prefix, top_caption, context, tables, problems) for prefix, entry in entries]
    if not any(table.name == "tiktok" for table in tables):
        for key in (key for key in OPTION_TYPES if key in meta):
            problems.add(fail(path.name, key, elsewhere(key, tables) or "a TikTok option", "SIDECAR_UNKNOWN_KEY"))
    problems.check()
    built = tuple(target for target in targets if target is not None)
    _check_distinct_accounts(built, [prefix for prefix, _ in entries], path.name)
    return Sidecar(path=path, targets=built, repost=repost, cancel=cancel)


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
    problems = Problems(context.name)
    target = _target({}, {}, "", defaults.caption, context, [platform_of(defaults.platform)], problems)
    problems.check()
    assert target is not None  # a target that failed left a problem
    return Sidecar(path=None, targets=(target,))


def _split_frontmatter(text: str, name: str, problems: Problems) -> tuple[dict[str, Any], str]:
    """The frontmatter as a mapping and the stripped body; no frontmatter means body only. A text value YAML would
    not read as typed is a problem; a frontmatter that is no YAML at all raises."""
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
        meta, readings, problems.key_lines = load_frontmatter(raw, TEXT_KEYS)
    except DuplicateKey as exc:
        problem = f"given twice (again on line {exc.line}); keep one"
        raise fail(name, exc.key, problem, "SIDECAR_DUPLICATE_KEY") from exc
    except TooComplex as exc:
        problem = f"the frontmatter {exc.problem} (line {exc.line}); a sidecar needs plain `key: value` lines"
        raise SidecarError(f"{name}: {problem}", code="SIDECAR_YAML") from exc
    except yaml.YAMLError as exc:
        problem = f"the frontmatter is not valid YAML: {_yaml_problem(exc, raw)}"
        raise SidecarError(f"{name}: {problem}", code="SIDECAR_YAML") from exc
    for reading in readings:
        problems.add(fail(name, reading.key, reading.problem, "SIDECAR_TEXT"))
    if meta is None:
        return {}, body.strip()
    if not isinstance(meta, dict):
        raise SidecarError(
            f"{name}: the frontmatter must be `key: value` lines, not a {type(meta).__name__}; "
            'e.g. account: "@mybrand"',
            code="SIDECAR_YAML",
        )
    return meta, body.strip()


def _yaml_problem(exc: yaml.YAMLError, raw: str = "") -> str:
    """PyYAML's complaint with its file line number, plus a hint for the usual mistakes: the line to write when a
    line of the frontmatter has one of the usual quoting mistakes (`quoting`)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return str(exc)
    # The frontmatter text starts on the file's first line, right after the opening ---.
    where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
    problem = exc.problem or exc.context or "cannot be read"
    lines = raw.split("\n")
    marks = (exc.problem_mark.line, *((exc.context_mark.line,) if exc.context_mark is not None else ()))
    for index in sorted(set(marks), reverse=True):
        fix = quoting_fix(lines[index]) if 0 <= index < len(lines) else None
        if fix is not None:
            return f"line {index + 1}: {fix} (YAML: {problem} at {where})"
    hints = [hint for needle, hint in _YAML_HINTS.items() if needle in problem]
    return f"{where}: {problem}" + "".join(f"; {hint}" for hint in hints)


def _check_keys(
    meta: Mapping[str, Any],
    allowed: Iterable[str],
    problems: Problems,
    prefix: str = "",
    misplaced: Mapping[str, str] | None = None,
    tables: Sequence[Platform] = (),
) -> None:
    """Every key must be a known one; a near miss is named, so a typo never goes unnoticed, and an option of a
    platform other than `tables` names the platforms that have it.

    `misplaced` maps keys that are valid elsewhere in the sidecar to where they belong.
    """
    allowed = tuple(allowed)
    for key in meta:
        if key in allowed:
            continue
        if misplaced and key in misplaced:
            problems.add(fail(problems.name, prefix + key, misplaced[key], "SIDECAR_UNKNOWN_KEY"))
            continue
        near = nearest(key, allowed)
        advice = f"did you mean {near}?" if near else f"valid keys are {', '.join(allowed)}"
        problem = (elsewhere(key, tables) if tables else None) or f"unknown key; {advice}"
        problems.add(fail(problems.name, prefix + key, problem, "SIDECAR_UNKNOWN_KEY"))


def _entries(meta: Mapping[str, Any], problems: Problems) -> list[tuple[str, Mapping[str, Any]]]:
    """The `targets:` entries with the prefix their keys get in messages; one empty entry without the key.
    An entry that is no mapping is a problem and left out; its keys are checked with its platform (`_target`)."""
    if "targets" not in meta:
        return [("", {})]
    value = meta["targets"]
    example = ('e.g. targets: [{account: "@mybrand"}, {account: "@otherbrand"}], or a line "- account: ..." for each, '
               "below targets:")
    if not isinstance(value, list) or not value:
        problem = f"must be a list of targets, one `- account: ...` line each; {example}"
        problems.add(fail(problems.name, "targets", problem))
        return []
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for number, entry in enumerate(value, start=1):
        prefix = f"targets[{number}]."
        if not isinstance(entry, dict):
            problem = f"{show(entry)} is not a target of `key: value` lines; {example}"
            problems.add(fail(problems.name, prefix[:-1], problem))
            continue
        entries.append((prefix, entry))
    return entries


def _item_platforms(meta: Mapping[str, Any], entries: Sequence[tuple[str, Mapping[str, Any]]],
                    context: _Context, problems: Problems) -> tuple[str, ...]:
    """The platforms an item's targets go to, each checked: top-level options are shared among them."""
    found = []
    for _, entry in entries:
        value = entry.get("platform", meta.get("platform", context.defaults.platform))
        if choice_problem(value, PLATFORMS) is None:  # a wrong one is named by its target
            found.append(cast(str, value))
    return tuple(dict.fromkeys(found))


def _target(
    meta: Mapping[str, Any], entry: Mapping[str, Any], prefix: str, caption: str, context: _Context,
    tables: Sequence[Platform], problems: Problems,
) -> Target | None:
    """One target: each key from the entry, else the sidecar's top level, else the account's table, else [defaults].
    None when something is wrong with it, each problem noted."""
    name, defaults = context.name, context.defaults
    before = len(problems.errors)

    def pick(key: str, fallback: object) -> tuple[object, str]:
        """A key's value and the name it has in messages."""
        if key in entry:
            return entry[key], prefix + key
        return meta.get(key, fallback), key

    given = "account" in entry or "account" in meta
    account = problems.attempt(lambda: _account(*pick("account", defaults.account), name, given=given), "")
    account_key = pick("account", None)[1] if given else "[defaults].account"
    settings = account_config(context.accounts, account) if account else AccountConfig()
    platform = problems.attempt(lambda: _choice(*pick("platform", defaults.platform), PLATFORMS, name), "")
    intent: Intent = problems.attempt(
        lambda: cast(Intent, _choice(*pick("intent", settings.intent or defaults.intent), INTENTS, name)), "draft")
    if "caption" in entry:
        caption = problems.attempt(lambda: _caption(entry, "", name, prefix), "")
    suffix = settings.caption_suffix
    caption = problems.attempt(lambda: _with_suffix(caption, suffix, account, prefix, name, platform or "tiktok"),
                               caption)
    options: dict[str, object] = {}
    if platform:
        table = platform_of(platform)
        options = _options(meta, entry, prefix, table, settings, tables, problems)
    given = "dispatchAt" in entry or "dispatchAt" in meta
    value, key = pick("dispatchAt", None)
    next_slot = value == NEXT_SLOT or (not given and context.schedule.auto)
    dispatch_at: datetime | None = None
    asked = "next" if given else "[schedule].auto = true"
    if next_slot:
        problems.attempt(lambda: _check_slots(account, settings, context, key, asked), None)
    elif value != RIGHT_NOW:
        zone = settings.zone or defaults.zone
        dispatch_at = problems.attempt(
            lambda: when_to_post(value, zone, defaults.late_grace_minutes, context.now, name, key), None)
    if len(problems.errors) > before:
        return None
    return Target(platform, account, intent, caption, dispatch_at, MappingProxyType(options), next_slot,
                  caption_suffix=suffix, account_key=account_key)


def _options(
    meta: Mapping[str, Any], entry: Mapping[str, Any], prefix: str, table: Platform, settings: AccountConfig,
    tables: Sequence[Platform], problems: Problems,
) -> dict[str, object]:
    """A target's options, its entry's keys checked against its platform: flat beside platform: or under options:,
    an option of another platform named as such (issue 22)."""
    if prefix:
        whole_item = "applies to the whole item; write it at the top level, not inside a target"
        allowed = (*TARGET_KEYS, *(key for key in table.options if key not in TARGET_KEYS))
        for key in entry:
            if key in allowed:
                continue
            problem = whole_item if key in ITEM_KEYS else unknown_key(str(key), allowed, (table,))
            problems.add(fail(problems.name, prefix + key, problem, "SIDECAR_UNKNOWN_KEY"))
    elsewhere_key = f"not a {table.label} option; write it at the top level, not under options:"
    found: list[OptionProblem] = []
    options = target_options(
        table, account=settings.platform_options(table.name), top=meta, entry=entry, prefix=prefix,
        item_tables=tables, misplaced=dict.fromkeys(TOP_LEVEL_KEYS, elsewhere_key), problems=found,
    )
    for option in found:
        problems.add(fail(problems.name, option.key, option.problem, option.code))
    return options


def _check_slots(account: str, settings: AccountConfig, context: _Context, key: str, asked: str) -> None:
    """A slot can only be taken where posting slots are configured."""
    if settings.slots or context.schedule.slots:
        return
    problem = (
        f"{asked} takes {account}'s next free posting slot, but no slots are configured; set [schedule] slots = "
        f'["09:00", "18:30"] (or slots in [accounts."{account}"]) in the config, or write a date-time'
    )
    raise fail(context.name, key, problem, "SIDECAR_NO_SLOTS")


def _check_distinct_accounts(targets: Sequence[Target], prefixes: Sequence[str], name: str) -> None:
    """One item posts once per account: two targets naming the same account are an error, not a double post."""
    seen: dict[tuple[str, str], str] = {}
    for target, prefix in zip(targets, prefixes, strict=False):
        folded = (target.platform, fold_account(target.account))
        if folded in seen:
            problem = f"{show(target.account)} is already the account of {seen[folded]}; an item posts once per account"
            raise fail(name, prefix + "account", problem, "SIDECAR_DUPLICATE_ACCOUNT")
        seen[folded] = prefix.rstrip(".")


def _account(value: object, key: str, name: str, *, given: bool) -> str:
    """The account as written (else the configured default)."""
    if value is None and not given:
        problem = 'missing and there is no [defaults].account; write account: "@username", or set it in the config'
        raise fail(name, key, problem, "SIDECAR_MISSING")
    if not isinstance(value, str) or len(value.split()) != 1:
        advice = 'write the username in quotes, e.g. account: "@mybrand", or the account id'
        raise fail(name, key, f"{show(value)} is not an account; {advice}")
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
        raise fail(name, prefix + "caption", problem + str(len(caption) - limit), "CAPTION_TOO_LONG")
    return caption


def _caption(meta: Mapping[str, Any], body: str, name: str, prefix: str = "") -> str:
    """The `caption:` key or else the body; both at once is an error, since one would be lost."""
    if "caption" not in meta:
        return body
    value = meta["caption"]
    key = prefix + "caption"
    if body:
        raise fail(name, key, "given both as a caption: key and as text below the frontmatter; keep one")
    if value is None:  # `caption:`, `caption: ~`, `caption: #fyp`: the loader names it (load_frontmatter)
        return ""
    if not isinstance(value, str):
        raise fail(name, key, f'{show(value)} is not text; put it in quotes: caption: "{show(value)}"')
    return value.strip()


def _choice(value: object, key: str, choices: tuple[str, ...], name: str) -> str:
    """A value that must be exactly one of `choices`; a near miss is suggested, never taken."""
    problem = choice_problem(value, choices)
    if problem:
        raise fail(name, key, problem)
    return cast(str, value)


def _boolean(value: object, key: str, name: str) -> bool:
    """A real YAML boolean; the quoted text "true" or "yes" is refused, not interpreted."""
    if isinstance(value, bool):
        return value
    advice = f"write {key}: true or {key}: false, without quotes"
    raise fail(name, key, f"{show(value)} is not true or false; {advice}")
