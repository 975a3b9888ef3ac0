"""Posting slots: set the times once, and `dispatchAt: next` takes the account's next free one (issue 8).

Slots are wall-clock times of day in the account's time zone (its `timezone`, else
`[defaults].timezone`), so 09:00 stays 09:00 across a DST change. On the day the clocks skip a
slot's time (02:30 on a spring-forward night) that day's slot does not exist and is skipped; on
the day the clocks go back and a time happens twice, the slot is its first occurrence.

`next_free_slot` decides, purely; the journal reserves, so two items never share a slot and a
restart never reshuffles them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pqdrop.config import DAY_NAMES, Config, account_config, fold_account, slot_times
from pqdrop.journal.store import Journal
from pqdrop.sidecar.parse import Sidecar, Target

if TYPE_CHECKING:  # a type only: `pqdrop status` reads slots without loading the API client
    from pqdrop.postqued.types import Account

# A slot closer than this is left for the next one: the publish request must reach PostQued
# before its dispatchAt, and PostQued refuses a dispatchAt in the past.
SLOT_LEAD = timedelta(minutes=2)
# How far ahead to look for a free slot: the sidecar's own limit for a schedule.
SEARCH_DAYS = 5 * 366


@dataclasses.dataclass(frozen=True)
class SlotPlan:
    """One account's posting times: the times of day, the weekdays (empty: every day) and the zone."""

    times: tuple[time, ...]
    days: tuple[str, ...]
    zone: ZoneInfo


def next_free_slot(
    slots: Sequence[time], days: Collection[str], zone: ZoneInfo, after: datetime, taken: Collection[datetime]
) -> datetime:
    """The first slot strictly after `after` that is not in `taken`, as an aware UTC datetime.

    `days` are mon..sun (empty: every day); the slots are wall-clock times in `zone`.
    """
    if not slots:
        raise ValueError("no posting slots to choose from")
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    busy = {moment.astimezone(UTC) for moment in taken}
    weekdays = {DAY_NAMES.index(day) for day in days} if days else set(range(7))
    # From the day before in local time: `after` may still be yesterday in the zone.
    first = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(SEARCH_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        for slot in sorted(slots):
            instant = wall_instant(day, slot, zone)
            if instant is not None and instant > after and instant not in busy:
                return instant
    raise ValueError(f"every posting slot of the next {SEARCH_DAYS} days is taken")


def wall_instant(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time; None when the clocks skip it, the first one when they repeat it."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # in the spring-forward gap: this wall time does not happen today
    return instant


def plan_for(config: Config, account: str) -> SlotPlan:
    """An account's own slots, days and zone where its `[accounts]` table sets them, else the shared ones."""
    settings = account_config(config.accounts, account)
    return SlotPlan(
        times=slot_times(settings.slots if settings.slots is not None else config.schedule.slots),
        days=settings.days if settings.days is not None else config.schedule.days,
        zone=settings.zone or config.defaults.zone,
    )


def slot_account(account: Account) -> str:
    """The name slots are kept under: the username PostQued resolved, so "@MyBrand" and "mybrand" share slots."""
    return "@" + fold_account(account.username)


def reserve_slots(
    journal: Journal, item_id: int, sidecar: Sidecar, accounts: Mapping[str, Account], config: Config, now: datetime
) -> Sidecar:
    """The sidecar with every `dispatchAt: next` target given its reserved slot (the held one on a resume)."""
    targets = []
    for target in sidecar.targets:
        if target.next_slot:
            target = _with_slot(journal, item_id, target, accounts[target.key], config, now)
        targets.append(target)
    return dataclasses.replace(sidecar, targets=tuple(targets))


def _with_slot(
    journal: Journal, item_id: int, target: Target, account: Account, config: Config, now: datetime
) -> Target:
    plan = plan_for(config, target.account)

    def pick(taken: frozenset[datetime]) -> datetime:
        return next_free_slot(plan.times, plan.days, plan.zone, now + SLOT_LEAD, taken)

    instant = journal.reserve_slot(item_id, slot_account(account), pick, now=now)
    return dataclasses.replace(target, dispatch_at=instant, next_slot=False)


def upcoming(journal: Journal, now: datetime) -> list[tuple[datetime, str, str]]:
    """The posting calendar: (slot instant in UTC, account, item name) of every slot still ahead, soonest first."""
    return journal.reserved_slots(after=now)
