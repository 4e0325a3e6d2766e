"""The dataset's row format: one row per (workload, budget, objective) label.

Every column is flat and typed so a model can read just the columns it needs; the runners-up
are the only nested column (a list of structs). A row whose task has no feasible design
(``found`` is False) keeps its workload, task and provenance columns and has nulls in every
design and cost column.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from airchitect.cost.batch import MAPPING_FIELDS
from airchitect.search.base import Candidate, Label
from airchitect.space.hardware import HARDWARE_KNOBS, HardwareConfig
from airchitect.workloads.layer import Layer

#: Bumped whenever a column is added, removed, renamed or changes type.
SCHEMA_VERSION = 1
#: Schema metadata key that carries :data:`SCHEMA_VERSION` inside every shard file.
SCHEMA_VERSION_KEY = b"airchitect.schema_version"


class SchemaError(ValueError):
    """Rows do not conform to the dataset schema; the message names the column."""


@dataclass(frozen=True)
class WorkloadSource:
    """Where a layer came from: ``family`` ("cnn", "synthetic-conv", "llm"), model and layer."""

    family: str
    model: str
    layer: str


# ---- column groups (models select features and targets by these) ---------------------------------
ID_COLUMNS: tuple[str, ...] = ("row_id", "shard", "seed")
WORKLOAD_SOURCE_COLUMNS: tuple[str, ...] = ("family", "model", "layer_name", "op")
WORKLOAD_DIM_COLUMNS: tuple[str, ...] = (
    "n", "k", "c", "p", "q", "r", "s", "stride", "dilation", "groups", "precision_bytes", "macs",
)  # fmt: skip
WORKLOAD_COLUMNS: tuple[str, ...] = WORKLOAD_SOURCE_COLUMNS + WORKLOAD_DIM_COLUMNS
BUDGET_COLUMNS: tuple[str, ...] = ("area_budget_mm2", "power_budget_mw")
TASK_COLUMNS: tuple[str, ...] = BUDGET_COLUMNS + ("objective",)
LABEL_COLUMNS: tuple[str, ...] = ("label_method", "evals", "failures", "found")
HARDWARE_COLUMNS: tuple[str, ...] = HARDWARE_KNOBS
MAPPING_COLUMNS: tuple[str, ...] = MAPPING_FIELDS
COST_COLUMNS: tuple[str, ...] = (
    "score", "cycles", "compute_cycles", "noc_cycles", "dram_cycles", "seconds",
    "energy_pj", "edp", "energy_mac_pj", "energy_l1_pj", "energy_noc_pj", "energy_l2_pj",
    "energy_dram_pj", "area_mm2", "power_mw", "utilization", "pes_used", "noc_words",
    "dram_bytes", "bound",
)  # fmt: skip
#: The best design: null together when ``found`` is False.
DESIGN_COLUMNS: tuple[str, ...] = ("hw_index",) + HARDWARE_COLUMNS + MAPPING_COLUMNS + COST_COLUMNS
TOPK_COLUMN = "topk"
TOPK_COST_FIELDS: tuple[str, ...] = ("score", "cycles", "energy_pj", "edp", "area_mm2", "power_mw")
TOPK_FIELDS: tuple[str, ...] = ("hw_index",) + TOPK_COST_FIELDS + HARDWARE_COLUMNS

_HARDWARE_TYPES: dict[str, pa.DataType] = {
    "pe_rows": pa.int32(),
    "pe_cols": pa.int32(),
    "l1_bytes": pa.int64(),
    "l2_kib": pa.float64(),
    "noc_words_per_cycle": pa.float64(),
    "dram_bytes_per_cycle": pa.float64(),
    "dataflow": pa.string(),
}
_INT32_COLUMNS = {"shard", "r", "s", "stride", "dilation", "precision_bytes", "pe_reuse",
                  "dram_order"}  # fmt: skip
_INT64_COST = {"pes_used", "noc_words", "dram_bytes"}


def _type(name: str) -> pa.DataType:
    """Arrow type of a flat column (everything but ``topk``)."""
    if name in _HARDWARE_TYPES:
        return _HARDWARE_TYPES[name]
    if name in ("row_id", "bound", "objective", "label_method") + WORKLOAD_SOURCE_COLUMNS:
        return pa.string()
    if name == "found":
        return pa.bool_()
    if name in _INT32_COLUMNS:
        return pa.int32()
    if name in COST_COLUMNS and name not in _INT64_COST:
        return pa.float64()
    if name in BUDGET_COLUMNS:
        return pa.float64()
    return pa.int64()


def topk_type() -> pa.DataType:
    """``list<struct<hw_index, costs..., knobs...>>``, best first, the winner excluded."""
    return pa.list_(pa.struct([pa.field(name, _type(name), nullable=False)
                               for name in TOPK_FIELDS]))  # fmt: skip


def dataset_schema() -> pa.Schema:
    """The Arrow schema of every shard; design and budget columns are the nullable ones."""
    flat = ID_COLUMNS + WORKLOAD_COLUMNS + TASK_COLUMNS + LABEL_COLUMNS + DESIGN_COLUMNS
    nullable = set(BUDGET_COLUMNS) | set(DESIGN_COLUMNS)
    fields = [pa.field(name, _type(name), nullable=name in nullable) for name in flat]
    fields.append(pa.field(TOPK_COLUMN, topk_type(), nullable=False))
    return pa.schema(fields, metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})


COLUMNS: tuple[str, ...] = tuple(dataset_schema().names)


# ---- labels -> rows ------------------------------------------------------------------------------
def row_id(layer: Layer, source: WorkloadSource, budget: dict, objective: str) -> str:
    """Stable id of a task: the same workload, source, budget and objective give the same id."""
    key = {
        "source": [source.family, source.model, source.layer],
        "layer": _layer_dims(layer) | {"op": layer.op.value},
        "budget": budget,
        "objective": objective,
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _layer_dims(layer: Layer) -> dict[str, int]:
    dims = {name: getattr(layer, name) for name in WORKLOAD_DIM_COLUMNS if name != "macs"}
    return dims | {"macs": layer.macs}


def _hardware_values(hw: HardwareConfig) -> dict[str, Any]:
    values = hw.to_dict()  # dataflow as its lower-case name
    for name in ("l2_kib", "noc_words_per_cycle", "dram_bytes_per_cycle"):
        values[name] = float(values[name])
    return {name: values[name] for name in HARDWARE_COLUMNS}


def _design_values(cand: Candidate | None) -> dict[str, Any]:
    """The best-design columns of a candidate, or all nulls when there is none."""
    if cand is None:
        return dict.fromkeys(DESIGN_COLUMNS)
    out: dict[str, Any] = {"hw_index": int(cand.hw_index)}
    out |= _hardware_values(cand.hardware)
    out |= {name: int(getattr(cand.mapping, name)) for name in MAPPING_COLUMNS}
    for name in COST_COLUMNS[1:]:
        value = cand.cost[name]
        out[name] = value if name == "bound" else _number(value, name in _INT64_COST)
    out["score"] = float(cand.score)
    return out


def _number(value: Any, integral: bool) -> int | float:
    return int(value) if integral else float(value)


def _topk_entry(cand: Candidate) -> dict[str, Any]:
    entry: dict[str, Any] = {"hw_index": int(cand.hw_index), "score": float(cand.score)}
    entry |= {name: float(cand.cost[name]) for name in TOPK_COST_FIELDS[1:]}
    return entry | _hardware_values(cand.hardware)


def label_to_row(
    layer: Layer, source: WorkloadSource, label: Label, shard: int, seed: int
) -> dict[str, Any]:
    """One schema row (a plain dict) for a label of ``layer``."""
    budget = label.task.budget
    budgets = {
        "area_budget_mm2": None if budget.area_mm2 is None else float(budget.area_mm2),
        "power_budget_mw": None if budget.power_mw is None else float(budget.power_mw),
    }
    objective = label.task.objective.value
    row: dict[str, Any] = {
        "row_id": row_id(layer, source, budgets, objective),
        "shard": int(shard),
        "seed": int(seed),
        "family": source.family,
        "model": source.model,
        "layer_name": source.layer,
        "op": layer.op.value,
    }
    row |= _layer_dims(layer) | budgets | {"objective": objective}
    row |= {
        "label_method": label.method,
        "evals": int(label.evals),
        "failures": int(label.failures),
        "found": label.best is not None,
    }
    row |= _design_values(label.best)
    row[TOPK_COLUMN] = [_topk_entry(c) for c in label.top_k]
    return row


# ---- rows -> table -------------------------------------------------------------------------------
def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """A schema-conformant table; errors name the row and column that do not fit."""
    schema = dataset_schema()
    expected = set(schema.names)
    for i, row in enumerate(rows):
        missing, extra = expected - row.keys(), row.keys() - expected
        if missing:
            raise SchemaError(f"row {i}: missing column(s) {sorted(missing)}")
        if extra:
            raise SchemaError(f"row {i}: unknown column(s) {sorted(extra)}")
        _check_found(i, row)
    arrays = [_column(field, [row[field.name] for row in rows]) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _check_found(i: int, row: dict[str, Any]) -> None:
    """A found row has its whole design; a row without a design has none of it."""
    if row["found"] is None:
        return  # reported as a null in a non-nullable column
    nulls = [name for name in DESIGN_COLUMNS if row[name] is None]
    if row["found"] and nulls:
        raise SchemaError(f"row {i}: found=True but column {nulls[0]!r} is null")
    if not row["found"] and len(nulls) < len(DESIGN_COLUMNS):
        filled = next(name for name in DESIGN_COLUMNS if row[name] is not None)
        raise SchemaError(f"row {i}: found=False but column {filled!r} is set")


def _column(field: pa.Field, values: list[Any]) -> pa.Array:
    try:
        array = pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"column {field.name!r}: {exc}") from None
    if not field.nullable and array.null_count:
        raise SchemaError(f"column {field.name!r}: null in a non-nullable column")
    if pa.types.is_floating(field.type) and any(
        v is not None and not math.isfinite(v) for v in values
    ):
        raise SchemaError(f"column {field.name!r}: non-finite value")
    return array
