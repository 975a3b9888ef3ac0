"""The key never leaves through a text (issue 21): whatever puts the API key into a caption, an option, an
edit or a status text, it is refused or withheld, and the refusal itself never holds the key.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, write_config

from pqdrop.config import Config, load_config, resolve_api_key
from pqdrop.errors import KeyInText
from pqdrop.folders.filing import append_status_log, write_json_atomically
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.secrecy import WITHHELD_MARK, Secrets
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Workers, once

LATER = "dispatchAt: 2030-06-01T18:00:00\n"


def texts_of(inbox: Path) -> str:
    """Every status file and status.log in the inbox, as one text."""
    return "\n".join(path.read_text(errors="replace") for path in inbox.rglob("*")
                     if path.is_file() and (path.name.endswith(".status.json") or path.name == "status.log"))


def test_a_sidecar_that_is_a_copy_of_the_key_file_fails_its_item_before_any_upload(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "leak.mp4", seconds=1)
    (inbox / "leak.md").write_text(f"{SANDBOX_KEY}\n")  # what a stranger's copy of ~/.config/pqdrop/key looks like
    assert once(service)[0] == EXIT_FAILED
    status = json.loads((inbox / "failed" / "leak.status.json").read_text())
    assert status["error"]["code"] == "KEY_IN_TEXT"
    assert status["error"]["message"] == "leak.md: caption holds the API key; pqdrop never posts it: take it out"
    state = sandbox.state_summary()
    assert (state["publishes"], state["contents"]) == ([], {})  # nothing uploaded, nothing posted
    assert SANDBOX_KEY not in texts_of(inbox)


def test_a_caption_holding_the_key_fails_naming_the_caption_and_not_the_key(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "pasted.mp4", seconds=1)
    sidecar(inbox / "pasted.md", 'privacyLevel: SELF_ONLY\n', f"Look at my key {SANDBOX_KEY} #fyp")
    assert once(service)[0] == EXIT_FAILED
    error = json.loads((inbox / "failed" / "pasted.status.json").read_text())["error"]
    assert (error["code"], error["message"]) == ("KEY_IN_TEXT", "pasted.md: caption holds the API key; pqdrop "
                                                 "never posts it: take it out")
    assert sandbox.state_summary()["publishes"] == []
    assert SANDBOX_KEY not in texts_of(inbox)


def test_an_edit_in_scheduled_that_puts_the_key_in_the_caption_is_not_applied_and_the_post_stays(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    make_video(inbox / "launch.mp4", seconds=1)
    sidecar(inbox / "launch.md", LATER, "Launch day #fyp")
    assert once(service)[0] == EXIT_OK
    path = inbox / "scheduled" / "launch.md"
    [before] = sandbox.state_summary()["publishes"]
    sidecar(path, LATER, f"Launch day {SANDBOX_KEY}")
    service.follow()
    [after] = sandbox.state_summary()["publishes"]
    assert after["status"] == before["status"]
    status = json.loads((inbox / "scheduled" / "launch.status.json").read_text())
    assert status["edit"]["reason"] == ("edit not applied: launch.md: holds the API key; pqdrop never posts the key "
                                        "nor keeps it: take it out of launch.md")
    assert SANDBOX_KEY not in texts_of(inbox)


def test_the_client_sends_no_request_whose_body_holds_its_key(config: Config, sandbox: Sandbox) -> None:
    target = {"platform": "tiktok", "accountId": "acc_1", "intent": "draft", "caption": f"x {SANDBOX_KEY}",
              "options": {}}
    with make_client(config) as client, pytest.raises(KeyInText) as refused:
        client.publish(["content_1"], [target], "pqdrop-key-test")
    assert SANDBOX_KEY not in refused.value.message
    assert "targets[1].caption holds the API key" in refused.value.message
    assert sandbox.state_summary()["publish_calls"] == 0


def test_status_files_and_status_log_withhold_the_key_whatever_put_it_there(
    config: Config, sandbox: Sandbox, inbox: Path
) -> None:
    with make_client(config):  # the client registers its key
        write_json_atomically(inbox / "x.status.json", {"error": {"message": f"caption: '{SANDBOX_KEY}' is odd"}})
        assert append_status_log(inbox, {"item": "x", "note": f"key={SANDBOX_KEY}"})
    document = json.loads((inbox / "x.status.json").read_text())
    assert document == {"error": {"message": f"caption: '{WITHHELD_MARK}' is odd"}}
    assert json.loads((inbox / "status.log").read_text())["note"] == f"key={WITHHELD_MARK}"


def test_secrets_are_found_as_json_and_urls_spell_them_and_short_ones_are_ignored() -> None:
    secrets = Secrets()
    secrets.add('pq_live/with"quote')
    secrets.add("short")
    assert secrets.found_in('{"caption": "pq_live/with\\"quote"}')
    assert secrets.found_in("https://x/?k=pq_live%2Fwith%22quote")
    assert not secrets.found_in("short and sweet")
    assert secrets.where({"targets": [{"caption": "ok"}, {"options": {"title": 'pq_live/with"quote'}}]}) == \
        "targets[2].options.title"


# --- the key file's mode -----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False), (0o400, False)])
def test_a_key_file_others_can_read_is_warned_about_naming_the_file_and_chmod_600(
    tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture, mode: int, warned: bool
) -> None:
    key_file = tmp_path / f"key-{mode:o}"
    key_file.write_text(f"{SANDBOX_KEY}\n")
    key_file.chmod(mode)
    config = load_config(write_config(tmp_path, sandbox.url, postqued={"api_key_file": str(key_file)}))
    with caplog.at_level(logging.WARNING, logger="pqdrop"):
        assert resolve_api_key(config, {}) == SANDBOX_KEY
    said = [record.getMessage() for record in caplog.records if str(key_file) in record.getMessage()]
    expected = (f"[postqued].api_key_file {key_file} can be read by others than its owner (mode {mode:04o}): anyone "
                f"who can read it can post in your name; make it private: chmod 600 {key_file}")
    assert said == ([expected] if warned else [])


def test_once_warns_at_start_of_a_key_file_readable_by_others(tmp_path: Path, sandbox: Sandbox) -> None:
    key_file = tmp_path / "api.key"
    key_file.write_text(f"{SANDBOX_KEY}\n")
    key_file.chmod(0o644)
    config_path = write_config(tmp_path, sandbox.url, postqued={"api_key_file": str(key_file)})
    (tmp_path / "inbox").mkdir(exist_ok=True)
    env = {name: value for name, value in os.environ.items() if name not in ("POSTQUED_API_KEY", "NOTIFY_SOCKET")}
    done = subprocess.run([sys.executable, "-m", "pqdrop", "once", "--config", str(config_path)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stderr.count(f"make it private: chmod 600 {key_file}") == 1
    assert SANDBOX_KEY not in done.stderr + done.stdout


def test_check_says_what_once_says_of_a_caption_holding_the_key_and_never_prints_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config_path = write_config(tmp_path, sandbox.url)
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    make_video(inbox / "pasted.mp4", seconds=1)
    sidecar(inbox / "pasted.md", "", f"my key is {SANDBOX_KEY}")
    env = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
    done = subprocess.run([sys.executable, "-m", "pqdrop", "check", "--config", str(config_path)],
                          env={**env, "POSTQUED_API_KEY": SANDBOX_KEY}, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "FAIL  pasted: pasted.md: caption holds the API key; pqdrop never posts it: take it out" in done.stdout
    assert SANDBOX_KEY not in done.stdout + done.stderr
