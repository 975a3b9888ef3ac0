"""What a new user trips on in the first minutes: the version, a pipe closed early, a missing inbox, a second run."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from tests.commands.test_cli import PQDROP, drop_clip, pqdrop, user_env, wait_for  # noqa: F401 - a fixture
from tests.conftest import SANDBOX_KEY, write_config

from pqdrop.sandbox import Sandbox


def test_version_prints_the_installed_distributions_version_on_stdout(
    tmp_path: Path, user_env: dict[str, str]  # noqa: F811 - the fixture
) -> None:
    from importlib.metadata import version

    result = pqdrop("--version", env=user_env, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"pqdrop {version('pqdrop')}\n", "")


def test_status_json_into_a_reader_that_stops_early_ends_quietly(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str]  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    for number in range(3):
        drop_clip(inbox, f"clip-{number}", "dispatchAt: 2030-06-01T18:00:00\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    # `pqdrop status --json | head -1` where head is gone before status writes: the pipe has no reader left.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([*PQDROP, "status", "--json", "--config", str(config_path)], env=user_env,
                                cwd=tmp_path, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.parametrize("command", ["check", "status", "once", "cancel", "retry"])
def test_every_command_says_a_missing_inbox_the_same_way_with_the_command_that_makes_it(
    tmp_path: Path, sandbox: Sandbox, user_env: dict[str, str], command: str  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    missing = tmp_path / "inbox"
    args = {"cancel": ["cancel", "clip"], "retry": ["retry", "--all"]}.get(command, [command])
    result = pqdrop(*args, "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert result.stderr.splitlines()[-1] == (
        f"pqdrop: [inbox].path {missing} is not there; make it with `mkdir -p {missing}` (or mount the share it is on)")
    assert not missing.exists()


def test_run_says_the_missing_inbox_as_once_does_waits_for_it_and_posts_once_it_is_made(
    tmp_path: Path, sandbox: Sandbox, user_env: dict[str, str]  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url, inbox={"watch": "poll", "poll_interval": 0.2})
    inbox = tmp_path / "inbox"
    log = tmp_path / "run.err"
    with log.open("w") as stderr, subprocess.Popen([*PQDROP, "run", "--config", str(config_path)], env=user_env,
                                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr) as daemon:
        try:
            wait_for(lambda: "is not there" in log.read_text(), 20, "run to say the inbox is missing")
            inbox.mkdir()
            drop_clip(inbox, "clip")
            wait_for(lambda: (inbox / "sent" / "clip.status.json").exists(), 30, "clip in sent/")
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)
    [said] = [line for line in log.read_text().splitlines() if "is not there" in line]
    assert f"[inbox].path {inbox} is not there; make it with `mkdir -p {inbox}` (or mount the share it is on)" in said


def test_a_second_run_on_the_same_state_refuses_without_claiming_to_watch(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str]  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    first_log = tmp_path / "first.err"
    with first_log.open("w") as stderr, subprocess.Popen(
        [*PQDROP, "run", "--config", str(config_path)], env=user_env, cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=stderr,
    ) as first:
        try:
            wait_for(lambda: "watching" in first_log.read_text(), 20, "the first run to watch")
            second = pqdrop("run", "--config", str(config_path), env=user_env, cwd=tmp_path)
        finally:
            first.terminate()
            first.wait(timeout=20)
    assert second.returncode == 75
    assert "watching" not in second.stderr
    assert second.stderr.splitlines()[-1] == (
        f"pqdrop: another pqdrop with the same [state].dir is already working on {inbox}; stop it first, or give "
        "this one its own state dir; try again later")
    assert first.returncode == 0



def test_a_failure_names_the_account_as_the_sidecar_does_and_every_file_writes_instants_with_a_z(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str]  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    drop_clip(inbox, "doomed", "account: '@failing'\n")
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    message = json.loads((inbox / "failed" / "doomed.status.json").read_text())["error"]["message"]
    assert message.startswith("@failing (tiktok) failed: "), message
    assert "acc_" not in message and "target " not in message
    written = [inbox / "status.log", *inbox.glob("*/*.status.json")]
    assert len(written) == 3
    for path in written:
        assert "+00:00" not in path.read_text(), path
    times = [json.loads(line)["time"] for line in (inbox / "status.log").read_text().splitlines()]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", time) for time in times), times


def test_reschedule_says_the_new_time_in_the_zone_it_was_typed_in_with_the_zone(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str]  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    said = []
    for when in ("2030-06-02T10:00:00-04:00", "2030-06-03T09:30:00Z", "2030-06-04T08:15"):
        moved = pqdrop("reschedule", "later", when, "--config", str(config_path), env=user_env, cwd=tmp_path)
        assert moved.returncode == 0, moved.stderr
        said.append(moved.stdout)
    assert said == ["later: rescheduled: 2030-06-02T10:00:00-04:00\n", "later: rescheduled: 2030-06-03T09:30:00Z\n",
                    "later: rescheduled: 2030-06-04T08:15:00+02:00 (Europe/Berlin)\n"]


def test_cancel_and_reschedule_of_an_item_that_is_not_scheduled_say_where_it_is_and_why_not(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str]  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    drop_clip(inbox, "out")
    drop_clip(inbox, "doomed", "account: '@failing'\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    drop_clip(inbox, "fresh")  # dropped after: still waiting in the inbox

    def refusal(*args: str) -> str:
        result = pqdrop(*args, "--config", str(config_path), env=user_env, cwd=tmp_path)
        assert result.returncode == 1 and result.stdout == "", result
        [line] = result.stderr.splitlines()
        return line

    assert refusal("cancel", "out") == (
        "pqdrop: out is not scheduled: it is in sent/ (published), gone out already, so there is nothing to cancel; "
        "a post that is out is deleted on the platform itself (scheduled now: none)")
    assert refusal("reschedule", "doomed", "next") == (
        "pqdrop: doomed is not scheduled: it is in failed/, never posted; `pqdrop retry doomed` puts it back into the "
        "inbox (scheduled now: none)")
    assert refusal("cancel", "fresh") == (
        "pqdrop: fresh is not scheduled: it is still in the inbox, not posted yet; move its files out of the inbox to "
        "keep it from going out (scheduled now: none)")
    assert refusal("reschedule", "fresh", "next").endswith(
        "still in the inbox, not posted yet; write the time as dispatchAt in its sidecar (scheduled now: none)")
    assert refusal("cancel", "nowhere") == "pqdrop: nowhere: no such item in scheduled/ (scheduled now: none)"
    assert (inbox / "fresh.mp4").exists() and (inbox / "sent" / "out.mp4").exists()


def test_demo_keep_leaves_the_folder_it_tells_you_to_look_at_and_a_plain_demo_says_it_deletes_it(
    tmp_path: Path, user_env: dict[str, str]  # noqa: F811
) -> None:
    env = {name: value for name, value in user_env.items() if name != "POSTQUED_API_KEY"}
    kept_in, gone_in = tmp_path / "kept", tmp_path / "gone"
    kept_in.mkdir()
    gone_in.mkdir()
    kept = pqdrop("demo", "--keep", env={**env, "TMPDIR": str(kept_in)}, cwd=tmp_path, timeout=120)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    [root] = kept_in.iterdir()
    first = kept.stdout.splitlines()[0]
    assert first.startswith(f"demo folder {root / 'inbox'} (kept when the demo ends); PostQued sandbox at ")
    assert kept.stdout.splitlines()[-1] == (
        f"the demo folder stays: {root / 'inbox'} (its journal in {root / 'state'}); remove it with rm -r {root}")
    assert sorted(path.name for path in (root / "inbox" / "failed").iterdir()) == [
        "typo.md", "typo.mp4", "typo.status.json"]
    assert (root / "inbox" / "SCHEDULE.md").is_file()

    plain = pqdrop("demo", env={**env, "TMPDIR": str(gone_in)}, cwd=tmp_path, timeout=120)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "(deleted when the demo ends; `pqdrop demo --keep` keeps it)" in plain.stdout.splitlines()[0]
    assert list(gone_in.iterdir()) == []


@pytest.mark.parametrize(("status", "said"), [
    ("revoked", "PostQued refused the API key: This API key has been revoked; create a new one in the console "
                "(UNAUTHORIZED)"),
    ("subscription_required", "PostQued will not post on this account's plan: An active subscription is required "
                              "to use the PostQued API (SUBSCRIPTION_REQUIRED)"),
])
def test_once_on_an_empty_inbox_tests_the_key_and_exits_3_saying_the_refusal_in_a_persons_words(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str], status: str, said: str  # noqa: F811
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0  # a good key
    sandbox.set_key(SANDBOX_KEY, status)
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith(f"posting paused: {said}")
    assert "GET " not in result.stdout and "/v2/" not in result.stdout and "/v1/" not in result.stdout
    assert sorted(path.name for path in inbox.iterdir()) == []


def test_make_demo_installs_the_project_alone_and_make_test_adds_the_test_tools(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]

    def planned(target: str) -> list[str]:
        result = subprocess.run(["make", "-n", "-C", str(root), target, f"VENV={tmp_path / 'venv'}"],
                                capture_output=True, text=True, timeout=60, check=True)
        return [line for line in result.stdout.splitlines() if "pip install" in line]

    venv = tmp_path / "venv"
    assert planned("demo") == [f"{venv}/bin/pip install --quiet --upgrade pip", f"{venv}/bin/pip install --quiet -e ."]
    assert planned("test")[-1] == f"{venv}/bin/pip install --quiet -e '.[test]'"
