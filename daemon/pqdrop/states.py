"""Every state and step as enums: an item's outward state, the journal's own steps, and the pure rules
that read an outcome from the API's report."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pqdrop.instants import parse_instant

if TYPE_CHECKING:  # a type only: `pqdrop status` reads states without loading the API client
    from pqdrop.postqued.types import PublishState


class ItemState(StrEnum):
    """Where an item stands; from ACCEPTED on, each has its folder (scheduled/, sent/, failed/, canceled/)."""

    WAITING = "waiting"
    UPLOADING = "uploading"
    PUBLISHING = "publishing"
    FOLLOWING = "following"
    ACCEPTED = "accepted"  # PostQued took it; the platform had not confirmed when we stopped looking
    UNCONFIRMED = "unconfirmed"  # accepted, and the platform has not confirmed it within its bound; still followed
    SCHEDULED = "scheduled"  # waits for its dispatchAt on PostQued's side
    SENT = "sent"  # delivered to the TikTok inbox as a draft
    PUBLISHED = "published"  # live on the profile
    FAILED = "failed"
    CANCELED = "canceled"  # canceled by an edit of its sidecar in scheduled/ or by `pqdrop cancel`

    @property
    def folder(self) -> str:
        """The folder an item in this state is filed in."""
        return _FOLDERS.get(self, "sent")


class Step(StrEnum):
    """The journal's own record of how far an item got, written before each move or request."""

    CLAIMING = "claiming"  # the claim's rename is about to happen
    CLAIMED = "claimed"  # the files are in processing/
    UPLOADING = "uploading"
    PUBLISHING = "publishing"  # key and body recorded; the publish request may have gone out
    FOLLOWING = "following"  # PostQued gave a publishId
    FILING = "filing"  # destination, name and status document fixed; the moves may be half done
    RETURNING = "returning"  # being given back to the inbox
    RETURNED = "returned"  # given back, or taken back by a twin: a new item next time
    TRACKING = "tracking"  # in scheduled/ or sent/, the tracker follows its scheduled or unconfirmed targets
    REFILING = "refiling"  # a move between the folders (scheduled/ to sent/, to failed/...) is under way
    REPLACING = "replacing"  # an edit: cancel the scheduled post, then publish the edited one (or PATCH its time)
    CANCELING = "canceling"  # an edit: cancel the scheduled post, then file the item in canceled/
    DONE = "done"


# Nothing more happens to these.
FINAL_STEPS = frozenset({Step.DONE, Step.RETURNED})
# Filed in sent/ and the tracker's from here on; the pipeline has finished with them.
TRACKED_STEPS = frozenset({Step.TRACKING, Step.REFILING, Step.REPLACING, Step.CANCELING})
# An edit of the schedule under way (issue 15): the editor carries these on from their recorded phase.
EDIT_STEPS = frozenset({Step.REPLACING, Step.CANCELING})
# Cut short by a crash or a stop: the startup sweep finishes these moves.
SWEPT_STEPS = frozenset({Step.CLAIMING, Step.RETURNING})
# The pipeline carries these on from where they stopped (`Pipeline.resume`).
RESUMABLE_STEPS = frozenset({Step.CLAIMED, Step.UPLOADING, Step.PUBLISHING, Step.FOLLOWING, Step.FILING})
# Not published yet: such an item may still go back to the inbox.
UNPUBLISHED_STEPS = frozenset({Step.CLAIMED, Step.UPLOADING})


# What "sent" means, said wherever a draft's state is (status file, status.log, pqdrop status, the log): TikTok's
# upload flow delivers it to the creator's inbox, and only their tap in the app posts it (reference B2, T4).
DRAFT_WAITS = ("a draft in the creator's TikTok inbox, not on the profile yet: it waits there for a tap; "
               "open TikTok's inbox notification to edit and post it")

_FOLDERS = {ItemState.FAILED: "failed", ItemState.SCHEDULED: "scheduled", ItemState.CANCELED: "canceled"}
OK_TARGET_STATES = frozenset({"sent", "published"})
BAD_TARGET_STATES = frozenset({"failed", "canceled"})
TERMINAL_TARGET_STATES = OK_TARGET_STATES | BAD_TARGET_STATES


def outcome_of(state: PublishState) -> ItemState:
    """The item's state from its publish request: any failed target fails the item.

    A canceled target beside others is one the user called off (`pqdrop cancel` of a post partly out):
    the item is judged by the others; all canceled, nothing went out, and that fails it here.
    """
    every = [target.status for target in state.targets]
    statuses = [status for status in every if status != "canceled"] or every
    if any(status in BAD_TARGET_STATES for status in statuses) or (state.status == "failed" or (
            state.status == "canceled" and statuses == every)):
        return ItemState.FAILED
    if statuses and all(status == "published" for status in statuses):
        return ItemState.PUBLISHED
    if statuses and all(status in OK_TARGET_STATES for status in statuses):
        return ItemState.SENT
    if any(status == "scheduled" for status in statuses):
        return ItemState.SCHEDULED
    return ItemState.ACCEPTED


def waits_for_dispatch(state: PublishState, now: datetime) -> bool:
    """True when every unfinished target is scheduled for a moment still ahead."""
    unfinished = [target for target in state.targets if not target.terminal]
    if not unfinished:
        return False
    for target in unfinished:
        if target.status != "scheduled" or target.dispatch_at is None:
            return False
        if parse_instant(target.dispatch_at) <= now:
            return False
    return True


def failure_reason(state: PublishState, names: Mapping[str, str] | None = None) -> str:
    """The platform's reasons for the failed targets, one sentence per target, named as `names` says
    ("@mybrand (tiktok)" for an accountId) or else by its id."""
    names = names or {}
    reasons = [
        f"{names.get(target.account_id) or f'target {target.account_id or target.id}'} {target.status}: "
        f"{target.reason or 'no reason given'}"
        for target in state.targets
        if target.status in BAD_TARGET_STATES
    ]
    return "; ".join(reasons) or f"publish request {state.status}"

