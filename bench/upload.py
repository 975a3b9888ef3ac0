"""Upload against curl over HTTP and HTTPS: wire time, CPU per GiB, peak RSS, start-up (issues 7 and 16).

Per scheme the sandbox runs in its own process (this file's `sandbox` mode; for HTTPS with a
self-signed certificate the bench makes with openssl, which every client trusts through
SSL_CERT_FILE or --cacert). Every curl and pqdrop run is a fresh process and the contenders
alternate round by round, so drift (page cache, CPU clock, the other jobs on the machine) hits
all alike. Wire time is the sandbox's own: from the PUT's headers in to its last body byte in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import BIN, MIB, ROOT, future_sidecar, goal_line, load_average, spawn

SIZES = {"64MiB": 64 * MIB, "512MiB": 512 * MIB, "2GiB": 2048 * MIB}
SCHEMES = ("http", "https")
PAD_BLOCK = 4 * MIB  # padding is one random block repeated: real bytes, cheap to write
GIB = 1024 * MIB
SANDBOX_KEY = "pq_sandbox"
CONTROL = {"Authorization": f"Bearer {SANDBOX_KEY}"}  # the sandbox's /_sandbox control routes take its key

GOALS = {
    "wire_ratio": 0.95,  # issue 16: the PUT's wire time >= 0.95x curl's speed, over http and https
    "cpu_ratio": {"http": 0.5, "https": 1.0},  # issue 16: CPU per GiB of the whole `pqdrop once`
    "rss_mib": 120.0,
    "help_ms": 150.0,
}


# --- media and certificate ---------------------------------------------------------------


def make_media(path: Path, size: int) -> None:
    """A real one-second mp4 padded with real bytes to `size`."""
    from pqdrop.media.mediagen import make_video

    make_video(path, seconds=1.0)
    block = os.urandom(PAD_BLOCK)
    with path.open("ab") as stream:
        remaining = size - path.stat().st_size
        while remaining > 0:
            stream.write(block[: min(len(block), remaining)])
            remaining -= min(len(block), remaining)
        stream.flush()
        os.fsync(stream.fileno())


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1, valid two days."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


# --- the sandbox, in its own process -----------------------------------------------------


@dataclass
class SandboxProcess:
    """This file's `sandbox` mode running beside us; `new_key()` gives a key with fresh quotas."""

    process: subprocess.Popen[str]
    url: str
    client: httpx.Client

    @classmethod
    def start(cls, cert: Path | None, key: Path | None) -> SandboxProcess:
        argv = [sys.executable, str(Path(__file__).resolve()), "sandbox"]
        if cert is not None and key is not None:
            argv += [str(cert), str(key)]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"https?://[0-9.]+:[0-9]+", line)
        if not found:
            process.kill()
            process.wait()
            raise SystemExit(f"bench: the sandbox printed {line!r}, not its URL")
        return cls(process, found.group(0), httpx.Client(verify=str(cert) if cert else True, timeout=30))

    def new_key(self) -> str:
        """Each run gets its own key: quotas and Idempotency-Keys are per key in the sandbox."""
        key = f"pq_bench_{uuid.uuid4().hex[:12]}"
        control = {"set_key": {"key": key, "status": "ok"}}
        self.client.post(f"{self.url}/_sandbox/faults", json=control, headers=CONTROL).raise_for_status()
        return key

    def wire_seconds(self) -> dict[str, float]:
        """contentId -> the wire time of its PUT, as the sandbox saw it."""
        puts = self.client.get(f"{self.url}/_sandbox/state", headers=CONTROL).json()["storage_puts"]
        return {put["contentId"]: put["wireSeconds"] for put in puts if "wireSeconds" in put}

    def presigned_url(self, key: str, filename: str, size: int) -> tuple[str, str]:
        """contentId and presigned PUT URL for one upload, asked for the way the API docs show."""
        reply = self.client.post(
            f"{self.url}/v1/content/upload",
            headers={"Authorization": f"Bearer {key}"},
            json={"filename": filename, "contentType": "video/mp4", "fileSize": size},
        )
        reply.raise_for_status()
        body = reply.json()
        return body["contentId"], body["upload"]["url"]

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve_sandbox(cert: str | None, key: str | None) -> None:
    """The `sandbox` mode: the sandbox on a free loopback port, over TLS when given a certificate."""
    from pqdrop.sandbox import Sandbox

    context = None
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    sandbox = Sandbox(port=0, api_keys=(SANDBOX_KEY,), tls=context)

    def leave(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # serve_forever ends on it and closes the socket

    signal.signal(signal.SIGTERM, leave)
    print(f"sandbox at {sandbox.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever()


# --- one measured run each ---------------------------------------------------------------


@dataclass
class Run:
    """One measured process: wall seconds, peak RSS, CPU seconds, and the content it sent."""

    wall: float
    rss_kib: int
    cpu: float
    content_id: str
    wire: float = 0.0  # filled in from the sandbox afterwards


def curl_run(sandbox: SandboxProcess, media: Path, work: Path, env: dict[str, str]) -> Run:
    """`curl -T` of the file to a presigned URL: what a user of the API docs would run."""
    content_id, url = sandbox.presigned_url(sandbox.new_key(), media.name, media.stat().st_size)
    argv = ["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(media), "-H", "Content-Type: video/mp4", url]
    if "SSL_CERT_FILE" in env:
        argv[1:1] = ["--cacert", env["SSL_CERT_FILE"]]
    done = spawn(argv, cwd=work, env=env)
    if done.code != 0:
        raise SystemExit(f"bench: curl failed ({done.code}): {done.output}")
    return Run(done.wall, done.rss_kib, done.cpu, content_id)


def once_run(sandbox: SandboxProcess, media: Path, work: Path, env: dict[str, str]) -> Run:
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
    try:
        done = spawn([str(BIN / "pqdrop"), "once", "--config", "config.toml"], cwd=run_dir,
                     env={**env, "POSTQUED_API_KEY": sandbox.new_key()})
        if done.code != 0 or "scheduled" not in done.output:
            raise SystemExit(f"bench: pqdrop once failed ({done.code}): {done.output}")
        # A month-ahead dispatchAt: the item waits in scheduled/ (issue 15), not sent/.
        status = json.loads((inbox / "scheduled" / f"{media.stem}.status.json").read_text())
        return Run(done.wall, done.rss_kib, done.cpu, status["media"][0]["contentId"])
    finally:
        shutil.rmtree(run_dir)


# --- the benchmarks --------------------------------------------------------------------

Measure = Callable[[SandboxProcess, Path, Path, dict[str, str]], Run]
CONTENDERS: dict[str, Measure] = {"curl": curl_run, "once": once_run}


@dataclass
class SizeResult:
    """All runs for one file size over one scheme."""

    label: str
    size: int
    runs: dict[str, list[Run]] = field(default_factory=dict)


def bench_size(
    sandbox: SandboxProcess, media: Path, label: str, rounds: int, work: Path, env: dict[str, str], scheme: str
) -> SizeResult:
    result = SizeResult(label, media.stat().st_size, {name: [] for name in CONTENDERS})
    kinds = list(CONTENDERS.items())
    for round_index in range(rounds):
        shift = round_index % len(kinds)  # who goes first rotates, so no one always meets a warm server
        for name, measure in kinds[shift:] + kinds[:shift]:
            run = measure(sandbox, media, work, env)
            result.runs[name].append(run)
    wire = sandbox.wire_seconds()
    for name, runs in result.runs.items():
        for index, run in enumerate(runs):
            run.wire = wire[run.content_id]
            print(f"  {scheme:<5} {label} round {index + 1}/{rounds} {name:<4} wire {run.wire:6.2f} s"
                  f"  wall {run.wall:6.2f} s  cpu {run.cpu:5.2f} s  rss {run.rss_kib / 1024:6.1f} MiB", flush=True)
    return result


def summarize(result: SizeResult) -> dict[str, Any]:
    gib = result.size / GIB

    def median(name: str, value: Callable[[Run], float]) -> float:
        return statistics.median(value(run) for run in result.runs[name])

    curl_wire, once_wire = median("curl", lambda run: run.wire), median("once", lambda run: run.wire)
    curl_cpu, once_cpu = median("curl", lambda run: run.cpu) / gib, median("once", lambda run: run.cpu) / gib
    return {
        "size_bytes": result.size,
        "runs_each": len(result.runs["curl"]),
        "curl_wire_mib_s": result.size / MIB / curl_wire,
        "once_wire_mib_s": result.size / MIB / once_wire,
        "wire_ratio": curl_wire / once_wire,
        "curl_cpu_s_per_gib": curl_cpu,
        "once_cpu_s_per_gib": once_cpu,
        "cpu_ratio": once_cpu / curl_cpu,
        "once_wall_s": median("once", lambda run: run.wall),
        "curl_wall_s": median("curl", lambda run: run.wall),
        "once_peak_rss_mib": max(run.rss_kib for run in result.runs["once"]) / 1024,
        "curl_peak_rss_mib": max(run.rss_kib for run in result.runs["curl"]) / 1024,
        "raw": {name: [vars(run) for run in runs] for name, runs in result.runs.items()},
    }


def bench_startup(sandbox: SandboxProcess, work: Path, runs: int) -> dict[str, Any]:
    """`pqdrop --help`, and `pqdrop once` over an empty inbox."""
    help_runs = [spawn([str(BIN / "pqdrop"), "--help"], cwd=work) for _ in range(runs)]
    empty = work / "empty"
    (empty / "inbox").mkdir(parents=True)
    (empty / "config.toml").write_text(
        f'[inbox]\npath = "inbox"\nsettle_seconds = 0.0\n\n[postqued]\nbase_url = "{sandbox.url}"\n\n'
        '[defaults]\naccount = "@mybrand"\n\n[state]\ndir = "state"\n'
    )
    env = {**os.environ, "POSTQUED_API_KEY": SANDBOX_KEY}
    once_runs = [spawn([str(BIN / "pqdrop"), "once", "--config", "config.toml"], cwd=empty, env=env) for _ in range(5)]
    return {
        "help_ms": [round(run.wall * 1000, 1) for run in help_runs],
        "help_rss_mib": round(max(run.rss_kib for run in help_runs) / 1024, 1),
        "once_empty_ms": [round(run.wall * 1000, 1) for run in once_runs],
        "once_empty_cpu_s": [round(run.cpu, 3) for run in once_runs],
        "once_empty_rss_mib": round(max(run.rss_kib for run in once_runs) / 1024, 1),
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'scheme':<6} {'size':<6} {'runs':>4} | {'curl wire':>11} {'once wire':>11} {'ratio':>5} |"
          f" {'curl CPU/GiB':>12} {'once CPU/GiB':>12} {'ratio':>5} | {'once RSS':>9}")
    for scheme, sizes in report["schemes"].items():
        for label, row in sizes.items():
            print(f"{scheme:<6} {label:<6} {row['runs_each']:>4} | {row['curl_wire_mib_s']:>6.0f} MiB/s"
                  f" {row['once_wire_mib_s']:>6.0f} MiB/s {row['wire_ratio']:>5.2f} |"
                  f" {row['curl_cpu_s_per_gib']:>10.2f} s {row['once_cpu_s_per_gib']:>10.2f} s"
                  f" {row['cpu_ratio']:>5.2f} | {row['once_peak_rss_mib']:>5.1f} MiB")


def goals(schemes: dict[str, dict[str, dict[str, Any]]], startup: dict[str, Any]) -> list[dict[str, str]]:
    lines: list[dict[str, str]] = []
    for scheme, sizes in schemes.items():
        label, big = list(sizes.items())[-1]
        lines.append(goal_line(f"{scheme}: PUT wire speed vs curl, {label}", f"{big['wire_ratio']:.2f}x",
                               f">= {GOALS['wire_ratio']}x", big["wire_ratio"] >= GOALS["wire_ratio"]))
        limit = GOALS["cpu_ratio"][scheme]
        lines.append(goal_line(
            f"{scheme}: CPU per GiB, whole `pqdrop once` vs curl, {label}",
            f"{big['once_cpu_s_per_gib']:.2f} vs {big['curl_cpu_s_per_gib']:.2f} s = {big['cpu_ratio']:.2f}x",
            f"<= {limit}x", big["cpu_ratio"] <= limit))
        for size_label, row in sizes.items():
            lines.append(goal_line(f"{scheme}: peak RSS of `pqdrop once`, {size_label}",
                                   f"{row['once_peak_rss_mib']:.1f} MiB", f"< {GOALS['rss_mib']:.0f} MiB",
                                   row["once_peak_rss_mib"] < GOALS["rss_mib"]))
    help_ms = statistics.median(startup["help_ms"])
    lines.append(goal_line("`pqdrop --help` (median)", f"{help_ms:.0f} ms", f"< {GOALS['help_ms']:.0f} ms",
                           help_ms < GOALS["help_ms"]))
    once_ms, once_cpu = statistics.median(startup["once_empty_ms"]), statistics.median(startup["once_empty_cpu_s"])
    lines.append(goal_line("`pqdrop once`, empty inbox (median)", f"{once_ms:.0f} ms, CPU {once_cpu:.2f} s", "-", None))
    return lines


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every size in `args.sizes` over HTTP and HTTPS, `args.rounds` rounds each, and the start-up runs."""
    for tool in ("curl", "openssl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is needed")
    report: dict[str, Any] = {"load_before": load_average(), "schemes": {}}
    # An installed pqdrop has its bytecode (pip compiles at install); an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module at every start, ~0.1 s of CPU per process.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "daemon" / "pqdrop")], check=True)
    with tempfile.TemporaryDirectory(prefix="pqdrop-bench-") as temporary:
        work = Path(temporary)
        cert, key = make_certificate(work)
        media_files = {}
        for label in args.sizes:
            media_files[label] = work / f"bench-{label}.mp4"
            print(f"making {label} ...", flush=True)
            make_media(media_files[label], SIZES[label])
        for scheme in SCHEMES:
            tls = scheme == "https"
            sandbox = SandboxProcess.start(cert if tls else None, key if tls else None)
            env = {name: value for name, value in os.environ.items() if name != "SSL_CERT_FILE"}
            if tls:
                env["SSL_CERT_FILE"] = str(cert)
            try:
                print(f"{scheme}: sandbox at {sandbox.url}", flush=True)
                if not tls:
                    report["startup"] = bench_startup(sandbox, work, args.startup_runs)
                report["schemes"][scheme] = {
                    label: summarize(bench_size(sandbox, media, label, args.rounds, work, env, scheme))
                    for label, media in media_files.items()
                }
            finally:
                sandbox.stop()
    report["load_after"] = load_average()
    report["goals"] = goals(report["schemes"], report["startup"])
    report["method"] = (
        "Per scheme the sandbox in its own process (HTTPS: a self-signed P-256 certificate made by openssl, "
        "trusted by pqdrop through SSL_CERT_FILE and by curl through --cacert), each run with a fresh API key. "
        "Per round, in rotating order: `curl -T` to a fresh presigned URL, and the whole `pqdrop once` over an "
        "inbox with the file hard-linked in and a sidecar with a future dispatchAt (start-up, probe, upload "
        "session, PUT, complete, publish). Wire time: the sandbox's, from the PUT's headers in to its last "
        "body byte in (it hashes what it receives). CPU: user + system seconds of each process alone, per GiB "
        "of the file. Peak RSS of each process alone (GNU time's %M, else a bare Python launcher's "
        "RUSAGE_CHILDREN). pqdrop's modules byte-compiled first, as an installed package is. Medians."
    )
    return report


if __name__ == "__main__":
    if len(sys.argv) in (2, 4) and sys.argv[1] == "sandbox":
        serve_sandbox(*(sys.argv[2:4] or (None, None)))
        raise SystemExit(0)
    raise SystemExit("usage: python bench/run.py upload (this file's own mode is `sandbox [CERT KEY]`)")
