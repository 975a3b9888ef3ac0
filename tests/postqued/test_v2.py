"""PostQued v2 end to end against the sandbox: auto, workspaces, presigned photos, several platforms, 402."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, write_config

from pqdrop.config import Config, load_config
from pqdrop.errors import ApiAccountBlocked, ApiRejected, ConfigError
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.postqued.replies import error_from_reply
from pqdrop.postqued.types import Api
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.v2 import workspace_id
from pqdrop.service.workers import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, Round, Workers, once


@pytest.fixture
def v2_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=0.05, api="v2") as server:
        yield server


def v2_config(tmp_path: Path, sandbox: Sandbox, **postqued: Any) -> Config:
    config = load_config(write_config(tmp_path, sandbox.url, postqued=postqued))
    config.inbox.path.mkdir(exist_ok=True)
    return config


def run_once(config: Config) -> tuple[int, Round]:
    journal = Journal(config.state.dir)
    try:
        with make_client(config) as client, Workers(config, client, journal) as service:
            return once(service)
    finally:
        journal.close()


def status(config: Config, folder: str, name: str) -> dict[str, Any]:
    return dict(json.loads((config.inbox.path / folder / f"{name}.status.json").read_text()))


def publish_bodies(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [publish["body"] for publish in sandbox.state_summary()["publishes"]]


# --- auto: which API the server speaks ------------------------------------------------------


@pytest.mark.parametrize(("spoken", "picked"), [("v1", Api.V1), ("v2", Api.V2), ("both", Api.V2)])
def test_auto_picks_the_api_the_server_speaks_and_the_journal_remembers_it(
    tmp_path: Path, spoken: str, picked: Api
) -> None:
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=0.05, api=spoken) as sandbox:
        config = load_config(write_config(tmp_path, sandbox.url, postqued={"api": "auto"}))
        config.inbox.path.mkdir()
        make_video(config.inbox.path / "clip.mp4", seconds=1)
        sidecar(config.inbox.path / "clip.md")
        code, _ = run_once(config)
        assert code == EXIT_OK
        assert status(config, "sent", "clip")["state"] == "published"
        journal = Journal(config.state.dir)
        assert journal.setting("api") == str(picked)
        journal.close()


def test_auto_speaks_v2_when_a_remembered_v1_server_answers_410(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox, api="auto")
    journal = Journal(config.state.dir)
    journal.remember("api", "v1")  # what an earlier start found, before the server retired v1
    journal.close()
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md")
    code, _ = run_once(config)
    assert code == EXIT_OK
    journal = Journal(config.state.dir)
    assert journal.setting("api") == "v2"
    journal.close()


def test_a_v1_config_against_a_v2_only_server_says_v1_is_gone(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox, api="v1")
    with make_client(config) as client, pytest.raises(ApiRejected) as caught:
        client.platform_accounts()
    assert (caught.value.status, caught.value.code) == (410, "GONE")


# --- workspaces -------------------------------------------------------------------------------


def test_the_only_workspace_is_used_and_logged(
    tmp_path: Path, v2_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    config = config.model_copy(update={"postqued": config.postqued.model_copy(update={"workspace": None})})
    with make_client(config) as client, caplog.at_level("INFO", "pqdrop"):
        assert client.connect() is Api.V2
        assert [account.platform for account in client.platform_accounts("youtube")] == ["youtube"]
    assert f"posting in workspace Main ({workspace_id('Main')})" in caplog.text


def test_several_workspaces_without_one_configured_stop_with_the_list_and_the_line_to_add(tmp_path: Path) -> None:
    with Sandbox(api_keys=(SANDBOX_KEY,), api="v2", workspaces=("Brand A", "Brand B")) as sandbox:
        config = v2_config(tmp_path, sandbox)
        config = config.model_copy(update={"postqued": config.postqued.model_copy(update={"workspace": None})})
        with make_client(config) as client, pytest.raises(ConfigError) as caught:
            client.connect()
    assert caught.value.message == (
        "the API key reaches 2 workspaces and pqdrop never guesses between them: "
        f"Brand A (id {workspace_id('Brand A')}), Brand B (id {workspace_id('Brand B')}); "
        f'add the one to post to under [postqued] in the config, e.g. workspace = "{workspace_id("Brand A")}"')


def test_a_workspace_the_key_does_not_reach_is_a_clear_config_error(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox, workspace="4b0c1d2e-0000-4000-8000-000000000000")
    with make_client(config) as client, pytest.raises(ConfigError) as caught:
        client.connect()
    assert caught.value.message == (
        "[postqued].workspace = '4b0c1d2e-0000-4000-8000-000000000000' is not a workspace this API key reaches; "
        f"it reaches: Main (id {workspace_id('Main')})")


def test_every_v2_call_names_the_workspace(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md")
    assert run_once(config)[0] == EXIT_OK
    [body] = publish_bodies(v2_sandbox)
    assert body["workspaceId"] == workspace_id("Main")


# --- photos and carousels through the presigned flow ----------------------------------------


def test_a_carousel_goes_up_through_start_put_complete_with_each_photos_size(
    tmp_path: Path, v2_sandbox: Sandbox
) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    folder = config.inbox.path / "trip"
    folder.mkdir()
    for number, (width, height) in enumerate([(640, 480), (480, 640), (500, 500)], start=1):
        make_image(folder / f"{number}.jpg", width=width, height=height)
    make_image(folder / "4.png", width=320, height=240)  # converted to JPEG on the way
    sidecar(folder / "trip.md", "privacyLevel: SELF_ONLY\n", "Trip #photos")
    code, _ = run_once(config)
    assert code == EXIT_OK, status(config, "failed", "trip")
    [body] = publish_bodies(v2_sandbox)
    contents = v2_sandbox.state_summary()["contents"]
    sizes = [(contents[cid]["width"], contents[cid]["height"], contents[cid]["contentType"], contents[cid]["status"])
             for cid in body["contentIds"]]
    assert sizes == [(640, 480, "image/jpeg", "ready"), (480, 640, "image/jpeg", "ready"),
                     (500, 500, "image/jpeg", "ready"), (320, 240, "image/jpeg", "ready")]
    assert status(config, "sent", "trip")["state"] == "published"


def test_one_photo_is_completed_with_its_width_and_height(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_image(config.inbox.path / "photo.webp", width=400, height=300)
    sidecar(config.inbox.path / "photo.md")
    assert run_once(config)[0] == EXIT_OK
    [body] = publish_bodies(v2_sandbox)
    content = v2_sandbox.state_summary()["contents"][body["contentIds"][0]]
    assert (content["width"], content["height"], content["contentType"]) == (400, 300, "image/webp")


# --- several platforms in one request ---------------------------------------------------------


CROSS_POST = """\
targets:
  - platform: tiktok
    privacyLevel: SELF_ONLY
    disableDuet: true
  - platform: instagram
    options:
      postType: reel
      collaborators: "@friend"
  - platform: youtube
    options:
      visibility: unlisted
      title: "Look at this"
      tags: [shorts, demo]
"""


def test_one_clip_goes_to_tiktok_instagram_and_youtube_in_one_request_with_each_platforms_options(
    tmp_path: Path, v2_sandbox: Sandbox
) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md", CROSS_POST, "Everywhere at once")
    code, _ = run_once(config)
    assert code == EXIT_OK, status(config, "failed", "clip")
    [body] = publish_bodies(v2_sandbox)
    accounts = {account["platform"] + ":" + account["username"]: account["id"] for account in v2_sandbox.v2.accounts()}
    assert [(t["platform"], t["accountId"], t["options"]) for t in body["targets"]] == [
        ("tiktok", accounts["tiktok:@mybrand"], {"privacyLevel": "SELF_ONLY", "disableDuet": True}),
        ("instagram", accounts["instagram:@mybrand"], {"postType": "reel", "collaborators": ["@friend"]}),
        ("youtube", accounts["youtube:@mybrand"], {"visibility": "unlisted", "title": "Look at this",
                                                   "tags": ["shorts", "demo"]}),
    ]
    assert len(body["contentIds"]) == 1
    filed = status(config, "sent", "clip")
    assert filed["state"] == "published"
    assert sorted((target["platform"], target["status"]) for target in filed["targets"]) == [
        ("instagram", "published"), ("tiktok", "published"), ("youtube", "published")]
    assert next(t for t in filed["targets"] if t["platform"] == "youtube")["url"].startswith(
        "https://www.youtube.com/shorts/")


def test_a_reddit_target_without_subreddit_is_refused_before_any_upload(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md", "platform: reddit\noptions:\n  title: Hi\n")
    code, _ = run_once(config)
    assert code == EXIT_FAILED
    filed = status(config, "failed", "clip")
    assert filed["error"]["code"] == "SIDECAR_MISSING"
    assert "clip.md: options.subreddit: required for Reddit" in filed["error"]["message"]
    assert v2_sandbox.state_summary()["contents"] == {}


def test_an_account_of_another_platform_is_named_with_the_platforms_accounts(
    tmp_path: Path, v2_sandbox: Sandbox
) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md", "platform: youtube\naccount: '@otherbrand'\n")
    assert run_once(config)[0] == EXIT_FAILED
    error = status(config, "failed", "clip")["error"]
    assert error["code"] == "ACCOUNT_PLATFORM"
    assert error["message"] == (
        "clip.md: account: '@otherbrand' is a tiktok account, and this target posts to youtube; "
        "its youtube accounts are: @mybrand")


def test_a_refusal_of_the_api_is_shown_verbatim_in_the_status_file(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md", "platform: pinterest\noptions:\n  boardId: b1\n")
    v2_sandbox.faults.fail_next(1, status=422, path_prefix="/v2/publish")
    assert run_once(config)[0] == EXIT_FAILED
    error = status(config, "failed", "clip")["error"]
    assert error["code"] == "UNPROCESSABLE_ENTITY"
    assert error["message"] == (
        "POST /v2/publish: Sandbox fault: this request was answered 422 on purpose (UNPROCESSABLE_ENTITY)")


# --- 402 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["PAYMENT_REQUIRED", "CAPABILITY_REQUIRED", ""])
def test_a_402_is_account_blocked_whatever_its_code(code: str) -> None:
    error = error_from_reply(402, {"error": "Upgrade to post", "code": code} if code else {}, {}, "POST /v2/publish")
    assert isinstance(error, ApiAccountBlocked)
    assert error.code == (code or "HTTP_402")


def test_a_402_from_any_call_pauses_posting_and_keeps_the_item(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md")
    v2_sandbox.faults.fail_next(1, status=402, path_prefix="/v2/content/upload")
    result, round_ = run_once(config)
    assert result == EXIT_BLOCKED
    assert (config.inbox.path / "clip.mp4").exists() and not (config.inbox.path / "failed").exists()
    assert round_.blocked is not None and "(PAYMENT_REQUIRED)" in round_.blocked
    assert v2_sandbox.state_summary()["publishes"] == []


def test_a_key_whose_plan_cannot_post_is_paused_by_the_402(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md")
    v2_sandbox.set_key(SANDBOX_KEY, "payment_required")
    assert run_once(config)[0] == EXIT_BLOCKED
    assert (config.inbox.path / "clip.mp4").exists()


def test_a_post_without_a_caption_is_refused_before_upload_in_v2(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    sidecar(config.inbox.path / "clip.md", "privacyLevel: SELF_ONLY\n", "")
    assert run_once(config)[0] == EXIT_FAILED
    error = status(config, "failed", "clip")["error"]
    assert (error["code"], error["message"].split(";")[0]) == (
        "SIDECAR_MISSING", "clip.md: caption: empty, and PostQued v2 takes no post without a caption")
    assert v2_sandbox.state_summary()["contents"] == {}


# --- cancel, reschedule and dryRun through the client ------------------------------------------


def scheduled_clip(config: Config, sandbox: Sandbox, targets: list[dict[str, Any]]) -> tuple[Any, str]:
    """A clip uploaded through the client and published to `targets`; the client and the state."""
    client = make_client(config)
    video = make_video(config.inbox.path.parent / "c.mp4", seconds=1)
    content_id = client.upload_video(video, "video/mp4", video.stat().st_size, width=360, height=640,
                                     duration_ms=1000)
    return client, client.publish([content_id], targets, "pqdrop-test-key")


def target(sandbox: Sandbox, platform: str, dispatch_at: str | None, **options: Any) -> dict[str, Any]:
    account = next(a for a in sandbox.v2.accounts() if a["platform"] == platform and a["username"] == "@mybrand")
    return {"platform": platform, "accountId": account["id"], "intent": "publish", "caption": "Later",
            "dispatchAt": dispatch_at, "options": options}


def test_one_target_is_rescheduled_and_another_cancelled_while_they_wait(tmp_path: Path, v2_sandbox: Sandbox) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    later = "2030-06-01T18:00:00Z"
    client, state = scheduled_clip(config, v2_sandbox, [
        target(v2_sandbox, "youtube", later, visibility="public"), target(v2_sandbox, "mastodon", later)])
    with client:
        youtube, mastodon = state.targets
        moved = client.reschedule(state.publish_id, youtube.id, "2031-01-02T03:04:05Z")
        assert [(t.platform, t.status, t.dispatch_at) for t in moved.targets] == [
            ("youtube", "scheduled", "2031-01-02T03:04:05Z"), ("mastodon", "scheduled", later)]
        after = client.cancel_target(state.publish_id, mastodon.id)
        assert [(t.platform, t.status) for t in after.targets] == [("youtube", "scheduled"), ("mastodon", "canceled")]
        whole = client.cancel(state.publish_id)
        assert [t.status for t in whole.targets] == ["canceled", "canceled"]


def test_a_target_already_processing_cannot_be_cancelled_or_rescheduled(tmp_path: Path) -> None:
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=30.0, api="v2") as sandbox:
        config = v2_config(tmp_path, sandbox)
        client, state = scheduled_clip(config, sandbox, [target(sandbox, "youtube", None, visibility="public")])
        with client:
            sandbox.state.clock = lambda: time.time() + 31  # past the queued step: processing
            with pytest.raises(ApiRejected) as cancelled:
                client.cancel_target(state.publish_id, state.targets[0].id)
            with pytest.raises(ApiRejected) as moved:
                client.reschedule(state.publish_id, state.targets[0].id, None)
            with pytest.raises(ApiRejected) as whole:
                client.cancel(state.publish_id)
    assert (cancelled.value.status, cancelled.value.code) == (409, "NOT_CANCELLABLE")
    assert (moved.value.status, moved.value.code) == (409, "NOT_RESCHEDULABLE")
    assert "only a queued or scheduled target can be rescheduled" in moved.value.message
    assert (whole.value.status, whole.value.code) == (409, "NOT_CANCELLABLE")


def test_a_dry_run_validates_without_publishing_and_needs_no_idempotency_key(
    tmp_path: Path, v2_sandbox: Sandbox
) -> None:
    config = v2_config(tmp_path, v2_sandbox)
    with make_client(config) as client:
        video = make_video(tmp_path / "c.mp4", seconds=1)
        content_id = client.upload_video(video, "video/mp4", video.stat().st_size, width=360, height=640,
                                         duration_ms=1000)
        state = client.publish([content_id], [target(v2_sandbox, "youtube", None, visibility="public")], "",
                               dry_run=True)
        with pytest.raises(ApiRejected) as caught:
            client.publish([content_id], [target(v2_sandbox, "reddit", None, title="x")], "", dry_run=True)
    assert [(t.platform, t.status) for t in state.targets] == [("youtube", "validated")]
    assert v2_sandbox.state_summary()["publishes"] == []
    assert caught.value.message.endswith("targets[0].options.subreddit is required for Reddit (VALIDATION_ERROR)")


def test_v1_cancels_a_whole_request_and_refuses_to_reschedule(tmp_path: Path) -> None:
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=0.05, api="v1") as sandbox:
        config = load_config(write_config(tmp_path, sandbox.url))
        config.inbox.path.mkdir()
        account = sandbox.state.accounts("tiktok")["accounts"][0]["id"]
        client, state = scheduled_clip(config, sandbox, [
            {"platform": "tiktok", "accountId": account, "intent": "publish", "caption": "x",
             "dispatchAt": "2030-06-01T18:00:00Z", "options": {}}])
        with client:
            with pytest.raises(ApiRejected) as caught:
                client.reschedule(state.publish_id, state.targets[0].id, None)
            cancelled = client.cancel_target(state.publish_id, state.targets[0].id)
    assert caught.value.code == "NOT_IN_V1"
    assert [t.status for t in cancelled.targets] == ["canceled"]


# --- the command line -------------------------------------------------------------------------


def run_pqdrop(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    scrubbed = ("PQDROP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY")
    env = {name: value for name, value in os.environ.items() if name not in scrubbed}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"), POSTQUED_API_KEY=SANDBOX_KEY)
    return subprocess.run([sys.executable, "-m", "pqdrop", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", ["once", "accounts"])
def test_once_and_accounts_exit_2_listing_the_workspaces_to_choose_from(tmp_path: Path, command: str) -> None:
    with Sandbox(api_keys=(SANDBOX_KEY,), api="v2", workspaces=("Brand A", "Brand B")) as sandbox:
        path = write_config(tmp_path, sandbox.url)
        text = path.read_text().replace(f'workspace = "{workspace_id("Main")}"\n', "")
        path.write_text(text)
        (tmp_path / "inbox").mkdir()
        result = run_pqdrop(command, "--config", str(path), tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == (
        "pqdrop: the API key reaches 2 workspaces and pqdrop never guesses between them: "
        f"Brand A (id {workspace_id('Brand A')}), Brand B (id {workspace_id('Brand B')}); "
        f'add the one to post to under [postqued] in the config, e.g. workspace = "{workspace_id("Brand A")}"')
    assert result.stdout == ""


def test_the_sandbox_command_can_speak_v2_only(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    with subprocess.Popen([sys.executable, "-m", "pqdrop", "sandbox", "--port", "0", "--api", "v2"], env=env,
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert f"v2 only, workspace {workspace_id('Main')}" in line
            url = next(word for word in line.split() if word.startswith("http://127.0.0.1:")).rstrip(";")
            headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
            gone = httpx.get(f"{url}/v1/platform-accounts", headers=headers)
            ping = httpx.get(f"{url}/v2/ping")
            integrations = httpx.get(f"{url}/v2/integrations", params={"workspaceId": workspace_id()},
                                     headers=headers)
            unscoped = httpx.get(f"{url}/v2/integrations", headers=headers)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert (gone.status_code, gone.json()["code"]) == (410, "GONE")
    assert ping.json() == {"pong": "it worked!"}
    assert {account["platform"] for account in integrations.json()["accounts"]} >= {"tiktok", "youtube", "reddit"}
    assert (unscoped.status_code, unscoped.json()["code"]) == (400, "MISSING_WORKSPACE")
