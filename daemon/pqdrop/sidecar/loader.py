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


class SidecarLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where its silent choices could post at the wrong time."""

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
