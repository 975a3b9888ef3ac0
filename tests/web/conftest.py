"""A real `pqdrop run` with `[http] listen` on a loopback port the system picks, against the sandbox."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import SANDBOX_KEY, wait_until, write_config

from pqdrop.sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent.parent
ADDRESS = re.compile(r"status page, health and metrics on (http://\S+)/")


class Observed:
    """One `pqdrop run` process and the URL of its endpoint."""

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
