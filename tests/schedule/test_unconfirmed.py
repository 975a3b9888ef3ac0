"""Bounded following (issue 23): a post the platform has not confirmed within its bound is `unconfirmed` in its
status file, status.log, `pqdrop status` and a notification, and is still followed, slowly, to its end."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, write_config
from tests.schedule.test_notifier import Receiver

from pqdrop.commands.status import gather, render_text
from pqdrop.config import load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_OK, Workers, once


class Shifted:
    """Wall-clock time moved ahead by `offset`: the sandbox and pqdrop share it, so hours pass at once."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def seconds(self) -> float:
        return time.time() + self.offset.total_seconds()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_a_post_not_confirmed_within_its_bound_is_unconfirmed_then_published_when_it_is(
    tmp_path: pytest.TempPathFactory, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Shifted()
    # TikTok holds the post in processing for three hours (moderation "sometimes hours", reference T6).
    with Sandbox(api_keys=(SANDBOX_KEY,), api="v1", processing_seconds=3 * 3600, clock=clock.seconds) as sandbox:
        config = load_config(write_config(
            tmp_path, sandbox.url, postqued={"follow_seconds": 0.3},  # type: ignore[arg-type]
            notify={"urls": [receiver.url()], "on": ["unconfirmed", "published"]}))
        inbox = config.inbox.path
        inbox.mkdir()
        make_video(inbox / "launch.mp4", seconds=1)
        sidecar(inbox / "launch.md")
        journal = Journal(config.state.dir)
        status_file = inbox / "sent" / "launch.status.json"
        with make_client(config) as client, Workers(config, client, journal, clock=clock.now) as workers:
            workers.notifier._group_seconds = 0.0
            assert once(workers)[0] == EXIT_OK
            assert json.loads(status_file.read_text())["state"] == "accepted"

            clock.offset = timedelta(hours=1, minutes=59)  # within TikTok's two hours for a direct post
            workers.tracker.check_due()
            assert json.loads(status_file.read_text())["state"] == "accepted"

            clock.offset = timedelta(hours=2, minutes=1)
            with caplog.at_level(logging.WARNING, logger="pqdrop"):
                assert workers.tracker.check_due() == 0
            status = json.loads(status_file.read_text())
            assert status["state"] == "unconfirmed" and status["unconfirmedSince"]
            assert "launch: not confirmed by the platform within 2 h" in caplog.text
            assert "still checked every 1 h" in caplog.text
            lines = [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()]
            assert lines[-1]["state"] == "unconfirmed"
            assert lines[-1]["reason"] == "not confirmed by the platform within 2 h"
            view = gather(config, clock.now())
            assert [(row.name, row.state) for row in view.sent] == [("launch", "unconfirmed")]
            assert "unconfirmed" in render_text(view)

            clock.offset = timedelta(hours=2, minutes=50)  # looked at again only hourly: nothing said twice
            workers.tracker.check_due()
            assert (inbox / "status.log").read_text().count('"unconfirmed"') == 1

            clock.offset = timedelta(hours=6, minutes=30)  # TikTok confirmed it meanwhile
            with caplog.at_level(logging.INFO, logger="pqdrop"):
                assert workers.tracker.check_due() == 1
            status = json.loads(status_file.read_text())
            assert status["state"] == "published"
            [url] = [target["url"] for target in status["targets"]]
            assert f"launch: published (publish {status['publishId']}) {url}" in caplog.text
        journal.close()
    assert receiver.titles == ["pqdrop: launch unconfirmed", "pqdrop: launch published"]
    assert "within 2 h" in receiver.received[0]["message"]
    assert url in receiver.received[1]["message"]


def test_a_scheduled_draft_not_in_the_inbox_30_min_after_its_time_is_unconfirmed_in_schedule_md(
    tmp_path: pytest.TempPathFactory, receiver: Receiver
) -> None:
    clock = Shifted()
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    with Sandbox(api_keys=(SANDBOX_KEY,), api="v1", processing_seconds=3 * 3600, clock=clock.seconds) as sandbox:
        config = load_config(write_config(
            tmp_path, sandbox.url, postqued={"follow_seconds": 0.3},  # type: ignore[arg-type]
            notify={"urls": [receiver.url()]}))
        inbox = config.inbox.path
        inbox.mkdir()
        make_video(inbox / "later.mp4", seconds=1)
        sidecar(inbox / "later.md", f"intent: draft\ndispatchAt: {at.isoformat()}\n")
        journal = Journal(config.state.dir)
        status_file = inbox / "scheduled" / "later.status.json"
        with make_client(config) as client, Workers(config, client, journal, clock=clock.now) as workers:
            workers.notifier._group_seconds = 0.0
            assert once(workers)[0] == EXIT_OK
            assert json.loads(status_file.read_text())["state"] == "scheduled"

            clock.offset = timedelta(hours=2, minutes=29)  # 29 min after its time: a draft still has a minute
            workers.follow()
            assert json.loads(status_file.read_text())["state"] == "scheduled"  # as filed: nothing said yet

            clock.offset = timedelta(hours=2, minutes=31)
            workers.follow()
            assert json.loads(status_file.read_text())["state"] == "unconfirmed"
            schedule_md = (inbox / "SCHEDULE.md").read_text()
            assert "later · " in schedule_md and "unconfirmed: the platform has not confirmed it yet" in schedule_md
            [row] = gather(config, clock.now()).scheduled
            assert row.state.startswith("unconfirmed")

            clock.offset = timedelta(hours=8)  # TikTok delivered it to the inbox meanwhile: a draft ends at sent
            workers.follow()
            assert json.loads((inbox / "sent" / "later.status.json").read_text())["state"] == "sent"
            assert not status_file.exists()
        journal.close()
    assert receiver.titles == ["pqdrop: later unconfirmed"]  # sent is not asked for by default
    assert "within 30 min" in receiver.received[0]["message"]
