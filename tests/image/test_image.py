"""The Containerfile: built with podman, run against the sandbox on this machine's network."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service.box import ROOT, SANDBOX_KEY, TOOLS, HostSandbox, build_wheelhouse, require_root

PODMAN_HERE = Path(os.environ.get("PODMAN_HERE", TOOLS / "podman-here"))
IMAGE = "localhost/pqdrop:test"
BASE = "localhost/debian-python:bookworm"
NAME = "pqdrop-image-test"
PUID = 1234  # a NAS user's uid, not the image's default


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(PODMAN_HERE), *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {result.returncode}\n{result.stdout[-2000:]}"
                             f"\n{result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    require_root()
    wheelhouse = ROOT / "build" / "wheelhouse"
    build_wheelhouse(wheelhouse)
    base = podman("base", check=False, timeout=1200)
    if base.returncode != 0:
        pytest.fail("the local base image could not be made (it is the systemd box's Debian 12, which needs "
                    f"a route to the Debian archive once):\n{base.stdout[-1500:]}{base.stderr[-1500:]}",
                    pytrace=False)
    podman("build", "--format", "docker", "-t", IMAGE, "--build-arg", f"BASE={BASE}",
           "-v", f"{wheelhouse}:/wheels:ro", "-f", str(ROOT / "Containerfile"), str(ROOT))
    return IMAGE


@pytest.fixture
def container(image: str, tmp_path: Path) -> Iterator[tuple[Path, HostSandbox]]:
    sandbox = HostSandbox()
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    state.mkdir()
    os.chown(inbox, PUID, PUID)  # the NAS user's share
    config = tmp_path / "config.toml"
    config.write_text(f'[inbox]\npath = "/inbox"\nsettle_seconds = 0.5\n\n[postqued]\nbase_url = "{sandbox.url}"\n\n'
                      '[state]\ndir = "/state"\n')
    secret = tmp_path / "postqued_api_key"
    secret.write_text(SANDBOX_KEY + "\n")
    secret.chmod(0o600)  # root's alone, as a secret file usually is
    podman("rm", "--force", NAME, check=False)
    podman("run", "--detach", "--name", NAME, "--network", "host", "-e", f"PUID={PUID}", "-e", f"PGID={PUID}",
           "-v", f"{inbox}:/inbox", "-v", f"{state}:/state", "-v", f"{config}:/etc/pqdrop/config.toml:ro",
           "-v", f"{secret}:/run/secrets/postqued_api_key:ro", image)
    try:
        yield inbox, sandbox
    finally:
        podman("rm", "--force", NAME, check=False)
        sandbox.close()


def wait(condition: object, seconds: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}; logs:\n" + \
            podman("logs", NAME, check=False).stderr[-3000:]
        time.sleep(0.3)


def test_the_image_posts_a_dropped_clip_as_the_nas_user_is_healthy_and_stops_with_exit_zero(
    container: tuple[Path, HostSandbox], tmp_path: Path
) -> None:
    from pqdrop.media.mediagen import make_video

    inbox, sandbox = container
    for name, data in (("nas.mp4", make_video(tmp_path / "nas.mp4").read_bytes()),
                       ("nas.md", b'---\naccount: "@mybrand"\nintent: publish\n---\nfrom the NAS\n')):
        partial = inbox / f".{name}.partial"  # a sync tool writes under a temporary name, then renames
        partial.write_bytes(data)
        os.chown(partial, PUID, PUID)
        partial.rename(inbox / name)
    status_file = inbox / "sent" / "nas.status.json"
    wait(status_file.exists, 60, "nas in sent/")
    status = json.loads(status_file.read_text())
    assert [publish["publishId"] for publish in sandbox.state()["publishes"]] == [status["publishId"]]
    assert status_file.stat().st_uid == PUID  # written as PUID, so the NAS user can move and delete it
    assert (inbox / "sent" / "nas.mp4").stat().st_uid == PUID

    wait(lambda: (tmp_path / "state" / "heartbeat").exists(), 30, "the heartbeat")
    assert podman("healthcheck", "run", NAME, check=False).returncode == 0
    inspected = json.loads(podman("inspect", NAME).stdout)[0]
    assert not any(SANDBOX_KEY in variable for variable in inspected["Config"]["Env"])
    assert inspected["Config"]["Healthcheck"]["Test"][0] == "CMD"

    started = time.monotonic()
    podman("stop", "--time", "15", NAME)
    assert time.monotonic() - started < 15
    assert podman("inspect", "--format", "{{.State.ExitCode}}", NAME).stdout.strip() == "0"
    assert "Traceback" not in podman("logs", NAME).stderr
