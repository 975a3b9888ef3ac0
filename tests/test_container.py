"""The container's glue that runs without podman: its config made from the environment, and its files' shape.

The image itself, built and run, is tested by `make image-test` (tests/image).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from pqdrop.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "container" / "config_from_env.py"


def config_from(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_pqdrop_variables_and_tz_make_a_config_with_typed_values_that_loads(tmp_path: Path) -> None:
    result = config_from({"TZ": ":America/Los_Angeles", "PQDROP_DEFAULT_ACCOUNT": "@mybrand",
                          "PQDROP_DEFAULT_INTENT": "publish", "PQDROP_INBOX_SETTLE_SECONDS": "0.5",
                          "PQDROP_INBOX_REQUIRE_SIDECAR": "false", "PQDROP_INBOX_IGNORE": "*.lock, *.bak",
                          "PQDROP_POSTQUED_BASE_URL": "http://127.0.0.1:8765", "PQDROP_UPLOAD_MAX_RATE": "",
                          "PQDROP_CONFIG": "/config/config.toml"})
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout) == {
        "inbox": {"path": "/inbox", "settle_seconds": 0.5, "require_sidecar": False, "ignore": ["*.lock", "*.bak"]},
        "state": {"dir": "/state"},
        "defaults": {"account": "@mybrand", "intent": "publish", "timezone": "America/Los_Angeles"},
        "postqued": {"base_url": "http://127.0.0.1:8765"},
        "http": {"listen": "127.0.0.1:8787"},
    }
    written = tmp_path / "config.toml"
    written.write_text(result.stdout)
    assert load_config(written).defaults.zone.key == "America/Los_Angeles"


def test_notifications_come_from_the_environment_with_apprise_urls_space_separated() -> None:
    result = config_from({"PQDROP_NOTIFY_URLS": "ntfys://pqdrop-7f3k2q  mailtos://me:pw@example.com?to=a@x.org,b@x.org",
                          "PQDROP_NOTIFY_ON": "failed, published"})
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["notify"] == {
        "urls": ["ntfys://pqdrop-7f3k2q", "mailtos://me:pw@example.com?to=a@x.org,b@x.org"],
        "on": ["failed", "published"]}


def test_a_timezone_variable_wins_over_tz_and_nothing_set_gives_the_images_paths_alone() -> None:
    zoned = config_from({"TZ": "Europe/Berlin", "PQDROP_DEFAULT_TIMEZONE": "Asia/Tokyo"})
    assert tomllib.loads(zoned.stdout)["defaults"] == {"timezone": "Asia/Tokyo"}
    bare = config_from({})
    assert tomllib.loads(bare.stdout) == {"inbox": {"path": "/inbox"}, "state": {"dir": "/state"},
                                          "http": {"listen": "127.0.0.1:8787"}}  # where the HEALTHCHECK asks


def test_pqdrop_http_listen_opens_the_status_page_beyond_loopback() -> None:
    opened = config_from({"PQDROP_HTTP_LISTEN": "0.0.0.0:8787"})
    assert tomllib.loads(opened.stdout)["http"] == {"listen": "0.0.0.0:8787"}
    wrong = config_from({"PQDROP_HTTP_LISTEN": "8787"})
    assert wrong.returncode == 2
    assert "PQDROP_HTTP_LISTEN ([http].listen)" in wrong.stderr


def test_a_mistake_in_the_environment_exits_2_naming_each_variable_and_the_fix() -> None:
    result = config_from({"PQDROP_DEFAULT_INTENT": "later", "PQDROP_DEFAULT_ACOUNT": "@me", "TZ": "Mars/Base"})
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("pqdrop-entrypoint: the settings from the environment are not usable: ")
    assert 'PQDROP_DEFAULT_INTENT ([defaults].intent): "later" is not one of "draft" or "publish"' in line
    assert "PQDROP_DEFAULT_ACOUNT ([defaults].acount): unknown key; did you mean account?" in line
    assert "TZ ([defaults].timezone): unknown time zone 'Mars/Base'" in line
    assert line.endswith("set the variables right, or mount a config file at /config/config.toml")


def test_the_compose_file_runs_the_image_with_its_volumes_a_secret_and_no_key_in_the_environment() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    [service] = compose["services"].values()
    assert [volume.split("}:")[1].split(":")[0] for volume in service["volumes"]] == ["/inbox", "/config", "/state"]
    assert service["environment"]["POSTQUED_API_KEY_FILE"] == "/run/secrets/postqued_api_key"
    assert "POSTQUED_API_KEY" not in service["environment"]
    assert service["secrets"] == ["postqued_api_key"]


def test_the_containerfile_links_with_ln_sf_labels_the_image_and_declares_the_three_volumes() -> None:
    text = (ROOT / "Containerfile").read_text()
    assert "ln -sf /opt/pqdrop/bin/pqdrop" in text and "ln -s " not in text
    assert 'VOLUME ["/config", "/inbox", "/state"]' in text
    for label in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text


def test_the_units_comments_speak_of_the_docs_not_of_a_contract() -> None:
    for unit in sorted((ROOT / "systemd").rglob("*.service")):
        text = unit.read_text()
        assert "CONTRACT" not in text, unit
        assert "docs/reference/exit-codes.md" in text, unit
