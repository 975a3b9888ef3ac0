"""The upload bandwidth cap: one shared timeline, smooth pieces, rates as people write them."""

from __future__ import annotations

import threading
import time

import pytest

from pqdrop.config import parse_rate
from pqdrop.postqued.bandwidth import MIN_PIECE_BYTES, Bandwidth


class Timeline:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def send(bandwidth: Bandwidth, size: int) -> list[int]:
    pieces, left = [], size
    while left:
        piece = bandwidth.take(left)
        pieces.append(piece)
        left -= piece
    return pieces


def test_no_cap_gives_the_whole_request_at_once() -> None:
    timeline = Timeline()
    bandwidth = Bandwidth(0, sleep=timeline.sleep, clock=timeline.clock)
    assert send(bandwidth, 10**9) == [10**9]
    assert timeline.sleeps == []


def test_a_minute_at_the_cap_moves_the_cap_times_sixty_bytes() -> None:
    timeline = Timeline()
    bandwidth = Bandwidth(5_000_000, sleep=timeline.sleep, clock=timeline.clock)
    pieces = send(bandwidth, 300_000_000)
    elapsed = timeline.now - 100.0
    assert 59.9 <= elapsed <= 60.0  # the last piece goes at once when its slot comes
    assert set(pieces) == {250_000}  # a twentieth of a second each: no bursts
    assert max(timeline.sleeps) <= 0.05 + 1e-9


def test_pieces_never_get_smaller_than_the_minimum() -> None:
    timeline = Timeline()
    bandwidth = Bandwidth(1000, sleep=timeline.sleep, clock=timeline.clock)
    assert bandwidth.take(10**6) == MIN_PIECE_BYTES


def test_two_uploads_at_once_share_the_cap() -> None:
    timeline = Timeline()
    bandwidth = Bandwidth(1_000_000, sleep=timeline.sleep, clock=timeline.clock)
    left = [2_000_000, 2_000_000]
    while any(left):  # the two uploads take turns, as two workers' pieces interleave
        for index in (0, 1):
            if left[index]:
                left[index] -= bandwidth.take(left[index])
    # 4 MB at 1 MB/s: the last piece's slot starts 4 s less one piece (50 ms) after the first.
    assert timeline.now - 100.0 == pytest.approx(3.95)


def test_a_new_rate_applies_to_the_next_piece() -> None:
    timeline = Timeline()
    bandwidth = Bandwidth(1_000_000, sleep=timeline.sleep, clock=timeline.clock)
    bandwidth.take(50_000)
    bandwidth.set_rate(0)
    assert bandwidth.take(10**9) == 10**9
    assert bandwidth.rate == 0


@pytest.mark.parametrize(
    ("text", "bytes_per_second"),
    [
        ("40 Mbit/s", 5_000_000.0),
        ("5 MB/s", 5_000_000.0),
        ("512 KiB/s", 524_288.0),
        ("1.5 MiB/s", 1_572_864.0),
        ("800kbit/s", 100_000.0),
        ("0", 0.0),
        (2_500_000, 2_500_000.0),
        (0, 0.0),
        ("1000000", 1_000_000.0),
    ],
)
def test_rates_read_as_people_write_them(text: str | int, bytes_per_second: float) -> None:
    assert parse_rate(text) == bytes_per_second


@pytest.mark.parametrize("text", ["40 mbps", "5 mb/s", "fast", "-3", "5 MB"])
def test_a_rate_that_is_not_one_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match=r'write "40 Mbit/s", "5 MB/s", "512 KiB/s"|cannot be negative'):
        parse_rate(text)


def test_a_stop_cuts_short_the_wait_for_a_slot_at_a_low_cap() -> None:
    # At 1000 B/s the second 16 KiB piece waits 16 s for its slot; the stop event ends that wait.
    bandwidth = Bandwidth(1000)
    stop = threading.Event()
    assert bandwidth.take(10**6, stop) == MIN_PIECE_BYTES  # the first piece goes at once
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    assert bandwidth.take(10**6, stop) == MIN_PIECE_BYTES
    assert time.monotonic() - began < 5.0
    assert stop.is_set()
