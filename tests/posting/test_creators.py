"""Each account's own TikTok rules from creator info: cached per account, skipped (said once) where not told."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SANDBOX_KEY, sidecar

from pqdrop.config import Config
from pqdrop.errors import ApiUnavailable
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.platforms.tiktok import CreatorInfo
from pqdrop.posting.creators import LIFETIME, SKIPPED, CreatorInfos
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.ratelimit import RateLimiter
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.tiktok import Profile
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Workers, once

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Moment:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_creator_info_is_read_once_per_account_within_its_lifetime() -> None:
    asked: list[str] = []
    moment = Moment()

    def fetch(account_id: str) -> Mapping[str, Any]:
        asked.append(account_id)
        return {"privacy_level_options": ["SELF_ONLY"], "max_video_post_duration_sec": 60}

    creators = CreatorInfos(fetch, moment)
    assert creators.get("acc_1") == CreatorInfo(("SELF_ONLY",), max_video_post_duration_sec=60)
    moment.now += LIFETIME - timedelta(seconds=1)
    creators.get("acc_1")
    creators.get("acc_2")
    moment.now += timedelta(seconds=2)
    creators.get("acc_1")
    assert asked == ["acc_1", "acc_2", "acc_1"]


def test_without_creator_info_the_checks_are_skipped_and_that_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    creators = CreatorInfos(None, Moment())
    with caplog.at_level(logging.INFO, logger="pqdrop"):
        assert (creators.get("acc_1"), creators.get("acc_2")) == (None, None)
    assert [record.getMessage() for record in caplog.records] == [SKIPPED]


def test_a_creator_info_that_cannot_be_read_now_does_not_hold_the_post() -> None:
    def fetch(account_id: str) -> Mapping[str, Any]:
        raise ApiUnavailable("GET creator-info: HTTP 503")

    assert CreatorInfos(fetch, Moment()).get("acc_1") is None


def test_creator_info_fed_by_the_client_is_kept() -> None:
    creators = CreatorInfos(None, Moment())
    info = CreatorInfo(("SELF_ONLY",))
    creators.put("acc_1", info)
    assert creators.get("acc_1") is info


# --- in the pipeline, with a client that relays creator info as PostQued v2 does ---------------


class RelayingClient(PostQued):
    """The v1 client plus the creator-info call v2 has, answered from the sandbox's account settings."""

    def __init__(self, sandbox: Sandbox, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sandbox = sandbox

    def creator_info(self, account_id: str) -> Mapping[str, Any]:
        [account] = [a for a in self.platform_accounts() if a.id == account_id]
        return {"data": self._sandbox.state.tiktok.profile(account.username).creator_info()}


@pytest.fixture
def relaying(config: Config, sandbox: Sandbox) -> Iterator[Workers]:
    journal = Journal(config.state.dir)
    limiter = RateLimiter({"upload": 20, "read": 30, "publish": 10, "delete": 20}, 60.0)
    client = RelayingClient(sandbox, config.postqued.base_url, SANDBOX_KEY, limiter=limiter, timeout_seconds=5.0)
    with client, Workers(config, client, journal, stop=threading.Event()) as service:
        yield service
    journal.close()


def status_of(inbox: Path, name: str) -> dict[str, Any]:
    [path] = inbox.glob(f"*/{name}.status.json")
    return dict(json.loads(path.read_text()))


def test_a_private_accounts_public_post_is_refused_before_any_upload(
    relaying: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    sandbox.state.tiktok.set_profile("@mybrand", Profile(private=True))
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md", "privacyLevel: PUBLIC_TO_EVERYONE\n")
    assert once(relaying)[0] == EXIT_FAILED
    error = status_of(inbox, "clip")["error"]
    assert error["code"] == "TIKTOK_ACCOUNT_RULE"
    assert "a private account cannot post PUBLIC_TO_EVERYONE" in error["message"]
    assert sandbox.state_summary()["contents"] == {}


def test_a_video_over_the_accounts_own_maximum_is_refused_before_any_upload_and_one_within_goes(
    relaying: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    sandbox.state.tiktok.set_profile("@mybrand", Profile(max_video_post_duration_sec=2))
    make_video(inbox / "long.mp4", seconds=3)
    sidecar(inbox / "long.md")
    assert once(relaying)[0] == EXIT_FAILED
    message = status_of(inbox, "long")["error"]["message"]
    assert message == "long.md: long.mp4: duration 0:03 is over @mybrand's 0:02 maximum"
    assert sandbox.state_summary()["contents"] == {}
    make_video(inbox / "short.mp4", seconds=2)
    sidecar(inbox / "short.md")
    assert once(relaying)[0] == EXIT_OK
