"""TikTok's errors mean what they say, against the strict sandbox: a cap waits, a bad post fails, a login pauses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import sidecar

from pqdrop.media.mediagen import make_image, make_video
from pqdrop.platforms.tiktok import ANSWERS, Reaction
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.refusal import Refusal
from pqdrop.sandbox.tiktok import Post, Profile
from pqdrop.service.workers import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, Workers, once

INIT_CODES = [code for code in ANSWERS if code in (
    "invalid_param", "app_version_check_failed", "spam_risk_too_many_posts", "spam_risk_too_many_pending_share",
    "reached_active_user_cap", "spam_risk_user_banned_from_posting",
    "unaudited_client_can_only_post_to_private_accounts", "url_ownership_unverified", "privacy_level_option_mismatch",
    "access_token_invalid", "scope_not_authorized", "rate_limit_exceeded", "internal_error",
)]
FAIL_REASONS = [
    "file_format_check_failed", "duration_check_failed", "frame_rate_check_failed", "picture_size_check_failed",
    "publish_cancelled", "spam_risk_text", "spam_risk", "spam_risk_user_banned_from_posting",
]
PASSING = ("rate_limit_exceeded", "internal_error")  # 429 and 5xx: retried within the call, the post goes out


def status_of(inbox: Path, name: str) -> dict[str, Any]:
    [path] = inbox.glob(f"*/{name}.status.json")
    return dict(json.loads(path.read_text()))


def drop_clip(inbox: Path, name: str = "clip", frontmatter: str = "") -> None:
    make_video(inbox / f"{name}.mp4", seconds=1)
    sidecar(inbox / f"{name}.md", frontmatter)


@pytest.mark.parametrize("code", INIT_CODES)
def test_each_init_code_leads_to_its_outcome(service: Workers, inbox: Path, sandbox: Sandbox, code: str) -> None:
    drop_clip(inbox)
    sandbox.state.tiktok.refuse_next_publish(code)
    exit_code, round_ = once(service)
    reaction = ANSWERS[code].reaction
    if code in PASSING:
        assert (exit_code, status_of(inbox, "clip")["state"]) == (EXIT_OK, "published")
    elif reaction is Reaction.FAIL:
        assert exit_code == EXIT_FAILED
        error = status_of(inbox, "clip")["error"]
        assert error["code"] == code
        assert ANSWERS[code].meaning in error["message"]
    else:
        # Waiting (a cap, a quota) or paused (the login): nothing fails, the item is tried again later.
        assert exit_code == EXIT_BLOCKED
        assert not (inbox / "failed").exists()
        if reaction is Reaction.PAUSE:
            assert round_.blocked is not None and ANSWERS[code].meaning in round_.blocked
        else:
            assert "clip" in round_.deferred
        assert once(service)[0] == EXIT_OK  # TikTok takes it the next time
        assert status_of(inbox, "clip")["state"] == "published"


def test_an_unknown_tiktok_code_fails_the_item_naming_it(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    drop_clip(inbox)
    sandbox.state.tiktok.refuse_next_publish("brand_new_rule")
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "clip")["error"]
    assert error["code"] == "brand_new_rule"
    assert "'brand_new_rule', a code pqdrop does not know" in error["message"]


@pytest.mark.parametrize("reason", FAIL_REASONS)
def test_each_fail_reason_fails_the_item_with_tiktoks_reason_and_meaning(
    service: Workers, inbox: Path, sandbox: Sandbox, reason: str
) -> None:
    drop_clip(inbox)
    sandbox.state.tiktok.fail_next_post(reason)
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "clip")["error"]
    assert error["code"] == reason
    assert f"{reason}: {ANSWERS[reason].meaning}" in error["message"]


# --- the sandbox itself refuses what TikTok refuses ------------------------------------------


def test_a_private_account_is_refused_public_posting_at_publish(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    sandbox.state.tiktok.set_profile("@mybrand", Profile(private=True))
    drop_clip(inbox, frontmatter="privacyLevel: PUBLIC_TO_EVERYONE\n")
    assert once(service)[0] == EXIT_FAILED
    assert status_of(inbox, "clip")["error"]["code"] == "privacy_level_option_mismatch"
    assert sandbox.state_summary()["publishes"] == []


def test_an_account_with_comments_off_refuses_switching_them_on(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    sandbox.state.tiktok.set_profile("@mybrand", Profile(comment_disabled=True))
    drop_clip(inbox, frontmatter="disableComment: false\n")
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "clip")["error"]
    assert (error["code"], "comments are off" in error["message"]) == ("invalid_param", True)


def test_a_video_longer_than_the_accounts_maximum_fails_later_with_duration_check_failed(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    sandbox.state.tiktok.set_profile("@mybrand", Profile(max_video_post_duration_sec=2))
    make_video(inbox / "long.mp4", seconds=3)
    sidecar(inbox / "long.md")
    assert once(service)[0] == EXIT_FAILED
    assert status_of(inbox, "long")["error"]["code"] == "duration_check_failed"


def test_the_sixth_draft_in_a_day_is_refused_by_the_sandbox_with_too_many_pending_shares(
    sandbox: Sandbox,
) -> None:
    post = Post("@mybrand", "draft", "x", {}, at=1000.0)
    for _ in range(5):
        sandbox.state.tiktok.accept([post], [])
    with pytest.raises(Refusal) as caught:
        sandbox.state.tiktok.accept([post], [])
    assert (caught.value.status, caught.value.code) == (403, "spam_risk_too_many_pending_share")
    later = Post("@mybrand", "draft", "x", {}, at=1000.0 + 24 * 3600)
    assert sandbox.state.tiktok.accept([later], []) == [None]


def test_a_photo_above_1080p_sent_as_it_is_fails_with_picture_size_check_failed(
    inbox: Path, sandbox: Sandbox
) -> None:
    photo = make_image(inbox / "big.jpg", width=1086, height=1448)
    headers = {"Authorization": "Bearer pq_sandbox"}
    with httpx.Client(base_url=sandbox.url, headers=headers) as api:
        content = api.post("/v1/content/upload-image", files={"file": ("big.jpg", photo.read_bytes(), "image/jpeg")})
        account = api.get("/v1/platform-accounts", params={"platform": "tiktok"}).json()["accounts"][0]["id"]
        target = {"platform": "tiktok", "accountId": account, "intent": "publish", "caption": "x", "options": {}}
        body = {"contentIds": [content.json()["contentId"]], "targets": [target]}
        publish_id = api.post("/v1/content/publish", json=body, headers={"Idempotency-Key": "k"}).json()["publishId"]
        sandbox.state.clock = lambda: 4_000_000_000.0  # long after processing
        [reported] = api.get(f"/v1/content/publish/{publish_id}").json()["targets"]
    assert (reported["status"], reported["error"]["code"]) == ("failed", "picture_size_check_failed")


@pytest.mark.parametrize("reason", ["internal", "video_pull_failed", "spam_risk_too_many_posts"])
def test_a_passing_fail_reason_says_that_a_retry_posts_it_again(
    service: Workers, inbox: Path, sandbox: Sandbox, reason: str
) -> None:
    drop_clip(inbox)
    sandbox.state.tiktok.fail_next_post(reason)
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "clip")["error"]
    assert error["code"] == reason
    assert error["message"].endswith("this passes, so `pqdrop retry clip` posts it again")
