"""pqdrop benchmarks (issues 4, 5 and 7): `make bench` runs every part; `python bench/run.py PART ...` some.

Parts, each a module here:
  upload   the PUT against curl over HTTP and HTTPS: wire time, CPU per GiB, peak RSS; start-up (upload.py)
  scale    one look over 10,000 pending items; `pqdrop once` over 10,000 waiting media (scale.py)
  poll     CPU of `pqdrop run` polling 10,000 files every 10 s (watch.py)
  idle     CPU and wake-ups of `pqdrop run` in events mode on an empty inbox (watch.py)
  latency  rename (and in-place write) into the inbox -> first upload request, events mode (latency.py)
  rate     achieved publishes / allowed under scaled-down rate limits, and 429s (rate.py)

Each part prints its table and is merged into bench/results.json; the summary of every part's
last numbers follows, and `--markdown` prints it as CONTRIBUTING.md's table (Benchmarks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import latency
import rate
import scale
import upload
import watch
from harness import RESULTS, ROOT, load_average, machine, print_goals, save_part

Measure = Callable[[argparse.Namespace], dict[str, Any]]
Show = Callable[[dict[str, Any]], None]
PARTS: dict[str, tuple[Measure, Show]] = {
    "upload": (upload.measure, upload.print_table),
    "scale": (scale.measure, scale.print_table),
    "poll": (watch.measure_poll, watch.print_poll),
    "idle": (watch.measure_idle, watch.print_idle),
    "latency": (latency.measure, latency.print_table),
    "rate": (rate.measure, rate.print_table),
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--markdown", action="store_true", help="only print the last results as a Markdown table")
    parser.add_argument("--sizes", default="512MiB,2GiB", help=f"upload: comma-separated, of {', '.join(upload.SIZES)}")
    parser.add_argument("--rounds", type=int, default=5,
                        help="upload, scale: fresh processes per contender (default 5)")
    parser.add_argument("--startup-runs", type=int, default=10, help="upload: runs of `pqdrop --help` (default 10)")
    parser.add_argument("--items", type=int, default=10_000, help="scale, poll: items or files (default 10000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="poll, idle: seconds measured (default 60)")
    parser.add_argument("--drops", type=int, default=50, help="latency: renamed drops (default 50)")
    parser.add_argument("--in-place", type=int, default=10, help="latency: drops written in place (default 10)")
    parser.add_argument("--photos", type=int, default=100, help="rate: photos posted (default 100)")
    parser.add_argument("--window", type=float, default=3.0, help="rate: the rate window, scaled from 60 s (default 3)")
    args = parser.parse_args(argv)
    if unknown := [part for part in args.parts if part not in PARTS]:
        parser.error(f"unknown part {unknown[0]!r}; use {', '.join(PARTS)}")
    args.sizes = [label.strip() for label in args.sizes.split(",") if label.strip()]
    if unknown := [label for label in args.sizes if label not in upload.SIZES]:
        parser.error(f"unknown size {unknown[0]!r}; use {', '.join(upload.SIZES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.markdown:
        print(markdown(json.loads(RESULTS.read_text())))
        return 0
    print_machine(machine(), load_average())
    for name in args.parts or list(PARTS):
        measure, show = PARTS[name]
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        result = measure(args)
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        save_part(name, result)
        show(result)
        print_goals(result["goals"])
        print(f"({name}: {result['elapsed_s']} s)", flush=True)
    report = json.loads(RESULTS.read_text())
    print("\n=== summary: every part's last numbers ===")
    print(markdown(report))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


def print_machine(facts: dict[str, Any], load: list[float]) -> None:
    print(f"Machine: {facts['cpu']}, {facts['nproc']} CPUs, {facts['memory_gib']} GiB, Python {facts['python']},"
          f" Linux {facts['kernel']}, temporary files on {facts['filesystem']}; load average {load}")


def markdown(report: dict[str, Any]) -> str:
    """The goals of every part measured so far, as one Markdown table."""
    facts = report["machine"]
    lines = [
        (f"Machine: {facts['cpu']}, {facts['nproc']} CPUs, {facts['memory_gib']} GiB RAM, Python {facts['python']},"
         f" Linux {facts['kernel']}, {facts['curl']}."),
        "",
        "| part | what | measured | goal | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in PARTS:
        part = report["parts"].get(name)
        if part is None:
            continue
        for line in part["goals"]:
            what = line["what"].replace("|", "\\|")
            lines.append(f"| {name} | {what} | {line['measured']} | {line['goal']} | {line['verdict']} |")
    when = sorted(part["measured_at"] for part in report["parts"].values())
    lines += ["", f"Measured {when[0]} to {when[-1]}; load average per part is in bench/results.json."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
