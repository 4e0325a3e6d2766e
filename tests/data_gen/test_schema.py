"""The row format: columns, conversion of labels to rows, and schema enforcement."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from airchitect.data_gen.schema import (
    COLUMNS,
    COST_COLUMNS,
    DESIGN_COLUMNS,
    HARDWARE_COLUMNS,
    MAPPING_COLUMNS,
    TOPK_FIELDS,
    WORKLOAD_COLUMNS,
    SchemaError,
    WorkloadSource,
    dataset_schema,
    label_to_row,
    rows_to_table,
)
from airchitect.space.budget import Budget

from . import HW_INDICES, LAYER, SPACE, candidate, label, rows

SOURCE = WorkloadSource("cnn", "tiny", "conv")


def test_schema_columns_and_types():
    schema = dataset_schema()
    assert tuple(schema.names) == COLUMNS
    assert len(set(COLUMNS)) == len(COLUMNS)
    for name in ("row_id", "family", "model", "layer_name", "op", "objective", "label_method",
                 "dataflow", "bound"):  # fmt: skip
        assert schema.field(name).type == pa.string(), name
    for name in ("macs", "evals", "failures", "hw_index", "seed", "n", "k", "c"):
        assert schema.field(name).type == pa.int64(), name
    assert schema.field("shard").type == pa.int32()
    assert schema.field("found").type == pa.bool_()
    assert schema.field("area_budget_mm2").nullable and schema.field("power_budget_mw").nullable
    assert not schema.field("found").nullable and not schema.field("row_id").nullable
    assert all(schema.field(c).nullable for c in DESIGN_COLUMNS)
    assert set(HARDWARE_COLUMNS) == {k.name for k in SPACE.knobs}
    assert MAPPING_COLUMNS == ("n_l2", "p_l2", "k_l2", "c_l2", "pe_reuse", "dram_order")
    struct = schema.field("topk").type.value_type
    assert [f.name for f in struct] == list(TOPK_FIELDS)
    assert struct.field("dataflow").type == pa.string()


def test_label_to_row_found():
    lab = label("latency", Budget(area_mm2=50), ranked=HW_INDICES[:3])
    row = label_to_row(LAYER, SOURCE, lab, shard=4, seed=99)
    assert set(row) == set(COLUMNS)
    best = candidate(HW_INDICES[0])
    assert row["found"] is True and row["hw_index"] == HW_INDICES[0]
    assert row["dataflow"] == best.hardware.dataflow.name.lower()
    assert row["pe_rows"] == best.hardware.pe_rows and row["n_l2"] == best.mapping.n_l2
    assert row["score"] == row["cycles"] == best.cost["cycles"]
    assert row["bound"] == best.cost["bound"]
    assert row["area_budget_mm2"] == 50.0 and row["power_budget_mw"] is None
    assert row["macs"] == LAYER.macs and row["op"] == "conv" and row["layer_name"] == "conv"
    assert (row["shard"], row["seed"], row["objective"]) == (4, 99, "latency")
    assert [e["hw_index"] for e in row["topk"]] == list(HW_INDICES[1:3])
    assert row["topk"][0]["energy_pj"] == candidate(HW_INDICES[1]).cost["energy_pj"]


def test_label_to_row_not_found():
    row = label_to_row(LAYER, SOURCE, label(ranked=(), evals=0), 0, 0)
    assert row["found"] is False and row["topk"] == []
    assert all(row[c] is None for c in DESIGN_COLUMNS)
    assert row["macs"] == LAYER.macs


def test_row_id_is_stable_and_distinguishes_tasks():
    a = label_to_row(LAYER, SOURCE, label("latency"), 0, 0)["row_id"]
    assert a == label_to_row(LAYER, SOURCE, label("latency"), 5, 9)["row_id"]  # not shard/seed
    others = [
        label_to_row(LAYER, SOURCE, label("energy", ranked=HW_INDICES[:1]), 0, 0),
        label_to_row(LAYER, SOURCE, label("latency", Budget(power_mw=100)), 0, 0),
        label_to_row(LAYER, WorkloadSource("cnn", "other", "conv"), label(), 0, 0),
    ]
    assert len({a, *(r["row_id"] for r in others)}) == 4


def test_rows_to_table_round_trip_types():
    table = rows_to_table(rows(0, 1))
    assert table.schema.equals(dataset_schema(), check_metadata=True)
    back = table.to_pylist()
    assert back == rows(0, 1)
    assert back[3]["found"] is False and back[3]["hw_index"] is None
    assert math.isfinite(back[0]["edp"])
    assert rows_to_table([]).num_rows == 0


def test_rows_to_table_names_missing_and_extra_columns():
    row = rows(0, 0)[0]
    with pytest.raises(SchemaError, match="missing column.*'macs'"):
        rows_to_table([{k: v for k, v in row.items() if k != "macs"}])
    with pytest.raises(SchemaError, match="unknown column.*'bogus'"):
        rows_to_table([row | {"bogus": 1}])


def test_rows_to_table_names_bad_values():
    row = rows(0, 0)[0]
    with pytest.raises(SchemaError, match="column 'pe_rows'"):
        rows_to_table([row | {"pe_rows": "eight"}])
    with pytest.raises(SchemaError, match="column 'family'.*null"):
        rows_to_table([row | {"family": None}])
    with pytest.raises(SchemaError, match="found=True but column 'cycles' is null"):
        rows_to_table([row | {"cycles": None}])
    with pytest.raises(SchemaError, match="found=False but column 'hw_index'"):
        rows_to_table([row | {"found": False}])
    with pytest.raises(SchemaError, match="column 'score'.*non-finite"):
        rows_to_table([row | {"score": math.inf}])


def test_column_groups_partition_the_schema():
    assert set(WORKLOAD_COLUMNS) < set(COLUMNS)
    assert set(COST_COLUMNS) < set(DESIGN_COLUMNS)
    assert "topk" not in DESIGN_COLUMNS
