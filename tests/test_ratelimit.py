"""Request windows and backoff: pure arithmetic over an injected clock."""

from __future__ import annotations

import random

from pqdrop.ratelimit import RateLimiter, RequestWindow, backoff_delay


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


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, base=1.0, cap=8.0, rng=rng) for attempt in range(6)]
    assert 0.5 <= delays[0] <= 1.0
    assert 2.0 <= delays[2] <= 4.0
    assert all(4.0 <= delay <= 8.0 for delay in delays[3:])
