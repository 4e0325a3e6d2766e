"""Reading input files: text, JSON and YAML documents, each refused quickly with a named error.

Every reader of a user file goes through here, so they all refuse the same things the same way
and name the file: bytes that are not UTF-8, nesting deeper than :data:`MAX_DEPTH`, YAML alias
bombs, repeated keys, non-finite numbers and integers outside int64 (see
:mod:`airchitect.strict_yaml`). JSON files (``.json``) are read by a JSON parser, so ``1e2`` is a
number in them as JSON says, whatever YAML 1.1 thinks of it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from airchitect.limits import brief
from airchitect.strict_yaml import INT64_MAX, MAX_DEPTH, MAX_NODES, DuplicateKeyError, StrictLoader


class InputFileError(ValueError):
    """An input file cannot be read or parsed; the message names the file and the place."""


def read_text(path: str | Path, what: str = "file", source: str | None = None) -> str:
    """A file's text as UTF-8 (a leading byte-order mark is dropped); errors start with
    ``source`` (default: the path)."""
    path = Path(path)
    source = source or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{source}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(
            f"{source}: {what} is not UTF-8 text (line {line}, byte {exc.start}: {exc.reason})"
        ) from None


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML with :class:`StrictLoader`; every problem is one :class:`InputFileError`."""
    try:
        doc = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
    except DuplicateKeyError as exc:  # its problem names the key and both lines
        raise InputFileError(f"{source}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InputFileError(f"{source}: invalid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:  # a belt to the loader's braces: it refuses deep nesting itself
        raise InputFileError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    check_tree(doc, source)
    return doc


def load_json(text: str, source: str) -> Any:
    """Parse JSON strictly: repeated keys, ``NaN``/``Infinity`` and deep nesting are errors."""
    try:
        doc = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{source}: invalid JSON: {exc}") from None
    except RecursionError:
        raise InputFileError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # repeated key, constant, or an integer of thousands of digits
        raise InputFileError(f"{source}: invalid JSON: {exc}") from None
    check_tree(doc, source)
    return doc


def load_document(path: str | Path, what: str = "file") -> Any:
    """A JSON (``.json``) or YAML (anything else) file, parsed and checked."""
    path = Path(path)
    text = read_text(path, what)
    loader = load_json if path.suffix.lower() == ".json" else load_yaml
    return loader(text, str(path))


def check_tree(doc: Any, source: str) -> None:
    """Refuse nesting past :data:`MAX_DEPTH`, more than :data:`MAX_NODES` values, non-finite
    floats and integers outside int64, naming where (``a.b[2]``); iterative, so never deep."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    seen = 0
    while stack:
        value, where, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise InputFileError(f"{source}: more than {MAX_NODES:,} values")
        at = f" at {where}" if where else ""
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise InputFileError(f"{source}: non-finite number {value!r}{at}")
        if isinstance(value, int) and abs(value) > INT64_MAX:
            raise InputFileError(
                f"{source}: {brief(value)}{at} is outside the 64-bit range (at most 2**63 - 1)"
            )
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise InputFileError(f"{source}: nested deeper than {MAX_DEPTH} levels{at}")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                child = f"{where}[{key}]" if isinstance(value, list) else _join(where, key)
                stack.append((item, child, depth + 1))


def _join(where: str, key: Any) -> str:
    name = key if isinstance(key, str) and len(key) <= 60 else brief(key)
    return f"{where}.{name}" if where else str(name)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {brief(key)}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (give a finite one)")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: the problem and its line, without PyYAML's multi-line excerpt of the file."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "mark", None)
    if problem is None:
        return " ".join(str(exc).split())
    at = f"line {mark.line + 1}: " if mark is not None else ""
    return f"{at}{problem}"
