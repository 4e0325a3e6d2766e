"""A YAML loader that refuses repeated keys and hostile documents, shared by every file format
the project reads.

Besides repeated keys it refuses, each with the line it was found on: nesting deeper than
:data:`MAX_DEPTH` (checked while scanning, before PyYAML's quadratic bookkeeping of deeply nested
flow collections or its recursive composer can take seconds), documents whose aliases expand to
more than :data:`MAX_NODES` nodes (the "billion laughs" bomb; merge keys and modest reuse still
work), recursive aliases, non-finite floats (``.inf``, ``.nan``) and integers outside int64.
Scalars are read the YAML 1.2 core-schema (and JSON) way, so a number always means what it says:
``1e2`` is 100.0 (not the string ``"1e2"``), ``016`` is 16 (not octal 14), ``true``/``false``
are the only booleans (``no`` and ``on`` stay strings) and YAML 1.1's ``1:30`` (90),
``1_000`` and ``0b11`` stay strings, which the field's own check then refuses as written.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

#: Deepest nesting of collections a document may have.
MAX_DEPTH = 32
#: Most nodes a document may hold once every alias is expanded.
MAX_NODES = 100_000
INT64_MAX = (1 << 63) - 1


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key; ``problem`` names the key and both lines."""


class HostileDocumentError(yaml.YAMLError):
    """Too deep, too large once expanded, recursive, or holding a number outside the limits."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        self.problem = problem
        self.mark = mark
        at = f"line {mark.line + 1}: " if mark is not None else ""
        super().__init__(f"{at}{problem}")


# The YAML 1.2 core schema's scalars (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_YAML12_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_YAML12_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_YAML11_TAGS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects repeated keys and hostile documents (see the module).

    Plain PyYAML keeps the last of two equal keys, so ``pe_rows`` written twice would silently
    drop a grid. Keys merged in with ``<<`` may still be overridden, as YAML intends.
    """

    # -- scanning: nesting depth ------------------------------------------------------------------
    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise HostileDocumentError(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def add_indent(self, column: int) -> bool:
        added = super().add_indent(column)
        if len(self.indents) > MAX_DEPTH:
            raise HostileDocumentError(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return added

    # -- composing: alias expansion ---------------------------------------------------------------
    def compose_document(self) -> Any:
        node = super().compose_document()
        _check_expansion(node)
        return node

    # -- constructing: keys and numbers -----------------------------------------------------------
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise HostileDocumentError(
                f"non-finite number {node.value!r} (give a finite one)", node.start_mark
            )
        return value

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = node.value.replace("_", "").lstrip("+-")
        if len(digits) > 40:  # int() of thousands of digits is slow or refused outright
            too_long = _too_large(f"a {len(digits)}-digit integer")
            raise HostileDocumentError(too_long, node.start_mark)
        text = node.value
        if text.startswith(("0x", "0o")):
            value = int(text[2:], 16 if text[1] == "x" else 8)
        else:
            value = int(text, 10)  # "016" is 16: YAML 1.2 has no implicit octal
        if abs(value) > INT64_MAX:
            raise HostileDocumentError(_too_large(f"integer {node.value}"), node.start_mark)
        return value


StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)
StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
# Replace SafeLoader's YAML 1.1 resolvers for booleans and numbers with the 1.2 core ones (the
# per-class copy leaves SafeLoader itself untouched). Integers are tried before floats.
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _YAML12_BOOL, list("tTfF"))
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:int", _YAML12_INT, list("-+0123456789"))
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+.0123456789"))


def _too_large(what: str) -> str:
    return f"{what} is outside the 64-bit range (at most 2**63 - 1)"


def _check_expansion(root: Any) -> None:
    """Expanded node count of a composed document, iteratively; aliases share node objects."""
    if root is None:
        return
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_NODES:
                raise HostileDocumentError(
                    f"aliases expand the document past {MAX_NODES:,} nodes", node.start_mark
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise HostileDocumentError("an alias refers to its own node", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: Any) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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
            from airchitect.limits import brief

            raise DuplicateKeyError(
                None, None, f"duplicate key {brief(key)} at line {line} (first at line {seen})",
                key_node.start_mark,
            )  # fmt: skip
        first_line[key] = line
