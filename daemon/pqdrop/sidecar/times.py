"""When a sidecar asks to post: `dispatchAt` read from ISO 8601 text, in a zone, within the late grace."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pqdrop.sidecar.problems import fail
from pqdrop.suggest import show

# A schedule further ahead than this is far likelier a mistyped year than a plan.
MAX_SCHEDULE_AHEAD = timedelta(days=5 * 366)

# YAML allows "2026-12-01 18:00:00 +01:00" and a lowercase t/z; fromisoformat does not.
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:[zZ]|[+-]\d\d(?::?\d\d)?)$)")
_TIME_OF_DAY = re.compile(r"\d\d?:\d\d(?::\d\d)?")  # no date: YAML 1.1 would have read 18:00 as 1080
_SOME_TIME = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:.h]([0-5]\d)(?!\d)")  # "tomorrow 18:00", "at 9.30"


def dispatch_at(
    value: object, zone: ZoneInfo, grace_minutes: float, now: datetime, name: str, key: str = "dispatchAt"
) -> datetime | None:
    """When to post, in UTC; None means now, including a time just past within the grace."""
    if value is None:
        return None
    when = _parse_time(value, zone, name, key, now).astimezone(UTC)
    late = now - when
    grace = timedelta(minutes=grace_minutes)
    if late > grace:
        problem = (
            f"{show(value)} is {_duration(late)} in the past, more than the {grace_minutes:g} "
            "minutes allowed by [defaults].late_grace_minutes; write a future time, or leave dispatchAt out to post now"
        )
        raise fail(name, key, problem, "SIDECAR_DISPATCH_PAST")
    if late >= timedelta(0):
        return None
    if -late > MAX_SCHEDULE_AHEAD:
        raise fail(name, key, f"{show(value)} is more than 5 years ahead; check the year")
    return when


def example_time(value: object, zone: ZoneInfo, now: datetime) -> str:
    """A dispatchAt to copy for text that is none: tomorrow in the user's zone, at the time of day the text
    names ("tomorrow 18:00") or 18:00, in the local form a person writes (2026-12-08T18:00)."""
    found = _SOME_TIME.search(value) if isinstance(value, str) else None
    hour, minute = (int(found[1]), int(found[2])) if found else (18, 0)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return f"{tomorrow.isoformat()}T{hour:02d}:{minute:02d}"


def _parse_time(value: object, zone: ZoneInfo, name: str, key: str, now: datetime) -> datetime:
    """An aware datetime from ISO 8601 text; text without an offset is wall time in `zone`."""
    not_a_time = fail(name, key, f"{show(value)} is not a date-time; write e.g. {example_time(value, zone, now)}")
    if not isinstance(value, str):
        raise not_a_time
    text = _SPACE_BEFORE_OFFSET.sub("", value.strip())
    text = text[:10] + text[10:].upper()  # the t and z YAML allows in lowercase
    if _is_date_only(text):
        advice = f"write e.g. {text}T18:00"
        raise fail(name, key, f"{show(value)} needs a time of day; {advice}")
    if _TIME_OF_DAY.fullmatch(text):
        local = now.astimezone(zone)
        day = local.date() if f"{text:0>5}" > local.strftime("%H:%M:%S") else local.date() + timedelta(days=1)
        raise fail(name, key, f"{show(value)} needs its date; write e.g. {day.isoformat()}T{text:0>5}, "
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
    raise fail(name, key, problem)


def _duration(span: timedelta) -> str:
    """A span in the largest units that matter: "3 days 2 hours", "40 minutes"."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count]
    return " ".join(words[:2]) or "less than a minute"
