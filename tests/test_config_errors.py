"""Bad configs and arguments as a user meets them: `python -m pqdrop` exits 2 with a message, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import sidecar, write_config

from pqdrop.errors import EXIT_TEMPFAIL
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox

PQDROP = [sys.executable, "-m", "pqdrop"]
MINIMAL = '[inbox]\npath = "inbox"\n[state]\ndir = "state"\n'


def pqdrop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PQDROP_", "POSTQUED_"))}
    env.update(HOME=str(cwd), XDG_CONFIG_HOME=str(cwd / ".config"), POSTQUED_API_KEY="pq_sandbox")
    return subprocess.run([*PQDROP, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL + text)
    return path


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "[1]", "{a=1}"])
def test_an_unusable_max_rate_exits_2_at_config_load_naming_the_key(tmp_path: Path, value: str) -> None:
    path = config(tmp_path, f"[upload]\nmax_rate = {value}\n")
    for command in ("once", "check"):
        result = pqdrop(command, "--config", str(path), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"{path}: upload.max_rate:" in result.stderr
        assert '"40 Mbit/s"' in result.stderr
        assert "Traceback" not in result.stderr


def test_a_config_that_is_not_utf8_exits_2_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe")
    result = pqdrop("once", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}: not a text file in UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_of_an_inbox_path_that_is_a_file_exits_2_as_once_does(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    path = tmp_path / "config.toml"
    path.write_text('[inbox]\npath = "afile"\n[state]\ndir = "state"\n')
    once = pqdrop("once", "--config", str(path), cwd=tmp_path)
    check = pqdrop("check", "--config", str(path), cwd=tmp_path)
    assert once.returncode == check.returncode == 2
    assert (f"[inbox].path {tmp_path / 'afile'} is not a folder; move what is there away, then make the inbox with "
            f"`mkdir -p {tmp_path / 'afile'}`") in check.stderr
    assert check.stderr.strip() == once.stderr.strip().splitlines()[-1]
    assert "0 with problems" not in check.stdout


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_sandbox_with_a_port_that_is_not_one_exits_2_saying_what_a_port_is(tmp_path: Path, port: str) -> None:
    result = pqdrop("sandbox", "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert f"argument --port: '{port}' is not a port; use a number from 1 to 65535, or 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_sandbox_on_a_port_in_use_says_so_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pqdrop("sandbox", "--port", str(port), cwd=tmp_path)
    assert result.returncode == EXIT_TEMPFAIL
    assert f"pqdrop sandbox: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port 0 picks a free one" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("line", "key"), [('platform = "myspace"', "platform"), ('intent = "drafts"', "intent")])
def test_a_bad_static_default_exits_2_at_config_load_naming_it(tmp_path: Path, line: str, key: str) -> None:
    path = config(tmp_path, f"[defaults]\n{line}\n")
    for command in ("once", "check"):
        result = pqdrop(command, "--config", str(path), cwd=tmp_path)
        assert result.returncode == 2
        assert f"{path}: defaults.{key}:" in result.stderr and "Traceback" not in result.stderr
    if key == "platform":
        assert '"myspace" is not one of tiktok, instagram' in result.stderr
        assert "; [defaults].platform is for sidecars that leave platform out" in result.stderr
    else:
        assert 'is not one of "draft" or "publish"' in result.stderr


def test_a_default_account_the_key_cannot_reach_fails_naming_defaults_not_the_sidecar(
    tmp_path: Path, inbox: Path, sandbox: Sandbox
) -> None:
    path = write_config(tmp_path, sandbox.url, defaults={"account": "@nobody"})
    make_video(inbox / "clip.mp4", width=360, height=640, seconds=1)
    sidecar(inbox / "clip.md", "intent: draft\n")
    result = pqdrop("once", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1
    status = json.loads((inbox / "failed" / "clip.status.json").read_text())
    message = status["error"]["message"]
    assert message.startswith("clip.md: [defaults].account: '@nobody' is not an account this API key can post to")
    assert "set [defaults].account in the config to one of them" in message


def test_a_mistyped_config_key_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[inbox]\npath = "inbox"\nsetle_seconds = 3\n[state]\ndir = "state"\n')
    (tmp_path / "inbox").mkdir()
    result = pqdrop("once", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}: inbox.setle_seconds: unknown key; did you mean settle_seconds?" in result.stderr


@pytest.mark.parametrize(("line", "said"), [
    ("[inbox]\npath = 5", 'inbox.path: 5 is not a path; write it in quotes, e.g. path = "/srv/pqdrop/inbox"'),
    ("[inbox]\npath = \"inbox\"\nsettle_seconds = \"fast\"",
     'inbox.settle_seconds: "fast" is not a number; write e.g. settle_seconds = 5'),
    ("[inbox]\npath = \"inbox\"\nrequire_sidecar = \"maybe\"",
     'inbox.require_sidecar: "maybe" is not true or false; write require_sidecar = true or require_sidecar = false'),
    ("[inbox]\npath = \"inbox\"\n[defaults]\naccount = 5",
     'defaults.account: 5 is not text; put it in quotes: account = "5"'),
    ("inbox = 5", "inbox: 5 is not a table; write it as a [inbox] table"),
])
def test_a_value_of_the_wrong_kind_is_said_in_tomls_words_with_the_line_to_write(
    tmp_path: Path, line: str, said: str
) -> None:
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "config.toml"
    path.write_text(line + '\n[state]\ndir = "state"\n' if not line.startswith("inbox = ") else line + "\n")
    result = pqdrop("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{path}: {said}" in result.stderr
    assert "Input should" not in result.stderr and "<class" not in result.stderr and "Traceback" not in result.stderr


def test_a_missing_table_is_named_as_a_table(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "config.toml"
    path.write_text('[inbox]\npath = "inbox"\n')
    result = pqdrop("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"pqdrop: {path}: state: the [state] table is missing; "
                                     "add it (config.example.toml shows each table)")
