"""The reference pages' generated blocks, from the code itself: `python -m pqdrop.commands.docs [--check] [DOCS]`.

As gunicorn and sqlite-utils generate their settings and CLI pages: the command line from the
argparse parser, every config key from the pydantic models (with what config.example.toml says of
it), the platforms' option tables and TikTok's rules and answers from `pqdrop.platforms`, the exit
codes from `pqdrop.errors`. A page holds hand-written prose around blocks marked
`<!-- generated: NAME -->` … `<!-- end generated: NAME -->`; this rewrites the blocks, and
`--check` says which page is stale instead (tests/test_docs.py runs it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)",
                   flags=re.DOTALL)


def cli_reference() -> str:
    """Every command with its usage, what it does and each of its options, from the parser `pqdrop` runs."""
    from pqdrop.commands import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage to the terminal: the page must not depend on it
    try:
        parser = build_parser()
        return _cli_reference(parser)
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def _cli_reference(parser: argparse.ArgumentParser) -> str:
    lines = ["Options of `pqdrop` itself (`--config` and `-v` also after the command's name):", "",
             *_options_table(parser), ""]
    for name, sub in _subcommands(parser):
        lines += [f"## `pqdrop {name}`", "", sub.description or "", "", "```", sub.format_usage().strip(), "```", ""]
        own = [action for action in sub._actions if action.dest not in ("help", "config", "verbose")]
        if own:
            lines += [*_options_table(sub, own), ""]
    return "\n".join(lines)


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _options_table(parser: argparse.ArgumentParser, actions: list[argparse.Action] | None = None) -> list[str]:
    chosen = actions if actions is not None else [
        action for action in parser._actions if action.dest != "help" and action.option_strings]
    rows = ["| argument | what it does |", "|---|---|"]
    for action in chosen:
        if action.option_strings:
            metavar = f" {action.metavar}" if action.metavar else (
                "" if action.nargs == 0 else f" {action.dest.upper()}")
            name = ", ".join(f"`{option}{metavar}`" for option in action.option_strings)
        else:
            name = f"`{action.metavar or action.dest}`" + (" (optional)" if action.nargs in ("?", "*") else "")
        what = (action.help or "").replace("|", "\\|")
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            what += f" (one of {', '.join(str(choice) for choice in action.choices)})"
        rows.append(f"| {name} | {what} |")
    return rows


def config_reference(example: Path | None = None) -> str:
    """Every section and key of the config: type, default, and the example config's words for it."""
    from pqdrop.config import AccountConfig, Config

    said = example_comments((example or ROOT / "config.example.toml").read_text(encoding="utf-8"))
    lines: list[str] = []
    for section, model in _sections(Config):
        lines += [f"## `[{section}]`", ""]
        if model.__doc__ and section in ("schedule", "upload"):
            lines += [model.__doc__.strip().splitlines()[0], ""]
        lines += _keys_table(model, section, said)
        lines.append("")
    account = 'accounts."@name"'
    lines += [f"## `[{account}]`", "", (AccountConfig.__doc__ or "").strip().split("\n\n", 1)[0], "",
              " ".join((AccountConfig.__doc__ or "").strip().split("\n\n", 1)[1].split()), ""]
    lines += _keys_table(AccountConfig, account, said)
    return "\n".join(lines) + "\n"


def _sections(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            section = f"{prefix}.{name}" if prefix else name
            yield section, annotation
            yield from _sections(annotation, section)


def _keys_table(model: type[BaseModel], section: str, said: dict[tuple[str, str], str]) -> list[str]:
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue  # its own section
        if field.is_required():
            default = "**required**"
        else:
            value = field.get_default(call_default_factory=True)
            default = "(none)" if value is None else f"`{_toml(value)}`"
        words = said.get((section, name), "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type_name(annotation)} | {default} | {words} |")
    return rows


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def _type_name(annotation: Any) -> str:
    """A type as a config's reader thinks of it: text, number, a choice, a list of ..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (types.UnionType, typing.Union):
        kinds = [_type_name(arg) for arg in args if arg is not type(None)]
        return " or ".join(kinds)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{arg}"`' for arg in args)
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}" if args else "list"
    names = {str: "text", int: "whole number", float: "number", bool: "true/false", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def example_comments(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> what config.example.toml says of it: its inline comment, else the comment block above.

    Keys in one block under one comment (the four rate limits) share its words.
    """
    found: dict[tuple[str, str], str] = {}
    section, shared = "", ""
    block: list[str] = []
    for line in text.splitlines():
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            section = 'accounts."@name"' if header[1].startswith("accounts") else header[1]
            block, shared = [], ""
            continue
        key = re.match(r"^#? ?(\w+) = [^#]*?(?:#\s*(.*))?$", line)
        if key and (not line.startswith("#") or re.match(r'^# \w+ = ("|\[|\d|true|false)', line)):
            if block:
                shared, block = " ".join(block), []
            found.setdefault((section, key[1]), (key[2] or shared).strip())
        elif line.startswith("#"):
            block.append(line.lstrip("# ").rstrip())
        elif not line.strip():
            block, shared = [], ""
    return found


# What each sidecar key does, in a reader's words; sidecar_keys() refuses a key the sidecar takes that has none.
SIDECAR_KEY_WORDS: dict[str, str] = {
    "account": 'the account, by username (`"@mybrand"`, quoted: YAML reserves `@`) or id; default `[defaults].account`',
    "caption": "the caption, instead of the text below the closing `---`; quote it when it holds `#`",
    "dispatchAt": "when: a time with an offset or `Z`; without one, in `[defaults].timezone` (or the account's); "
                  "`now`; `next`, the account's next free slot. Absent: now (the next slot with `[schedule].auto`)",
    "intent": "`draft` (to the creator's TikTok inbox) or `publish`; default `[defaults].intent`",
    "platform": "the platform of the target's account (PostQued v2); default `[defaults].platform`",
    "options": "a table of the platform's options ([platforms](platforms.md)); shared by every target at the top",
    "repost": "`true`: post media already posted to the same accounts within 7 days (else `DUPLICATE`)",
    "targets": "a list of targets, each with the keys marked \"target\" and TikTok's options; top-level keys are "
               "their defaults",
    "cancel": "`true` in a sidecar in `scheduled/`: cancel the post (refused in a fresh drop)",
    "privacyLevel": "who sees the post",
    "disableDuet": "no duets (videos only)",
    "disableStitch": "no stitches (videos only)",
    "disableComment": "no comments",
    "videoCoverTimestampMs": "the cover frame, in milliseconds from the start (videos only)",
    "autoAddMusic": "let TikTok add music (photo posts)",
    "brandContentToggle": "paid partnership: promotes a third party (never with `SELF_ONLY`)",
    "brandOrganicToggle": "promotes your own business",
    "photoCoverIndex": "which photo is the cover, from 0",
}


def sidecar_keys() -> str:
    """Every key a sidecar takes, where it may stand, its kind and what it does."""
    from pqdrop.platforms.tiktok import OPTION_CHOICES, OPTION_TYPES
    from pqdrop.sidecar.parse import ENTRY_KEYS, TOP_LEVEL_KEYS

    missing = [key for key in TOP_LEVEL_KEYS if key not in SIDECAR_KEY_WORDS]
    if missing:
        raise KeyError(f"sidecar keys without words in SIDECAR_KEY_WORDS: {', '.join(missing)}")
    rows = ["| key | where | value | what it does |", "|---|---|---|---|"]
    for key in TOP_LEVEL_KEYS:
        where = "top, target" if key in ENTRY_KEYS else "top"
        if key in OPTION_CHOICES:
            kind = " \\| ".join(f"`{choice}`" for choice in OPTION_CHOICES[key])
        elif key in OPTION_TYPES:
            kind = _type_name(OPTION_TYPES[key])
        else:
            kind = {"targets": "list of tables", "options": "table", "repost": "true/false",
                    "cancel": "true/false"}.get(key, "text")
        label = f"`{key}` (TikTok)" if key in OPTION_TYPES else f"`{key}`"
        rows.append(f"| {label} | {where} | {kind} | {SIDECAR_KEY_WORDS[key]} |")
    return "\n".join(rows) + "\n"


def platform_options() -> str:
    from pqdrop.platforms import markdown_table

    return markdown_table() + "\n"


def tiktok_rules() -> str:
    from pqdrop.platforms.tiktok import rules_markdown

    return rules_markdown() + "\n"


def tiktok_answers() -> str:
    """What pqdrop does with each of TikTok's error codes PostQued relays."""
    from pqdrop.platforms.tiktok import ANSWERS

    rows = ["| TikTok's code | pqdrop | what it means |", "|---|---|---|"]
    for code, answer in ANSWERS.items():
        rows.append(f"| `{code}` | {answer.reaction} | {answer.meaning.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


def exit_codes() -> str:
    """The exit codes as pqdrop.errors defines them, each with its comment there."""
    import pqdrop.errors as errors

    source = Path(errors.__file__).read_text(encoding="utf-8")
    rows = ["| code | name | meaning |", "|---|---|---|"]
    for name, value, comment in re.findall(r"^(EXIT_\w+) = (\d+)\s+#\s*(.*)$", source, flags=re.MULTILINE):
        rows.append(f"| **{value}** | `{name}` | {comment} |")
    return "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "sidecar-keys": sidecar_keys,
    "config": config_reference,
    "platform-options": platform_options,
    "tiktok-rules": tiktok_rules,
    "tiktok-answers": tiktok_answers,
    "exit-codes": exit_codes,
}


def regenerated(text: str) -> str:
    """`text` with every generated block written afresh."""
    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise KeyError(f"no generator named {name!r}; known: {', '.join(GENERATORS)}")
        return f"{match[1]}{GENERATORS[name]()}{match[4]}"

    return BLOCK.sub(fill, text)


def pages(docs: Path) -> list[Path]:
    """The Markdown pages under `docs` that hold a generated block."""
    return sorted(path for path in docs.rglob("*.md") if BLOCK.search(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pqdrop.commands.docs", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming each stale page")
    parser.add_argument("docs", nargs="?", default=str(ROOT / "docs"),
                        help="the docs folder (default: the checkout's)")
    args = parser.parse_args(argv)
    stale = []
    for path in pages(Path(args.docs)):
        text = path.read_text(encoding="utf-8")
        fresh = regenerated(text)
        if fresh != text:
            stale.append(path)
            if not args.check:
                path.write_text(fresh, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'stale; run make docs (python -m pqdrop.commands.docs)' if args.check else 'regenerated'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
