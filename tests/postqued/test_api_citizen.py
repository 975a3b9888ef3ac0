"""A good API citizen: paced to PostQued's limits, patient with 429s and 503s, paused by a refused key."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import (
    SANDBOX_KEY,
    Running,
    make_client,
    sidecar,
    wait_until,
    write_config,
)

from pqdrop.config import load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.tiktok import Profile
from pqdrop.service.workers import EXIT_OK, Workers, once

LIMITS = {"upload": 20, "read": 30, "publish": 10, "delete": 20}
WINDOW = 2.0  # PostQued's minute, scaled down


def captions_published(sandbox: Sandbox) -> Counter[str]:
    return Counter(p["targets"][0]["caption"] for p in sandbox.state_summary()["publishes"])


@pytest.mark.slow
def test_fifty_items_with_client_and_server_limits_equal_get_no_429(tmp_path: Path, api_mode: str) -> None:
    with Sandbox(api_keys=(SANDBOX_KEY,), rate_limits=LIMITS, window_seconds=WINDOW, processing_seconds=0.02,
                 api=api_mode) as sandbox:
        # Fifty posts to one account are past TikTok's daily cap; this test is about rate limits, not caps.
        sandbox.state.tiktok.set_profile("@mybrand", Profile(daily_posts=100))
        config = load_config(write_config(tmp_path, sandbox.url, postqued={
            "rate_limits": {**LIMITS, "window_seconds": WINDOW}, "workers": 4, "follow_seconds": 30.0},
            accounts={"@mybrand": {"daily_posts": 100}}))
        inbox = config.inbox.path
        inbox.mkdir()
        for number in range(50):
            make_image(inbox / f"photo-{number:02}.jpg", width=400 + 2 * number, height=400)
            sidecar(inbox / f"photo-{number:02}.md", body=f"Photo {number}")
        journal = Journal(config.state.dir)
        with make_client(config) as client, Workers(config, client, journal) as service:
            code, round_ = once(service)
        journal.close()
        assert code == EXIT_OK
        assert sandbox.state.rate_limited_count == 0
        assert captions_published(sandbox) == Counter({f"Photo {number}": 1 for number in range(50)})


@pytest.mark.slow
def test_a_storm_of_429s_and_503s_fails_nothing_and_posts_each_item_once(
    start: Callable[..., Running], sandbox: Sandbox, tmp_path: Path
) -> None:
    running = start(watch="poll", poll_interval=0.2, settle_seconds=0.0)
    for number in range(4):
        sandbox.faults.fail_next(4, status=429 if number % 2 else 503)
    for number in range(5):
        make_video(tmp_path / f"clip-{number}.mp4", width=360 + 2 * number, height=640, seconds=1)
        sidecar(tmp_path / f"clip-{number}.md", body=f"Clip {number}")
    for path in sorted(tmp_path.glob("clip-*")):
        path.rename(running.inbox / path.name)
    wait_until(lambda: len(list((running.inbox / "sent").glob("*.status.json"))) == 5
               if (running.inbox / "sent").exists() else False, seconds=60)
    assert not (running.inbox / "failed").exists()
    assert captions_published(sandbox) == Counter({f"Clip {number}": 1 for number in range(5)})


def test_a_revoked_key_pauses_posting_keeps_items_and_resumes_when_valid_again(
    start: Callable[..., Running], sandbox: Sandbox, tmp_path: Path
) -> None:
    running = start(watch="poll", poll_interval=0.2, settle_seconds=0.0)
    sandbox.set_key(SANDBOX_KEY, "revoked")
    make_video(running.inbox / "clip.mp4", seconds=1)
    sidecar(running.inbox / "clip.md")
    wait_until(lambda: running.runner.paused)
    lines = [json.loads(line) for line in (running.inbox / "status.log").read_text().splitlines()]
    assert lines[-1]["state"] == "waiting" and "UNAUTHORIZED" in lines[-1]["reason"]
    assert (running.inbox / "clip.mp4").exists() and not (running.inbox / "failed").exists()
    sandbox.set_key(SANDBOX_KEY, "ok")
    wait_until(lambda: running.filed("clip") is not None, seconds=30)
    assert (running.filed("clip") or {})["state"] == "published"


@pytest.mark.slow
def test_many_items_flow_while_one_big_video_uploads(start: Callable[..., Running], sandbox: Sandbox) -> None:
    """Workers: a large upload on one worker does not hold photos back."""
    running = start({"postqued": {"workers": 3}}, watch="poll", poll_interval=0.2, settle_seconds=0.0)
    big = make_video(running.inbox / ".big.tmp.mp4", width=360, height=640, seconds=1)
    with big.open("ab") as stream:
        stream.write(b"\0" * (40 * 1024 * 1024))  # padding after the moov: a 40 MB upload...
    sandbox.faults.storage_bytes_per_second = 8 * 1024 * 1024  # ...over a slow uplink: about 5 s
    sidecar(running.inbox / "big.md")
    big.rename(running.inbox / "big.mp4")
    wait_until(lambda: any(c["status"] != "ready" for c in running.contents().values()))
    for number in range(3):
        make_image(running.inbox / f"photo-{number}.jpg", width=500 + 2 * number, height=500)
        sidecar(running.inbox / f"photo-{number}.md", body=f"Photo {number}")
    wait_until(lambda: all(running.filed(f"photo-{n}") for n in range(3)), seconds=60)
    wait_until(lambda: running.filed("big") is not None, seconds=120)
    published = [p["targets"][0]["caption"] for p in sorted(
        sandbox.state_summary()["publishes"], key=lambda p: p["createdAt"])]
    assert published[-1] == "A caption #fyp"  # three photos overtook the big video on two free workers

