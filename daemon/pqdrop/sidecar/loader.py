"""The YAML of a sidecar's frontmatter: PyYAML's safe loader, stricter where its silent choices mislead."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml


class DuplicateKey(yaml.YAMLError):
    """A mapping names the same key twice."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


# Bounds on what a stranger's frontmatter may cost (issue 21): no real sidecar nests past a handful of
# levels nor holds more than a few hundred values, while a "billion laughs" of aliases expands to 10**9.
MAX_DEPTH = 32
MAX_VALUES = 10_000


class TooComplex(yaml.YAMLError):
    """A frontmatter nested too deep, too large once its aliases are written out, or referring to itself."""

    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


class SidecarLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where its silent choices could post at the wrong time."""

    _depth = 0
    _composed = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """A node, refused past MAX_DEPTH levels (PyYAML's composer recurses, so [[[[... would overflow), and
        the document refused at its MAX_VALUES-th node while it is still read, so a stranger's megabyte of
        keys costs a tenth of a second, not the seconds a whole parse takes."""
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise TooComplex(f"nested deeper than {MAX_DEPTH} levels", line)
            if self._composed > MAX_VALUES:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise TooComplex(f"holds more than {MAX_VALUES:,} values", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        """The document's node, refused when its aliases written out make more than MAX_VALUES values."""
        node = super().get_single_node()
        if node is not None:
            _count_values(node, {}, set())
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Keys as written (`on:` stays "on"), and a repeated key is an error, not last-one-wins."""
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain word such as caption", key_node.start_mark
                )
            key = str(key_node.value)
            if key in mapping:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # PyYAML's own timestamps differ by version (5.3 made offsets aware, older ones gave naive
    # UTC) and turn "2026-12-01" into a date; keeping the text gives bare and quoted one parser.
    return str(loader.construct_scalar(node))


SidecarLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _sexagesimal_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    # YAML 1.1 reads 18:00 as the base-60 number 1080 and 1:30 as 90: a time of day or a caption
    # would reach the post as a number nobody wrote. YAML 1.2 dropped that; so does pqdrop.
    text = str(loader.construct_scalar(node))
    if ":" in text:
        return text
    if node.tag.endswith(":int"):
        return loader.construct_yaml_int(node)
    return loader.construct_yaml_float(node)


SidecarLoader.add_constructor("tag:yaml.org,2002:int", _sexagesimal_as_text)
SidecarLoader.add_constructor("tag:yaml.org,2002:float", _sexagesimal_as_text)


def _count_values(node: yaml.Node, counted: dict[int, int], open_nodes: set[int]) -> int:
    """How many values `node` holds once every alias is written out; raises TooComplex past MAX_VALUES."""
    if id(node) in counted:
        return counted[id(node)]
    if id(node) in open_nodes:
        raise TooComplex("an alias refers to the value it stands in", node.start_mark.line + 1)
    total = 1
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
        open_nodes.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [part for pair in node.value for part in pair]
        for child in children:
            total += _count_values(child, counted, open_nodes)
            if total > MAX_VALUES:
                raise TooComplex(f"holds more than {MAX_VALUES:,} values once its aliases (*name) are written out",
                                 node.start_mark.line + 1)
        open_nodes.discard(id(node))
    counted[id(node)] = total
    return total


@dataclass(frozen=True)
class Reading:
    """A text value YAML would not read as typed (issue 22): where it stands and what to write instead."""

    key: str  # as a message names it: "caption", "targets[2].options.title"
    line: int  # the file's line, counting the opening --- as line 1
    problem: str


# YAML reads these plain words as nothing at all, not as the text typed.
_NULL_WORDS = ("~", "null", "Null", "NULL")
_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*")


def load_frontmatter(raw: str, text_keys: Collection[str]) -> tuple[Any, list[Reading], dict[str, int]]:
    """The frontmatter's value, with every value of a key in `text_keys` kept as typed or named in a Reading,
    and the line of every key ("targets[2].title": 7), so problems can be told in the file's order.

    A number, a date or a boolean in a text key is kept as its characters (`title: 1984` is "1984",
    `caption: 3.10` is "3.10"); what YAML would change beyond that — a ` #` that starts a comment,
    a null, lines joined into one — is a Reading. Raises what PyYAML raises, and DuplicateKey.
    """
    loader = SidecarLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [], {}
        walk = _TextWalk(raw.split("\n"), frozenset(text_keys))
        walk.node(node, "", text=False, column=0)
        return loader.construct_document(node), walk.readings, walk.key_lines
    finally:
        loader.dispose()


class _TextWalk:
    """Walks the composed frontmatter, marking each text value's plain scalars as text and naming what YAML drops."""

    def __init__(self, lines: list[str], text_keys: frozenset[str]) -> None:
        self.lines, self.text_keys = lines, text_keys
        self.readings: list[Reading] = []
        self.key_lines: dict[str, int] = {}

    def node(self, node: yaml.Node, key: str, *, text: bool, column: int) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                inner = name in self.text_keys or (text and name == "text")  # firstComment: {text: ...}
                path = f"{key}.{name}" if key else name
                self.key_lines.setdefault(path, key_node.start_mark.line + 1)
                self.node(value_node, path, text=inner, column=key_node.start_mark.column)
        elif isinstance(node, yaml.SequenceNode):
            for number, item in enumerate(node.value, start=1):
                self.key_lines.setdefault(f"{key}[{number}]", item.start_mark.line + 1)
                self.node(item, f"{key}[{number}]", text=text, column=column)
        elif text and isinstance(node, yaml.ScalarNode):
            self.scalar(node, key, column)

    def scalar(self, node: yaml.ScalarNode, key: str, column: int) -> None:
        line = node.start_mark.line + 1
        comment = self._comment(node, column)
        if comment is not None:
            # Almost surely hashtags, yet YAML (and every other tool) reads a comment: refused, never guessed.
            after = self.lines[node.end_mark.line][node.end_mark.column:].lstrip(" \t")
            flow = after[:1] in ("]", "}")  # the comment follows a closing bracket: where it belonged is a guess
            typed = f"{node.value} {comment}".strip() if node.style is None and not flow else None
            quoted = f"{key.rpartition('.')[2]}: {_quoted(typed)}" if typed and not key.endswith("]") else None
            if quoted or typed:
                fix = f"quote the whole text: {quoted or _quoted(str(typed))}" + self._below(key)
            elif flow:
                fix = ("put it inside the brackets, in quotes, if it belongs to the text, or move the comment onto a "
                       "line of its own")
            elif node.style in ("|", ">"):
                fix = "move it into the text below if it belongs there, or onto a line of its own"
            else:
                fix = "put it inside the quotes if it belongs to the text, or move the comment onto a line of its own"
            self.readings.append(Reading(key, line, (
                f"YAML reads {_quoted(comment)} on line {line} as a comment and would drop it from the text; {fix}")))
            return
        if node.style in (None, '"', "'") and node.end_mark.line != node.start_mark.line:
            # YAML folds a line break inside a plain or quoted value into a space: a caption's lines would run together.
            last = node.end_mark.line + 1
            self.readings.append(Reading(key, line, (
                f"runs over lines {line}-{last}, and YAML would join them into one line; write "
                f"{key.rpartition('.')[2]}: | with the text indented below it" + self._below(key, "where line "
                                                                                         "breaks are kept"))))
            return
        if node.style is not None:  # quoted on one line, or a block (| or >): YAML keeps the characters
            return
        if node.tag == "tag:yaml.org,2002:null":
            word = node.value
            self.readings.append(Reading(key, line, (
                f"{word} is YAML's word for no value, not text; write {key.rpartition('.')[2]}: \"{word}\" if you "
                "mean it, or leave the key out" if word in _NULL_WORDS else
                "is empty; write the text after the colon, in quotes when it holds a # or a colon" + self._below(key)
                + ", or leave the key out")))
            return
        # A number, a date or a boolean: kept as the characters typed (`title: 1984`, `caption: yes`).
        node.tag = "tag:yaml.org,2002:str"

    def _comment(self, node: yaml.ScalarNode, column: int) -> str | None:
        """A comment YAML would drop from this value: on its own line, or on indented lines right below it."""
        if node.style in ("|", ">"):
            header = self.lines[node.start_mark.line][node.start_mark.column:]
            indicator = _BLOCK_HEADER.match(header)
            rest = header[indicator.end():] if indicator else header
            return rest.strip() if rest.strip().startswith("#") else None
        end = node.end_mark
        # After the last value of a flow collection (`tags: [a, b] #c`), past its closing brackets.
        rest = self.lines[end.line][end.column:].lstrip(" \t")
        if rest.startswith("#"):
            return rest
        if rest[:1] in ("]", "}") and rest.lstrip(" \t]}").startswith("#"):
            return rest.lstrip(" \t]}")
        below = []
        for line in self.lines[end.line + 1:]:
            stripped = line.strip()
            if not stripped.startswith("#") or len(line) - len(line.lstrip()) <= column:
                break
            below.append(stripped)
        return " ".join(below) or None

    @staticmethod
    def _below(key: str, why: str = "") -> str:
        if key != "caption":  # a target's own caption has no body to move to
            return ""
        return f", or put the caption below the closing ---{f' ({why})' if why else ''}"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
