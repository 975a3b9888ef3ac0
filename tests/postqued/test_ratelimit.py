"""Request windows and backoff: pure arithmetic over an injected clock; one budget per key shared by processes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, wait_until, write_config

from pqdrop.errors import Interrupted
from pqdrop.media.mediagen import make_image
from pqdrop.postqued.ratelimit import RateLimiter, RequestWindow, backoff_delay, budget_path, pause
from pqdrop.sandbox import Sandbox


def test_a_window_gives_its_capacity_at_once_then_frees_each_slot_a_window_later() -> None:
    window = RequestWindow(capacity=10, window_seconds=60)
    assert [window.wait_time(100.0 + second) for second in range(10)] == [0.0] * 10
    assert window.wait_time(110.0) == 51.0  # the slot taken at 100 frees at 160 plus the 1 s margin
    assert window.wait_time(161.0) == 0.0
    assert window.wait_time(161.0) == 1.0  # the slot taken at 101 frees at 162


def test_a_window_never_lets_more_than_its_capacity_through_in_one_window() -> None:
    window = RequestWindow(capacity=3, window_seconds=2.0)
    now, sent = 0.0, []
    while now < 20.0:
        if window.wait_time(now) == 0.0:
            sent.append(now)
        now = round(now + 0.01, 2)
    assert max(sum(start <= moment < start + 2.0 for moment in sent) for start in sent) == 3
    assert len(sent) == 3 * 10  # still the full quota: one burst of 3 every 2 s plus the margin


def test_a_pause_holds_the_window_then_frees_one_slot_per_step() -> None:
    window = RequestWindow(capacity=10, window_seconds=60)
    window.pause(100.0, 30.0)
    assert window.wait_time(110.0) == 20.0
    assert window.wait_time(130.0) == 0.0
    assert window.wait_time(130.0) == 6.0  # one request every 60 s / 10


def test_the_limiter_sleeps_until_a_slot_is_free() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter({"publish": 2}, 60.0, clock=lambda: now[0], sleep=sleep)
    waits = [limiter.acquire("publish") for _ in range(4)]
    assert waits == [0.0, 0.0, 61.0, 0.0]
    assert slept == [61.0]


def test_a_slot_counts_from_its_reply_not_its_send() -> None:
    """The server counts a request on arrival, between our send and its reply: a slow request frees its slot later."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter({"read": 2}, 60.0, clock=lambda: now[0], sleep=sleep)
    with limiter.slot("read"):
        now[0] += 5.0  # the first request took 5 s to be answered
    with limiter.slot("read"):
        pass
    with limiter.slot("read"):
        pass
    assert slept == [61.0]  # the first slot frees at 5 + 60 + the 1 s margin, not at 0 + 61: at 66 the second frees too
    assert now[0] == 66.0


def test_a_restamp_after_a_pause_respread_the_window_leaves_the_pause_as_it_is() -> None:
    window = RequestWindow(capacity=2, window_seconds=60)
    assert window.wait_time(0.5) == 0.0
    window.pause(1.0, 30.0)
    spread = list(window.sent)
    assert spread == [-30.0, 0.0]
    window.restamp(0.5, 2.0)
    assert list(window.sent) == spread


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, base=1.0, cap=8.0, rng=rng) for attempt in range(6)]
    assert 0.5 <= delays[0] <= 1.0
    assert 2.0 <= delays[2] <= 4.0
    assert all(4.0 <= delay <= 8.0 for delay in delays[3:])


# --- one budget per API key per machine (issue 17) ---


def test_two_limiters_on_one_budget_file_share_its_slots(tmp_path: Path) -> None:
    now = [100.0]
    budget = tmp_path / "budget.json"
    first, second = (RateLimiter({"publish": 3}, 60.0, budget=budget, clock=lambda: now[0]) for _ in range(2))
    assert [first.acquire("publish"), second.acquire("publish"), first.acquire("publish")] == [0.0, 0.0, 0.0]
    slept: list[float] = []
    third = RateLimiter({"publish": 3}, 60.0, budget=budget, clock=lambda: now[0], sleep=slept.append)
    now[0] = 130.0
    # The fourth request anywhere waits for the first slot: taken at 100, free at 161.
    with third._held() as windows:
        assert windows["publish"].wait_time(now[0]) == 31.0


def test_a_pause_after_a_429_holds_every_limiter_on_the_budget(tmp_path: Path) -> None:
    now = [100.0]
    budget = tmp_path / "budget.json"
    first, second = (RateLimiter({"upload": 10}, 60.0, budget=budget, clock=lambda: now[0]) for _ in range(2))
    first.back_off("upload", 30.0)
    with second._held() as windows:
        assert windows["upload"].wait_time(110.0) == 20.0


def test_a_torn_or_previous_boot_budget_file_counts_as_empty(tmp_path: Path) -> None:
    budget = tmp_path / "budget.json"
    limiter = RateLimiter({"read": 1}, 60.0, budget=budget, clock=lambda: 50.0)
    budget.write_bytes(b'{"read": {"sent": [4')
    assert limiter.acquire("read") == 0.0
    budget.write_text(json.dumps({"read": {"sent": [9000.0], "paused_until": 0.0}}))  # stamped after "now"
    assert limiter.acquire("read") == 0.0
    assert json.loads(budget.read_text())["read"]["sent"] == [50.0]


def test_the_budget_file_is_named_by_a_hash_of_the_key_never_the_key(tmp_path: Path) -> None:
    key = "pq_live_0123456789abcdef"
    path = budget_path(key, "https://api.postqued.com", {"RUNTIME_DIRECTORY": f"{tmp_path}/a:{tmp_path}/b"})
    assert path.parent == tmp_path / "a"
    assert key not in path.name and "0123456789" not in path.name
    assert path == budget_path(key, "https://api.postqued.com", {"RUNTIME_DIRECTORY": str(tmp_path / "a")})
    assert path != budget_path("pq_other", "https://api.postqued.com", {"RUNTIME_DIRECTORY": str(tmp_path / "a")})
    assert budget_path(key, "https://x", {"XDG_RUNTIME_DIR": str(tmp_path)}).parent == tmp_path / "pqdrop"
    assert budget_path(key, "https://x", {}).parent.name == f"pqdrop-{os.getuid()}"


@pytest.mark.slow
def test_three_daemons_on_one_key_post_everything_without_a_single_429(tmp_path: Path) -> None:
    limits = {"upload": 4, "read": 8, "publish": 3, "delete": 4}
    window = 2.0
    per_inbox = 4
    with Sandbox(api_keys=(SANDBOX_KEY,), rate_limits=limits, window_seconds=window, processing_seconds=0.05) as server:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("WATCHDOG_", "JOURNAL_", "NOTIFY_", "RUNTIME_DIRECTORY"))}
        env.update(POSTQUED_API_KEY=SANDBOX_KEY, XDG_RUNTIME_DIR=str(tmp_path / "run"))
        processes, inboxes = [], []
        try:
            for client in ("north", "south", "west"):
                folder = tmp_path / client
                (folder / "inbox").mkdir(parents=True)
                rate_limits = {**limits, "window_seconds": window}
                config = write_config(folder, server.url, postqued={"rate_limits": rate_limits})
                for index in range(per_inbox):  # distinct photos: a re-drop of the same media is refused
                    make_image(folder / "inbox" / f"{client}{index}.jpg", width=640 + 16 * index)
                    sidecar(folder / "inbox" / f"{client}{index}.md", body=f"{client} {index}")
                inboxes.append(folder / "inbox")
                with (folder / "run.err").open("w") as stderr:
                    processes.append(subprocess.Popen(
                        [sys.executable, "-m", "pqdrop", "run", "--config", str(config)],
                        env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                    ))

            def all_sent() -> bool:
                return sum(len(list((inbox / "sent").glob("*.status.json"))) for inbox in inboxes) == 3 * per_inbox

            started = time.monotonic()
            wait_until(all_sent, 60.0)
            elapsed = time.monotonic() - started
        finally:
            for process in processes:
                process.terminate()
            codes = [process.wait(timeout=20) for process in processes]
        summary = server.state_summary()
    assert codes == [0, 0, 0]
    assert summary["rate_limited_count"] == 0
    assert len(summary["publishes"]) == 3 * per_inbox
    # Twelve publishes at three per window take at least three more windows after the first.
    assert elapsed >= 3 * window
    assert len(list((tmp_path / "run" / "pqdrop").glob("budget-*.json"))) == 1


def test_a_retrys_pause_ends_at_once_with_interrupted_when_the_stop_comes() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    with pytest.raises(Interrupted, match="resumes at its recorded step"):
        pause(30.0, time.sleep, stop)
    assert 0.1 < time.monotonic() - began < 5.0
    slept: list[float] = []
    pause(7.5, slept.append, None)  # no stop event: the injected sleep, as the tests' fake clocks need
    assert slept == [7.5]
