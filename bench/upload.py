"""Upload throughput against curl, peak memory, start-up time (issue 7, parts 1, 2 and 6).

The sandbox runs in its own process (`pqdrop sandbox --port 0`), so each measured process is
measured alone; every pqdrop and curl run is a fresh process, and the contenders alternate,
round by round, so drift (page cache, CPU clock) hits all alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import BIN, MIB, ROOT, future_sidecar, goal_line, load_average, spawn

SIZES = {"64MiB": 64 * MIB, "2GiB": 2048 * MIB}
PAD_BLOCK = 4 * MIB  # padding is one random block repeated: real bytes, cheap to write
SANDBOX_WAIT_SECONDS = 20.0

GOALS = {
    "upload_ratio": 0.95,  # issue 7: pqdrop's upload itself >= 0.95x curl
    "whole_ratio": 0.85,  # issue 7: the whole `pqdrop once` >= 0.85x curl
    "rss_mib": 120.0,  # issue 7 (issue 2 allows 150)
    "rss_growth_mib": 10.0,  # 2 GiB run within 10 MiB of the 64 MiB run
    "help_ms": 150.0,
}


# --- media -----------------------------------------------------------------------------


def make_media(path: Path, size: int) -> str:
    """A real one-second mp4 padded with real bytes to `size`; returns its sha256."""
    from pqdrop.mediagen import make_video

    make_video(path, seconds=1.0)
    digest = hashlib.sha256(path.read_bytes())
    block = os.urandom(PAD_BLOCK)
    with path.open("ab") as stream:
        remaining = size - path.stat().st_size
        while remaining > 0:
            piece = block[: min(len(block), remaining)]
            stream.write(piece)
            digest.update(piece)
            remaining -= len(piece)
        stream.flush()
        os.fsync(stream.fileno())
    return digest.hexdigest()


def check_probe(path: Path) -> None:
    """The padded file must still be a video to pqdrop: the probe reads headers and tolerates a tail."""
    from pqdrop.media import probe

    info = probe(path)
    assert (info.kind, info.mime, info.size) == ("video", "video/mp4", path.stat().st_size), info


# --- the sandbox, in its own process -----------------------------------------------------


@dataclass
class SandboxProcess:
    """`pqdrop sandbox --port 0` running beside us; `new_key()` gives a key with fresh quotas."""

    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls) -> SandboxProcess:
        process = subprocess.Popen(
            [str(BIN / "pqdrop"), "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://[0-9.]+:[0-9]+", line)
        if not found:
            process.kill()
            process.wait()
            raise SystemExit(f"bench: `pqdrop sandbox` printed {line!r}, not its URL")
        return cls(process, found.group(0))

    def new_key(self) -> str:
        """Each run gets its own key: quotas and Idempotency-Keys are per key in the sandbox."""
        key = f"pq_bench_{uuid.uuid4().hex[:12]}"
        reply = httpx.post(f"{self.url}/_sandbox/faults", json={"set_key": {"key": key, "status": "ok"}})
        reply.raise_for_status()
        return key

    def received(self) -> dict[str, dict[str, Any]]:
        contents: dict[str, dict[str, Any]] = httpx.get(f"{self.url}/_sandbox/state").json()["contents"]
        return contents

    def presigned_url(self, key: str, filename: str, size: int) -> tuple[str, str]:
        """contentId and presigned PUT URL for one upload, asked for the way the API docs show."""
        reply = httpx.post(
            f"{self.url}/v1/content/upload",
            headers={"Authorization": f"Bearer {key}"},
            json={"filename": filename, "contentType": "video/mp4", "fileSize": size},
        )
        reply.raise_for_status()
        body = reply.json()
        return body["contentId"], body["upload"]["url"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# --- one measured run each ---------------------------------------------------------------


@dataclass
class Run:
    """One measured process: wall seconds, the upload's own seconds, peak RSS, CPU seconds."""

    wall: float
    upload: float | None  # None for `pqdrop once`, whose upload is not timed apart
    rss_kib: int
    cpu: float
    content_id: str = ""


def curl_run(sandbox: SandboxProcess, media: Path, work: Path) -> Run:
    """`curl -T` of the file to a presigned URL: what a user of the API docs would run."""
    content_id, url = sandbox.presigned_url(sandbox.new_key(), media.name, media.stat().st_size)
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-T", str(media),
            "-H", "Content-Type: video/mp4", url]
    done = spawn(argv, cwd=work)
    status, seconds = done.output.split()[-2:]
    if done.code != 0 or status != "200":
        raise SystemExit(f"bench: curl failed ({done.code}, HTTP {status}): {done.output}")
    return Run(done.wall, float(seconds), done.rss_kib, done.cpu, content_id)


def hashed_curl_run(sandbox: SandboxProcess, media: Path, work: Path) -> Run:
    """The same work as pqdrop's upload from a shell: sha256 of the file (OpenSSL), then `curl -T`."""
    content_id, url = sandbox.presigned_url(sandbox.new_key(), media.name, media.stat().st_size)
    script = ('openssl dgst -sha256 "$1" >/dev/null'
              ' && curl -sS -f -o /dev/null -T "$1" -H "Content-Type: video/mp4" "$2"')
    done = spawn(["sh", "-c", script, "sh", str(media), url], cwd=work)
    if done.code != 0:
        raise SystemExit(f"bench: openssl + curl failed ({done.code}): {done.output}")
    return Run(done.wall, done.wall, done.rss_kib, done.cpu, content_id)


def put_run(sandbox: SandboxProcess, media: Path, work: Path) -> Run:
    """`PostQued.put_to_storage` alone, timed inside a fresh process (this file's `put` mode)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "put", sandbox.url, sandbox.new_key(), str(media)]
    done = spawn(argv, cwd=work)
    if done.code != 0:
        raise SystemExit(f"bench: the put helper failed: {done.output}")
    report = json.loads(done.output.strip().splitlines()[-1])
    return Run(done.wall, report["seconds"], done.rss_kib, done.cpu, report["contentId"])


def once_run(sandbox: SandboxProcess, media: Path, work: Path) -> Run:
    """The whole `pqdrop once` over an inbox holding the file (hard-linked, not copied) and a sidecar."""
    run_dir = Path(tempfile.mkdtemp(prefix="once-", dir=work))
    inbox = run_dir / "inbox"
    inbox.mkdir()
    os.link(media, inbox / media.name)
    (inbox / f"{media.stem}.md").write_text(future_sidecar("bench run #fyp"))
    (run_dir / "config.toml").write_text(
        f'[inbox]\npath = "inbox"\nsettle_seconds = 0.0\nwatch = "poll"\n\n'
        f'[postqued]\nbase_url = "{sandbox.url}"\n\n'
        f'[defaults]\naccount = "@mybrand"\nintent = "publish"\n\n[state]\ndir = "state"\n'
    )
    env = {**os.environ, "POSTQUED_API_KEY": sandbox.new_key()}
    try:
        done = spawn([str(BIN / "pqdrop"), "once", "--config", "config.toml"], cwd=run_dir, env=env)
        if done.code != 0 or "scheduled" not in done.output:
            raise SystemExit(f"bench: pqdrop once failed ({done.code}): {done.output}")
        status = json.loads((inbox / "sent" / f"{media.stem}.status.json").read_text())
        return Run(done.wall, None, done.rss_kib, done.cpu, status["media"][0]["contentId"])
    finally:
        shutil.rmtree(run_dir)


def put_helper(url: str, key: str, file: str) -> None:
    """The `put` mode: one upload through pqdrop's client, timed around put_to_storage only."""
    from pqdrop.config import RateLimits
    from pqdrop.postqued import PostQued
    from pqdrop.ratelimit import RateLimiter

    path = Path(file)
    size = path.stat().st_size
    limiter = RateLimiter.of(RateLimits())  # PostQued's own limits
    with PostQued(url, key, limiter=limiter) as client:
        ticket = client.start_upload(path.name, "video/mp4", size)
        started = time.perf_counter()
        client.put_to_storage(ticket, path, size)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "contentId": ticket.content_id}))


# --- the benchmarks --------------------------------------------------------------------


@dataclass
class SizeResult:
    """All runs for one file size."""

    label: str
    size: int
    runs: dict[str, list[Run]] = field(default_factory=dict)


def bench_size(sandbox: SandboxProcess, media: Path, sha256: str, label: str, rounds: int, work: Path) -> SizeResult:
    result = SizeResult(label, media.stat().st_size)
    kinds: list[tuple[str, Callable[[SandboxProcess, Path, Path], Run]]] = [
        ("curl", curl_run), ("put", put_run), ("once", once_run), ("sha+curl", hashed_curl_run)
    ]
    result.runs = {name: [] for name, _ in kinds}
    for round_index in range(rounds):
        # Rotate who goes first, so no one always meets a warm or cold server.
        shift = round_index % len(kinds)
        for name, measure in kinds[shift:] + kinds[:shift]:
            run = measure(sandbox, media, work)
            result.runs[name].append(run)
            print(f"  {label} round {round_index + 1}/{rounds} {name:<8} wall {run.wall:6.2f} s"
                  f"  cpu {run.cpu:5.2f} s  rss {run.rss_kib / 1024:6.1f} MiB", flush=True)
    received = sandbox.received()
    for name, runs in result.runs.items():
        for run in runs:
            got = received[run.content_id]
            if (got["receivedSize"], got["sha256"]) != (result.size, sha256):
                raise SystemExit(f"bench: the sandbox did not receive {label} intact from {name}: {got}")
    return result


def bench_startup(sandbox: SandboxProcess, work: Path, runs: int) -> dict[str, Any]:
    """`pqdrop --help`, and `pqdrop once` over an empty inbox."""
    help_runs = [spawn([str(BIN / "pqdrop"), "--help"], cwd=work) for _ in range(runs)]
    empty = work / "empty"
    (empty / "inbox").mkdir(parents=True)
    (empty / "config.toml").write_text(
        f'[inbox]\npath = "inbox"\nsettle_seconds = 0.0\n\n[postqued]\nbase_url = "{sandbox.url}"\n\n'
        '[defaults]\naccount = "@mybrand"\n\n[state]\ndir = "state"\n'
    )
    env = {**os.environ, "POSTQUED_API_KEY": "pq_sandbox"}
    once_runs = [spawn([str(BIN / "pqdrop"), "once", "--config", "config.toml"], cwd=empty, env=env) for _ in range(5)]
    return {
        "help_ms": [round(run.wall * 1000, 1) for run in help_runs],
        "help_rss_mib": round(max(run.rss_kib for run in help_runs) / 1024, 1),
        "once_empty_ms": [round(run.wall * 1000, 1) for run in once_runs],
        "once_empty_rss_mib": round(max(run.rss_kib for run in once_runs) / 1024, 1),
    }


def summarize(result: SizeResult) -> dict[str, Any]:
    mb = result.size / 1e6

    def median(name: str, value: Callable[[Run], float]) -> float:
        return statistics.median(value(run) for run in result.runs[name])

    def upload(run: Run) -> float:
        assert run.upload is not None
        return run.upload

    curl_up, curl_wall = median("curl", upload), median("curl", lambda run: run.wall)
    put_up, once_wall = median("put", upload), median("once", lambda run: run.wall)
    hashed_wall = median("sha+curl", lambda run: run.wall)
    return {
        "size_bytes": result.size,
        "runs_each": len(result.runs["curl"]),
        "curl_upload_mb_s": mb / curl_up,
        "pqdrop_upload_mb_s": mb / put_up,
        "curl_wall_mb_s": mb / curl_wall,
        "pqdrop_once_mb_s": mb / once_wall,
        "sha_curl_mb_s": mb / hashed_wall,
        "upload_ratio": curl_up / put_up,
        "whole_ratio": curl_wall / once_wall,
        "once_vs_sha_curl_ratio": hashed_wall / once_wall,
        "cpu_s_per_gb": {name: median(name, lambda run: run.cpu) / (result.size / 1e9) for name in result.runs},
        "once_rss_mib": [round(run.rss_kib / 1024, 1) for run in result.runs["once"]],
        "once_peak_rss_mib": max(run.rss_kib for run in result.runs["once"]) / 1024,
        "put_peak_rss_mib": max(run.rss_kib for run in result.runs["put"]) / 1024,
        "curl_peak_rss_mib": max(run.rss_kib for run in result.runs["curl"]) / 1024,
        "raw": {name: [vars(run) for run in runs] for name, runs in result.runs.items()},
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'size':<6} {'runs':>4} | {'curl PUT':>9} {'pqdrop PUT':>10} {'ratio':>5}"
          f" | {'curl':>9} {'pqdrop once':>11}"
          f" {'ratio':>5} | {'sha+curl':>9} {'ratio':>5} | {'once RSS':>9}")
    for label, row in report["sizes"].items():
        print(f"{label:<6} {row['runs_each']:>4} | {row['curl_upload_mb_s']:>4.0f} MB/s"
              f" {row['pqdrop_upload_mb_s']:>5.0f} MB/s"
              f" {row['upload_ratio']:>5.2f} | {row['curl_wall_mb_s']:>4.0f} MB/s {row['pqdrop_once_mb_s']:>6.0f} MB/s"
              f" {row['whole_ratio']:>5.2f} | {row['sha_curl_mb_s']:>4.0f} MB/s {row['once_vs_sha_curl_ratio']:>5.2f}"
              f" | {row['once_peak_rss_mib']:>5.1f} MiB")
    print("\nCPU seconds per GB (median):")
    for label, row in report["sizes"].items():
        print(f"  {label:<6} " + "  ".join(f"{name} {cpu:.2f}" for name, cpu in row["cpu_s_per_gb"].items()))


def goals(sizes: dict[str, dict[str, Any]], startup: dict[str, Any]) -> list[dict[str, str]]:
    lines: list[dict[str, str]] = []
    big = sizes.get("2GiB") or list(sizes.values())[-1]
    lines.append(goal_line("upload itself vs curl (largest size)", f"{big['upload_ratio']:.2f}x",
                           f">= {GOALS['upload_ratio']}x", big["upload_ratio"] >= GOALS["upload_ratio"]))
    lines.append(goal_line("whole `pqdrop once` vs curl (largest size)", f"{big['whole_ratio']:.2f}x",
                           f">= {GOALS['whole_ratio']}x", big["whole_ratio"] >= GOALS["whole_ratio"]))
    for label, row in sizes.items():
        lines.append(goal_line(f"peak RSS of `pqdrop once`, {label}", f"{row['once_peak_rss_mib']:.1f} MiB",
                               f"< {GOALS['rss_mib']:.0f} MiB", row["once_peak_rss_mib"] < GOALS["rss_mib"]))
    if "64MiB" in sizes and "2GiB" in sizes:
        growth = sizes["2GiB"]["once_peak_rss_mib"] - sizes["64MiB"]["once_peak_rss_mib"]
        lines.append(goal_line("RSS growth 64 MiB -> 2 GiB", f"{growth:+.1f} MiB",
                               f"<= {GOALS['rss_growth_mib']:.0f} MiB", growth <= GOALS["rss_growth_mib"]))
    help_ms = statistics.median(startup["help_ms"])
    lines.append(goal_line("`pqdrop --help` (median)", f"{help_ms:.0f} ms", f"< {GOALS['help_ms']:.0f} ms",
                           help_ms < GOALS["help_ms"]))
    once_ms = statistics.median(startup["once_empty_ms"])
    lines.append(goal_line("`pqdrop once`, empty inbox (median)", f"{once_ms:.0f} ms", "-", None))
    return lines


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every size in `args.sizes`, `args.rounds` rounds each, and the start-up runs."""
    if shutil.which("curl") is None:
        raise SystemExit("bench: curl is needed as the baseline")
    report: dict[str, Any] = {"load_before": load_average(), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="pqdrop-bench-") as temporary:
        work = Path(temporary)
        sandbox = SandboxProcess.start()
        try:
            print(f"sandbox at {sandbox.url}; work dir {work}", flush=True)
            report["startup"] = bench_startup(sandbox, work, args.startup_runs)
            for label in args.sizes:
                media = work / f"bench-{label}.mp4"
                print(f"making {label} ...", flush=True)
                sha256 = make_media(media, SIZES[label])
                check_probe(media)
                result = bench_size(sandbox, media, sha256, label, args.rounds, work)
                report["sizes"][label] = summarize(result)
                media.unlink()
        finally:
            sandbox.stop()
    report["load_after"] = load_average()
    report["goals"] = goals(report["sizes"], report["startup"])
    report["method"] = (
        "Sandbox in its own process (`pqdrop sandbox --port 0`), each run with a fresh API key. Per round, "
        "in rotating order: `curl -T` to a fresh presigned URL (upload = curl's time_total, wall = the curl "
        "process); pqdrop's PostQued.put_to_storage in a fresh process (upload = the call alone); `pqdrop once` "
        "over an inbox with the file hard-linked in and a sidecar with a future dispatchAt, so it publishes as "
        "scheduled without following the sandbox's simulated processing (wall = the process). Peak RSS of "
        "each process alone (GNU time's %M, else a bare Python launcher's RUSAGE_CHILDREN). MB = 10^6 bytes. "
        "sha+curl is `openssl dgst -sha256` then `curl -T`: a shell script doing pqdrop's work (pqdrop hashes "
        "what it uploads, for its Idempotency-Key). Medians."
    )
    return report


if __name__ == "__main__":
    # The `put` mode: bench_size runs this file in a fresh process to time put_to_storage alone.
    if len(sys.argv) == 5 and sys.argv[1] == "put":
        put_helper(*sys.argv[2:5])
        raise SystemExit(0)
    raise SystemExit("usage: python bench/run.py upload (this file's own mode is `put`, for bench_size)")
