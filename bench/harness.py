"""What every benchmark shares: paths, measuring a finished process, watching a running one,
the machine, a config file, systemd's notify socket, and merging a part into results.json."""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the venv's bin/, where `pqdrop` lives
RESULTS = BENCH / "results.json"
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MAX_DATAGRAM = 4096


# --- one finished process ------------------------------------------------------------------

# Peak RSS must be the measured program's alone. Linux keeps the pre-exec RSS of a forked
# child in its ru_maxrss (and Python may vfork), so a child of this process would start at
# our own RSS; a tiny launcher (GNU time, or a bare Python) reports its child's instead.
RUSAGE_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime}')\n"
    "sys.exit(code)\n"
)


def launcher(rss_file: Path) -> list[str]:
    if Path("/usr/bin/time").exists():
        return ["/usr/bin/time", "-f", "%M %U %S", "-o", str(rss_file)]
    return [sys.executable, "-c", RUSAGE_LAUNCHER, str(rss_file)]


@dataclass(frozen=True)
class Spawned:
    """One finished process: wall seconds, peak RSS (KiB) and CPU seconds of it alone, exit code, output."""

    wall: float
    rss_kib: int
    cpu: float
    code: int
    output: str


def spawn(argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> Spawned:
    """Run `argv` to its end and measure it."""
    tag = uuid.uuid4().hex[:8]
    log, rss_file = cwd / f"out-{tag}.txt", cwd / f"rss-{tag}.txt"
    with log.open("w") as out:
        started = time.perf_counter()
        code = subprocess.call([*launcher(rss_file), *argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
    # GNU time prepends "Command exited with non-zero status N" on failure; the numbers are last.
    rss_kib, user, system = rss_file.read_text().split()[-3:]
    output = log.read_text()
    log.unlink()
    rss_file.unlink()
    return Spawned(wall, int(rss_kib), float(user) + float(system), code, output)


# --- a running process, read from /proc ------------------------------------------------------


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads), or of one thread, from /proc/…/stat."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as stream:
        fields = stream.read().rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of proc(5)


@dataclass(frozen=True)
class ThreadSample:
    """One thread at one moment: its name, on-CPU nanoseconds and context switches so far."""

    tid: int
    name: str
    cpu_ns: int
    voluntary: int
    involuntary: int


def threads(pid: int) -> dict[int, ThreadSample]:
    """Every thread of `pid` now (threads that end between listing and reading are skipped)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            cpu_ns = int((task / "schedstat").read_text().split()[0])
            status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        except (OSError, ValueError):
            continue
        found[int(task.name)] = ThreadSample(
            int(task.name), name, cpu_ns,
            int(status["voluntary_ctxt_switches"]), int(status["nonvoluntary_ctxt_switches"]),
        )
    return found


def stop_process(process: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    """SIGTERM, as systemd would; SIGKILL if it does not leave in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


class NotifySocket:
    """A stand-in for systemd's notify socket: the daemon says READY=1 here after its first scan."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"notify-{uuid.uuid4().hex[:8]}.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.path))
        self.messages: list[str] = []

    def wait_for(self, line: str, timeout: float) -> None:
        """Read datagrams until one holds `line` (e.g. READY=1); SystemExit on timeout."""
        deadline = time.monotonic() + timeout
        while not any(line in message.splitlines() for message in self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"bench: the daemon never sent {line} (got {self.messages[-3:]})")
            self._socket.settimeout(left)
            try:
                self.messages.append(self._socket.recv(MAX_DATAGRAM).decode("utf-8", "replace"))
            except TimeoutError:
                continue

    def drain(self) -> None:
        """Read what is queued, so the daemon's sends never meet a full queue."""
        self._socket.setblocking(False)
        try:
            while True:
                self.messages.append(self._socket.recv(MAX_DATAGRAM).decode("utf-8", "replace"))
        except BlockingIOError:
            pass
        finally:
            self._socket.setblocking(True)

    def close(self) -> None:
        self._socket.close()
        self.path.unlink(missing_ok=True)


# --- config, statistics, the machine, results ---------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string of printable text is a TOML basic string
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


UNCAPPED = 1_000_000


def uncapped(sandbox: Any) -> Any:
    """The sandbox with @mybrand's TikTok caps out of the way, as the configs written here have them."""
    from pqdrop.sandbox.tiktok import Profile

    sandbox.state.tiktok.set_profile("@mybrand", Profile(daily_posts=UNCAPPED, daily_drafts=UNCAPPED))
    return sandbox


def write_config(folder: Path, base_url: str, **sections: Mapping[str, Any]) -> Path:
    """config.toml in `folder`: inbox `inbox`, state `state`, account @mybrand; `sections` add or override."""
    document: dict[str, dict[str, Any]] = {
        "inbox": {"path": "inbox"},
        "postqued": {"base_url": base_url},
        "defaults": {"account": "@mybrand", "intent": "publish"},
        "state": {"dir": "state"},
        # The benches measure speed, not TikTok's daily caps (15 posts a day would pace the rest).
        "accounts": {'"@mybrand"': {"daily_posts": UNCAPPED, "daily_drafts": UNCAPPED}},
    }
    for name, values in sections.items():
        document[name] = {**document.get(name, {}), **values}
    lines = []
    for name, values in document.items():
        tables = {key: value for key, value in values.items() if isinstance(value, Mapping)}
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items() if key not in tables]
        for key, table in tables.items():
            lines.append(f"\n[{name}.{key}]")
            lines += [f"{inner} = {toml_value(value)}" for inner, value in table.items()]
        lines.append("")
    path = folder / "config.toml"
    path.write_text("\n".join(lines))
    return path


def future_sidecar(caption: str, days_ahead: int = 30) -> str:
    """A sidecar with a dispatchAt a month ahead: the post is filed as scheduled at once."""
    dispatch_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days_ahead * 86400))
    return f"---\ndispatchAt: {dispatch_at}\n---\n{caption}\n"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p95 of 50 values is the 48th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(round(fraction * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(["curl", "--version"], check=False, capture_output=True, text=True).stdout
    curl = " ".join(version.split()[:2])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "filesystem": filesystem_of(Path(tempfile.gettempdir())),
        "curl": curl,
    }


def filesystem_of(path: Path) -> str:
    """The type of the filesystem the benchmarks' temporary folders live on."""
    best, best_type = "", "unknown"
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            inside = (str(path) + "/").startswith(fields[1].rstrip("/") + "/")
            if len(fields) >= 3 and inside and len(fields[1]) >= len(best):
                best, best_type = fields[1], fields[2]
    return best_type


def load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def goal_line(what: str, measured: str, goal: str, ok: bool | None) -> dict[str, str]:
    """One row of a goals table; `ok` None is a number shown for information."""
    verdict = "info" if ok is None else "ok" if ok else "MISSED"
    return {"what": what, "measured": measured, "goal": goal, "verdict": verdict}


def print_goals(lines: Sequence[Mapping[str, str]]) -> None:
    print("\nGoals")
    for line in lines:
        print(f"  {line['verdict']:<6} {line['what']}: {line['measured']} (goal {line['goal']})")


def save_part(name: str, result: Mapping[str, Any]) -> None:
    """Merge one part's numbers into results.json, keeping the other parts' last numbers."""
    try:
        report = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        report = {}
    if "parts" not in report:
        report = {"parts": {}}  # an older layout: start afresh
    report["machine"] = machine()
    report["parts"][name] = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), **result}
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
