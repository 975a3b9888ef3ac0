"""The YAML of a sidecar's frontmatter: PyYAML's safe loader, stricter where its silent choices mislead."""

from __future__ import annotations

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

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """A node, refused past MAX_DEPTH levels (PyYAML's composer recurses, so [[[[... would overflow)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise TooComplex(f"nested deeper than {MAX_DEPTH} levels", line)
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
