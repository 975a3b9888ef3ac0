"""The Containerfile and compose.yaml: built with podman, run against the sandbox on this machine's network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.service.box import ROOT, SANDBOX_KEY, TOOLS, HostSandbox, build_wheelhouse, require_root

PODMAN_HERE = Path(os.environ.get("PODMAN_HERE", TOOLS / "podman-here"))
IMAGE = "localhost/pqdrop:test"
BASE = "localhost/debian-python:bookworm"
NAME = "pqdrop-image-test"
PUID = 1234  # a NAS user's uid, not the image's default
OWNER = (2345, 2346)  # the inbox's owner when no PUID is given
COMPOSED = "pqdrop"  # compose.yaml's container_name


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


def secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "postqued_api_key"
    secret.write_text(SANDBOX_KEY + "\n")
    secret.chmod(0o600)  # root's alone, as a secret file usually is
    return secret


@pytest.fixture
def container(image: str, tmp_path: Path) -> Iterator[tuple[Path, HostSandbox]]:
    """The image run by hand: PUID/PGID, UMASK 007, a config file in /config, the key in a secret file."""
    sandbox = HostSandbox()
    inbox, state, config = tmp_path / "inbox", tmp_path / "state", tmp_path / "config"
    for folder in (inbox, state, config):
        folder.mkdir()
    os.chown(inbox, PUID, PUID)  # the NAS user's share
    (config / "config.toml").write_text(f'[inbox]\npath = "/inbox"\nsettle_seconds = 0.5\n\n[postqued]\nbase_url = '
                                        f'"{sandbox.url}"\n\n[state]\ndir = "/state"\n\n'
                                        '[http]\nlisten = "127.0.0.1:18787"\n')  # where the HEALTHCHECK asks
    podman("rm", "--force", NAME, check=False)
    podman("run", "--detach", "--name", NAME, "--network", "host", "-e", f"PUID={PUID}", "-e", f"PGID={PUID}",
           "-e", "UMASK=007", "-e", "POSTQUED_API_KEY_FILE=/run/secrets/key", "-e", "PQDROP_DEFAULT_ACCOUNT=@other",
           "-v", f"{inbox}:/inbox", "-v", f"{state}:/state", "-v", f"{config}:/config:ro",
           "-v", f"{secret_file(tmp_path)}:/run/secrets/key:ro", image)
    try:
        yield inbox, sandbox
    finally:
        podman("rm", "--force", NAME, check=False)
        sandbox.close()


def wait(condition: Callable[[], object], seconds: float, what: str, name: str = NAME) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what}; logs:\n" + \
            podman("logs", name, check=False).stderr[-3000:]
        time.sleep(0.3)


def drop(inbox: Path, tmp_path: Path, name: str, frontmatter: str, owner: tuple[int, int]) -> None:
    """A clip and its sidecar, written as a sync tool writes: under a temporary name, then renamed."""
    from pqdrop.media.mediagen import make_video

    for file_name, data in ((f"{name}.mp4", make_video(tmp_path / f"{name}.mp4").read_bytes()),
                            (f"{name}.md", f"---\n{frontmatter}---\nfrom the NAS\n".encode())):
        partial = inbox / f".{file_name}.partial"
        partial.write_bytes(data)
        os.chown(partial, *owner)
        partial.rename(inbox / file_name)


def test_the_image_posts_a_dropped_clip_as_the_nas_user_with_its_umask_is_healthy_and_stops_with_exit_zero(
    container: tuple[Path, HostSandbox], tmp_path: Path
) -> None:
    inbox, sandbox = container
    drop(inbox, tmp_path, "nas", 'account: "@mybrand"\nintent: publish\n', (PUID, PUID))
    status_file = inbox / "sent" / "nas.status.json"
    wait(status_file.exists, 60, "nas in sent/")
    status = json.loads(status_file.read_text())
    assert [publish["publishId"] for publish in sandbox.state()["publishes"]] == [status["publishId"]]
    # Written as PUID with UMASK 007, so the NAS user and their group can move and delete it.
    assert (status_file.stat().st_uid, status_file.stat().st_gid) == (PUID, PUID)
    assert status_file.stat().st_mode & 0o777 == 0o660
    assert (inbox / "sent").stat().st_mode & 0o777 == 0o770
    assert (inbox / "sent" / "nas.mp4").stat().st_uid == PUID

    health = podman("healthcheck", "run", NAME, check=False)
    assert health.returncode == 0, health.stdout + health.stderr  # pqdrop health asked /healthz
    assert not (tmp_path / "state" / "heartbeat").exists()  # health is asked, never read from a touched file
    inspected = json.loads(podman("inspect", NAME).stdout)[0]
    assert not any(SANDBOX_KEY in variable for variable in inspected["Config"]["Env"])
    assert inspected["Config"]["Healthcheck"]["Test"][0] == "CMD"
    labels = inspected["Config"]["Labels"]
    assert (labels["org.opencontainers.image.title"], labels["org.opencontainers.image.licenses"]) == ("pqdrop", "MIT")
    environment = podman("exec", "-u", f"{PUID}:{PUID}", NAME, "cat", "/proc/1/environ").stdout.split("\0")
    assert not any(SANDBOX_KEY in variable for variable in environment)  # the key is a credential file, not a variable

    # With a config file, the variables that stand in for one are said to be unused, not quietly ignored.
    assert ("pqdrop-entrypoint: the config is /config/config.toml; these variables stand in for one and are not "
            "used: PQDROP_DEFAULT_ACCOUNT") in podman("logs", NAME).stderr

    started = time.monotonic()
    podman("stop", "--time", "15", NAME)
    assert time.monotonic() - started < 15
    assert podman("inspect", "--format", "{{.State.ExitCode}}", NAME).stdout.strip() == "0"
    assert "Traceback" not in podman("logs", NAME).stderr


def test_a_bad_setting_in_the_environment_stops_the_container_at_once_with_exit_2_saying_which(
    image: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for variable, said in (("UMASK=rw", "UMASK=rw is not a umask; write three octal digits"),
                           ("TZ=Mars/Base", "TZ=Mars/Base is not a time zone; use a name such as Europe/Berlin"),
                           ("PQDROP_DEFAULT_INTENT=later",
                            'PQDROP_DEFAULT_INTENT ([defaults].intent): "later" is not one of "draft" or "publish"'),
                           ("POSTQUED_API_KEY_FILE=/run/secrets/none",
                            "POSTQUED_API_KEY_FILE=/run/secrets/none: there is no readable file there")):
        result = podman("run", "--rm", "-e", variable, "-v", f"{inbox}:/inbox", image, check=False, timeout=60)
        assert result.returncode == 2, (variable, result.stderr)
        assert said in result.stderr, (variable, result.stderr)
    assert list(inbox.iterdir()) == []


@pytest.fixture
def composed(image: str, tmp_path: Path) -> Iterator[tuple[Path, HostSandbox, subprocess.CompletedProcess[str]]]:
    """compose.yaml as a user runs it, config-less; an override gives the test's image, network and sandbox."""
    sandbox = HostSandbox()
    inbox, state, config = tmp_path / "inbox", tmp_path / "state", tmp_path / "config"
    for folder in (inbox, state, config):
        folder.mkdir()
    os.chown(inbox, *OWNER)  # no PUID/PGID given: the container takes the inbox's owner
    override = tmp_path / "compose.test.yaml"
    override.write_text(
        "services:\n  pqdrop:\n    image: " + IMAGE + "\n    network_mode: host\n    environment:\n"
        '      PQDROP_DEFAULT_ACCOUNT: "@mybrand"\n      PQDROP_DEFAULT_INTENT: publish\n'
        f'      PQDROP_POSTQUED_BASE_URL: "{sandbox.url}"\n      PQDROP_INBOX_SETTLE_SECONDS: "0.5"\n')
    env = {**os.environ, "TZ": "America/Los_Angeles", "PQDROP_INBOX": str(inbox), "PQDROP_STATE": str(state),
           "PQDROP_CONFIG_DIR": str(config), "PQDROP_API_KEY_FILE": str(secret_file(tmp_path))}
    compose = [shutil.which("podman-compose") or "podman-compose", "--podman-path", str(host_network_podman(tmp_path)),
               "-p", "pqdroptest", "-f", str(ROOT / "compose.yaml"), "-f", str(override)]
    podman("rm", "--force", COMPOSED, check=False)
    up = subprocess.run([*compose, "up", "-d", "--no-build"], env=env, capture_output=True, text=True, timeout=300,
                        check=False)
    up.returncode = up.returncode or podman("inspect", COMPOSED, check=False).returncode  # 1.0.3 says 0 regardless
    try:
        yield inbox, sandbox, up
    finally:
        subprocess.run([*compose, "down"], env=env, capture_output=True, timeout=120, check=False)
        podman("rm", "--force", COMPOSED, check=False)
        sandbox.close()


def host_network_podman(tmp_path: Path) -> Path:
    """podman-here for podman-compose 1.0.3 (Debian 12's), which adds `--net <project>_default` beside the override's
    network_mode: host (podman refuses both): the test's container shares the host's loopback, where the sandbox is."""
    wrapper = tmp_path / "podman-host-network"
    wrapper.write_text(f"""#!/bin/bash
[ "$1" = network ] && exit 0
args=(); skip=0
for arg in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$arg" in --net|--network-alias) skip=1; continue ;; esac
    args+=("$arg")
done
exec {PODMAN_HERE} "${{args[@]}}"
""")
    wrapper.chmod(0o755)
    return wrapper


def test_compose_runs_config_less_as_the_inbox_owner_with_tz_umask_and_the_env_defaults(
    composed: tuple[Path, HostSandbox, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    inbox, sandbox, up = composed
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    # No account in the sidecar: PQDROP_DEFAULT_ACCOUNT; a dispatchAt without an offset: TZ's wall clock.
    drop(inbox, tmp_path, "later", "dispatchAt: 2030-06-01T18:00:00\n", OWNER)
    status_file = inbox / "scheduled" / "later.status.json"
    wait(status_file.exists, 90, "later in scheduled/", name=COMPOSED)
    [publish] = sandbox.state()["publishes"]
    [target] = publish["body"]["targets"]
    assert (target["dispatchAt"], target["intent"]) == ("2030-06-02T01:00:00Z", "publish")  # 18:00 PDT
    # SCHEDULE.md is rewritten at the loop's look after the filing, a moment after the status file.
    wait((inbox / "SCHEDULE.md").exists, 30, "SCHEDULE.md", name=COMPOSED)
    assert "- **18:00 PDT** · later · @mybrand (tiktok) · scheduled" in (inbox / "SCHEDULE.md").read_text()
    # Filed as the inbox's owner with the default UMASK 002: the share's group may still change it.
    assert (status_file.stat().st_uid, status_file.stat().st_gid) == OWNER
    assert status_file.stat().st_mode & 0o777 == 0o664
    assert (inbox / "scheduled").stat().st_mode & 0o777 == 0o775
    # `docker exec … pqdrop status` finds the config the daemon was given.
    status = podman("exec", "-u", "{}:{}".format(*OWNER), COMPOSED, "pqdrop", "status", check=False)
    assert status.returncode == 0, status.stderr
    assert "later" in status.stdout
    logs = podman("logs", COMPOSED).stderr
    assert "no /config/config.toml: the settings come from the environment (PQDROP_*, TZ)" in logs
    assert "Traceback" not in logs and SANDBOX_KEY not in logs
