"""Rate-limit efficiency (issues 5 and 7): publishes achieved ÷ allowed, and the 429 count.

PostQued allows 20 uploads, 30 reads, 10 publishes and 20 deletes a minute. Here the window is
scaled down (3 s by default) on both sides, the sandbox (in this process, so every request's
arrival is logged on one clock) and pqdrop's client; `pqdrop once` is a real process posting
photos, one upload each, so the publish quota, not uploads, sets the pace.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import BIN, goal_line, load_average, spawn, uncapped, write_config
from latency import API_KEY, RequestLog

GOALS = {"efficiency": 0.95, "rate_limited": 0}
LIMITS = {"upload": 20, "read": 30, "publish": 10, "delete": 20}  # PostQued's, per minute
SCALE_PROCESSING_SECONDS = 0.5  # the sandbox's default TikTok processing, scaled with the window


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from pqdrop.media.mediagen import make_image
    from pqdrop.postqued.ratelimit import RequestWindow
    from pqdrop.sandbox import Sandbox

    window = args.window
    report: dict[str, Any] = {"load_before": load_average(), "photos": args.photos, "window_s": window,
                              "limits": LIMITS}
    processing = SCALE_PROCESSING_SECONDS * window / 60
    with tempfile.TemporaryDirectory(prefix="pqdrop-rate-") as temporary, \
            Sandbox(api_keys=(API_KEY,), rate_limits=LIMITS, window_seconds=window,
                    processing_seconds=processing) as sandbox:
        folder = Path(temporary)
        uncapped(sandbox)
        inbox = folder / "inbox"
        inbox.mkdir()
        print(f"making {args.photos} photos ...", flush=True)
        for number in range(args.photos):
            make_image(inbox / f"photo-{number:03}.jpg", width=400 + number, height=400)
            (inbox / f"photo-{number:03}.md").write_text(f"---\n---\nPhoto {number} #fyp\n")
        write_config(folder, sandbox.url, inbox={"settle_seconds": 0.0},
                     postqued={"follow_seconds": 30.0, "rate_limits": {**LIMITS, "window_seconds": window}})
        log = RequestLog(sandbox)
        started = time.monotonic()
        done = spawn([str(BIN / "pqdrop"), "once", "--config", "config.toml"], cwd=folder,
                     env={"PATH": "/usr/bin:/bin", "POSTQUED_API_KEY": API_KEY})
        sent = len(list((inbox / "sent").glob("*.status.json"))) if (inbox / "sent").exists() else 0
        rate_limited = sandbox.state.rate_limited_count
        requests = list(log.requests)
    if done.code != 0 or sent != args.photos:
        raise SystemExit(f"bench: `pqdrop once` exited {done.code} with {sent} of {args.photos} sent: "
                         f"{done.output[-2000:]}")
    margin = RequestWindow(LIMITS["publish"], window).margin
    publishes = sorted(moment for moment, category, allowed in requests if category == "publish" and allowed)
    report |= {
        "once_wall_s": round(done.wall, 2),
        "published": len(publishes),
        "efficiency": utilization(publishes, LIMITS["publish"], window),
        "whole_run_efficiency": len(publishes) / (LIMITS["publish"] * (1 + (publishes[-1] - started) / window)),
        "client_ceiling": window / (window + margin),
        "client_margin_s": margin,
        "rate_limited": rate_limited,
        "refused_by_category": {category: sum(1 for _, kind, allowed in requests if kind == category and not allowed)
                                for category in LIMITS},
        "use_by_category": {category: use_of(sorted(moment for moment, kind, allowed in requests
                                                    if kind == category and allowed), LIMITS[category], window)
                            for category in LIMITS},
        "load_after": load_average(),
    }
    use = {category: values["utilization"] or 0.0 for category, values in report["use_by_category"].items()}
    report["limiting_category"] = max(use, key=lambda category: use[category])
    report["goals"] = [
        goal_line(f"publishes achieved / allowed, {len(publishes)} photos, limits equal on both sides",
                  f"{report['efficiency']:.3f}", f">= {GOALS['efficiency']}",
                  report["efficiency"] >= GOALS["efficiency"]),
        goal_line("HTTP 429 answers", str(rate_limited), str(GOALS["rate_limited"]), rate_limited == 0),
        goal_line("what set the pace (how fully each quota was used)",
                  ", ".join(f"{category} {use[category]:.2f}" for category in ("publish", "read", "upload")),
                  "publish", report["limiting_category"] == "publish"),
        goal_line(f"ceiling of pqdrop's client at a {window:g} s window (its {margin:g} s arrival margin)",
                  f"{report['client_ceiling']:.3f}", "-", None),
    ]
    report["method"] = (
        f"Sandbox in the bench process with PostQued's limits per {window:g} s instead of 60 s (TikTok processing "
        f"scaled alike to {processing * 1000:.0f} ms); `pqdrop once` over {args.photos} JPEG photos with sidecars "
        "(intent publish, posted now, followed to `published`), client limits equal to the server's. Every "
        "request's arrival is logged at the sandbox's quota check. Efficiency (quota used): under at most L per "
        f"W, request i + L may come W after request i at the soonest; efficiency = W ÷ the mean of "
        "t[i + L] - t[i] over the publishes (1.0: every slot reused the moment it frees; the free first window "
        "and bursts do not count for or against). Whole run: publishes ÷ (L + L/W × the time from the process "
        "start to the last publish), start-up included. The same measure of quota use for uploads and reads "
        "tells which category set the pace."
    )
    return report


def utilization(moments: Sequence[float], limit: int, window: float) -> float | None:
    """How fully a sliding-window quota was used: `window` ÷ the mean time a slot took to come round.

    Under "at most `limit` in any `window`", request i + limit can go no sooner than `window` after
    request i; at full use every slot comes round in exactly `window`. Bursts and the first, free
    window do not distort this, as they would a count ÷ time. None with too few requests to tell.
    """
    if len(moments) <= limit:
        return None
    rounds = [later - earlier for earlier, later in zip(moments, moments[limit:], strict=False)]
    return window / (sum(rounds) / len(rounds))


def use_of(moments: Sequence[float], limit: int, window: float) -> dict[str, Any]:
    """A category's requests, its busiest window, and how fully its quota was used."""
    busiest = max((sum(1 for other in moments if moment <= other < moment + window) for moment in moments), default=0)
    return {"requests": len(moments), "busiest_window": busiest, "utilization": utilization(moments, limit, window)}


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{report['published']} publishes at {report['limits']['publish']} per {report['window_s']:g} s:"
          f" efficiency {report['efficiency']:.3f} (whole run {report['whole_run_efficiency']:.3f};"
          f" client ceiling {report['client_ceiling']:.3f}), 429s {report['rate_limited']},"
          f" `pqdrop once` {report['once_wall_s']} s")
    print(f"  {'category':<8} {'requests':>8} {'limit':>5} {'busiest window':>14} {'quota used':>10} {'429s':>5}")
    for category, use in report["use_by_category"].items():
        used = "-" if use["utilization"] is None else f"{use['utilization']:.2f}"
        print(f"  {category:<8} {use['requests']:>8} {report['limits'][category]:>5} {use['busiest_window']:>14}"
              f" {used:>10} {report['refused_by_category'][category]:>5}")
    print(f"  the pace was set by: {report['limiting_category']}")


if __name__ == "__main__":
    raise SystemExit("usage: python bench/run.py rate")
