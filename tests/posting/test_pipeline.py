"""One item's whole way against the real sandbox over HTTP: upload, publish, follow, file."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, tree_digest, write_config

from pqdrop.config import Config, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.media.probe import fingerprint, probe
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, Round, Workers, once


def status_of(inbox: Path, folder: str, name: str) -> dict:
    return json.loads((inbox / folder / f"{name}.status.json").read_text())


def log_states(inbox: Path, name: str) -> list[str]:
    lines = [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()]
    return [line["state"] for line in lines if line["item"] == name]


def publishes(sandbox: Sandbox) -> list[dict]:
    return list(sandbox.state_summary()["publishes"])


def test_a_video_with_its_sidecar_is_published_and_filed_in_sent(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "clip.mp4", width=360, height=640, seconds=1)
    sidecar(inbox / "clip.md", "privacyLevel: SELF_ONLY\ndisableDuet: true\n", "Hello #fyp")
    video_sha = hashlib.sha256((inbox / "clip.mp4").read_bytes()).hexdigest()
    code, round_ = once(service)
    assert code == EXIT_OK
    assert sorted(p.name for p in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    status = status_of(inbox, "sent", "clip")
    assert status["state"] == "published"
    assert status["publishId"] == round_.results[0].publish_id
    assert status["media"][0]["fingerprint"] == fingerprint(probe(inbox / "sent" / "clip.mp4"))
    assert log_states(inbox, "clip") == ["uploading", "publishing", "following", "published"]
    [publish] = publishes(sandbox)
    [target] = publish["targets"]
    assert target["caption"] == "Hello #fyp"
    assert target["options"] == {"privacyLevel": "SELF_ONLY", "disableDuet": True}
    assert target["intent"] == "publish"
    content = sandbox.state_summary()["contents"][publish["contentIds"][0]]
    assert (content["sha256"], content["contentType"], content["width"], content["height"]) == (
        video_sha, "video/mp4", 360, 640)


def test_a_rotated_phone_clip_is_completed_with_its_display_size(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "phone.mp4", width=640, height=360, seconds=1, rotation=90)
    sidecar(inbox / "phone.md")
    assert once(service)[0] == EXIT_OK
    [content] = sandbox.state_summary()["contents"].values()
    assert (content["width"], content["height"]) == (360, 640)


@pytest.mark.parametrize(("suffix", "mime"), [(".mov", "video/quicktime"), (".webm", "video/webm")])
def test_mov_and_webm_upload_with_their_real_type(
    service: Workers, inbox: Path, sandbox: Sandbox, suffix: str, mime: str
) -> None:
    make_video(inbox / f"clip{suffix}", seconds=1)
    sidecar(inbox / "clip.md")
    assert once(service)[0] == EXIT_OK
    [content] = sandbox.state_summary()["contents"].values()
    assert content["contentType"] == mime
    assert content["durationMs"] == pytest.approx(1000, abs=100)


def test_a_carousel_folder_posts_its_photos_in_name_order(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    folder = inbox / "trip"
    folder.mkdir()
    for name in ("c.jpg", "a.jpg", "b.webp"):
        make_image(folder / name, width=400, height=300)
    sidecar(folder / "post.md", "autoAddMusic: true\n")
    assert once(service)[0] == EXIT_OK
    [publish] = publishes(sandbox)
    contents = sandbox.state_summary()["contents"]
    assert [contents[cid]["filename"] for cid in publish["contentIds"]] == ["a.jpg", "b.webp", "c.jpg"]
    assert sorted(p.name for p in (inbox / "sent" / "trip").iterdir()) == ["a.jpg", "b.webp", "c.jpg", "post.md"]
    assert status_of(inbox, "sent", "trip")["state"] == "published"


def test_a_draft_ends_as_sent_to_the_tiktok_inbox(service: Workers, inbox: Path) -> None:
    make_video(inbox / "draft.mp4", seconds=1)
    sidecar(inbox / "draft.md", "intent: draft\n")
    assert once(service)[0] == EXIT_OK
    assert status_of(inbox, "sent", "draft")["state"] == "sent"


def test_a_future_dispatch_is_filed_as_scheduled_without_waiting(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", "dispatchAt: 2030-06-01T18:00:00\n")
    assert once(service)[0] == EXIT_OK
    status = status_of(inbox, "scheduled", "later")
    assert status["state"] == "scheduled"
    # Summer time in Berlin: 18:00 local is 16:00 UTC.
    assert publishes(sandbox)[0]["targets"][0]["dispatchAt"] == "2030-06-01T16:00:00Z"


def test_a_target_the_platform_fails_files_the_item_in_failed_with_its_reason(service: Workers, inbox: Path) -> None:
    make_video(inbox / "doomed.mp4", seconds=1)
    sidecar(inbox / "doomed.md", "account: '@failing'\n")
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "failed", "doomed")["error"]
    assert error["code"] == "PLATFORM_FAILED"
    assert "failed" in error["message"]


BAD_INPUTS = [
    ("broken-yaml", "caption: [unclosed\n", "SIDECAR_YAML", "broken-yaml.md"),
    ("unknown-key", "dispatchat: 2030-01-01T10:00:00Z\n", "SIDECAR_UNKNOWN_KEY", "dispatchAt"),
    ("bad-intent", "intent: post\n", "SIDECAR_VALUE", "intent"),
    ("bad-privacy", "privacyLevel: EVERYONE\n", "SIDECAR_VALUE", "privacyLevel"),
    ("unknown-account", "account: '@nobody'\n", "ACCOUNT_UNKNOWN", "@nobody"),
    ("long-ago", "dispatchAt: 2020-01-01T10:00:00Z\n", "SIDECAR_DISPATCH_PAST", "dispatchAt"),
    ("too-long", "", "CAPTION_TOO_LONG", "2,201 UTF-16 units"),
]


@pytest.mark.parametrize(("name", "frontmatter", "code", "named"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_a_bad_sidecar_fails_the_item_naming_the_problem_and_keeps_every_byte(
    service: Workers, inbox: Path, sandbox: Sandbox, name: str, frontmatter: str, code: str, named: str
) -> None:
    make_video(inbox / f"{name}.mp4", seconds=1)
    sidecar(inbox / f"{name}.md", frontmatter, "x" * 2201 if name == "too-long" else "A caption")
    before = tree_digest(inbox)
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "failed", name)["error"]
    assert error["code"] == code
    assert named in error["message"]
    assert tree_digest(inbox) == before
    assert publishes(sandbox) == []


# Seeded: some random 4 KiB FFmpeg reads as a data stream ("has no video stream"), which made the case flaky.
@pytest.mark.parametrize(("name", "content", "named"), [("corrupt", random.Random(7).randbytes(4096), "not a readable"),
                                                        ("stub", b"\x00" * 7, "not a readable")])
def test_a_corrupt_or_stub_video_fails_before_any_upload(
    service: Workers, inbox: Path, sandbox: Sandbox, name: str, content: bytes, named: str
) -> None:
    (inbox / f"{name}.mp4").write_bytes(content)
    sidecar(inbox / f"{name}.md")
    before = tree_digest(inbox)
    assert once(service)[0] == EXIT_FAILED
    error = status_of(inbox, "failed", name)["error"]
    assert error["code"] == "MEDIA" and named in error["message"]
    assert error["message"].startswith(f"{name}.mp4 ")  # as dropped, not its path in processing/
    assert tree_digest(inbox) == before
    assert sandbox.state_summary()["contents"] == {}


def test_an_empty_video_is_still_arriving_not_failed_and_left_untouched(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    (inbox / "empty.mp4").write_bytes(b"")  # a copy that has created its file and written nothing yet (issue 12)
    sidecar(inbox / "empty.md")
    before = tree_digest(inbox)
    code, _ = once(service)
    assert code == 0
    assert [(w.name, w.kind, w.reason) for w in service.look().waiting] == [
        ("empty", "arriving", "still arriving: empty.mp4 is empty (0 bytes)")]
    assert tree_digest(inbox) == before and not (inbox / "failed").exists()
    assert sandbox.state_summary()["contents"] == {}


def test_a_symlink_pointing_outside_is_never_uploaded_and_its_target_untouched(
    service: Workers, inbox: Path, tmp_path: Path, sandbox: Sandbox
) -> None:
    secret = tmp_path / "secret.mp4"
    make_video(secret, seconds=1)
    secret_bytes = secret.read_bytes()
    os.symlink(secret, inbox / "leak.mp4")
    sidecar(inbox / "leak.md")
    assert once(service)[0] == EXIT_FAILED
    assert sandbox.state_summary()["contents"] == {}
    assert secret.read_bytes() == secret_bytes
    assert (inbox / "failed" / "leak.mp4").is_symlink()
    assert "symbolic link" in status_of(inbox, "failed", "leak")["error"]["message"]


def test_one_bad_item_does_not_block_the_others(service: Workers, inbox: Path) -> None:
    make_video(inbox / "a-bad.mp4", seconds=1)
    sidecar(inbox / "a-bad.md", "intent: nope\n")
    make_video(inbox / "b-good.mp4", seconds=1)
    sidecar(inbox / "b-good.md")
    code, round_ = once(service)
    assert code == EXIT_FAILED
    assert {r.name: str(r.state) for r in round_.results} == {"a-bad": "failed", "b-good": "published"}


def test_an_item_failing_on_its_sidecar_is_never_logged_as_uploading(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "typo2.mp4", width=360, height=640, seconds=1)
    sidecar(inbox / "typo2.md", "privacyLvel: SELF_ONLY\nintent: pubish\n")
    assert once(service)[0] == EXIT_FAILED
    assert log_states(inbox, "typo2") == ["failed"]
    assert sandbox.state_summary()["contents"] == {}


def once_with_key(
    config: Config, journal: Journal, inbox: Path, sandbox: Sandbox, key_status: str
) -> tuple[int, Round]:
    """One clip in the inbox, the sandbox treating the key as `key_status`, then `once`."""
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    sandbox.set_key(SANDBOX_KEY, key_status)
    with make_client(config) as client, Workers(config, client, journal) as service:
        return once(service)


def test_a_refused_key_leaves_every_item_in_the_inbox_and_exits_3(
    config: Config, journal: Journal, inbox: Path, sandbox: Sandbox
) -> None:
    code, round_ = once_with_key(config, journal, inbox, sandbox, "revoked")
    assert code == EXIT_BLOCKED
    assert round_.blocked is not None and "UNAUTHORIZED" in round_.blocked
    assert sorted(p.name for p in inbox.iterdir()) == ["clip.md", "clip.mp4", "status.log"]
    assert log_states(inbox, "clip") == ["waiting"]  # refused before a byte went: never said uploading


def test_subscription_required_exits_3_and_moves_nothing(
    config: Config, journal: Journal, inbox: Path, sandbox: Sandbox
) -> None:
    code, round_ = once_with_key(config, journal, inbox, sandbox, "subscription_required")
    assert code == EXIT_BLOCKED
    assert round_.blocked is not None and "SUBSCRIPTION_REQUIRED" in round_.blocked
    assert (inbox / "clip.mp4").exists() and not (inbox / "failed").exists()


def test_a_publish_whose_reply_is_lost_is_retried_with_the_same_key_and_posted_once(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    sandbox.faults.drop_next_publish_reply()
    assert once(service)[0] == EXIT_OK
    assert sandbox.state.publish_calls == 1
    assert status_of(inbox, "sent", "clip")["state"] == "published"


def test_a_burst_of_503s_is_ridden_out(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    sandbox.faults.fail_next(3, status=503)
    assert once(service)[0] == EXIT_OK
    assert sandbox.state.publish_calls == 1


def test_the_api_key_never_reaches_status_files_or_the_log(service: Workers, inbox: Path) -> None:
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    once(service)
    for path in [inbox / "status.log", *inbox.rglob("*.status.json")]:
        assert SANDBOX_KEY not in path.read_text()


def post_then_redrop(service: Workers, inbox: Path, name: str, frontmatter: str = "", body: str = "A caption") -> int:
    """Post clip.mp4, then drop the same bytes again as NAME.mp4; returns the second run's exit code."""
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    original = (inbox / "clip.mp4").read_bytes()
    assert once(service)[0] == EXIT_OK
    (inbox / f"{name}.mp4").write_bytes(original)
    sidecar(inbox / f"{name}.md", frontmatter, body)
    return once(service)[0]


def test_a_redropped_video_already_sent_goes_to_failed_as_a_duplicate(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    assert post_then_redrop(service, inbox, "again", body="Same video, new caption") == EXIT_FAILED
    error = status_of(inbox, "failed", "again")["error"]
    assert error["code"] == "DUPLICATE"
    assert "as clip on" in error["message"] and "repost: true" in error["message"]
    assert len(publishes(sandbox)) == 1


def test_repost_true_posts_the_same_video_again(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    assert post_then_redrop(service, inbox, "again", "repost: true\n") == EXIT_OK
    assert len(publishes(sandbox)) == 2


def test_the_same_video_to_another_account_is_not_a_duplicate(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    assert post_then_redrop(service, inbox, "other", "account: '@otherbrand'\n") == EXIT_OK
    assert len(publishes(sandbox)) == 2


def test_the_same_video_dropped_twice_at_once_is_posted_once_and_the_copy_fails_as_a_duplicate(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, postqued={"workers": 2}))
    config.inbox.path.mkdir()
    make_video(config.inbox.path / "clip.mp4", seconds=1)
    (config.inbox.path / "copy.mp4").write_bytes((config.inbox.path / "clip.mp4").read_bytes())
    sidecar(config.inbox.path / "clip.md")
    sidecar(config.inbox.path / "copy.md")
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal) as service:
        code, round_ = once(service)
    journal.close()
    assert code == EXIT_FAILED
    assert sorted((r.name, str(r.state)) for r in round_.results) in (
        [("clip", "published"), ("copy", "failed")], [("clip", "failed"), ("copy", "published")])
    assert len(publishes(sandbox)) == 1


def lone_media_config(tmp_path: Path, sandbox: Sandbox, caption: str) -> Config:
    path = write_config(tmp_path, sandbox.url, inbox={"require_sidecar": False, "sidecar_wait_seconds": 1.0},
                        defaults={"caption": caption})
    return load_config(path)


def test_a_media_without_a_sidecar_waits_from_its_arrival_then_goes_with_the_default_caption(
    tmp_path: Path, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "lone.mp4", seconds=1)
    day_ago = os.stat(inbox / "lone.mp4").st_mtime - 86400
    os.utime(inbox / "lone.mp4", (day_ago, day_ago))  # a sync tool keeps the source's mtime: it says nothing of arrival
    config = lone_media_config(tmp_path, sandbox, "From the folder #fyp")
    journal = Journal(config.state.dir)
    with make_client(config) as client:
        with Workers(config, client, journal) as service:
            code, round_ = once(service)
        assert (code, round_.results, publishes(sandbox)) == (EXIT_OK, [], [])  # arrived just now: its sidecar may come
        time.sleep(1.2)
        # A new process (`once` again) must not start the wait over: the file's arrival counts, not the first look.
        with Workers(config, client, journal) as service:
            code, round_ = once(service)
    journal.close()
    assert code == EXIT_OK
    assert [(r.name, str(r.state)) for r in round_.results] == [("lone", "published")]
    [publish] = publishes(sandbox)
    assert publish["targets"][0]["caption"] == "From the folder #fyp"
    assert sorted(p.name for p in (inbox / "sent").iterdir()) == ["lone.mp4", "lone.status.json"]


def test_a_media_without_a_sidecar_and_no_default_caption_is_refused_by_v2_saying_what_to_set(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, api_mode: str
) -> None:
    make_video(inbox / "bare.mp4", seconds=1)
    config = lone_media_config(tmp_path, sandbox, "")
    time.sleep(1.2)
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal) as service:
        code, round_ = once(service)
    journal.close()
    if api_mode == "v1":  # v1 takes an empty caption
        assert [(r.name, str(r.state)) for r in round_.results] == [("bare", "published")]
        return
    assert code == EXIT_FAILED
    [result] = round_.results
    assert (result.state, result.error_code) == ("failed", "SIDECAR_MISSING")
    assert result.message == ("bare: no sidecar, and [defaults].caption is empty: PostQued v2 takes no post "
                              "without a caption; add bare.md, or set caption in [defaults]")
    assert publishes(sandbox) == [] and sandbox.state_summary()["contents"] == {}
