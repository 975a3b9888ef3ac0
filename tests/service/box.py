"""The systemd box: a real systemd 252 (Debian 12) booted in systemd-nspawn, pqdrop's wheels bound in.

Every test session boots it afresh on a throw-away overlay (`--volatile=overlay`), so what the
tests install never reaches the cached root filesystem, and powers it off at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("PQDROP_TOOLS") or ROOT.parent / "shared" / "tools")  # the Makefile sets it
SYSTEMD_BOX = Path(os.environ.get("SYSTEMD_BOX", TOOLS / "systemd-box"))
# Inside the box: no index of its own, the host's wheelhouse stands in for PyPI.
BOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOX_ENV = ("LANG=C.UTF-8", "PIP_NO_INDEX=1", "PIP_FIND_LINKS=/wheels", "PIP_DISABLE_PIP_VERSION_CHECK=1")
SANDBOX_KEY = "pq_sandbox"
CONTROL = {"Authorization": f"Bearer {SANDBOX_KEY}"}  # the sandbox's /_sandbox control routes take its key


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the service tests boot a container with systemd-nspawn and need root", pytrace=False)


def build_wheelhouse(folder: Path) -> Path:
    """pqdrop's wheel and its dependencies' (plus pipx, to install it the README's way); returns the pqdrop wheel."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("pqdrop-*.whl"):
        old.unlink()  # the project's own wheel is rebuilt from this checkout every session
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder), str(ROOT), "pipx", "pip"]
    # Offline first from what an earlier session left; the index only for what is missing.
    if subprocess.run([*command[:4], "--no-index", "--find-links", str(folder), *command[4:]],
                      capture_output=True, text=True).returncode != 0:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"pip wheel could not build the wheelhouse:\n{result.stderr[-2000:]}", pytrace=False)
    [wheel] = folder.glob("pqdrop-*.whl")
    return wheel


class Box:
    """The booted box; `run` executes a shell script inside it as root (or as `user`)."""

    def __init__(self, wheelhouse: Path, wheel: Path) -> None:
        self.wheelhouse = wheelhouse
        self.wheel = f"/wheels/{wheel.name}"  # where the box sees it

    def build(self) -> None:
        """Build the root filesystem once per machine; a failure says why, plainly, and fails."""
        result = subprocess.run([str(SYSTEMD_BOX), "build"], capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            pytest.fail(
                "the systemd box could not be built (debootstrap fetches Debian 12 from the Debian archive; "
                f"is there a route to it?):\n{result.stdout[-1500:]}{result.stderr[-1500:]}",
                pytrace=False,
            )

    def boot(self) -> None:
        subprocess.run([str(SYSTEMD_BOX), "stop"], capture_output=True, check=False)
        result = subprocess.run(
            [str(SYSTEMD_BOX), "boot", "--volatile=overlay", f"--bind-ro={self.wheelhouse}:/wheels",
             f"--bind-ro={ROOT}:/src"],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            pytest.fail(f"the systemd box did not boot:\n{result.stdout}{result.stderr}", pytrace=False)

    def stop(self) -> None:
        subprocess.run([str(SYSTEMD_BOX), "stop"], capture_output=True, check=False, timeout=60)

    def run(
        self, script: str, *, user: str | None = None, input: str | None = None, check: bool = True,
        timeout: float = 180,
    ) -> subprocess.CompletedProcess[str]:
        """`sh -ec script` in the box, with a clean environment (nsenter would pass ours on)."""
        home = "/root" if user is None else f"/home/{user}"
        env = ["env", "-i", f"PATH={BOX_PATH}", f"HOME={home}", *BOX_ENV]
        if user is not None:
            uid = self.uid(user)
            env = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *env,
                   f"XDG_RUNTIME_DIR=/run/user/{uid}", f"USER={user}"]
        if user is not None and input is not None:
            # Our stdin is root's pipe, which `user` may read but not reopen as /dev/stdin; a terminal
            # would be theirs. A pipe of their own stands in.
            script = f"cat | ({script})"
        command = [str(SYSTEMD_BOX), "exec", *env, "/bin/sh", "-ec", script]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"in the box{' as ' + user if user else ''}: {script}\nexit {result.returncode}\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def out(self, script: str, **kwargs: Any) -> str:
        return self.run(script, **kwargs).stdout.strip()

    def uid(self, user: str) -> int:
        return int(self.run(f"id -u {user}").stdout)

    def write(self, path: str, data: bytes | str, *, user: str | None = None, mode: str | None = None) -> None:
        """Write a file the way sync tools do: under a temporary name, then renamed into place."""
        text = data if isinstance(data, str) else None
        folder, name = path.rsplit("/", 1)
        temporary = f"{folder}/.{name}.tmp"
        chmod = f" && chmod {mode} '{temporary}'" if mode else ""
        script = f"cat > '{temporary}'{chmod} && mv '{temporary}' '{path}'"
        if text is not None:
            self.run(script, user=user, input=text)
            return
        command = [str(SYSTEMD_BOX), "exec", "env", "-i", f"PATH={BOX_PATH}", "/bin/sh", "-ec", script]
        if user is not None:
            command[2:2] = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
        subprocess.run(command, input=data, check=True, capture_output=True, timeout=60)

    def show(self, unit: str, *properties: str, user: str | None = None) -> dict[str, str]:
        scope = "--user " if user else ""
        text = self.out(f"systemctl {scope}show {unit} " + " ".join(f"-p {name}" for name in properties), user=user)
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def wait(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds} s waiting for {what}")
            time.sleep(0.3)

    def exists(self, path: str) -> bool:
        return self.run(f"test -e '{path}'", check=False).returncode == 0


class HostSandbox:
    """`pqdrop sandbox --port N` on this machine's loopback, which the box shares."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        pqdrop = shutil.which("pqdrop", path=str(Path(sys.executable).parent)) or "pqdrop"
        self.process = subprocess.Popen([pqdrop, "sandbox", "--port", str(self.port)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()
        assert "PostQued sandbox on" in banner, banner

    def state(self) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/_sandbox/state", headers=CONTROL)
        with urllib.request.urlopen(request, timeout=10) as reply:
            return dict(json.load(reply))

    def faults(self, **control: Any) -> None:
        request = urllib.request.Request(f"{self.url}/_sandbox/faults", data=json.dumps(control).encode(),
                                         headers={"Content-Type": "application/json", **CONTROL}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()
