"""`pqdrop init` fits the machine it runs on: its time zone, its inbox, no example value taken for a setting."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pqdrop.commands.init import MachineZone, machine_zone, starter_text
from pqdrop.config import load_config

PQDROP = [sys.executable, "-m", "pqdrop"]


def zoneinfo_link(tmp_path: Path, target: str) -> Path:
    link = tmp_path / "localtime"
    link.symlink_to(f"/usr/share/zoneinfo/{target}")
    return link


def test_tz_wins_over_the_localtime_link_and_a_leading_colon_is_glibcs_not_the_zones(tmp_path: Path) -> None:
    link = zoneinfo_link(tmp_path, "Asia/Tokyo")
    zone = machine_zone({"TZ": ":America/Los_Angeles"}, localtime=link, timezone_file=tmp_path / "none")
    assert zone == MachineZone("America/Los_Angeles", "TZ")


def test_the_localtime_link_names_the_zone_when_tz_is_a_posix_rule(tmp_path: Path) -> None:
    link = zoneinfo_link(tmp_path, "Asia/Tokyo")
    zone = machine_zone({"TZ": "CET-1CEST,M3.5.0,M10.5.0/3"}, localtime=link, timezone_file=tmp_path / "none")
    assert zone == MachineZone("Asia/Tokyo", f"{link} -> /usr/share/zoneinfo/Asia/Tokyo")


def test_etc_timezone_is_read_when_localtime_is_a_copy_not_a_link(tmp_path: Path) -> None:
    copy = tmp_path / "localtime"
    copy.write_bytes(b"TZif2")
    timezone_file = tmp_path / "timezone"
    timezone_file.write_text("Australia/Sydney\n")
    assert machine_zone({}, localtime=copy, timezone_file=timezone_file) == MachineZone("Australia/Sydney",
                                                                                         str(timezone_file))


def test_a_machine_whose_zone_cannot_be_told_gets_utc_and_no_source(tmp_path: Path) -> None:
    timezone_file = tmp_path / "timezone"
    timezone_file.write_text("../../etc/passwd\n")
    assert machine_zone({"TZ": "Nowhere/Atlantis"}, localtime=tmp_path / "none",
                        timezone_file=timezone_file) == MachineZone("UTC", None)


def test_the_starter_has_no_example_value_as_a_setting_and_a_commented_notify_section() -> None:
    text = starter_text(MachineZone("America/Los_Angeles", "TZ"))
    parsed = tomllib.loads(text)
    assert parsed["defaults"] == {"intent": "draft", "timezone": "America/Los_Angeles", "late_grace_minutes": 15.0}
    assert "workspace" not in parsed["postqued"] and "api_key_file" not in parsed["postqued"]
    assert "notify" not in parsed
    lines = text.splitlines()
    assert '# workspace = "3f6c0a2e-5b1d-4c7e-9a8f-0e1d2c3b4a59"' in lines
    assert '# api_key_file = "~/.config/pqdrop/api_key"' in lines
    assert '# account = "@yourname"' in lines
    assert "# [notify]" in lines
    default = '# on = ["failed", "unconfirmed", "paused", "resumed", "stuck"]'
    assert f'{default}  # the default; add "published", "sent", ...' in lines
    # Each commented example is itself TOML that parses, so taking a line in never breaks the file.
    notify = "\n".join(line.removeprefix("# ").split("  #")[0] for line in lines[lines.index("# [notify]"):])
    assert set(tomllib.loads(notify)["notify"]) == {"urls", "on", "url", "command"}
    assert [url.split("://")[0] for url in tomllib.loads(notify)["notify"]["urls"]] == [
        "ntfys", "tgram", "discord", "mailtos"]
    assert "Europe/Berlin" not in text and "/etc/pqdrop/api_key" not in text


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name not in ("PQDROP_CONFIG", "POSTQUED_API_KEY", "XDG_CONFIG_HOME", "TZ")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    return env


def test_init_writes_the_machines_zone_says_where_it_came_from_and_makes_the_inbox(
    tmp_path: Path, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", home["HOME"])  # the config's ~ read as the process that wrote it reads it
    result = subprocess.run([*PQDROP, "init"], env={**home, "TZ": "America/Los_Angeles"}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "home" / ".config" / "pqdrop" / "config.toml"
    config = load_config(written)
    assert config.defaults.timezone == "America/Los_Angeles"
    assert config.inbox.path == tmp_path / "home" / "PostQued"
    assert config.inbox.path.is_dir() and list(config.inbox.path.iterdir()) == []
    assert result.stdout.splitlines() == [
        f"wrote {written}",
        "time zone: America/Los_Angeles (this machine's, from TZ); change [defaults].timezone to post by another "
        "clock",
        f"inbox: {config.inbox.path} is ready; point your sync tool at it, or change [inbox].path",
        "next: put your API key where [postqued] says, then `pqdrop accounts`, `pqdrop check` and `pqdrop run`",
    ]


def test_init_with_a_file_where_the_inbox_goes_leaves_it_and_says_how_to_make_room(
    tmp_path: Path, home: dict[str, str]
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "PostQued").write_text("a file of the user's where the inbox would go")
    result = subprocess.run([*PQDROP, "init"], env=home, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    inbox = tmp_path / "home" / "PostQued"
    assert (f"inbox: [inbox].path {inbox} is not a folder; move what is there away, then make the inbox with "
            f"`mkdir -p {inbox}`") in result.stdout.splitlines()
    assert inbox.read_text() == "a file of the user's where the inbox would go"
