"""Reading an item's outcome from the API's report; the journal's steps live in one enum."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pqdrop
from pqdrop.postqued.types import PublishState, TargetState
from pqdrop.states import (
    FINAL_STEPS,
    RESUMABLE_STEPS,
    SWEPT_STEPS,
    TRACKED_STEPS,
    UNPUBLISHED_STEPS,
    ItemState,
    Step,
    failure_reason,
    outcome_of,
    waits_for_dispatch,
)


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
    assert failure_reason(report, {"a1": "@mybrand (tiktok)"}) == "@mybrand (tiktok) failed: spam risk"


def test_scheduled_and_in_progress_states() -> None:
    assert outcome_of(state("scheduled")) is ItemState.SCHEDULED
    assert outcome_of(state("queued")) is ItemState.ACCEPTED
    assert ItemState.FAILED.folder == "failed" and ItemState.SCHEDULED.folder == "scheduled"
    folders = (ItemState.CANCELED.folder, ItemState.PUBLISHED.folder, ItemState.ACCEPTED.folder)
    assert folders == ("canceled", "sent", "sent")


def test_waits_for_dispatch_only_while_the_moment_is_ahead() -> None:
    report = state("scheduled", dispatch="2026-12-01T18:00:00Z")
    assert waits_for_dispatch(report, datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    assert not waits_for_dispatch(report, datetime(2026, 12, 1, 18, 1, tzinfo=UTC))
    assert not waits_for_dispatch(state("queued"), datetime(2026, 12, 1, 17, 0, tzinfo=UTC))


def step_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is a journal step, whole or quoted inside SQL."""
    values = {str(step) for step in Step}
    quoted = re.compile("'(" + "|".join(sorted(values)) + ")'")
    found = []
    for node in ast.walk(ast.parse(source)):
        text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
        if text is not None and (text in values or quoted.search(text)):
            found.append((node.lineno, text))
    return sorted(found)


def test_the_step_sets_cover_every_step_once() -> None:
    sets = (FINAL_STEPS, TRACKED_STEPS, SWEPT_STEPS, RESUMABLE_STEPS)
    assert sorted(step for steps in sets for step in steps) == sorted(Step)
    assert UNPUBLISHED_STEPS <= RESUMABLE_STEPS


def test_no_journal_step_is_a_string_literal_outside_the_step_enum() -> None:
    package = Path(pqdrop.__file__).parent
    offenders = {
        f"{path.relative_to(package)}:{line}": text
        for path in sorted(package.rglob("*.py"))
        # The sandbox stands for PostQued and has no journal; its multipart parser's "done" is its own.
        # The platforms' option tables hold the API's words (X's replySettings "following"), not steps.
        if path.name != "states.py" and not {"sandbox", "platforms"} & set(path.relative_to(package).parts)
        for line, text in step_literals(path.read_text(encoding="utf-8"))
    }
    assert offenders == {}


def test_the_literal_finder_sees_a_step_in_an_sql_string() -> None:
    source = "db.execute(\"UPDATE items SET state = 'filing'\")\nx = 'claimed'\ny = 'claimed items'\n"
    assert step_literals(source) == [(1, "UPDATE items SET state = 'filing'"), (2, "claimed")]
