"""The config file: defaults, errors that name the key, the API key's sources."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pqdrop.config import config_changes, find_config_path, load_config, parse_config, resolve_api_key
from pqdrop.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


MINIMAL = '[inbox]\npath = "inbox"\n[state]\ndir = "state"\n'


def test_a_minimal_config_gets_every_default_and_resolves_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.inbox.path == tmp_path / "inbox"
    assert config.state.dir == tmp_path / "state"
    assert config.inbox.settle_seconds == 5.0 and config.inbox.watch == "auto"
    assert config.postqued.base_url == "https://api.postqued.com"
    rates = config.postqued.rate_limits
    assert (rates.upload, rates.read, rates.publish, rates.delete) == (20, 30, 10, 20)
    assert config.defaults.intent == "draft" and config.defaults.late_grace_minutes == 15


def test_the_example_config_parses() -> None:
    path = ROOT / "config.example.toml"
    config = parse_config(tomllib.loads(path.read_text()), path)
    assert config.defaults.timezone == "Europe/Berlin"


def test_an_unknown_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[defaults]\ntimezon = 'UTC'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.message and "defaults.timezon: unknown key" in caught.value.message


def test_a_bad_value_names_the_key_and_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'inbox.watch: "inotify" is not one of "auto", "events" or "poll"'):
        load_config(write(tmp_path, '[inbox]\npath = "i"\nwatch = "inotify"\n[state]\ndir = "s"\n'))


def test_an_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Europe/Berln'"):
        load_config(write(tmp_path, MINIMAL + '[defaults]\ntimezone = "Europe/Berln"\n'))


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[inbox\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_a_missing_required_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"state: the \[state\] table is missing"):
        load_config(write(tmp_path, '[inbox]\npath = "inbox"\n'))


def test_state_inside_the_inbox_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[state\].dir .* is inside \[inbox\].path"):
        load_config(write(tmp_path, '[inbox]\npath = "inbox"\n[state]\ndir = "inbox/.state"\n'))


def test_the_api_key_comes_from_the_environment_first(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("pq_file\n")
    config = load_config(write(tmp_path, MINIMAL + '[postqued]\napi_key_file = "key"\n'))
    assert resolve_api_key(config, {"POSTQUED_API_KEY": "pq_env"}) == "pq_env"
    assert resolve_api_key(config, {}) == "pq_file"


def test_the_api_key_can_be_a_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "postqued_api_key").write_text("pq_cred")
    config = load_config(write(tmp_path, MINIMAL))
    assert resolve_api_key(config, {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}) == "pq_cred"


def test_no_api_key_anywhere_says_where_to_put_one(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match="no API key: set POSTQUED_API_KEY"):
        resolve_api_key(config, {})


def test_config_search_order(tmp_path: Path) -> None:
    assert find_config_path("given.toml", {"PQDROP_CONFIG": "env.toml"}) == Path("given.toml")
    assert find_config_path(None, {"PQDROP_CONFIG": "env.toml"}) == Path("env.toml")
    user = tmp_path / "pqdrop" / "config.toml"
    user.parent.mkdir()
    user.write_text(MINIMAL)
    assert find_config_path(None, {"XDG_CONFIG_HOME": str(tmp_path)}) == user
    assert find_config_path(None, {"XDG_CONFIG_HOME": str(tmp_path / "none")}) == Path("/etc/pqdrop/config.toml")


# --- per-account defaults and posting slots (issue 8) -------------------------------------------


def test_account_tables_are_read_with_their_tiktok_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + '[accounts."@mybrand"]\nintent = "publish"\n'
                               'privacyLevel = "SELF_ONLY"\ndisableDuet = true\ncaption_suffix = "#mybrand"\n'
                               'timezone = "America/New_York"\n'))
    settings = config.accounts["@mybrand"]
    assert (settings.intent, settings.caption_suffix, settings.timezone) == ("publish", "#mybrand", "America/New_York")
    assert settings.options == {"privacyLevel": "SELF_ONLY", "disableDuet": True}


def test_a_bad_privacy_level_in_an_account_table_names_the_key_and_the_nearest_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[accounts."@mybrand"]\nprivacyLevel = "public_to_everyone"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message == (
        f'{path}: accounts."@mybrand".privacyLevel: "public_to_everyone" is not one of PUBLIC_TO_EVERYONE, '
        "MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR, SELF_ONLY; did you mean PUBLIC_TO_EVERYONE?")


def test_a_quoted_boolean_option_in_an_account_table_is_refused_as_in_a_sidecar(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'accounts."@mybrand".disableDuet: "true" is not true or false'):
        load_config(write(tmp_path, MINIMAL + '[accounts."@mybrand"]\ndisableDuet = "true"\n'))


def test_an_unknown_key_in_an_account_table_suggests_the_nearest(tmp_path: Path) -> None:
    expected = r'accounts."@mybrand".caption_sufix: unknown key; did you mean caption_suffix\?'
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, MINIMAL + '[accounts."@mybrand"]\ncaption_sufix = "#x"\n'))


def test_an_unknown_time_zone_in_an_account_table_names_the_account(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"accounts.\"@mybrand\".timezone: unknown time zone 'Berlin'"):
        load_config(write(tmp_path, MINIMAL + '[accounts."@mybrand"]\ntimezone = "Berlin"\n'))


def test_slots_are_read_as_sorted_hh_mm_and_days_in_week_order(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + '[schedule]\nslots = ["18:30", "9:00", "09:00"]\n'
                               'days = ["Friday", "mon"]\n'))
    schedule = config.schedule
    assert (schedule.slots, schedule.days, schedule.auto) == (("09:00", "18:30"), ("mon", "fri"), False)


def test_a_slot_that_is_not_a_time_of_day_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule.slots: '24:00' is not a time of day; write HH:MM"):
        load_config(write(tmp_path, MINIMAL + '[schedule]\nslots = ["24:00"]\n'))


def test_an_unknown_day_is_refused_listing_the_days(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule.days: 'mo' is not a day; use mon, tue, wed, thu, fri, sat, sun"):
        load_config(write(tmp_path, MINIMAL + '[schedule]\nslots = ["09:00"]\ndays = ["mo"]\n'))


def test_auto_without_any_slots_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"schedule.auto: true needs posting slots"):
        load_config(write(tmp_path, MINIMAL + "[schedule]\nauto = true\n"))


def test_auto_with_slots_in_every_account_table_is_accepted(tmp_path: Path) -> None:
    text = MINIMAL + '[schedule]\nauto = true\n[accounts."@mybrand"]\nslots = ["12:00"]\n'
    config = load_config(write(tmp_path, text))
    assert config.accounts["@mybrand"].slots == ("12:00",)


def test_upload_max_rate_reads_a_rate_as_people_write_it(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL)).upload.max_rate == 0.0
    assert load_config(write(tmp_path, MINIMAL + '[upload]\nmax_rate = "40 Mbit/s"\n')).upload.max_rate == 5_000_000
    assert load_config(write(tmp_path, MINIMAL + "[upload]\nmax_rate = 2500000\n")).upload.max_rate == 2_500_000


def test_a_bad_upload_max_rate_names_the_key_and_how_to_write_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL + '[upload]\nmax_rate = "40 mbps"\n'))
    assert "upload.max_rate" in caught.value.message
    assert '"40 Mbit/s", "5 MB/s", "512 KiB/s"' in caught.value.message


def test_a_reload_names_the_keys_it_changed_and_never_their_values(tmp_path: Path) -> None:
    base = '[inbox]\npath = "i"\n[state]\ndir = "s"\n'
    before = parse_config(tomllib.loads(base + '[accounts."@a"]\ndaily_posts = 5\n'), tmp_path / "c.toml")
    after = parse_config(tomllib.loads(
        base + '[postqued]\nworkers = 1\n[notify]\nurls = ["tgram://123:SECRET/42"]\n[accounts."@a"]\ndaily_posts = 4\n'
        '[accounts."@b"]\n'), tmp_path / "c.toml")
    assert config_changes(before, after) == [
        '[accounts."@a"]', '[accounts."@b"]', "[notify].urls", "[postqued].workers"]
    assert config_changes(before, before) == []
