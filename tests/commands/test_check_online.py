"""`check` knows what `once` knows (issue 22): with a key and an answering PostQued it asks what once asks before
any upload (accounts, workspace, creator info), read-only; without, it says which checks it could not make.
`retry` runs the same checks before it puts an item back, and `--force` puts it back anyway.

Real `pqdrop` processes, the sandbox on loopback, real clips made by PyAV.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, sidecar, tree_digest, write_config

from pqdrop.media.mediagen import make_image, make_video
from pqdrop.sandbox import Sandbox

Run = Callable[..., subprocess.CompletedProcess[str]]
OFFLINE = "not checked with PostQued: accounts, workspace, creator info and platform availability"
_widths = itertools.count(360, 8)


@pytest.fixture
def run(tmp_path: Path, inbox: Path, sandbox: Sandbox) -> Run:
    config = write_config(tmp_path, sandbox.url)
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{spare.getsockname()[1]}"
    down = config.with_name("down.toml")
    down.write_text(config.read_text().replace(sandbox.url, dead))
    base = {name: value for name, value in os.environ.items() if name not in ("PQDROP_CONFIG", "POSTQUED_API_KEY")}
    base.update(HOME=str(tmp_path), PYTHONIOENCODING="utf-8")

    def pqdrop(*args: str, key: bool = True, reachable: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**base, "POSTQUED_API_KEY": SANDBOX_KEY} if key else base
        done = subprocess.run([sys.executable, "-m", "pqdrop", *args, "--config", str(config if reachable else down)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    return pqdrop


def drop(inbox: Path, name: str, frontmatter: str = "") -> None:
    make_video(inbox / f"{name}.mp4", width=next(_widths), height=640, seconds=1)
    sidecar(inbox / f"{name}.md", frontmatter, f"{name} #fyp")


def test_check_online_fails_an_account_the_key_cannot_post_to_as_once_would(
    run: Run, inbox: Path, sandbox: Sandbox
) -> None:
    drop(inbox, "nobody", "account: '@nobody'\n")
    drop(inbox, "fine")
    before = tree_digest(inbox)
    checked = run("check")
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        "ok    fine",
        "FAIL  nobody: nobody.md: account: '@nobody' is not an account this API key can post to "
        "(available: @mybrand, @otherbrand, @failing)",
        "2 checked, 1 with problems"]
    assert OFFLINE not in checked.stderr
    assert tree_digest(inbox) == before
    summary = sandbox.state_summary()
    assert (summary["contents"], summary["publishes"]) == ({}, [])  # read-only: nothing uploaded, nothing posted
    once = run("once")
    assert once.returncode == 1
    assert (inbox / "failed" / "nobody.md").exists() and (inbox / "sent" / "fine.md").exists()


def test_check_without_a_key_or_an_answering_postqued_says_which_checks_it_could_not_make(
    run: Run, inbox: Path
) -> None:
    drop(inbox, "nobody", "account: '@nobody'\n")
    for offline, why in ((run("check", key=False), "(no API key: set POSTQUED_API_KEY, or api_key_file in "
                                                    "[postqued]); once and run check them before any upload\n"),
                         (run("check", reachable=False), "(PostQued cannot be reached: ")):
        assert (offline.returncode, offline.stdout) == (0, "ok    nobody\n1 checked, 0 with problems\n")
        assert f"pqdrop check: {OFFLINE} {why}" in offline.stderr
    (inbox / "nobody.md").write_text("---\naccount: '@nobody'\ndispatchat: 2030-01-01T10:00:00Z\n---\nHi\n")
    typo = run("check", key=False)  # what check knows offline it still says
    assert typo.returncode == 1 and "dispatchat" in typo.stdout


def test_retry_checks_an_item_again_and_leaves_one_that_still_fails_in_failed_saying_why(
    run: Run, inbox: Path, sandbox: Sandbox
) -> None:
    drop(inbox, "nobody", "account: '@nobody'\n")
    assert run("once").returncode == 1
    before = tree_digest(inbox)
    again = run("retry", "nobody")
    assert again.returncode == 1
    assert again.stdout == ("nobody: still fails, left in failed/: nobody.md: account: '@nobody' is not an account "
                            "this API key can post to (available: @mybrand, @otherbrand, @failing); fix it there and "
                            "retry, or `pqdrop retry --force nobody` to put it back as it is\n")
    assert tree_digest(inbox) == before  # nothing moved

    (inbox / "failed" / "nobody.md").write_text("---\naccount: '@otherbrand'\n---\nnobody #fyp\n")
    fixed = run("retry", "nobody")
    assert (fixed.returncode, fixed.stdout) == (0, "nobody: back in the inbox\n")
    assert run("once").returncode == 0 and (inbox / "sent" / "nobody.md").exists()


def test_retry_force_puts_back_an_item_that_still_fails_saying_so(run: Run, inbox: Path) -> None:
    drop(inbox, "nobody", "account: '@nobody'\n")
    assert run("once").returncode == 1
    forced = run("retry", "--force", "nobody")
    assert forced.returncode == 0
    assert forced.stdout.splitlines() == [
        "nobody: still fails: nobody.md: account: '@nobody' is not an account this API key can post to "
        "(available: @mybrand, @otherbrand, @failing); put back all the same (--force)",
        "nobody: back in the inbox"]
    assert (inbox / "nobody.md").exists() and not (inbox / "failed" / "nobody.md").exists()


def test_retry_offline_makes_the_checks_it_can_and_says_which_it_could_not(run: Run, inbox: Path) -> None:
    drop(inbox, "nobody", "account: '@nobody'\n")
    drop(inbox, "typo", "dispatchat: 2030-01-01T10:00:00Z\n")
    assert run("once").returncode == 1
    offline = run("retry", "--all", reachable=False)
    assert offline.returncode == 1
    lines = offline.stdout.splitlines()
    assert lines[0] == "nobody: back in the inbox"  # its account cannot be judged offline
    assert lines[1].startswith("typo: still fails, left in failed/: typo.md: dispatchat: unknown key")
    assert f"pqdrop retry: {OFFLINE} (PostQued cannot be reached: " in offline.stderr


def test_retry_checks_a_carousel_folder_where_it_lies_in_failed(run: Run, inbox: Path) -> None:
    folder = inbox / "trip"
    folder.mkdir()
    make_image(folder / "1.jpg", width=640, height=800)
    make_image(folder / "2.jpg", width=648, height=800)
    sidecar(folder / "post.md", "account: '@nobody'\n", "Two photos")
    assert run("once").returncode == 1 and (inbox / "failed" / "trip" / "post.md").exists()
    again = run("retry", "trip")
    assert again.returncode == 1
    assert again.stdout.startswith("trip: still fails, left in failed/: post.md: account: '@nobody' is not an account")
    (inbox / "failed" / "trip" / "post.md").write_text("---\naccount: '@mybrand'\n---\nTwo photos\n")
    assert run("retry", "trip").stdout == "trip: back in the inbox\n"
    assert run("once").returncode == 0 and (inbox / "sent" / "trip" / "2.jpg").exists()


def test_a_misspelt_account_is_answered_with_the_one_it_nearly_names_in_check_and_in_the_failure(
    run: Run, inbox: Path, sandbox: Sandbox
) -> None:
    drop(inbox, "typo", 'account: "@mybrnad"\n')
    checked = run("check")
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        "FAIL  typo: typo.md: account: '@mybrnad' is not an account this API key can post to "
        "(available: @mybrand, @otherbrand, @failing); did you mean @mybrand?",
        "1 checked, 1 with problems"]
    assert run("once").returncode == 1
    status = json.loads((inbox / "failed" / "typo.status.json").read_text())
    assert status["error"]["message"].endswith("(available: @mybrand, @otherbrand, @failing); did you mean @mybrand?")
    assert sandbox.state_summary()["publishes"] == []
