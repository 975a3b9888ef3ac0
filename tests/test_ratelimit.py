"""Token buckets and backoff: pure arithmetic over an injected clock."""

from __future__ import annotations

import random

from daemon.ratelimit import RateLimiter, TokenBucket, backoff_delay


def test_a_bucket_gives_its_capacity_at_once_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(capacity=10, window_seconds=60)
    assert [bucket.wait_time(100.0) for _ in range(10)] == [0.0] * 10
    assert bucket.wait_time(100.0) == 6.0  # one token every 6 s
    assert bucket.wait_time(106.0) == 0.0


def test_a_pause_holds_the_bucket_and_empties_it() -> None:
    bucket = TokenBucket(capacity=10, window_seconds=60)
    bucket.pause(100.0, 30.0)
    assert bucket.wait_time(110.0) == 20.0
    assert bucket.wait_time(130.0) == 6.0


def test_the_limiter_sleeps_until_a_token_is_free() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter({"publish": 2}, 60.0, clock=lambda: now[0], sleep=sleep)
    waits = [limiter.acquire("publish") for _ in range(4)]
    assert waits == [0.0, 0.0, 30.0, 30.0]
    assert now[0] == 60.0


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, base=1.0, cap=8.0, rng=rng) for attempt in range(6)]
    assert 0.5 <= delays[0] <= 1.0
    assert 2.0 <= delays[2] <= 4.0
    assert all(4.0 <= delay <= 8.0 for delay in delays[3:])
