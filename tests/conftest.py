"""Shared fixtures: a real sandbox on a loopback port, a real inbox, a real config file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from pqdrop.config import Config, load_config
from pqdrop.journal.store import Journal
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.ratelimit import RateLimiter
from pqdrop.postqued.types import RetryPolicy
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.v2 import workspace_id
from pqdrop.service.daemon import Service
from pqdrop.service.workers import Workers

SANDBOX_KEY = "pq_sandbox"
CONTROL = {"Authorization": f"Bearer {SANDBOX_KEY}"}  # the sandbox's /_sandbox control routes take its key
# The modules that talk to PostQued run twice: against a v1-only and a v2-only sandbox (issue 14).
# The rest of the suite, whose API use is incidental, runs against v1 once (the machine has two cores).
API_MODULES = frozenset({"test_pipeline", "test_postqued", "test_tracker", "test_cli", "test_api_citizen"})
API_MODES = ("v1", "v2")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "api_mode" in metafunc.fixturenames and metafunc.module.__name__.rpartition(".")[2] in API_MODULES:
        metafunc.parametrize("api_mode", API_MODES, indirect=True)


@pytest.fixture
def api_mode(request: pytest.FixtureRequest) -> str:
    """The API the test's sandbox speaks, and its config names: v1, or v2 in the API modules' second run."""
    return str(getattr(request, "param", "v1"))


def api_sandbox(api_mode: str, **options: Any) -> Sandbox:
    """A sandbox speaking only `api_mode`; write_config asks it which, and sets [postqued].api (and workspace)."""
    return Sandbox(api_keys=(SANDBOX_KEY,), api=api_mode, **options)


@pytest.fixture
def sandbox(api_mode: str) -> Iterator[Sandbox]:
    with api_sandbox(api_mode, processing_seconds=0.05) as server:
        yield server


def sandbox_api(base_url: str) -> str:
    """The API a running sandbox speaks (v1 when it speaks both, or nothing answers at `base_url`).

    Asked of a route that takes no key (the sandbox's controls take one, and a test's sandbox may know
    only its own): a v2-only sandbox answers every /v1 path 410 Gone.
    """
    try:
        status = httpx.get(f"{base_url}/v1/docs/openapi.json", timeout=2.0).status_code
    except httpx.HTTPError:
        return "v1"
    return "v2" if status == 410 else "v1"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def write_config(tmp_path: Path, base_url: str, **sections: dict[str, Any]) -> Path:
    """A config file for tests: settle 0 (folders too), fast following; `sections` override per section."""
    api = sandbox_api(base_url)
    scope = {"workspace": workspace_id("Main")} if api == "v2" else {}
    document: dict[str, Any] = {
        "inbox": {"path": "inbox", "settle_seconds": 0.0, "folder_settle_seconds": 0.0, "watch": "poll",
                  "poll_interval": 0.2},
        "postqued": {"base_url": base_url, "follow_seconds": 10.0, "timeout_seconds": 10.0, "api": api, **scope},
        "defaults": {"account": "@mybrand", "intent": "publish", "timezone": "Europe/Berlin"},
        "state": {"dir": "state"},
    }
    for name, values in sections.items():
        document[name] = {**document.get(name, {}), **values}
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(document))
    return path


@pytest.fixture
def config(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Config:
    return load_config(write_config(tmp_path, sandbox.url))


def make_client(config: Config, key: str = SANDBOX_KEY, attempts: int = 5) -> PostQued:
    limiter = RateLimiter.of(config.postqued.rate_limits)
    retry = RetryPolicy(attempts=attempts, base_seconds=0.05, cap_seconds=0.5)
    return PostQued(config.postqued.base_url, key, limiter=limiter, retry=retry, timeout_seconds=5.0,
                    api=config.postqued.api, workspace=config.postqued.workspace)


@pytest.fixture
def journal(config: Config) -> Iterator[Journal]:
    journal = Journal(config.state.dir)
    yield journal
    journal.close()


@pytest.fixture
def service(config: Config, journal: Journal) -> Iterator[Workers]:
    with make_client(config) as client, Workers(config, client, journal, stop=threading.Event()) as service:
        yield service


def sidecar(path: Path, frontmatter: str = "", body: str = "A caption #fyp") -> Path:
    path.write_text(f"---\n{frontmatter}---\n{body}\n", encoding="utf-8")
    return path


def make_heic(path: Path, *, width: int = 64, height: int = 48, orientation: int = 1,
              color: tuple[int, int, int] = (200, 40, 40)) -> Path:
    """An iPhone-style HEIC photo, encoded by libheif (pillow-heif), with an EXIF orientation."""
    import pillow_heif
    from PIL import Image

    picture = Image.new("RGB", (width, height), color)
    picture.paste((20, 20, 220), (0, 0, width // 2, height // 4))  # a mark in the top-left, to see the turn
    exif = Image.Exif()
    exif[0x0112] = orientation
    pillow_heif.from_pillow(picture).save(str(path), quality=80, exif=exif.tobytes())
    return path


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` (by name, wherever it moved) and the sha256 of its bytes."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink() and path.name != "status.log"
        and not path.name.endswith(".status.json") and not path.name.startswith(".owner-")
    }


def wait_until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Running:
    """A Service on a thread, with the sandbox and inbox it works on."""

    def __init__(
        self, tmp_path: Path, sandbox: Sandbox, sections: dict[str, dict[str, Any]] | None = None, **inbox: Any
    ) -> None:
        self.config = load_config(write_config(tmp_path, sandbox.url, inbox=inbox, **(sections or {})))
        self.inbox = self.config.inbox.path
        self.inbox.mkdir(exist_ok=True)
        self.sandbox = sandbox
        self._journal = Journal(self.config.state.dir)
        self._client = make_client(self.config)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.service = Workers(self.config, self._client, self._journal, stop=self.stop)
        self.runner = Service(self.service, self.wake, blocked_retry=(0.5, 2.0))
        self._thread = threading.Thread(target=self.runner.run, daemon=True)

    def start(self) -> Running:
        self._thread.start()
        assert self.runner.ready.wait(10), "the runner never became ready"
        return self

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        self._thread.join(timeout=15)
        assert not self._thread.is_alive()
        self.service.close()
        self._client.close()
        self._journal.close()

    def filed(self, name: str, folder: str = "sent") -> dict[str, Any] | None:
        path = self.inbox / folder / f"{name}.status.json"
        return json.loads(path.read_text()) if path.exists() else None

    def contents(self) -> dict[str, Any]:
        return dict(self.sandbox.state_summary()["contents"])

    def publishes(self) -> list[dict[str, Any]]:
        return list(self.sandbox.state_summary()["publishes"])


@pytest.fixture
def start(tmp_path: Path, sandbox: Sandbox) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def begin(sections: dict[str, dict[str, Any]] | None = None, **inbox: Any) -> Running:
        running = Running(tmp_path, sandbox, sections, **inbox)
        started.append(running.start())
        return running

    yield begin
    for running in started:
        running.close()


REPO = Path(__file__).resolve().parent.parent
ADDRESS = re.compile(r"status page, health and metrics on (http://\S+)/")


class Observed:
    """One `pqdrop run` process with `[http] listen` on a loopback port the system picks, and its endpoint's URL."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        env = {key: value for key, value in os.environ.items()
               if key not in ("PQDROP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
        self.env = {**env, "POSTQUED_API_KEY": SANDBOX_KEY}
        with log.open("ab") as output:
            self.process = subprocess.Popen([sys.executable, "-m", "pqdrop", "run", "--config", str(config)],
                                            stdout=output, stderr=subprocess.STDOUT, env=self.env, cwd=REPO,
                                            start_new_session=True)
        wait_until(lambda: ADDRESS.search(self.output()) is not None or self.process.poll() is not None, 30)
        found = ADDRESS.search(self.output())
        assert found, f"the daemon never said where it listens:\n{self.output()}"
        self.url = found.group(1)
        wait_until(lambda: self.get("/healthz").status_code == 200, 30)  # recovered, watching, first look done

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10.0)

    def pqdrop(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another pqdrop command on the same config, as a person would type it beside the daemon."""
        return subprocess.run([sys.executable, "-m", "pqdrop", *args, "--config", str(self.config)],
                              capture_output=True, text=True, env=self.env, cwd=REPO, timeout=60)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            raise


@pytest.fixture
def observe(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Iterator[Callable[..., Observed]]:
    """Start `pqdrop run` with the endpoint on; `sections` override the test config's."""
    started: list[Observed] = []

    def begin(**sections: dict[str, Any]) -> Observed:
        http = {"listen": "127.0.0.1:0", **sections.pop("http", {})}
        config = write_config(tmp_path, sandbox.url, http=http, **sections)
        started.append(Observed(config, tmp_path / f"daemon-{len(started)}.log"))
        return started[-1]

    yield begin
    for daemon in started:
        daemon.stop()
