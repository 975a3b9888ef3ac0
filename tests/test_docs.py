"""The documentation tells the truth: the example config parses and is complete; the generated reference pages are
fresh; every command, config key and error code is documented; every link leads to a file; the README stays short;
the how-tos state the exposure score the unit test enforces and show the status sections and log prefixes pqdrop
really prints.
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
from pqdrop.commands.docs import BLOCK, GENERATORS, pages, regenerated
from pqdrop.commands.status import Overview, render_text
from pqdrop.config import Config, parse_config
from pqdrop.platforms.tiktok import ANSWERS, RULES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
README = ROOT / "README.md"
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
README_MAX_BYTES = 12 * 1024  # issue 24: a page a creator reads in minutes
# Where pqdrop gives an error code: a class's `code = "X"`, a `code="X"` argument, a status file's
# `"code": "X"`, a fallback (`exc.code or "X"`, `... else "X"`), or a code passed last and positionally.
_NAME = r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})"'
ERROR_CODE = re.compile(
    rf'(?:code(?::\s*str)?\s*=\s*|code=|"code":\s*|\bcode or |\belse ){_NAME}|[\w)\]]\s*,\s*{_NAME}\)')


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


def doc_text(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def test_the_contributing_layout_table_names_every_package_and_ground_module() -> None:
    layout = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+/)` \|", layout, flags=re.MULTILINE))
    ground = re.search(r"^\| ground \| (.*) \|$", layout, flags=re.MULTILINE)
    assert ground is not None
    package = ROOT / "daemon" / "pqdrop"
    modules = {path.stem for path in package.glob("*.py") if not path.name.startswith("__")}
    packages = {f"{path.name}/" for path in package.iterdir() if (path / "__init__.py").is_file()}
    assert listed == packages
    assert set(re.findall(r"`([a-z_]+)`", ground[1])) == modules


def markdown_files() -> list[Path]:
    return [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


def error_codes() -> dict[str, str]:
    """Every error code pqdrop's source gives (the sandbox's are PostQued's), with a file that gives it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "daemon" / "pqdrop").rglob("*.py")):
        if "sandbox" in path.parts:
            continue
        for match in ERROR_CODE.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match[1] or match[2], str(path.relative_to(ROOT)))
    return found


# -- the README ---------------------------------------------------------------------------------


def test_the_readme_is_a_short_page() -> None:
    assert README.stat().st_size <= README_MAX_BYTES
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 160


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_the_readme_shows_the_first_run_commands(command: str) -> None:
    assert re.search(rf"^{command}\b", README.read_text(encoding="utf-8"), flags=re.MULTILINE)


@pytest.mark.parametrize("words", [
    "a caption holding `#` must be quoted, or written below the closing\n`---`",  # the quoting rule
    "It is posted once it has held still",  # the folder rule
    "<!-- trial -->",  # the trial tests/commands/test_trial.py runs as written
])
def test_the_readme_states_the_rules_a_creator_trips_on(words: str) -> None:
    assert words in README.read_text(encoding="utf-8")


def shell_commands(path: Path) -> list[str]:
    """The lines of a Markdown file's ```sh blocks, comments left out."""
    blocks = re.findall(r"^```sh\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return [re.sub(r"(^|\s)#.*$", "", line) for block in blocks for line in block.splitlines()]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_pqdrop_command_the_docs_tell_you_to_run_exists(path: Path) -> None:
    # `docker exec pqdrop pqdrop status`: the container's name, then the command
    said = r"(?:^|[\s/])pqdrop (?!pqdrop\b)(\w+)"
    told = {match[1] for line in shell_commands(path) for match in re.finditer(said, line)}
    assert sorted(told - set(command_names())) == []


# -- links --------------------------------------------------------------------------------------


def links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file, outside code blocks, without their #anchor."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [target.split("#", 1)[0] for target in targets
            if not re.match(r"[a-z]+:", target) and not target.startswith("#")]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_leads_to_a_file(path: Path) -> None:
    missing = [target for target in links(path) if not (path.parent / target).exists()]
    assert missing == []


def test_every_docs_page_is_linked_from_the_index_or_the_readme() -> None:
    linked = {(page.parent / target).resolve() for page in (README, DOCS / "index.md") for target in links(page)}
    assert [str(page.relative_to(ROOT)) for page in sorted(DOCS.rglob("*.md"))
            if page.resolve() not in linked and page.name != "index.md"] == []


# -- generated reference pages ------------------------------------------------------------------


def test_every_generated_block_is_fresh() -> None:
    """`python -m pqdrop.commands.docs` after a change of the parser, a config model, the example or a table."""
    stale = [str(page.relative_to(ROOT)) for page in pages(DOCS)
             if regenerated(page.read_text(encoding="utf-8")) != page.read_text(encoding="utf-8")]
    assert stale == [], "stale; run make docs (python -m pqdrop.commands.docs)"


def test_every_generator_fills_a_block_of_some_page() -> None:
    used = {match["name"] for page in pages(DOCS) for match in BLOCK.finditer(page.read_text(encoding="utf-8"))}
    assert used == set(GENERATORS)


def test_the_generator_reports_a_stale_page_and_rewrites_it(tmp_path: Path) -> None:
    from pqdrop.commands.docs import main

    page = tmp_path / "rules.md"
    page.write_text("# Rules\n\n<!-- generated: tiktok-rules -->\nold\n<!-- end generated: tiktok-rules -->\n")
    assert main(["--check", str(tmp_path)]) == 1
    assert "old" in page.read_text()
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    assert page.read_text().count("\n| ") == len(RULES) + 1  # one row per rule, below the header


def test_the_cli_reference_has_a_section_for_every_command() -> None:
    sections = re.findall(r"^## `pqdrop (\w+)`$", doc_text("docs/reference/cli.md"), flags=re.MULTILINE)
    assert sections == command_names()


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_the_config_reference_says_what_every_key_does(section: str, key: str) -> None:
    body = doc_text("docs/reference/config.md").split(f"## `[{section}]`\n", 1)[1].split("\n## ", 1)[0]
    row = re.search(rf"^\| `{re.escape(key)}` \|.*\| (.*) \|$", body, flags=re.MULTILINE)
    assert row is not None and row[1].strip(), f"[{section}] {key}: say what it does in config.example.toml"


def test_the_platforms_reference_has_every_rule_and_every_tiktok_answer() -> None:
    text = doc_text("docs/reference/platforms.md")
    assert [rule.key for rule in RULES if f"| {rule.key} |" not in text] == []
    assert [code for code in ANSWERS if f"| `{code}` |" not in text] == []


# -- error codes --------------------------------------------------------------------------------


def test_the_source_gives_the_codes_the_reference_expects() -> None:
    """The finder itself: it sees codes in each way the source gives them, and no option value."""
    codes = error_codes()
    assert {"SIDECAR_FENCES", "CONFIG", "ERROR", "DUPLICATE", "PLATFORM_FAILED", "PUBLISH_GONE", "EDIT_REFUSED",
            "SIDECAR_NO_SLOTS", "TIKTOK_RULE", "CAPTION_TOO_LONG"} <= set(codes)
    assert not {"SELF_ONLY", "PUBLIC_TO_EVERYONE", "DELETE", "POSTQUED_API_KEY"} & set(codes)


@pytest.mark.parametrize("code", sorted(error_codes()))
def test_every_error_code_has_its_cause_and_fix_in_the_reference(code: str) -> None:
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (.+) \| (.+) \|$", doc_text("docs/reference/errors.md"),
                      flags=re.MULTILINE)
    assert code in {row[0] for row in rows}, f"{code} ({error_codes()[code]}) is not in docs/reference/errors.md"


# -- how-tos and reference pages that state what tests enforce ----------------------------------


def test_the_service_how_to_states_the_exposure_score_the_unit_test_holds_the_system_unit_to() -> None:
    match = re.search(r"rates the system unit\s+\*\*(\d+\.\d+) ", doc_text("docs/how-to/system-service.md"))
    assert match is not None
    assert float(match[1]) == MAX_EXPOSURE


def test_the_status_example_shows_every_section_in_the_order_status_prints_them() -> None:
    empty = Overview(inbox=Path("/srv/pqdrop/inbox"), now=datetime.now(UTC), zone=ZoneInfo("UTC"), running={})
    printed = [line.rsplit(" (", 1)[0] for line in render_text(empty).splitlines() if line.endswith(" (0)")]
    text = doc_text("docs/reference/status-and-logs.md")
    example = text.split("$ pqdrop status\n", 1)[1].split("```", 1)[0]
    shown = [line.rsplit(" (", 1)[0] for line in example.splitlines() if re.fullmatch(r"[a-z ]+ \(\d+\)", line)]
    assert shown == printed
    assert len(printed) == 7


def test_the_log_table_gives_the_prefix_of_every_level_pqdrop_logs_at() -> None:
    text = doc_text("docs/reference/status-and-logs.md")
    rows = dict(re.findall(r"^\| `<(\d)>` \| (\w+) \|", text, flags=re.MULTILINE))
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    assert rows == {str(_JournalFormatter.PRIORITIES[level]): logging.getLevelName(level).lower() for level in levels}


def test_the_how_tos_give_every_install_command_the_service_tests_run() -> None:
    from tests.service.commands import readme_forms

    text = "\n".join(doc_text(f"docs/how-to/{name}.md") for name in ("system-service", "several-inboxes", "user-unit"))
    assert [command for command in readme_forms() if command not in text] == []


def test_every_test_the_threat_model_names_is_a_test_of_the_suite() -> None:
    """A promise of the threat model names the test that keeps it: a renamed or deleted test fails here."""
    names = {match[1] for path in (ROOT / "tests").rglob("test_*.py")
             for match in re.finditer(r"^def (test_\w+)\(", path.read_text(encoding="utf-8"), flags=re.MULTILINE)}
    named = re.findall(r"\b(test_\w+)(\.py)?(…)?", doc_text("docs/explanation/threat-model.md"))
    assert len(named) >= 10
    missing = [name for name, module, cut in named
               if not module and not (any(test.startswith(name) for test in names) if cut else name in names)]
    assert missing == []
