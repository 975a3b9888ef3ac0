"""Every operator command, run as a user runs it: `python -m pqdrop ...` in a real process.

The processes talk to the real sandbox on a loopback port, read a real config file and real media
made with PyAV. Nothing here calls into the CLI's functions directly.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import SANDBOX_KEY, sidecar, tree_digest, write_config

from pqdrop.commands import build_parser
from pqdrop.config import load_config
from pqdrop.journal.store import JOURNAL_FILE, MIGRATIONS
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.sandbox import Sandbox

PQDROP = [sys.executable, "-m", "pqdrop"]
COMMANDS = ("run", "once", "demo", "sandbox", "try", "check", "status", "accounts", "retry", "init", "notify", "health",
            "cancel", "reschedule")
# Variables of the test run's own environment that would change what pqdrop does.
SCRUBBED = ("PQDROP_CONFIG", "POSTQUED_API_KEY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
            "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "XDG_CONFIG_HOME")


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment with the sandbox key and a home of its own, so no real config is read."""
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), POSTQUED_API_KEY=SANDBOX_KEY)
    return env


def pqdrop(
    *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PQDROP, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll until `condition()` is truthy and return its value; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds:g} s waiting for {what}")
        time.sleep(0.05)


def status_of(inbox: Path, folder: str, name: str) -> dict[str, Any]:
    return dict(json.loads((inbox / folder / f"{name}.status.json").read_text()))


def log_states(inbox: Path, name: str) -> list[str]:
    lines = [json.loads(line) for line in (inbox / "status.log").read_text().splitlines()]
    return [line["state"] for line in lines if line["item"] == name]


_widths = itertools.count(362, 2)  # TikTok wants at least 360 px; 360 x 640 is make_video's default


def drop_clip(inbox: Path, name: str, frontmatter: str = "", caption: str | None = None) -> None:
    """A short clip and its sidecar; each clip has a size of its own, so no two items are a re-drop."""
    make_video(inbox / f"{name}.mp4", width=next(_widths), height=640, seconds=1)
    sidecar(inbox / f"{name}.md", frontmatter, caption if caption is not None else f"{name} #fyp")


def table_row(stdout: str, name: str) -> str:
    [row] = [line for line in stdout.splitlines() if line.split()[:1] == [name]]
    return row


@pytest.fixture
def config_path(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Path:
    return write_config(tmp_path, sandbox.url)


# -- once ---------------------------------------------------------------------------------------


def test_once_exits_0_and_files_every_item_in_sent_with_its_status(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "first")
    drop_clip(inbox, "second", "intent: draft\n")
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (inbox / "sent").iterdir()) == [
        "first.md", "first.mp4", "first.status.json", "second.md", "second.mp4", "second.status.json"]
    assert status_of(inbox, "sent", "first")["state"] == "published"
    assert status_of(inbox, "sent", "second")["state"] == "sent"
    assert status_of(inbox, "sent", "first")["publishId"] in table_row(result.stdout, "first")


def test_once_exits_1_and_its_table_names_the_failed_item_and_the_reason(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good")
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    row = table_row(result.stdout, "typo")
    assert "failed" in row and "typo.md: dispatchat: unknown key; did you mean dispatchAt?" in row
    assert "published" in table_row(result.stdout, "good")
    assert status_of(inbox, "failed", "typo")["error"]["code"] == "SIDECAR_UNKNOWN_KEY"
    assert (inbox / "sent" / "good.mp4").is_file()


def test_once_exits_2_on_a_bad_config_naming_the_file_and_the_key_on_stderr(
    tmp_path: Path, inbox: Path, user_env: dict[str, str]
) -> None:
    config_path = tmp_path / "bad.toml"
    config_path.write_text('[inbox]\npath = "inbox"\nwatch = "sometimes"\n\n[state]\ndir = "state"\n')
    drop_clip(inbox, "clip")
    before = tree_digest(inbox)
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 2
    assert str(config_path) in result.stderr and "inbox.watch" in result.stderr
    assert 'inbox.watch: "sometimes" is not one of "auto", "events" or "poll"' in result.stderr
    assert result.stdout == ""
    assert tree_digest(inbox) == before and not (inbox / "sent").exists()


def test_once_exits_2_on_a_config_that_is_not_toml(tmp_path: Path, user_env: dict[str, str]) -> None:
    config_path = tmp_path / "broken.toml"
    config_path.write_text("[inbox\npath = 1\n")
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{config_path}: not valid TOML" in result.stderr


@pytest.mark.parametrize("given_by", ["option", "environment"])
def test_once_exits_2_when_the_config_file_is_missing_and_says_how_to_make_one(
    tmp_path: Path, user_env: dict[str, str], given_by: str
) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    if given_by == "option":
        result = pqdrop("once", "--config", str(missing), env=user_env, cwd=tmp_path)
    else:
        result = pqdrop("once", env={**user_env, "PQDROP_CONFIG": str(missing)}, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{missing}: no such config file" in result.stderr and "pqdrop init" in result.stderr


def test_once_exits_2_without_an_api_key_and_names_where_a_key_can_come_from(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "clip")
    env = {name: value for name, value in user_env.items() if name != "POSTQUED_API_KEY"}
    result = pqdrop("once", "--config", str(config_path), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "POSTQUED_API_KEY" in result.stderr and "api_key_file" in result.stderr
    assert (inbox / "clip.mp4").is_file()


def test_once_exits_3_with_a_revoked_key_and_leaves_every_file_in_the_inbox(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str], api_mode: str
) -> None:
    drop_clip(inbox, "one")
    drop_clip(inbox, "two")
    before = tree_digest(inbox)
    sandbox.set_key(SANDBOX_KEY, "revoked")
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        "posting paused: PostQued refused the API key: This API key has been revoked; create a new one in the console "
        "(UNAUTHORIZED)")
    assert "waiting  not tried: posting is paused" in table_row(result.stdout, "one")
    assert "waiting  not tried: posting is paused" in table_row(result.stdout, "two")
    assert tree_digest(inbox) == before
    assert sorted(p.name for p in inbox.glob("*.mp4")) == ["one.mp4", "two.mp4"]
    assert not any((inbox / "failed").glob("*"))
    assert sandbox.state_summary()["publishes"] == []


@pytest.mark.slow
def test_once_exits_3_within_20_seconds_when_the_api_is_unreachable_and_moves_nothing(
    tmp_path: Path, inbox: Path, user_env: dict[str, str]
) -> None:
    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config_path = write_config(tmp_path, f"http://127.0.0.1:{closed_port}", postqued={"timeout_seconds": 1.0})
    drop_clip(inbox, "clip")
    before = tree_digest(inbox)
    started = time.monotonic()
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path, timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert elapsed < 20, f"once took {elapsed:.1f} s against a closed port"
    assert "clip" in result.stdout and "Connection refused" in result.stdout
    assert tree_digest(inbox) == before
    assert not any((inbox / "failed").glob("*")) and not any((inbox / "sent").glob("*"))


@pytest.mark.parametrize("where", ["before", "after"])
def test_the_config_option_works_before_and_after_the_command(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], where: str
) -> None:
    args = ["--config", str(config_path), "status"] if where == "before" else ["status", "--config", str(config_path)]
    result = pqdrop(*args, env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"inbox {inbox}"


def test_the_config_can_come_from_pqdrop_config(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    result = pqdrop("status", env={**user_env, "PQDROP_CONFIG": str(config_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"inbox {inbox}"


# -- run ----------------------------------------------------------------------------------------


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """An abstract unix datagram socket standing in for systemd's NOTIFY_SOCKET."""
    name = f"pqdrop-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        yield listener, "@" + name


def wait_for_ready(listener: socket.socket, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "pqdrop run exited before it was ready"
        listener.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            message = listener.recv(4096).decode()
        except TimeoutError:
            continue
        if "READY=1" in message.splitlines():
            return
    pytest.fail(f"pqdrop run sent no READY=1 within {seconds:g} s")


@pytest.mark.parametrize(("watch", "signum"), [
    ("events", signal.SIGTERM), ("poll", signal.SIGTERM), ("events", signal.SIGINT), ("poll", signal.SIGINT)],
    ids=["events-SIGTERM", "poll-SIGTERM", "events-SIGINT", "poll-SIGINT"])
def test_run_posts_an_item_dropped_while_it_watches_and_exits_0_on_a_signal(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str],
    notify_socket: tuple[socket.socket, str], watch: str, signum: signal.Signals,
) -> None:
    config_path = write_config(tmp_path, sandbox.url, inbox={"watch": watch, "poll_interval": 0.2})
    listener, address = notify_socket
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    with out.open("w") as stdout, err.open("w") as stderr, subprocess.Popen(
        [*PQDROP, "run", "--config", str(config_path)], env={**user_env, "NOTIFY_SOCKET": address},
        cwd=tmp_path, stdout=stdout, stderr=stderr, text=True,
    ) as process:
        try:
            wait_for_ready(listener, process, 15)
            # Like a sync tool: the video is made elsewhere and renamed in, the sidecar lands by rename.
            make_video(tmp_path / "clip.mp4", seconds=1)
            os.rename(tmp_path / "clip.mp4", inbox / "clip.mp4")
            (inbox / ".clip.md.tmp").write_text("---\nprivacyLevel: SELF_ONLY\n---\nDropped while watching\n")
            os.rename(inbox / ".clip.md.tmp", inbox / "clip.md")
            status_path = inbox / "sent" / "clip.status.json"
            status = wait_for(lambda: _read_json(status_path), 20, "sent/clip.status.json")
            assert status["state"] == "published"
            process.send_signal(signum)
            assert process.wait(timeout=10) == 0, err.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert sorted(p.name for p in (inbox / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]
    assert f"in {watch} mode" in err.read_text()
    assert not (inbox / "clip.mp4").exists()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return None  # not there yet, or caught half-written


# -- check --------------------------------------------------------------------------------------


def test_check_exits_0_for_a_good_item(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "clip", "privacyLevel: SELF_ONLY\n")
    result = pqdrop("check", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == ["ok    clip", "1 checked, 0 with problems"]


def test_check_says_what_once_says_of_an_empty_caption_in_each_dialect(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], api_mode: str
) -> None:
    drop_clip(inbox, "quiet", caption="")
    checked = pqdrop("check", "--config", str(config_path), env=user_env, cwd=tmp_path)
    posted = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    if api_mode == "v1":  # v1 takes a post without a caption
        assert (checked.returncode, posted.returncode) == (0, 0), checked.stdout
        return
    said = "quiet.md: caption: empty, and PostQued v2 takes no post without a caption"
    assert checked.returncode == 1 and f"FAIL  quiet: {said}" in checked.stdout, checked.stdout
    assert posted.returncode == 1 and said in posted.stdout


def test_check_exits_1_and_names_the_file_and_the_key_of_a_bad_sidecar(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good")
    drop_clip(inbox, "bad", "privacyLevel: EVERYONE\n")
    result = pqdrop("check", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    [failure] = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failure.startswith("FAIL  bad: bad.md: privacyLevel")
    assert "ok    good" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == "2 checked, 1 with problems"


def test_check_never_uploads_and_never_moves_a_file(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good")
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    make_video(inbox / "lonely.mp4", seconds=1)
    before = tree_digest(inbox)
    result = pqdrop("check", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    assert tree_digest(inbox) == before
    assert sorted(p.name for p in inbox.iterdir()) == ["good.md", "good.mp4", "lonely.mp4", "typo.md", "typo.mp4"]
    summary = sandbox.state_summary()
    assert summary["contents"] == {} and summary["publishes"] == []


def test_check_of_the_inbox_reports_each_item_by_its_own_name(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good")
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    make_video(inbox / "lonely.mp4", seconds=1)
    result = pqdrop("check", "--config", str(config_path), env=user_env, cwd=tmp_path)
    names = sorted(line.split()[1].rstrip(":") for line in result.stdout.splitlines()[:-1])
    assert names == ["good", "lonely", "typo"]
    assert "FAIL  lonely: no sidecar: add lonely.md beside the media" in result.stdout.splitlines()


def test_check_of_one_file_checks_only_the_item_that_holds_it(
    inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good", "account: '@mybrand'\n")
    drop_clip(inbox, "bad", "account: '@mybrand'\nintent: post\n")
    make_video(inbox / "lonely.mp4", seconds=1)
    result = pqdrop("check", str(inbox / "good.mp4"), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == ["ok    good", "1 checked, 0 with problems"]
    result = pqdrop("check", str(inbox / "bad.md"), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("FAIL  bad: bad.md: intent")


def test_check_of_a_bundle_folder_checks_it_as_one_carousel(
    inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    trip = inbox / "trip"
    trip.mkdir()
    for name in ("1.jpg", "2.jpg", "3.jpg"):
        make_image(trip / name, width=400, height=500)
    sidecar(trip / "post.md", "account: '@mybrand'\nautoAddMusic: true\n")
    result = pqdrop("check", str(trip), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == ["ok    trip", "1 checked, 0 with problems"]
    sidecar(trip / "post.md", "account: '@mybrand'\nautoAddMusik: true\n")
    result = pqdrop("check", str(trip / "2.jpg"), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("FAIL  trip: ") and "autoAddMusik" in result.stdout


def test_check_without_a_config_or_paths_exits_2_and_says_what_to_do(
    tmp_path: Path, user_env: dict[str, str]
) -> None:
    result = pqdrop("check", env=user_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "pqdrop check clip.mp4" in result.stderr and "pqdrop init" in result.stderr


def test_check_of_a_path_that_is_not_there_exits_2_naming_it(
    inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    result = pqdrop("check", str(inbox / "gone.mp4"), env=user_env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{inbox / 'gone.mp4'}: no such file or folder" in result.stderr


# -- status -------------------------------------------------------------------------------------


def test_status_after_once_tells_what_waits_why_what_is_scheduled_sent_and_failed(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good")
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00Z\ntargets:\n  - account: '@mybrand'\n"
                              "  - account: '@otherbrand'\n")
    drop_clip(inbox, "doomed", "account: '@failing'\n")
    make_video(inbox / "lonely.mp4", seconds=1)
    sidecar(inbox / "orphan.md")
    make_video(inbox / "clip (Alice's conflicted copy 2026-11-28).mp4", seconds=1)
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    an_hour_ago = time.time() - 3600
    for name in ("lonely.mp4", "orphan.md"):
        os.utime(inbox / name, (an_hour_ago, an_hour_ago))
    # The operator lengthened the quiet time; a clip lands just now.
    write_config(tmp_path, sandbox.url, inbox={"settle_seconds": 600.0})
    drop_clip(inbox, "arriving")
    result = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [f"inbox {inbox}", "daemon: not running", ""]
    sections = _sections(result.stdout)
    assert sections["waiting"] == [
        "arriving still arriving: arriving.mp4 changed less than 600 s ago",
        "clip (Alice's conflicted copy 2026-11-28).mp4 not posted: conflicted copy",
        "lonely waiting for its sidecar lonely.md",
        "orphan orphan.md has no media beside it yet",
    ]
    assert sections["in flight"] == []
    later_id = status_of(inbox, "scheduled", "later")["publishId"]
    assert sections["scheduled"] == [
        f"later @mybrand, @otherbrand 2030-06-01 20:00 CEST (18:00 UTC) scheduled {later_id}"]
    good = status_of(inbox, "sent", "good")
    [good_url] = [target["url"] for target in good["targets"]]
    assert sorted(sections["recently sent"]) == [f"good published {good['publishId']} {good_url}"]
    assert sorted(row.split(":")[0] for row in sections["failed"]) == [
        "doomed PLATFORM_FAILED", "typo SIDECAR_UNKNOWN_KEY"
    ]
    assert "typo SIDECAR_UNKNOWN_KEY: typo.md: dispatchat: unknown key; did you mean dispatchAt?" in sections["failed"]


def test_status_json_gives_the_same_look_for_scripts(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00Z\n")
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    result = pqdrop("status", "--json", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    later_id = status_of(inbox, "scheduled", "later")["publishId"]
    assert document["daemon"] == {"running": False, "pids": []}
    assert document["scheduled"] == [{
        "name": "later", "accounts": ["@mybrand"], "dispatchAt": ["2030-06-01T18:00:00Z"],
        "dispatchAtLocal": ["2030-06-01T20:00:00+02:00"], "state": "scheduled", "publishId": later_id}]
    assert document["recentlySent"] == []
    assert [(f["name"], f["code"]) for f in document["failed"]] == [("typo", "SIDECAR_UNKNOWN_KEY")]
    assert (document["waiting"], document["inFlight"], document["postingPaused"]) == ([], [], None)


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, and SIGKILL if it is not gone within 15 s; how it ends is tested elsewhere."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_status_while_run_uploads_shows_it_running_with_its_pid_and_the_item_in_flight(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str], notify_socket: tuple[socket.socket, str]
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    listener, address = notify_socket
    with (tmp_path / "run.err").open("w") as stderr, subprocess.Popen(
        [*PQDROP, "run", "--config", str(config_path)], env={**user_env, "NOTIFY_SOCKET": address},
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
    ) as process:
        try:
            wait_for_ready(listener, process, 15)
            sandbox.faults.delay_seconds = 4.0  # every API reply comes late: the item stays in its upload step
            drop_clip(inbox, "clip")
            wait_for(lambda: (inbox / "status.log").exists() and "uploading" in log_states(inbox, "clip"), 20,
                     "clip to start uploading")
            running = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
            machine = pqdrop("status", "--json", "--config", str(config_path), env=user_env, cwd=tmp_path)
        finally:
            sandbox.faults.delay_seconds = 0.0
            _stop(process)
    assert running.returncode == 0, running.stderr
    assert running.stdout.splitlines()[1] == f"daemon: running (pid {process.pid})"
    [row] = _sections(running.stdout)["in flight"]
    # Europe/Berlin, with its zone; the bytes, share and rate once its PUT is under way (the API answers late).
    assert re.fullmatch(r"clip uploading since \d\d:\d\d:\d\d CES?T \(\d+ s ago\), publish attempts 0"
                        r"(, uploaded \d+\.\d of \d+\.\d MB \(\d+ %\).*)?", row), row
    document = json.loads(machine.stdout)
    assert document["daemon"] == {"running": True, "pids": [process.pid]}
    assert [(r["name"], r["step"], r["attempts"]) for r in document["inFlight"]] == [("clip", "uploading", 0)]


def test_status_after_a_stop_mid_upload_says_the_item_resumes_at_its_step(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str], notify_socket: tuple[socket.socket, str]
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    listener, address = notify_socket
    with subprocess.Popen(
        [*PQDROP, "run", "--config", str(config_path)], env={**user_env, "NOTIFY_SOCKET": address},
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    ) as process:
        try:
            wait_for_ready(listener, process, 15)
            sandbox.faults.delay_seconds = 1.0
            drop_clip(inbox, "clip")
            wait_for(lambda: (inbox / "status.log").exists() and "uploading" in log_states(inbox, "clip"), 20,
                     "clip to start uploading")
        finally:
            _stop(process)  # the step is checkpointed (or, killed, written ahead), not finished: the item stays mid-way
    result = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.stdout.splitlines()[1] == "daemon: not running"
    [row] = _sections(result.stdout)["in flight"]
    assert row.startswith("clip uploading since ") and row.endswith("; resumes at this step when pqdrop starts")


def test_status_lists_the_posting_slots_reserved_ahead_with_their_account_and_item(
    tmp_path: Path, inbox: Path, sandbox: Sandbox, user_env: dict[str, str]
) -> None:
    config_path = write_config(tmp_path, sandbox.url, schedule={"slots": ["09:00", "18:30"]})
    drop_clip(inbox, "first", "dispatchAt: next\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    document = json.loads(pqdrop("status", "--json", "--config", str(config_path), env=user_env, cwd=tmp_path).stdout)
    [slot] = document["upcomingSlots"]
    [scheduled] = document["scheduled"]
    assert (slot["account"], slot["name"], [slot["at"]]) == ("@mybrand", "first", scheduled["dispatchAt"])
    assert slot["atLocal"][11:16] in ("09:00", "18:30")
    text = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path).stdout
    [row] = _sections(text)["upcoming slots"]
    assert row.endswith(" @mybrand first") and f"({slot['at'][11:16]} UTC)" in row


def test_status_after_the_key_was_revoked_says_posting_was_paused_and_why(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "clip")
    sandbox.set_key(SANDBOX_KEY, "revoked")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 3
    paused = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
    line = paused.stdout.splitlines()[2]
    assert line.startswith("posting was paused when pqdrop last tried, ")
    assert line.endswith("This API key has been revoked; create a new one in the console (UNAUTHORIZED)")
    assert _sections(paused.stdout)["waiting"] == ["clip ready; posting paused"]
    sandbox.set_key(SANDBOX_KEY, "ok")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    working = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert not any(line.startswith("posting") for line in working.stdout.splitlines())
    assert _sections(working.stdout)["waiting"] == []


def test_status_beside_an_older_daemons_journal_says_to_restart_it_and_still_shows_the_inbox(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    older = len(MIGRATIONS) - 1
    with closing(sqlite3.connect(tmp_path / "state" / JOURNAL_FILE)) as db:
        db.execute(f"PRAGMA user_version = {older}")
    result = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == (
        f"journal: [state].dir {tmp_path / 'state'}: cannot open the journal: it is at schema {older} of "
        f"{len(MIGRATIONS)}: an older pqdrop still runs; restart it to upgrade")
    assert [row.split(":")[0] for row in _sections(result.stdout)["failed"]] == ["typo SIDECAR_UNKNOWN_KEY"]


def test_status_writes_nothing_to_the_inbox_or_the_state_dir(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "good")
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00Z\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0

    def snapshot() -> dict[str, tuple[int, bytes]]:
        return {str(p.relative_to(tmp_path)): (p.stat().st_mtime_ns, p.read_bytes())
                for folder in (inbox, tmp_path / "state") for p in sorted(folder.rglob("*")) if p.is_file()}

    before = snapshot()
    result = pqdrop("status", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0 and "later" in result.stdout
    assert snapshot() == before
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["journal.sqlite3", "owner"]


def _sections(stdout: str) -> dict[str, list[str]]:
    """`title (n)` headers followed by indented rows, rows with their runs of spaces collapsed."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in stdout.splitlines():
        if line and not line.startswith(" ") and line.endswith(")") and "(" in line:
            current = sections.setdefault(line[: line.rindex("(")].strip(), [])
        elif line.startswith("  "):
            current.append(" ".join(line.split()))
    return sections


# -- retry --------------------------------------------------------------------------------------


@pytest.fixture
def two_failed(config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]) -> dict[str, str]:
    """`once` has filed two items in failed/; returns the digest of their files as they were dropped."""
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    drop_clip(inbox, "nobody", "account: '@nobody'\n")
    before = tree_digest(inbox)
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    assert sorted(p.name for p in (inbox / "failed").glob("*.status.json")) == [
        "nobody.status.json", "typo.status.json"]
    return before


def test_retry_name_puts_its_files_back_byte_identical_and_logs_retried(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], two_failed: dict[str, str]
) -> None:
    result = pqdrop("retry", "typo", "--force", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "typo: back in the inbox"  # after what still fails (--force)
    back = {name: digest for name, digest in tree_digest(inbox).items() if (inbox / name).is_file()}
    assert back == {name: two_failed[name] for name in ("typo.md", "typo.mp4")}
    assert not (inbox / "failed" / "typo.status.json").exists()
    assert (inbox / "failed" / "nobody.status.json").is_file()
    assert log_states(inbox, "typo")[-1] == "retried"
    assert log_states(inbox, "nobody")[-1] == "failed"


def test_retry_all_puts_every_failed_item_back(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], two_failed: dict[str, str]
) -> None:
    result = pqdrop("retry", "--all", "--force", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert [line for line in result.stdout.splitlines() if "back in the inbox" in line] == [
        "nobody: back in the inbox", "typo: back in the inbox"]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [
        "nobody.md", "nobody.mp4", "status.log", "typo.md", "typo.mp4"]
    assert tree_digest(inbox) == two_failed
    assert list((inbox / "failed").iterdir()) == []
    assert log_states(inbox, "typo")[-1] == log_states(inbox, "nobody")[-1] == "retried"


def test_retry_of_a_name_not_in_failed_exits_1_and_lists_what_is(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], two_failed: dict[str, str]
) -> None:
    result = pqdrop("retry", "tpyo", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip() == "tpyo: not in failed/ (failed items: nobody, typo)"
    assert len(list((inbox / "failed").glob("*.status.json"))) == 2


@pytest.mark.parametrize("named", ["typo.md", "typo.mp4", "failed/typo.md", "typo.status.json"])
def test_retry_takes_a_file_name_of_the_failed_item_as_the_user_sees_it(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], two_failed: dict[str, str],
    named: str,
) -> None:
    result = pqdrop("retry", named, "--force", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "typo: back in the inbox"
    assert {name: two_failed[name] for name in ("typo.md", "typo.mp4")} == {
        name: digest for name, digest in tree_digest(inbox).items() if name in ("typo.md", "typo.mp4")}


def test_retry_of_a_sent_item_says_it_is_in_sent_not_only_that_it_is_not_in_failed(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "hello", "")
    drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    assert (inbox / "sent" / "hello.status.json").is_file()
    for named in ("hello", "hello.md"):
        result = pqdrop("retry", named, "--config", str(config_path), env=user_env, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stdout.strip() == (
            f"{named}: not in failed/: hello is in sent/ (gone out already), so there is nothing to retry "
            "(failed items: typo)")
    assert sorted(p.name for p in (inbox / "sent").iterdir() if p.name.startswith("hello")) == [
        "hello.md", "hello.mp4", "hello.status.json"]


def test_retry_refuses_an_item_whose_name_is_taken_in_the_inbox(
    config_path: Path, inbox: Path, tmp_path: Path, user_env: dict[str, str], two_failed: dict[str, str]
) -> None:
    sidecar(inbox / "typo.md", "", "a newer sidecar the user already put back")
    newer = (inbox / "typo.md").read_bytes()
    result = pqdrop("retry", "--all", "--force", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "typo: typo.md already in the inbox; move or rename it first" in result.stdout
    assert "nobody: back in the inbox" in result.stdout
    assert (inbox / "typo.md").read_bytes() == newer
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["typo.md", "typo.mp4", "typo.status.json"]
    assert log_states(inbox, "typo")[-1] == "failed"


def account_id(sandbox: Sandbox, username: str) -> str:
    [account] = [a for a in sandbox.state.accounts(None)["accounts"] if a["username"] == username]
    return str(account["id"])


@pytest.mark.parametrize("how", ["pqdrop retry", "moved back by hand"])
def test_a_retried_item_whose_post_the_platform_failed_is_posted_again_for_real(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str], how: str
) -> None:
    sandbox.state.refusing.add("@otherbrand")  # the platform refuses the first post, then takes it
    drop_clip(inbox, "f", "account: '@otherbrand'\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    failed = status_of(inbox, "failed", "f")
    assert failed["error"]["code"] == "PLATFORM_FAILED"
    sandbox.state.refusing.clear()
    if how == "pqdrop retry":
        assert pqdrop("retry", "f", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    else:
        for name in ("f.mp4", "f.md"):
            os.rename(inbox / "failed" / name, inbox / name)
    sandbox.faults.drop_next_publish_reply()  # the retry's reply is lost: its replay must reuse the retry's key
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = sandbox.state_summary()["publishes"]
    assert sandbox.state.publish_calls == 2  # the failed post and the retry; the retry's replay made none
    assert sandbox.state_summary()["faults"]["drop_next_publish_reply"] == 0  # the reply really was lost
    assert first["publishId"] == failed["publishId"]
    assert second["idempotencyKey"] != first["idempotencyKey"]
    sent = status_of(inbox, "sent", "f")
    assert (sent["state"], sent["publishId"], sent["idempotencyKey"]) == (
        "published", second["publishId"], second["idempotencyKey"])
    assert "already posted" not in sent.get("note", "")
    assert second["publishId"] in table_row(result.stdout, "f")


def test_a_retried_two_target_item_posts_only_the_target_that_failed(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    sandbox.state.refusing.add("@otherbrand")
    drop_clip(inbox, "both", "targets:\n  - account: '@mybrand'\n  - account: '@otherbrand'\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 1
    assert {t["status"] for t in status_of(inbox, "failed", "both")["targets"]} == {"published", "failed"}
    sandbox.state.refusing.clear()
    assert pqdrop("retry", "both", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    result = pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = sandbox.state_summary()["publishes"]
    assert len(first["targets"]) == 2
    [retried] = second["targets"]  # @mybrand's post is live already: not posted twice
    assert retried["accountId"] == account_id(sandbox, "@otherbrand")
    sent = status_of(inbox, "sent", "both")
    assert (sent["state"], sent["publishId"]) == ("published", second["publishId"])
    assert [t["accountId"] for t in sent["targets"]] == [account_id(sandbox, "@otherbrand")]


def test_retry_without_names_or_all_exits_2_and_lists_the_failed_items(
    config_path: Path, tmp_path: Path, user_env: dict[str, str], two_failed: dict[str, str]
) -> None:
    result = pqdrop("retry", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "failed items: nobody, typo" in result.stdout


# -- accounts -----------------------------------------------------------------------------------


def test_accounts_lists_the_sandbox_accounts_with_their_ids(
    config_path: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str], api_mode: str
) -> None:
    result = pqdrop("accounts", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    if api_mode == "v1":  # v1 lists TikTok's accounts
        expected = [[a["username"], a["id"]] for a in sandbox.state.accounts("tiktok")["accounts"]]
        assert rows[0] == ["username", "id"]
        assert sorted(rows[1:]) == sorted(expected)
        assert {row[0] for row in rows[1:]} == {"@mybrand", "@otherbrand", "@failing"}
        return
    # v2 lists every platform's, from /v2/integrations
    expected = [[a["platform"], a["username"], a["id"]] for a in sandbox.v2.accounts()]
    assert rows[0] == ["platform", "username", "id"]
    assert sorted(rows[1:]) == sorted(expected)
    assert {row[1] for row in rows[1:] if row[0] == "tiktok"} == {"@mybrand", "@otherbrand", "@failing"}
    assert {row[0] for row in rows[1:]} >= {"tiktok", "instagram", "youtube", "reddit", "bluesky"}


def test_accounts_with_a_revoked_key_exits_3_and_says_the_key_was_refused(
    config_path: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    sandbox.set_key(SANDBOX_KEY, "revoked")
    result = pqdrop("accounts", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.startswith("pqdrop: ") and "API key has been revoked" in result.stderr


# -- init ---------------------------------------------------------------------------------------


def test_init_writes_a_commented_config_that_loads(tmp_path: Path, user_env: dict[str, str]) -> None:
    target = tmp_path / "fresh" / "x.toml"
    result = pqdrop("init", "--config", str(target), env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    config = load_config(target)
    assert config.inbox.path.name == "PostQued"
    assert config.postqued.base_url == "https://api.postqued.com"
    text = target.read_text()
    comments = [line for line in text.splitlines() if line.startswith("# ")]
    assert len(comments) >= 15
    assert "# api_key_file =" in text


def test_init_refuses_to_overwrite_and_leaves_the_file_byte_identical(
    tmp_path: Path, user_env: dict[str, str]
) -> None:
    target = tmp_path / "x.toml"
    assert pqdrop("init", "--config", str(target), env=user_env, cwd=tmp_path).returncode == 0
    target.write_text(target.read_text() + "# my own note\n")
    before = target.read_bytes()
    result = pqdrop("init", "--config", str(target), env=user_env, cwd=tmp_path)
    assert result.returncode == 1
    assert f"{target} already exists; not overwriting it" in result.stdout
    assert target.read_bytes() == before


def test_init_without_a_path_writes_the_users_config_under_xdg_config_home(
    tmp_path: Path, user_env: dict[str, str]
) -> None:
    result = pqdrop("init", env=user_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = Path(user_env["XDG_CONFIG_HOME"]) / "pqdrop" / "config.toml"
    assert f"wrote {written}" in result.stdout
    assert load_config(written).defaults.account is None  # the user's own, from `pqdrop accounts`


# -- demo, sandbox, help ------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_exits_0_and_shows_published_scheduled_and_the_failed_typo_with_its_reason(
    tmp_path: Path, user_env: dict[str, str]
) -> None:
    env = {name: value for name, value in user_env.items() if name != "POSTQUED_API_KEY"}  # needs no key
    result = pqdrop("demo", env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published" in table_row(result.stdout, "phone-clip")
    assert "scheduled" in table_row(result.stdout, "tomorrow")
    row = table_row(result.stdout, "typo")
    assert "failed" in row and "typo.md: dispatchat: unknown key; did you mean dispatchAt?" in row
    assert "failed/: typo.md, typo.mp4, typo.status.json" in result.stdout.splitlines()
    assert "scheduled/: tomorrow.md, tomorrow.mov, tomorrow.status.json" in result.stdout.splitlines()
    before, after = result.stdout.split("SCHEDULE.md before:")[1].split("SCHEDULE.md after:")
    [old] = [line for line in before.splitlines() if "· tomorrow ·" in line]
    assert old.strip().endswith("· tomorrow · @mybrand (tiktok) · scheduled")
    [old_day] = [line for line in before.splitlines() if line.strip().startswith("## ")]
    [new_day] = [line for line in after.splitlines() if line.strip().startswith("## ")]
    assert old_day != new_day  # a day later
    assert re.search(r"\npqdrop: rescheduled \(publish [0-9a-f-]{36} moved in place; \S+Z -> \S+Z\)\n", before)
    # One clip to TikTok, Instagram (a reel) and YouTube in one request (PostQued v2).
    assert "published" in table_row(result.stdout, "everywhere")
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("targets of everywhere, one request"))
    assert [line.split()[:2] for line in lines[start + 1:start + 4]] == [
        ["tiktok", "published"], ["instagram", "published"], ["youtube", "published"]]
    assert "https://www.instagram.com/reel/" in lines[start + 2]


def test_the_sandbox_command_serves_the_api_at_the_url_it_prints_until_terminated(
    tmp_path: Path, user_env: dict[str, str]
) -> None:
    with subprocess.Popen(
        [*PQDROP, "sandbox", "--port", "0"], env=user_env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = _first_line(process.stdout, 15)
            url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
            with httpx.Client(base_url=url) as client:
                reply = client.get("/v1/platform-accounts", params={"platform": "tiktok"},
                                   headers={"Authorization": f"Bearer {SANDBOX_KEY}"})
                refused = client.get("/v1/platform-accounts", headers={"Authorization": "Bearer pq_wrong"})
            assert reply.status_code == 200
            assert {a["username"] for a in reply.json()["accounts"]} == {"@mybrand", "@otherbrand", "@failing"}
            assert refused.status_code == 401
            process.terminate()
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _first_line(stream: Any, seconds: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            pytest.fail(f"pqdrop sandbox printed nothing within {seconds:g} s")
    return str(stream.readline())


def test_top_level_help_lists_all_nine_commands(tmp_path: Path, user_env: dict[str, str]) -> None:
    result = pqdrop("--help", env=user_env, cwd=tmp_path)
    assert result.returncode == 0
    listed = [match[1] for line in result.stdout.splitlines() if (match := re.match(r" {4}(\w+) ", line))]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)
    [subcommands] = [a for a in build_parser()._actions if a.dest == "command"]
    assert sorted(subcommands.choices) == sorted(COMMANDS)


# -- the key stays secret -----------------------------------------------------------------------


def test_the_api_key_is_in_no_inbox_or_state_file_and_in_no_output(tmp_path: Path, inbox: Path,
                                                                  user_env: dict[str, str], api_mode: str) -> None:
    key = f"pq_live_{uuid.uuid4().hex}"
    with Sandbox(api_keys=(key,), processing_seconds=0.05, api=api_mode) as sandbox:
        config_path = write_config(tmp_path, sandbox.url)
        drop_clip(inbox, "good")
        drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00Z\n")
        drop_clip(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
        drop_clip(inbox, "doomed", "account: '@failing'\n")
        env = {**user_env, "POSTQUED_API_KEY": key}
        once = pqdrop("-v", "once", "--config", str(config_path), env=env, cwd=tmp_path)
        status = pqdrop("status", "--config", str(config_path), env=env, cwd=tmp_path)
        accounts = pqdrop("-v", "accounts", "--config", str(config_path), env=env, cwd=tmp_path)
    assert once.returncode == 1 and status.returncode == 0 and accounts.returncode == 0, once.stdout + once.stderr
    assert (inbox / "sent" / "good.status.json").is_file(), once.stdout + once.stderr
    assert (inbox / "failed" / "doomed.status.json").is_file()
    for result in (once, status, accounts):
        assert key not in result.stdout and key not in result.stderr
    files = [p for folder in (inbox, tmp_path / "state") for p in folder.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert [p for p in files if key.encode() in p.read_bytes()] == []


# -- cancel and reschedule -------------------------------------------------------------------------


def test_reschedule_then_cancel_from_the_shell_go_the_way_of_a_sidecar_edit(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str], api_mode: str
) -> None:
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    sidecar_before = (inbox / "scheduled" / "later.md").read_bytes()

    moved = pqdrop("reschedule", "later", "2030-06-02T09:00", "--config", str(config_path), env=user_env, cwd=tmp_path)
    # Said back in the zone it was typed in ([defaults].timezone: no offset), with the zone.
    assert (moved.returncode, moved.stdout) == (0, "later: rescheduled: 2030-06-02T09:00:00+02:00 (Europe/Berlin)\n"), \
        moved.stderr
    publishes = sandbox.state_summary()["publishes"]
    if api_mode == "v1":  # v1 cannot move a target: the old publish is cancelled and a new one made
        first, second = publishes
        assert first["status"] == "canceled"
    else:  # v2 moves the target itself (PATCH /v2/publish/target/{id})
        [second] = publishes
    assert [target["dispatchAt"] for target in second["targets"]] == ["2030-06-02T07:00:00Z"]
    # The one rewrite of a filed sidecar: its dispatchAt says the post's new time, nothing else changes.
    assert (inbox / "scheduled" / "later.md").read_bytes() == sidecar_before.replace(
        b"dispatchAt: 2030-06-01T18:00:00", b"dispatchAt: 2030-06-02T09:00:00+02:00")
    # The unchanged sidecar does not move the post back on the next look.
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    assert len(sandbox.state_summary()["publishes"]) == (2 if api_mode == "v1" else 1)
    assert "- **09:00 CEST** · later · @mybrand (tiktok) · scheduled" in (inbox / "SCHEDULE.md").read_text()

    gone = pqdrop("cancel", "later", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert (gone.returncode, gone.stdout) == (0, "later: canceled\n"), gone.stderr
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["canceled"] * len(publishes)
    assert sorted(path.name for path in (inbox / "canceled").iterdir()) == [
        "later.md", "later.mp4", "later.status.json"]
    assert "Nothing is scheduled." in (inbox / "SCHEDULE.md").read_text()

    again = pqdrop("cancel", "later", "--config", str(config_path), env=user_env, cwd=tmp_path)
    assert again.returncode == 1
    assert "later is not scheduled: it is in canceled/, canceled already (scheduled now: none)" in again.stderr


def test_cancel_with_no_daemon_and_postqued_unreachable_says_so_at_once_and_the_next_once_carries_it_out(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    with socket.socket() as spare:  # a port nobody listens on: PostQued is down
        spare.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{spare.getsockname()[1]}"
    down = config_path.with_name("down.toml")
    down.write_text(config_path.read_text().replace(sandbox.url, dead))
    # Not the 60 s wait for a daemon that is not there (the timeout guards against it).
    result = pqdrop("cancel", "later", "--config", str(down), env=user_env, cwd=tmp_path, timeout=50)
    assert result.returncode == 3, result.stderr
    said = result.stderr.splitlines()[-1]
    assert said.startswith("pqdrop: later: PostQued cannot be reached now (") and "cannot reach" in said
    assert said.endswith("); the cancel is kept in the journal and carried out by the next pqdrop run or once")
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["canceled"]
    assert (inbox / "canceled" / "later.mp4").exists()


def test_a_reschedule_to_a_bad_time_changes_nothing_and_says_why(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str]
) -> None:
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00\n")
    assert pqdrop("once", "--config", str(config_path), env=user_env, cwd=tmp_path).returncode == 0
    refused = pqdrop("reschedule", "later", "2020-01-01T10:00:00Z", "--config", str(config_path), env=user_env,
                     cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout.startswith('later: not applied: pqdrop reschedule: dispatchAt: "2020-01-01T10:00:00Z" is ')
    assert "in the past, more than the 15 minutes allowed" in refused.stdout
    assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == ["pending"]


def test_reschedule_while_run_runs_is_carried_out_by_the_daemon(
    config_path: Path, inbox: Path, sandbox: Sandbox, tmp_path: Path, user_env: dict[str, str], api_mode: str
) -> None:
    drop_clip(inbox, "later", "dispatchAt: 2030-06-01T18:00:00\n")
    daemon = subprocess.Popen([*PQDROP, "run", "--config", str(config_path)], env=user_env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (inbox / "scheduled" / "later.status.json").exists(), 30, "the item to be scheduled")
        moved = pqdrop("reschedule", "later", "2030-06-03T12:00:00Z", "--config", str(config_path), env=user_env,
                       cwd=tmp_path)
        assert (moved.returncode, moved.stdout) == (0, "later: rescheduled: 2030-06-03T12:00:00Z\n"), moved.stderr
        expected = ["canceled", "pending"] if api_mode == "v1" else ["pending"]  # v2 moves the target in place
        assert [publish["status"] for publish in sandbox.state_summary()["publishes"]] == expected
        wait_for(lambda: "14:00 CEST" in (inbox / "SCHEDULE.md").read_text(), 10, "SCHEDULE.md to follow")
    finally:
        daemon.send_signal(signal.SIGTERM)
        output = daemon.communicate(timeout=20)[0]
    assert daemon.returncode == 0, output
    assert "later: edit begun (rescheduled), asked by the command" in output
