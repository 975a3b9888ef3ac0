"""`pqdrop reschedule NAME WHEN`: move a scheduled post, as a new `dispatchAt` in its sidecar would.

WHEN is read exactly as a sidecar's dispatchAt: with an offset or Z, or wall time in the account's
zone (else [defaults].timezone), `now`, or `next` for the account's next free posting slot. The new
time is said back in the zone WHEN was written in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pqdrop.commands.cancel import request_edit
from pqdrop.config import Config
from pqdrop.instants import parse_instant
from pqdrop.schedule.editor import RESCHEDULE

if TYPE_CHECKING:
    from pqdrop.postqued.client import PostQued

_OFFSET = re.compile(r"(?:[Zz]|([+-])(\d{2}):?(\d{2}))\s*$")
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def reschedule_item(config: Config, name: str, when: str, client: Callable[[], PostQued]) -> int:
    """Exit 0 once rescheduled (or already at that time); 1 when it cannot apply, saying why."""
    zone = typed_zone(when, config.defaults.zone)
    return request_edit(config, name, RESCHEDULE, when, client, lambda outcome: in_zone(outcome, zone))


def typed_zone(when: str, default: ZoneInfo) -> tzinfo:
    """The zone WHEN was written in: UTC for a Z, its own offset, else `default` (wall time, `now`, `next`)."""
    found = _OFFSET.search(when.strip()) if "T" in when or " " in when.strip() else None
    if found is None:
        return default
    minutes = 0 if found.group(1) is None else int(found.group(2)) * 60 + int(found.group(3))
    if minutes == 0:
        return UTC
    return timezone(timedelta(minutes=minutes if found.group(1) == "+" else -minutes))


def in_zone(outcome: str, zone: tzinfo) -> str:
    """The outcome's instants (UTC, with a Z) said in `zone`, with it: 2030-06-02T09:00:00+02:00 (Europe/Berlin)."""
    if zone is UTC:
        return outcome

    def local(match: re.Match[str]) -> str:
        moment = parse_instant(match.group(0)).astimezone(zone)
        text = moment.isoformat(timespec="seconds")
        return f"{text} ({zone.key})" if isinstance(zone, ZoneInfo) else text

    return _INSTANT.sub(local, outcome)

