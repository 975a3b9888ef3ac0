"""Retry state: what an item sent before a passing error is reused, what a failed item left unused is
deleted, and each deferred item backs off by its own count of tries."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import make_client, sidecar

from pqdrop.config import Config
from pqdrop.errors import EXIT_FAILED, EXIT_OK
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_image
from pqdrop.sandbox import Sandbox
from pqdrop.service.daemon import Retries
from pqdrop.service.workers import UNUSED_UPLOAD_AGE, Workers, once

UPLOAD_IMAGE = "/v1/content/upload-image"
CLIENT_ATTEMPTS = 5  # tests.conftest.make_client's retry policy


def carousel(inbox: Path, name: str = "trip") -> Path:
    folder = inbox / name
    folder.mkdir()
    for number in (1, 2, 3):
        make_image(folder / f"photo-{number}.jpg", width=400, height=300 + number)
    sidecar(folder / "post.md", "autoAddMusic: true\n")
    return folder


def test_a_503_on_the_second_photo_reuses_the_first_upload_and_leaves_exactly_three_contents(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    carousel(inbox)
    # The first photo goes up; the second meets 503s until the client's retries are spent.
    sandbox.faults.fail_next(CLIENT_ATTEMPTS, status=503, path_prefix=UPLOAD_IMAGE, after=1)
    code, round_ = once(service)
    assert list(round_.deferred) == ["trip"]
    assert (inbox / "trip" / "photo-1.jpg").exists()  # given back to the inbox
    [first] = sandbox.state_summary()["contents"]
    code, round_ = once(service)
    assert code == EXIT_OK
    contents = sandbox.state_summary()["contents"]
    [publish] = sandbox.state_summary()["publishes"]
    assert len(contents) == 3
    assert publish["contentIds"][0] == first
    assert sorted(publish["contentIds"]) == sorted(contents)
    assert [contents[cid]["filename"] for cid in publish["contentIds"]] == ["photo-1.jpg", "photo-2.jpg", "photo-3.jpg"]
    assert {content["status"] for content in contents.values()} == {"ready"}


def test_a_failed_item_deletes_the_uploads_no_publish_used(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    carousel(inbox)
    # The second photo is refused outright (4xx): the item fails after the first went up.
    sandbox.faults.fail_next(1, status=400, path_prefix=UPLOAD_IMAGE, after=1)
    code, round_ = once(service)
    assert code == EXIT_FAILED
    assert [(result.name, str(result.state)) for result in round_.results] == [("trip", "failed")]
    contents = sandbox.state_summary()["contents"]
    assert [(content["filename"], content["status"]) for content in contents.values()] == [("photo-1.jpg", "deleted")]
    assert sandbox.state_summary()["publishes"] == []


def test_a_published_item_keeps_its_contents(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    carousel(inbox)
    assert once(service)[0] == EXIT_OK
    assert [content["status"] for content in sandbox.state_summary()["contents"].values()] == ["ready"] * 3


def test_each_deferred_item_backs_off_by_its_own_count_of_tries_jittered_and_capped() -> None:
    retries = Retries(base=1.0, cap=300.0, rng=random.Random(7))
    # Two items deferred in one round wait alike: the place in the round does not count.
    first = [retries.defer("a", 0.0), retries.defer("b", 0.0)]
    assert all(1.0 <= moment <= 2.0 for moment in first)
    delays = [retries.defer("a", 0.0) for _ in range(10)]
    ceilings = [min(300.0, 2.0**tries) for tries in range(2, 12)]
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert delays[-1] <= 300.0 and delays[-1] >= 150.0
    assert len({round(delay, 6) for delay in delays[-3:]}) == 3  # jittered, not one fixed value at the cap
    assert retries.waiting(2.5) == {"a"}  # b's first wait is over, a's tenth is not
    retries.forget("a")
    assert 1.0 <= retries.defer("a", 0.0) <= 2.0  # a new start after the item ended


def test_a_postponed_item_waits_without_counting_a_try() -> None:
    retries = Retries(base=1.0, cap=300.0, rng=random.Random(1))
    retries.wait("twin", 2.0)
    assert retries.waiting(1.0) == {"twin"} and retries.waiting(2.0) == set()
    assert 1.0 <= retries.defer("twin", 0.0) <= 2.0  # still its first real try
    assert retries.next_at(0.0) is not None and retries.next_at(1e9) is None


def test_uploads_of_an_item_given_back_and_never_returned_are_deleted_after_a_day(
    config: Config, journal: Journal, inbox: Path, sandbox: Sandbox
) -> None:
    now = [datetime.now(UTC)]
    with make_client(config) as client, Workers(config, client, journal, clock=lambda: now[0]) as workers:
        carousel(inbox)
        sandbox.faults.fail_next(CLIENT_ATTEMPTS, status=503, path_prefix=UPLOAD_IMAGE, after=1)
        assert list(once(workers)[1].deferred) == ["trip"]
        shutil.rmtree(inbox / "trip")  # the user took it away instead
        [content_id] = sandbox.state_summary()["contents"]
        assert workers.discard_unused_uploads() == 0  # it may still come back
        now[0] += UNUSED_UPLOAD_AGE + timedelta(minutes=1)
        assert workers.discard_unused_uploads() == 1
        assert sandbox.state_summary()["contents"][content_id]["status"] == "deleted"
        assert workers.discard_unused_uploads() == 0  # forgotten once deleted
