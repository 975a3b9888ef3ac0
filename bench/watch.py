"""What watching costs a running `pqdrop run` (issue 4): polling 10,000 files, and idling in events mode.

The daemon runs as a real process beside this one, started through this file's `daemon` mode:
the real `pqdrop run` (pqdrop.commands.main), with each OS thread named after its Python thread, so
/proc can tell the main loop from watchdog's threads. Systemd is stood in for as the unit in
systemd/ sets it up: NOTIFY_SOCKET (READY=1 says the first scan is done) and WATCHDOG_USEC for
WatchdogSec=60. CPU is utime + stime from /proc/PID/stat; wake-ups are voluntary context
switches from /proc/PID/task/*/status (each is one block and wake; no perf or strace needed).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    NotifySocket,
    ThreadSample,
    cpu_seconds,
    goal_line,
    load_average,
    median,
    stop_process,
    threads,
    write_config,
)
from scale import UNREACHABLE_API, fill_inbox

GOALS = {"poll_cpu_percent": 5.0}
POLL_INTERVAL = 10.0
SETTLE_SECONDS = 5.0  # the default: files found at start-up settle for this long first
WATCHDOG_USEC = 60_000_000  # systemd/pqdrop.service: WatchdogSec=60
SAMPLE_SECONDS = 0.2
SCAN_SAMPLE_CPU = 0.05  # a sample this busy (a quarter of a core) is part of a scan
READY_TIMEOUT = 60.0


def name_os_threads() -> None:
    """Give each OS thread its Python thread's name (or class), as Python 3.14 does by itself."""
    import ctypes
    import threading

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_name = 15  # prctl(2)

    def set_name(label: str) -> None:
        prctl(pr_set_name, label.encode()[:15], 0, 0, 0)

    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def named(self: threading.Thread) -> None:
        set_name(self.name if type(self) is threading.Thread else type(self).__name__)
        bootstrap(self)

    threading.Thread._bootstrap_inner = named  # type: ignore[attr-defined]
    set_name("pqdrop-main")


class Daemon:
    """`pqdrop run` in `folder` (config.toml there), under a stand-in for systemd."""

    def __init__(self, folder: Path) -> None:
        self.notify = NotifySocket(folder)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC),
               "POSTQUED_API_KEY": "pq_bench"}
        self.log = (folder / "pqdrop.log").open("w")
        argv = [sys.executable, str(Path(__file__).resolve()), "daemon", "run", "--config", "config.toml"]
        self.process = subprocess.Popen(argv, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        self.notify.wait_for("READY=1", READY_TIMEOUT)

    def stop(self) -> int:
        code = stop_process(self.process)
        self.log.close()
        self.notify.close()
        if code != 0:
            raise SystemExit(f"bench: `pqdrop run` left with {code}; see {self.log.name}")
        return code


def measure_poll(args: argparse.Namespace) -> dict[str, Any]:
    """CPU of a daemon in poll mode (every 10 s) over `args.items` media that all wait for their sidecars."""
    report: dict[str, Any] = {"load_before": load_average(), "files": args.items}
    with tempfile.TemporaryDirectory(prefix="pqdrop-poll-") as temporary:
        folder = Path(temporary)
        fill_inbox(folder / "inbox", args.items, sidecars=False)
        write_config(folder, UNREACHABLE_API, inbox={"watch": "poll", "poll_interval": POLL_INTERVAL,
                                                     "settle_seconds": SETTLE_SECONDS})
        running = Daemon(folder)
        try:
            # Files found at start-up settle first (looks every settle/2); then one look per poll_interval.
            time.sleep(SETTLE_SECONDS + 1.0)
            samples = sample_cpu(running, args.seconds)
            per_thread = threads(running.pid)
        finally:
            running.stop()
    (start, cpu_start), (end, cpu_end) = samples[0], samples[-1]
    scans = scan_bursts(samples)
    report |= {
        "seconds": round(end - start, 1),
        "cpu_s": round(cpu_end - cpu_start, 3),
        "cpu_percent": 100 * (cpu_end - cpu_start) / (end - start),
        "scans": len(scans),
        "cpu_per_scan_s": scans,
        "cpu_per_scan_median_s": median(scans) if scans else None,
        "threads_cpu_s": {
            f"{sample.name} ({tid})": round(sample.cpu_ns / 1e9, 2) for tid, sample in per_thread.items()
        },
        "load_after": load_average(),
    }
    report["goals"] = [
        goal_line(f"poll mode over {args.items:,} files every {POLL_INTERVAL:g} s, CPU of one core",
                  f"{report['cpu_percent']:.1f}%", f"< {GOALS['poll_cpu_percent']:g}%",
                  report["cpu_percent"] < GOALS["poll_cpu_percent"]),
        goal_line(f"CPU per poll of {args.items:,} files (median of {len(scans)})",
                  f"{report['cpu_per_scan_median_s']:.2f} s" if scans else "-", "-", None),
    ]
    report["method"] = (
        f"`pqdrop run`, watch = \"poll\", poll_interval = {POLL_INTERVAL:g}, settle_seconds = {SETTLE_SECONDS:g}, "
        f"over {args.items} media without sidecars (all wait; nothing is posted). After READY=1 and the "
        f"settling looks, utime+stime of the process over {args.seconds:g} s; a poll's CPU is one burst of "
        f"samples ({SAMPLE_SECONDS:g} s apart) busier than {SCAN_SAMPLE_CPU:g} s, with one sample either side."
    )
    return report


def sample_cpu(running: Daemon, seconds: float) -> list[tuple[float, float]]:
    """(monotonic time, CPU seconds of the daemon) every SAMPLE_SECONDS for `seconds`."""
    samples = [(time.monotonic(), cpu_seconds(running.pid))]
    deadline = samples[0][0] + seconds
    while time.monotonic() < deadline:
        time.sleep(SAMPLE_SECONDS)
        samples.append((time.monotonic(), cpu_seconds(running.pid)))
        running.notify.drain()
    return samples


def scan_bursts(samples: list[tuple[float, float]]) -> list[float]:
    """CPU seconds of each busy stretch: one poll's scan and plan. Stretches cut by the window's ends are left out."""
    deltas = [later[1] - earlier[1] for earlier, later in itertools.pairwise(samples)]
    busy = [delta >= SCAN_SAMPLE_CPU for delta in deltas]
    bursts, index = [], 0
    while index < len(deltas):
        if not busy[index]:
            index += 1
            continue
        end = index
        while end + 1 < len(deltas) and busy[end + 1]:
            end += 1
        if index > 0 and end + 1 < len(deltas):
            bursts.append(round(sum(deltas[index - 1:end + 2]), 3))
        index = end + 1
    return bursts


def measure_idle(args: argparse.Namespace) -> dict[str, Any]:
    """CPU and wake-ups, thread by thread, of a daemon in events mode on an empty inbox."""
    report: dict[str, Any] = {"load_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="pqdrop-idle-") as temporary:
        folder = Path(temporary)
        (folder / "inbox").mkdir()
        write_config(folder, UNREACHABLE_API, inbox={"watch": "events"})
        running = Daemon(folder)
        try:
            time.sleep(2.0)
            before, cpu_before, start = threads(running.pid), cpu_seconds(running.pid), time.monotonic()
            deadline = start + args.seconds
            while time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                running.notify.drain()
            after, cpu_after, end = threads(running.pid), cpu_seconds(running.pid), time.monotonic()
        finally:
            running.stop()
    minutes = (end - start) / 60
    rows = [thread_row(before[tid], after[tid], minutes) for tid in sorted(after) if tid in before]
    report |= {
        "seconds": round(end - start, 1),
        "cpu_s_ticks": round(cpu_after - cpu_before, 3),
        # Idle CPU is below /proc/PID/stat's 10 ms ticks; the threads' schedstat counts nanoseconds.
        "cpu_percent": 100 * sum(row["cpu_ms"] for row in rows) / 1000 / (end - start),
        "wakeups_per_min": round(sum(row["wakeups_per_min"] for row in rows), 1),
        "threads": rows,
        "load_after": load_average(),
    }
    main = next(row for row in rows if row["name"] == "pqdrop-main")
    from pqdrop.service.daemon import WATCH_CHECK_SECONDS

    expected = 60 / WATCH_CHECK_SECONDS
    by_thread = ", ".join(f"{row['name']} {row['wakeups_per_min']:g}" for row in rows)
    report["goals"] = [
        goal_line("idle in events mode, CPU of one core", f"{report['cpu_percent']:.3f}%", "-", None),
        goal_line("idle in events mode: main loop wake-ups per minute", f"{main['wakeups_per_min']:.1f}",
                  f"~{expected:g} (one per WATCH_CHECK_SECONDS = {WATCH_CHECK_SECONDS:g} s)",
                  main["wakeups_per_min"] <= 1.5 * expected),
        goal_line("idle in events mode: wake-ups per minute, all threads",
                  f"{report['wakeups_per_min']:.1f} ({by_thread})", "-", None),
    ]
    report["method"] = (
        "`pqdrop run`, watch = \"events\" (inotify through watchdog), other settings default, on an empty inbox, "
        f"as under systemd (NOTIFY_SOCKET, WATCHDOG_USEC for WatchdogSec=60). From 2 s after READY=1, "
        f"{args.seconds:g} s: CPU is the threads' on-CPU time (/proc/PID/task/TID/schedstat, ns; utime+stime "
        "in 10 ms ticks is kept as cpu_s_ticks); wake-ups are voluntary context switches "
        "per thread (/proc/PID/task/TID/status), threads named after their Python threads or classes."
    )
    return report


def thread_row(before: ThreadSample, after: ThreadSample, minutes: float) -> dict[str, Any]:
    return {
        "tid": after.tid,
        "name": after.name,
        "wakeups_per_min": round((after.voluntary - before.voluntary) / minutes, 1),
        "preempted_per_min": round((after.involuntary - before.involuntary) / minutes, 1),
        "cpu_ms": round((after.cpu_ns - before.cpu_ns) / 1e6, 1),
    }


def print_poll(report: dict[str, Any]) -> None:
    per_scan = report["cpu_per_scan_median_s"]
    print(f"\npoll mode, {report['files']:,} files: {report['cpu_percent']:.2f}% of a core over {report['seconds']} s"
          f" ({report['cpu_s']} s CPU, {report['scans']} polls seen"
          + (f", {per_scan:.2f} s CPU each)" if per_scan is not None else ")"))
    print("  CPU by thread since start:", ", ".join(f"{name} {cpu} s" for name, cpu in report["threads_cpu_s"].items()))


def print_idle(report: dict[str, Any]) -> None:
    print(f"\nidle, events mode: {report['cpu_percent']:.4f}% of a core over {report['seconds']} s,"
          f" {report['wakeups_per_min']} wake-ups/min in all")
    print(f"  {'thread':<18} {'wake-ups/min':>12} {'preempted/min':>13} {'CPU ms':>8}")
    for row in report["threads"]:
        print(f"  {row['name']:<18} {row['wakeups_per_min']:>12} {row['preempted_per_min']:>13} {row['cpu_ms']:>8}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "daemon":
        name_os_threads()
        from pqdrop.commands import main

        raise SystemExit(main(sys.argv[2:]))
    raise SystemExit("usage: python bench/run.py poll|idle (this file's own mode is `daemon`, for Daemon)")
