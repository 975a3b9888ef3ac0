"""TikTok's daily caps as pacing, not failures: a target beyond its cap is scheduled for when the window frees.

TikTok allows about 15 direct posts per creator and 5 pending inbox drafts per user in any 24 h
(T7, T3, T4: `spam_risk_too_many_posts`, `spam_risk_too_many_pending_share`). pqdrop counts each
account's targets in the journal, across restarts, and a target that would be one too many is
given a `dispatchAt` at the first moment every rolling 24 h window around it stays within the cap
(`[accounts."@name"].daily_posts`, `daily_drafts`). So the item is accepted and filed as
scheduled, its status file says until when it waits and why, and it never fails for the cap.

`first_free` decides, purely; the journal records each target's instant in the same transaction
that reads the others', so two workers never both take the last place in a window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from pqdrop.config import Config, account_config
from pqdrop.journal.store import Journal
from pqdrop.posting.slots import slot_account
from pqdrop.postqued.types import Account
from pqdrop.sidecar.parse import Sidecar, Target

WINDOW = timedelta(hours=24)
# TikTok counts a post when it receives it, a little after pqdrop decides; a paced target goes this
# much after the moment the window frees, so the earlier post has surely left TikTok's window too.
MARGIN = timedelta(minutes=10)


def first_free(taken: Collection[datetime], at: datetime, cap: int, window: timedelta = WINDOW) -> datetime:
    """The earliest moment from `at` on at which one more post keeps every rolling `window` within `cap`.

    A post at `t` counts in the windows ending between `t` and `t + window`; only the ends at `t`
    and at later posts can hold the most, so those are the ones checked.
    """
    if cap < 1:
        raise ValueError("a cap must allow at least one post")
    moments = sorted(taken)
    candidates = [at] + [moment + window + MARGIN for moment in moments if moment + window + MARGIN > at]
    for start in sorted(candidates):
        ends = [start] + [moment for moment in moments if start < moment < start + window]
        if all(sum(end - window < moment <= end for moment in moments) < cap for end in ends):
            return start
    raise AssertionError("the last candidate is past every taken moment's window")  # pragma: no cover


def cap_of(config: Config, account: str, intent: str) -> int:
    """The account's cap for the target's kind: drafts pending in the TikTok inbox, or direct posts."""
    settings = account_config(config.accounts, account)
    return settings.daily_drafts if intent == "draft" else settings.daily_posts


def pace_targets(
    journal: Journal, item_id: int, sidecar: Sidecar, accounts: Mapping[str, Account], config: Config, now: datetime
) -> Sidecar:
    """The sidecar with every target beyond its account's cap scheduled for when the window allows."""
    targets = []
    for target in sidecar.targets:
        # The caps are TikTok's (reference B7); other platforms' limits are left to PostQued.
        if target.platform != "tiktok":
            targets.append(target)
            continue
        targets.append(_paced(journal, item_id, target, accounts[target.key], config, now))
    return dataclasses.replace(sidecar, targets=tuple(targets))


def _paced(journal: Journal, item_id: int, target: Target, account: Account, config: Config, now: datetime) -> Target:
    at = target.dispatch_at or now
    cap = cap_of(config, target.account, target.intent)
    instant = journal.take_post(
        item_id, slot_account(account), target.intent, lambda taken: first_free(taken, at, cap), asked=at
    )
    if instant <= at:
        return target
    return dataclasses.replace(target, dispatch_at=instant)


PACED = "paced: "  # how a status file's note begins when a daily cap held the item's targets back


def pacing_note(paced: Collection[tuple[str, str, datetime]], config: Config) -> str | None:
    """What the status file says of targets held back by a cap: whose, which cap, until when."""
    if not paced:
        return None
    parts = []
    for account, intent, until in sorted(paced, key=lambda row: row[2]):
        cap = cap_of(config, account, intent)
        kind, key = ("drafts pending in its TikTok inbox", "daily_drafts") if intent == "draft" else (
            "direct posts", "daily_posts")
        parts.append(
            f"{account} (tiktok) has had {cap} {kind} in 24 h, TikTok's cap ([accounts.\"{account}\"].{key} = {cap}); "
            f"it waits until {until.isoformat(timespec='minutes').replace('+00:00', 'Z')}"
        )
    return PACED + "; ".join(parts)
