"""An inbox of 10,000 pending items: one look (scan, pair, plan) and `pqdrop once` over it (issue 4).

Each measured process is fresh: `look` mode below builds a Workers as `pqdrop run` does and
times its looks; its peak RSS includes Python, pydantic, httpx and the journal, as a daemon's would.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BIN, goal_line, load_average, median, spawn, write_config

GOALS = {"look_s": 2.0, "rss_mib": 200.0}
BUNDLES = 100  # folders of two photos and a sidecar; the rest are loose media + sidecar pairs
WARM_LOOKS = 5
UNREACHABLE_API = "http://127.0.0.1:9"  # nothing here talks to the API; a call would fail loudly


def fill_inbox(inbox: Path, items: int, *, sidecars: bool = True) -> None:
    """`items` pending items of tiny files: `clip-N.mp4` (+ `clip-N.md`), and BUNDLES bundle folders."""
    inbox.mkdir(parents=True)
    bundles = min(BUNDLES, items // 10) if sidecars else 0
    for number in range(items - bundles):
        (inbox / f"clip-{number:05}.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
        if sidecars:
            (inbox / f"clip-{number:05}.md").write_text(f"---\n---\nclip {number} #fyp\n")
    for number in range(bundles):
        folder = inbox / f"trip-{number:03}"
        folder.mkdir()
        for name in ("a.jpg", "b.jpg"):
            (folder / name).write_bytes(b"\xff\xd8\xff\xe0")
        (folder / "post.md").write_text(f"---\n---\ntrip {number}\n")


def look_helper(config_path: str, looks: int) -> None:
    """The `look` mode: a Workers as `pqdrop run` builds it, timed looks, and each step of one look apart."""
    started = time.perf_counter()
    from pqdrop.config import load_config
    from pqdrop.inbox.arrival import Settling
    from pqdrop.inbox.items import Rules, plan_items, scan_entries
    from pqdrop.journal.store import Journal
    from pqdrop.postqued.client import PostQued
    from pqdrop.postqued.ratelimit import RateLimiter
    from pqdrop.service.workers import Workers

    config = load_config(Path(config_path))
    journal = Journal(config.state.dir)
    limiter = RateLimiter.of(config.postqued.rate_limits)
    report: dict[str, Any] = {}
    with PostQued(config.postqued.base_url, "pq_bench", limiter=limiter) as client, \
            Workers(config, client, journal) as service:
        report["import_and_setup_s"] = time.perf_counter() - started
        seconds = []
        for _ in range(looks):
            began = time.perf_counter()
            plan = service.look()
            seconds.append(time.perf_counter() - began)
        report |= {"look_s": seconds, "ready": len(plan.ready), "waiting": len(plan.waiting)}
        # The same work step by step (a fresh Settling, as on a first look).
        began = time.perf_counter()
        entries = scan_entries(config.inbox.path, config.inbox.ignore)
        scanned = time.perf_counter()
        now = time.time()
        still_since = Settling().update(entries, now)
        settled = time.perf_counter()
        plan_items(entries, now, Rules.of(config.inbox), {}, still_since)
        planned = time.perf_counter()
        report["steps_s"] = {"scan": scanned - began, "settling": settled - scanned, "plan": planned - settled}
        report["entries"] = len(entries)
    journal.close()
    print(json.dumps(report))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh processes doing `Workers.look()` over `args.items` items; `pqdrop once` over as many lone media."""
    report: dict[str, Any] = {"load_before": load_average(), "items": args.items}
    with tempfile.TemporaryDirectory(prefix="pqdrop-scale-") as temporary:
        work = Path(temporary)
        print(f"making {args.items} items in {work} ...", flush=True)
        fill_inbox(work / "paired" / "inbox", args.items)
        fill_inbox(work / "lone" / "inbox", args.items, sidecars=False)
        looks = [look_run(work / "paired", round_index) for round_index in range(args.rounds)]
        onces = [once_run(work / "lone", round_index) for round_index in range(args.rounds)]
    first = [run["look_s"][0] for run in looks]
    warm = [seconds for run in looks for seconds in run["look_s"][1:]]
    report |= {
        "entries": looks[0]["entries"],
        "ready": looks[0]["ready"],
        "first_look_s": first,
        "first_look_median_s": median(first),
        "warm_look_median_s": median(warm),
        "steps_median_s": {step: median([run["steps_s"][step] for run in looks]) for step in looks[0]["steps_s"]},
        "look_process_s": [run["process_s"] for run in looks],
        "look_peak_rss_mib": max(run["rss_mib"] for run in looks),
        "once_s": [run["wall"] for run in onces],
        "once_median_s": median([run["wall"] for run in onces]),
        "once_peak_rss_mib": max(run["rss_mib"] for run in onces),
        "once_waiting": onces[0]["waiting"],
        "load_after": load_average(),
    }
    report["goals"] = goals(report)
    report["method"] = (
        f"{args.items} items: loose clip-N.mp4 + clip-N.md pairs of a few bytes and {BUNDLES} bundle folders "
        "(two photos and a sidecar), on the temporary folder's filesystem, page cache warm. look: a fresh process "
        f"builds a Workers as `pqdrop run` does and calls look() {1 + WARM_LOOKS} times (the first with no history, "
        "as at start-up; the rest as each poll); peak RSS of that whole process. once: `pqdrop once` over "
        f"{args.items} media without sidecars (require_sidecar, settle_seconds 0: all wait, nothing is posted), "
        f"the whole process. Medians of {args.rounds} processes."
    )
    return report


def look_run(folder: Path, round_index: int) -> dict[str, Any]:
    write_config(folder, UNREACHABLE_API, inbox={"settle_seconds": 0.0}, state={"dir": f"state-{round_index}"})
    argv = [sys.executable, str(Path(__file__).resolve()), "look", "config.toml", str(1 + WARM_LOOKS)]
    done = spawn(argv, cwd=folder)
    if done.code != 0:
        raise SystemExit(f"bench: the look helper failed: {done.output}")
    run: dict[str, Any] = json.loads(done.output.strip().splitlines()[-1])
    run |= {"process_s": done.wall, "rss_mib": done.rss_kib / 1024}
    print(f"  look round {round_index + 1}: first {run['look_s'][0]:.2f} s, then {median(run['look_s'][1:]):.2f} s;"
          f" process {done.wall:.2f} s, rss {run['rss_mib']:.1f} MiB", flush=True)
    return run


def once_run(folder: Path, round_index: int) -> dict[str, Any]:
    state = f"state-{round_index}"
    write_config(folder, UNREACHABLE_API, inbox={"settle_seconds": 0.0, "require_sidecar": True}, state={"dir": state})
    done = spawn([str(BIN / "pqdrop"), "once", "--config", "config.toml"], cwd=folder,
                 env={"PATH": "/usr/bin:/bin", "POSTQUED_API_KEY": "pq_bench"})
    if done.code != 0 or (folder / "inbox" / "sent").exists():
        raise SystemExit(f"bench: `pqdrop once` over waiting items failed ({done.code}): {done.output[-2000:]}")
    shutil.rmtree(folder / state)
    print(f"  once round {round_index + 1}: {done.wall:.2f} s, rss {done.rss_kib / 1024:.1f} MiB", flush=True)
    return {"wall": done.wall, "rss_mib": done.rss_kib / 1024, "waiting": done.output.count("waiting for its sidecar")}


def goals(report: dict[str, Any]) -> list[dict[str, str]]:
    items = f"{report['items']:,}"
    return [
        goal_line(f"first look over {items} items: scan, pair, plan (median)", f"{report['first_look_median_s']:.2f} s",
                  f"< {GOALS['look_s']:.0f} s", report["first_look_median_s"] < GOALS["look_s"]),
        goal_line(f"peak RSS of a process looking at {items} items", f"{report['look_peak_rss_mib']:.1f} MiB",
                  f"< {GOALS['rss_mib']:.0f} MiB", report["look_peak_rss_mib"] < GOALS["rss_mib"]),
        goal_line(f"each later look over {items} items (median)", f"{report['warm_look_median_s']:.2f} s", "-", None),
        goal_line(f"`pqdrop once` over {items} waiting media, whole process (median)",
                  f"{report['once_median_s']:.2f} s", "-", None),
        goal_line(f"peak RSS of `pqdrop once` over {items} waiting media", f"{report['once_peak_rss_mib']:.1f} MiB",
                  f"< {GOALS['rss_mib']:.0f} MiB", report["once_peak_rss_mib"] < GOALS["rss_mib"]),
    ]


def print_table(report: dict[str, Any]) -> None:
    steps = report["steps_median_s"]
    print(f"\n{report['items']:,} items ({report['entries']:,} entries):"
          f" first look {report['first_look_median_s']:.2f} s"
          f" (scan {steps['scan']:.2f}, settling {steps['settling']:.2f}, plan {steps['plan']:.2f}),"
          f" later looks {report['warm_look_median_s']:.2f} s, peak RSS {report['look_peak_rss_mib']:.1f} MiB")
    print(f"`pqdrop once` over {report['items']:,} waiting media: {report['once_median_s']:.2f} s,"
          f" peak RSS {report['once_peak_rss_mib']:.1f} MiB")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "look":
        look_helper(sys.argv[2], int(sys.argv[3]))
        raise SystemExit(0)
    raise SystemExit("usage: python bench/run.py scale (this file's own mode is `look`, for look_run)")
