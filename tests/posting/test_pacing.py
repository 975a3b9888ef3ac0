"""TikTok's daily caps as pacing: beyond a cap an item is scheduled for when the window frees, and never fails."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from tests.conftest import make_client, sidecar, write_config

from pqdrop.commands.status import gather
from pqdrop.config import Config, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.posting.pacing import MARGIN, WINDOW, first_free
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_OK, Workers, once

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_below_the_cap_a_post_goes_when_asked() -> None:
    assert first_free([T0 - HOUR * n for n in range(4)], T0, cap=5) == T0


def test_at_the_cap_a_post_waits_until_the_oldest_leaves_the_window() -> None:
    taken = [T0 - 5 * HOUR, T0 - 4 * HOUR, T0 - 3 * HOUR, T0 - 2 * HOUR, T0 - HOUR]
    assert first_free(taken, T0, cap=5) == T0 - 5 * HOUR + WINDOW + MARGIN


def test_a_post_asked_for_later_also_keeps_the_windows_after_it_within_the_cap() -> None:
    # Two scheduled for tomorrow morning: a third in between would make three in one window.
    taken = [T0 + 20 * HOUR, T0 + 21 * HOUR]
    assert first_free(taken, T0, cap=2) == T0 + 20 * HOUR + WINDOW + MARGIN
    assert first_free(taken, T0, cap=3) == T0


def test_posts_made_more_than_a_day_ago_do_not_count() -> None:
    assert first_free([T0 - WINDOW - timedelta(seconds=1)] * 5, T0, cap=5) == T0


# --- seven drafts to one account, against the sandbox, with an injected clock ------------


class Clock:
    """The real time moved by `offset`: the sandbox's rate windows keep turning, and a test can jump a day."""

    def __init__(self) -> None:
        self.offset = 0.0

    def epoch(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), UTC)


def status_of(inbox: Path, name: str) -> dict[str, Any]:
    """An item's status file, in whichever folder it was filed."""
    [path] = inbox.glob(f"*/{name}.status.json")
    return cast(dict[str, Any], json.loads(path.read_text()))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_sandbox(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock.epoch, processing_seconds=0.05).start() as server:
        yield server


@pytest.fixture
def paced_config(tmp_path: Path, timed_sandbox: Sandbox) -> Config:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return load_config(write_config(tmp_path, timed_sandbox.url))


def test_seven_drafts_to_one_account_five_now_two_when_the_window_frees_none_fails(
    paced_config: Config, timed_sandbox: Sandbox, clock: Clock
) -> None:
    inbox = paced_config.inbox.path
    for n in range(1, 8):
        make_video(inbox / f"clip{n}.mp4", seconds=0.4 + n / 25)  # different media, not re-drops
        sidecar(inbox / f"clip{n}.md", 'account: "@mybrand"\nintent: draft\n', f"Clip {n} #fyp")
    journal = Journal(paced_config.state.dir)
    with make_client(paced_config) as client, Workers(paced_config, client, journal, clock=clock.now) as service:
        started = clock.now()
        code, round_ = once(service)
        assert code == EXIT_OK
        states = {result.name: str(result.state) for result in round_.results}
        assert sorted(states.values()) == ["scheduled"] * 2 + ["sent"] * 5
        waiting = sorted(name for name, state in states.items() if state == "scheduled")
        for name in waiting:
            status = status_of(inbox, name)
            [target] = status["targets"]
            when = datetime.fromisoformat(target["dispatchAt"].replace("Z", "+00:00"))
            assert started + WINDOW < when <= clock.now() + WINDOW + MARGIN + timedelta(seconds=2)
            assert status["note"].startswith(
                "paced: @mybrand (tiktok) has had 5 drafts pending in its TikTok inbox in 24 h")
            assert "until" in status["note"]
        agenda = (inbox / "SCHEDULE.md").read_text()
        for name in waiting:
            assert f" · {name} · @mybrand (tiktok) · waiting for a cap window\n" in agenda, agenda
        assert agenda.count("waiting for a cap window") == 2
        shown = {row.name: row.state for row in gather(paced_config, clock.now()).scheduled}
        assert shown == dict.fromkeys(waiting, "waiting for a cap window")  # pqdrop status says the same
        # A day later the window allows them, and they go out.
        clock.offset += (WINDOW + MARGIN + timedelta(minutes=1)).total_seconds()
        service.tracker.check_due()
        for name in waiting:
            assert status_of(inbox, name)["state"] == "sent"
    journal.close()
    assert not (inbox / "failed").exists() or list((inbox / "failed").iterdir()) == []
    refused = [p for p in timed_sandbox.state_summary()["publishes"] if p["targets"][0]["status"] == "failed"]
    assert refused == []
