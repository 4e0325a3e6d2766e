"""A YAML loader that refuses repeated keys, shared by every file format the project reads."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key; ``problem`` names the key and both lines."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a mapping key repeated at any depth.

    Plain PyYAML keeps the last of two equal keys, so ``pe_rows`` written twice would silently
    drop a grid. Keys merged in with ``<<`` may still be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def _check_duplicate_keys(loader: StrictLoader, node: yaml.MappingNode) -> None:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            seen = first_line.get(key)
        except TypeError:  # unhashable key: let SafeLoader report it
            continue
        if seen is not None:
            raise DuplicateKeyError(
                None, None, f"duplicate key {key!r} at line {line} (first at line {seen})",
                key_node.start_mark,
            )  # fmt: skip
        first_line[key] = line
