"""Reading an item's outcome from the API's report."""

from __future__ import annotations

from datetime import UTC, datetime

from pqdrop.postqued import PublishState, TargetState
from pqdrop.states import ItemState, failure_reason, outcome_of, waits_for_dispatch


def state(*statuses: str, request: str = "processing", dispatch: str | None = None) -> PublishState:
    targets = tuple(
        TargetState(f"t{i}", f"a{i}", s, dispatch_at=dispatch, reason="spam risk" if s == "failed" else None)
        for i, s in enumerate(statuses)
    )
    return PublishState("p1", request, targets)


def test_all_published_is_published() -> None:
    assert outcome_of(state("published", "published", request="completed")) is ItemState.PUBLISHED


def test_drafts_delivered_are_sent() -> None:
    assert outcome_of(state("sent", "published", request="completed")) is ItemState.SENT


def test_any_failed_target_fails_the_item_with_the_platform_reason() -> None:
    report = state("published", "failed", request="partial_failed")
    assert outcome_of(report) is ItemState.FAILED
    assert failure_reason(report) == "target a1 failed: spam risk"


def test_scheduled_and_in_progress_states() -> None:
    assert outcome_of(state("scheduled")) is ItemState.SCHEDULED
    assert outcome_of(state("queued")) is ItemState.ACCEPTED
    assert ItemState.FAILED.folder == "failed" and ItemState.SCHEDULED.folder == "sent"


def test_waits_for_dispatch_only_while_the_moment_is_ahead() -> None:
    report = state("scheduled", dispatch="2026-12-01T18:00:00Z")
    assert waits_for_dispatch(report, datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    assert not waits_for_dispatch(report, datetime(2026, 12, 1, 18, 1, tzinfo=UTC))
    assert not waits_for_dispatch(state("queued"), datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
