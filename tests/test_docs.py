"""The documentation tells the truth: the example config parses and is complete, the README lists every command,
states the exposure score the unit test enforces, and shows the status sections and log prefixes pqdrop really prints.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel
from tests.system.test_systemd_units import MAX_EXPOSURE

from pqdrop.commands import _JournalFormatter, build_parser
from pqdrop.commands.status import Overview, render_text
from pqdrop.config import Config, parse_config
from pqdrop.platforms.tiktok import RULES, rules_markdown

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
README = ROOT / "README.md"


def model_keys(model: type[BaseModel], section: str = "") -> Iterator[tuple[str, str]]:
    """(section, key) for every setting a config model defines, nested sections included."""
    for name, field in model.model_fields.items():
        if model is Config and name == "source":
            continue  # where the file was read from, not a setting
        if model is Config and name == "accounts":
            continue  # a table per account, shown by an example table rather than by key
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from model_keys(annotation, f"{section}.{name}" if section else name)
        else:
            yield section, name


def section_bodies(text: str) -> dict[str, str]:
    """The text under each `[section]` header, up to the next header."""
    bodies: dict[str, str] = {}
    parts = re.split(r"^\[([\w.]+)\]\s*$", text, flags=re.MULTILINE)
    for name, body in zip(parts[1::2], parts[2::2], strict=False):
        bodies[name] = body
    return bodies


def command_names() -> list[str]:
    [subcommands] = [action for action in build_parser()._actions if action.dest == "command"]
    assert subcommands.choices is not None
    return list(subcommands.choices)


def test_the_example_config_parses() -> None:
    config = parse_config(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")), EXAMPLE)
    assert config.inbox.path == Path("/home/me/Dropbox/PostQued")
    assert config.state.dir == Path("/var/lib/pqdrop")


KEYS = sorted(model_keys(Config))


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_the_example_config_shows_every_key(section: str, key: str) -> None:
    """Every setting appears in its section, set or (like api_key_file) commented out."""
    body = section_bodies(EXAMPLE.read_text(encoding="utf-8")).get(section, "")
    found = re.search(rf"^#? ?{re.escape(key)} = ", body, flags=re.MULTILINE)
    assert found, f"[{section}] {key} is not in {EXAMPLE.name}"


def test_the_example_config_has_a_table_for_every_config_section() -> None:
    """The other direction: parse_config forbids unknown keys, so parsing proves it; this names the models' sections."""
    document = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(document) == {section.split(".")[0] for section, _ in KEYS} | {"accounts"}


def test_the_readme_layout_table_names_every_module_of_the_package() -> None:
    layout = README.read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+(?:\.py|/))` \|", layout, flags=re.MULTILINE))
    package = ROOT / "daemon" / "pqdrop"
    modules = {path.name for path in package.glob("*.py") if not path.name.startswith("__")}
    packages = {f"{path.name}/" for path in package.iterdir() if (path / "__init__.py").is_file()}
    assert listed == modules | packages


def test_the_readme_command_table_lists_every_cli_command() -> None:
    rows = [re.match(r"\| `pqdrop (\w+)", line) for line in README.read_text(encoding="utf-8").splitlines()]
    in_table = [row[1] for row in rows if row]
    assert sorted(in_table) == sorted(command_names())
    assert len(in_table) == 12


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_the_readme_shows_the_first_run_commands(command: str) -> None:
    assert re.search(rf"^{command}\b", README.read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_the_readme_states_the_exposure_score_the_unit_test_holds_the_system_unit_to() -> None:
    match = re.search(r"rates the system unit\s+\*\*(\d+\.\d+) ", README.read_text(encoding="utf-8"))
    assert match is not None
    assert float(match[1]) == MAX_EXPOSURE


def test_the_readme_status_example_shows_every_section_in_the_order_status_prints_them() -> None:
    empty = Overview(inbox=Path("/srv/pqdrop/inbox"), now=datetime.now(UTC), zone=ZoneInfo("UTC"), running={})
    printed = [line.rsplit(" (", 1)[0] for line in render_text(empty).splitlines() if line.endswith(" (0)")]
    example = README.read_text(encoding="utf-8").split("$ pqdrop status\n", 1)[1].split("```", 1)[0]
    shown = [line.rsplit(" (", 1)[0] for line in example.splitlines() if re.fullmatch(r"[a-z ]+ \(\d+\)", line)]
    assert shown == printed
    assert len(printed) == 7


def test_the_readme_log_table_gives_the_prefix_of_every_level_pqdrop_logs_at() -> None:
    rows = dict(re.findall(r"^\| `<(\d)>` \| (\w+) \|", README.read_text(encoding="utf-8"), flags=re.MULTILINE))
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    assert rows == {str(_JournalFormatter.PRIORITIES[level]): logging.getLevelName(level).lower() for level in levels}


def test_the_readme_gives_every_install_command_the_service_tests_run() -> None:
    from tests.service.commands import readme_forms

    text = README.read_text(encoding="utf-8")
    assert [command for command in readme_forms() if command not in text] == []


def test_the_readme_rules_table_is_the_rules_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- rules:start", 1)[1].split("-->", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert table.strip() == rules_markdown()
    assert len(RULES) == table.count("\n| ") - 1  # one row per rule, below the header
