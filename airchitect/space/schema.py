"""Design-space files: a strict YAML loader and the validator that turns a file into plain data.

A space file names every hardware knob with its grid of values and, optionally, the mapping
space tried on each hardware point. Validation is strict because a silently ignored typo (a
misspelled knob, a repeated key that YAML would quietly overwrite) changes which designs a search
sees without anyone noticing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from airchitect import limits
from airchitect.limits import brief
from airchitect.readers import InputFileError, read_text
from airchitect.readers import load_json as _load_json
from airchitect.readers import load_yaml as _load_yaml
from airchitect.space.hardware import HARDWARE_KNOBS, Dataflow

TOP_LEVEL_KEYS: tuple[str, ...] = ("name", "description", "hardware", "mapping")
MAPPING_KEYS: tuple[str, ...] = ("trip_options", "batch_trip_options", "pe_reuse")
#: Knobs whose grid values must be integers (array extents and per-PE bytes).
INTEGER_KNOBS: frozenset[str] = frozenset({"pe_rows", "pe_cols", "l1_bytes"})
#: Knobs without an order; every other knob is ordinal and listed ascending.
CATEGORICAL_KNOBS: frozenset[str] = frozenset({"dataflow"})


class SpaceError(ValueError):
    """A design-space definition is malformed; the message names the file and the field."""


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text strictly (:mod:`airchitect.readers`); any problem is a
    :class:`SpaceError`."""
    try:
        return _load_yaml(text, f"space {source!r}")
    except InputFileError as exc:
        raise SpaceError(str(exc)) from None


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a space file (YAML, or JSON if ``.json``); returns the content
    :func:`validate_space` produces."""
    path = Path(path)
    try:
        source = f"space {str(path)!r}"
        text = read_text(path, "file", source)
        loader = _load_json if path.suffix.lower() == ".json" else _load_yaml
        data = loader(text, source)
    except InputFileError as exc:
        raise SpaceError(str(exc)) from None
    return validate_space(data, source=str(path), default_name=path.stem)


def validate_space(data: Any, source: str = "<dict>", default_name: str = "") -> dict[str, Any]:
    """Check a parsed space and return ``{name, description, hardware, mapping}``.

    ``hardware`` maps every knob (in :data:`HARDWARE_KNOBS` order) to a tuple of grid values,
    dataflows as :class:`Dataflow`; ``mapping`` holds only the keys the file gave.
    """
    where = f"space {source!r}"
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: top level must be a mapping, got {_type_name(data)}")
    _reject_unknown(data, TOP_LEVEL_KEYS, where, "key")
    name = data.get("name", default_name or "unnamed")
    description = data.get("description", "")
    for field, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise SpaceError(f"{where}: {field}: must be a string, got {brief(value)}")
    if not name.strip():
        raise SpaceError(f"{where}: name: must not be empty")
    if "hardware" not in data:
        raise SpaceError(f"{where}: hardware: section is required")
    return {
        "name": name,
        "description": description,
        "hardware": _validate_hardware(data["hardware"], where),
        "mapping": _validate_mapping(data.get("mapping", {}), where),
    }


def _validate_hardware(section: Any, where: str) -> dict[str, tuple]:
    if not isinstance(section, dict):
        raise SpaceError(f"{where}: hardware: must be a mapping, got {_type_name(section)}")
    _reject_unknown(section, HARDWARE_KNOBS, f"{where}: hardware", "knob")
    out: dict[str, tuple] = {}
    for knob in HARDWARE_KNOBS:
        field = f"{where}: hardware.{knob}"
        if knob not in section:
            raise SpaceError(f"{field}: knob is required (every knob must be listed)")
        values = _non_empty_list(section[knob], field)
        if knob in CATEGORICAL_KNOBS:
            out[knob] = _dataflows(values, field)
        else:
            out[knob] = _ascending_numbers(values, field, integer=knob in INTEGER_KNOBS)
            _within(values, knob, limits.HARDWARE[knob], field)
    return out


def _within(values: list, name: str, bound: limits.Bound, field: str) -> None:
    for v in values:
        found = limits.problem(name, v, bound)
        if found is not None:
            raise SpaceError(f"{field}: {found}")


def _validate_mapping(section: Any, where: str) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise SpaceError(f"{where}: mapping: must be a mapping, got {_type_name(section)}")
    _reject_unknown(section, MAPPING_KEYS, f"{where}: mapping", "key")
    out: dict[str, Any] = {}
    for key in ("trip_options", "batch_trip_options"):
        if key in section:
            value = section[key]
            if not _is_int(value) or value < 1:
                raise SpaceError(
                    f"{where}: mapping.{key}: must be a positive integer, got {brief(value)}"
                )
            out[key] = value
    if "pe_reuse" in section:
        field = f"{where}: mapping.pe_reuse"
        values = _non_empty_list(section["pe_reuse"], field)
        out["pe_reuse"] = _ascending_numbers(values, field, integer=True)
        _within(values, "pe_reuse", limits.PE_REUSE, field)
    return out


def _reject_unknown(section: dict, allowed: tuple[str, ...], where: str, what: str) -> None:
    for key in section:
        if key not in allowed:
            raise SpaceError(
                f"{where}: unknown {what} {brief(key)}; allowed {what}s: {', '.join(allowed)}"
            )


def _non_empty_list(value: Any, field: str) -> list:
    if not isinstance(value, list) or not value:
        raise SpaceError(f"{field}: values must be a non-empty list, got {brief(value)}")
    return value


def _ascending_numbers(values: list, field: str, integer: bool) -> tuple:
    for v in values:
        if integer and not (_is_int(v) and v > 0):
            raise SpaceError(
                f"{field}: values must be positive integers, got {brief(v)} in {brief(values)}"
            )
        if not (_is_number(v) and v > 0 and math.isfinite(v)):
            raise SpaceError(
                f"{field}: values must be positive numbers, got {brief(v)} in {brief(values)}"
            )
    if len(set(values)) != len(values):
        raise SpaceError(f"{field}: values must not repeat, got {brief(values)}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise SpaceError(f"{field}: values must be strictly ascending, got {brief(values)}")
    return tuple(values)


def _dataflows(values: list, field: str) -> tuple[Dataflow, ...]:
    allowed = ", ".join(d.name.lower() for d in Dataflow)
    parsed: list[Dataflow] = []
    for v in values:
        if not isinstance(v, str):
            raise SpaceError(f"{field}: values must be dataflow names ({allowed}), got {brief(v)}")
        try:
            parsed.append(Dataflow.parse(v))
        except ValueError:
            raise SpaceError(f"{field}: unknown dataflow {brief(v)}; allowed: {allowed}") from None
    if len(set(parsed)) != len(parsed):
        raise SpaceError(f"{field}: values must not repeat, got {brief(values)}")
    return tuple(parsed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
