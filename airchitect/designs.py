"""Command-line input to library objects: designs, workloads, budgets.

The CLI only parses flags and prints; everything that turns a flag value or an input file into a
:class:`HardwareConfig`, a :class:`Network` or a budget verdict lives here, so it can be used and
tested without Typer. Every error is a ``ValueError`` whose message names the flag or the file and
the offending field, ready to be shown as one line.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from airchitect.cost.mapper import Objective
from airchitect.cost.validation import EYERISS_LIKE, SCALESIM_WS32
from airchitect.limits import COUNTS, brief, check
from airchitect.readers import load_document
from airchitect.space import (
    HARDWARE_KNOBS,
    Budget,
    BudgetViolation,
    DesignSpace,
    HardwareBatch,
    HardwareConfig,
    check_budget,
    hardware_area_mm2,
    hardware_power_mw,
)
from airchitect.workloads import (
    ZOO,
    Layer,
    Network,
    WorkloadError,
    build_llm,
    get_network,
    load_layers_table,
    load_llm_config,
    load_onnx,
)

#: Used when neither ``--design`` nor ``--preset`` is given: a mid-sized weight-stationary array.
DEFAULT_DESIGN = HardwareConfig(16, 16, 512, 256, 16, 16, "ws")
PRESETS: dict[str, HardwareConfig] = {"eyeriss-like": EYERISS_LIKE, "scalesim-ws32": SCALESIM_WS32}
#: Knobs that are counts (PEs, bytes): a design file must give them as integers.
_INTEGER_KNOBS = ("pe_rows", "pe_cols", "l1_bytes")
#: Keys a ``--layer`` spec accepts: the Layer fields (``meta`` is provenance, not shape).
LAYER_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Layer) if f.name != "meta")
_IMPORT_SUFFIXES = (".onnx", ".csv", ".yaml", ".yml")
_FIELD_RE = re.compile(r"field '(\w+)'")


@contextmanager
def flag(name: str) -> Iterator[None]:
    """Prefix any ValueError (or missing file) raised inside with the flag that caused it."""
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def _flag_of_field(exc: ValueError) -> ValueError:
    """Name the flag behind a library error about field ``x_y`` (set by ``--x-y``)."""
    found = _FIELD_RE.search(str(exc))
    return ValueError(f"--{found.group(1).replace('_', '-')}: {exc}" if found else str(exc))


def existing_file(path: Path | str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"not a file: {path}")
    return path


# -- designs ---------------------------------------------------------------------------------------


def _hardware(values: dict[str, Any]) -> HardwareConfig:
    """HardwareConfig from plain values; counts must be whole numbers (16.0 is fine, 16.5 not)."""
    values = dict(values)
    for knob in _INTEGER_KNOBS:
        value = values[knob]
        if isinstance(value, float) and value.is_integer():
            values[knob] = int(value)
        elif isinstance(value, float):  # non-numbers are HardwareConfig's to report
            raise ValueError(f"field {knob!r} must be a positive integer, got {value!r}")
    return HardwareConfig(**values)


def load_design(path: Path | str) -> HardwareConfig:
    """A design file: YAML, or JSON (``.json``), setting exactly the seven hardware knobs."""
    path = Path(path)
    doc = load_document(path, "design")
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(HARDWARE_KNOBS)}")
    unknown = sorted(str(key) for key in doc if key not in HARDWARE_KNOBS)
    if unknown:
        raise ValueError(
            f"{path}: unknown key {brief(unknown[0])}; allowed: {', '.join(HARDWARE_KNOBS)}"
        )
    missing = [knob for knob in HARDWARE_KNOBS if knob not in doc]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r}")
    try:
        return _hardware(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def resolve_design(
    design: Path | None, preset: str | None, overrides: dict[str, Any]
) -> HardwareConfig:
    """The design a command runs on: file or preset or the default, then per-knob flags on top."""
    if design is not None and preset is not None:
        raise ValueError("--design and --preset are exclusive; give one (knob flags override it)")
    if design is not None:
        with flag("--design"):
            base = load_design(existing_file(design))
    elif preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"--preset: unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
        base = PRESETS[preset]
    else:
        base = DEFAULT_DESIGN
    given = {knob: value for knob, value in overrides.items() if value is not None}
    try:
        return _hardware(base.to_dict() | given)
    except ValueError as exc:  # the base is valid, so an override caused it: name its flag
        raise _flag_of_field(exc) from None


def parse_objective(value: str) -> Objective:
    with flag("--objective"):
        return Objective.parse(value)


def make_budget(area_mm2: float | None, power_mw: float | None) -> Budget:
    try:
        return Budget(area_mm2, power_mw)
    except ValueError as exc:
        raise _flag_of_field(exc) from None


def exceeded(reason: int) -> list[str]:
    """Names of the budget axes a BudgetViolation code says are exceeded."""
    return [v.name.lower() for v in (BudgetViolation.AREA, BudgetViolation.POWER) if reason & v]


def budget_report(hw: HardwareConfig, budget: Budget) -> dict[str, Any]:
    """The ``budget`` section of ``evaluate``: the limits and whether ``hw`` fits them."""
    feasible, reason = check_budget(hw, budget)
    return budget.to_dict() | {"feasible": bool(feasible[0]), "exceeded": exceeded(int(reason[0]))}


def sample_points(space: DesignSpace, n: int, seed: int, budget: Budget) -> list[dict[str, Any]]:
    """``n`` sampled hardware points with their area, power and budget verdict."""
    check("n", n, COUNTS["sample_n"], where="--n: ")
    batch: HardwareBatch = space.sample(n, seed)
    feasible, reason = check_budget(batch, budget)
    area, power = hardware_area_mm2(batch), hardware_power_mw(batch)
    return [
        {
            "hardware": batch.config(i).to_dict(),
            "area_mm2": float(area[i]),
            "power_mw": float(power[i]),
            "feasible": bool(feasible[i]),
            "exceeded": exceeded(int(reason[i])),
        }
        for i in range(len(batch))
    ]


# -- workloads -------------------------------------------------------------------------------------


def parse_layer_spec(spec: str) -> Layer:
    """``"k=64,c=64,p=56,..."`` -> Layer. ``k`` and ``c`` are required; ``n`` defaults to 1."""
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise WorkloadError(f"expected key=value, got {brief(item)}")
        if key not in LAYER_KEYS:
            raise WorkloadError(f"unknown key {brief(key)}; allowed: {', '.join(LAYER_KEYS)}")
        if key in values:
            raise WorkloadError(f"key {key!r} given twice")
        if key in ("name", "op"):
            values[key] = value.lower() if key == "op" else value
        elif re.fullmatch(r"[+-]?\d{1,40}", value):  # more digits: far beyond any limit
            values[key] = int(value)
        else:
            raise WorkloadError(f"field {key!r} must be a positive integer, got {brief(value)}")
    missing = [key for key in ("k", "c") if key not in values]
    if missing:
        raise WorkloadError(f"missing required key {missing[0]!r} in {brief(spec)}")
    values.setdefault("name", "layer")
    values.setdefault("n", 1)
    return Layer(**values)


def _reject(given: dict[str, Any], allowed: set[str], what: str) -> None:
    """Shape flags that the chosen workload would silently ignore are errors instead."""
    for key in given:
        if key not in allowed:
            raise ValueError(f"{what} does not take --{key.replace('_', '-')}")


def _zoo_network(name: str, shape: dict[str, Any]) -> Network:
    if name not in ZOO:
        return get_network(name)  # raises the library's error listing the allowed names
    # builders differ (only transformers take seq_len, only LLMs a phase): ask the signature
    _reject(shape, set(inspect.signature(ZOO[name]).parameters), f"network {name!r}")
    return get_network(name, **shape)


def load_workload(
    model: str | None = None,
    layer: str | None = None,
    onnx: Path | None = None,
    layers: Path | None = None,
    llm_config: str | None = None,
    **shape: Any,
) -> Network:
    """The one workload named by exactly one source flag; ``shape`` holds batch, seq_len, ..."""
    sources = {"--model": model, "--layer": layer, "--onnx": onnx, "--layers": layers,
               "--llm-config": llm_config}  # fmt: skip
    chosen = [name for name, value in sources.items() if value is not None]
    if len(chosen) != 1:
        got = f" (got {', '.join(chosen)})" if chosen else ""
        raise ValueError(f"give exactly one workload: {', '.join(sources)}{got}")
    shape = {key: value for key, value in shape.items() if value is not None}
    with flag(chosen[0]):
        if model is not None:
            return _zoo_network(model, shape)
        if llm_config is not None:
            return build_llm(load_llm_config(llm_config), **shape)
        if onnx is not None or layers is not None:
            return _from_file(onnx or layers, shape)
        _reject(shape, set(), "a single layer (set n= in the spec)")
        spec = parse_layer_spec(layer or "")
        return Network(spec.name, "layer", (spec,))


def _from_file(path: Path | str, shape: dict[str, Any]) -> Network:
    path = existing_file(path)
    if path.suffix.lower() == ".onnx":
        _reject(shape, {"batch"}, "an ONNX model")
        return load_onnx(path, shape.get("batch"))
    _reject(shape, set(), "a layer table")
    return load_layers_table(path)


def import_workload(path: Path | str, batch: int | None = None) -> Network:
    """An ONNX model or a CSV/YAML layer table, chosen by the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in _IMPORT_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported extension {suffix!r}; use {', '.join(_IMPORT_SUFFIXES)}"
        )
    return _from_file(path, {} if batch is None else {"batch": batch})


def largest_layer_sizes(space: DesignSpace, network: Network) -> dict[str, Any]:
    """Mapping-space and joint-space size of the network's largest (most MACs) layer."""
    big = max(network.layers, key=lambda layer: layer.macs)
    return {
        "name": network.name,
        "largest_layer": big.name,
        "macs": big.macs,
        "mapping_size": space.mapping_size(big),
        "joint_size": space.joint_size(big),
    }


def as_json(value: Any) -> Any:
    """``json.dumps`` default: numpy scalars and arrays to plain Python."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
