"""Reading, validating and summarising dataset directories."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pytest

from airchitect.data_gen.dataset import (
    dataset_stats,
    format_stats,
    iter_batches,
    read_dataset,
    validate_dataset,
)
from airchitect.data_gen.manifest import MANIFEST_NAME
from airchitect.data_gen.schema import dataset_schema
from airchitect.data_gen.writer import DatasetWriter

from . import SEEDS, SPACE, rows, template
from .test_writer import flip_byte


@pytest.fixture
def dataset(tmp_path):
    """Three finished shards of four rows (three with a design, one without)."""
    writer = DatasetWriter(tmp_path, template())
    for i in range(3):
        writer.commit(i, rows(i, SEEDS[i]))
    return tmp_path


def edit_manifest(directory, edit) -> None:
    path = directory / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_valid_dataset_has_no_problems(dataset):
    assert validate_dataset(dataset) == []


def test_read_columns_and_shard_order(dataset):
    df = read_dataset(dataset, columns=["shard", "hw_index"])
    assert list(df.columns) == ["shard", "hw_index"]
    assert df["shard"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    with pytest.raises(KeyError, match="nope"):
        read_dataset(dataset, columns=["nope"])


def test_read_empty_dataset(tmp_path):
    DatasetWriter(tmp_path, template())
    df = read_dataset(tmp_path)
    assert len(df) == 0 and list(df.columns) == dataset_schema().names


def test_iter_batches_streams_in_order(dataset):
    batches = list(iter_batches(dataset, batch_size=3, columns=["row_id", "shard"]))
    assert all(isinstance(b, pa.RecordBatch) and b.num_rows <= 3 for b in batches)
    streamed = pa.Table.from_batches(batches).to_pandas()
    assert streamed["row_id"].tolist() == read_dataset(dataset)["row_id"].tolist()


def test_missing_manifest(tmp_path):
    assert "no manifest" in validate_dataset(tmp_path)[0]


def test_missing_shard(dataset):
    (dataset / "shard-00001.parquet").unlink()
    assert validate_dataset(dataset) == [
        "missing shard file shard-00001.parquet (listed in the manifest)"
    ]


def test_read_refuses_a_missing_listed_shard(dataset):
    (dataset / "shard-00001.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="shard-00001.parquet"):
        read_dataset(dataset)


def test_extra_shard(dataset):
    shutil.copy(dataset / "shard-00000.parquet", dataset / "shard-00009.parquet")
    assert validate_dataset(dataset) == [
        "extra shard file shard-00009.parquet (not in the manifest)"
    ]


def test_bad_checksum(dataset):
    flip_byte(dataset / "shard-00002.parquet", offset=-100)
    problems = validate_dataset(dataset)
    assert problems and problems[0].startswith("shard-00002.parquet: checksum mismatch")


def test_wrong_row_count(dataset):
    edit_manifest(dataset, lambda m: m["shards"]["shard-00001.parquet"].update(rows=5))
    assert validate_dataset(dataset) == ["shard-00001.parquet: 4 rows, manifest says 5"]


def test_schema_version_mismatch(dataset):
    edit_manifest(dataset, lambda m: m.update(schema_version=99))
    assert "schema version mismatch" in validate_dataset(dataset)[0]


def test_incomplete_dataset(tmp_path):
    DatasetWriter(tmp_path, template()).commit(0, rows(0, SEEDS[0]))
    assert validate_dataset(tmp_path) == [
        "incomplete: 2 of 3 planned shards not generated (first shard-00001.parquet); "
        "resume the generation"
    ]


def _commit_edited(directory, edit) -> None:
    """Rewrite shard 1 with edited rows (bypassing rows_to_table's checks)."""
    edited = rows(1, SEEDS[1])
    edit(edited)
    table = pa.Table.from_pylist(edited, schema=dataset_schema())
    DatasetWriter(directory, template()).commit(1, table)


def test_off_grid_design(dataset):
    _commit_edited(dataset, lambda r: r[0].update(hw_index=r[0]["hw_index"] + 1))
    problems = validate_dataset(dataset)
    assert len(problems) == 1 and "1 design(s) off the space grid" in problems[0]
    assert rows(1, SEEDS[1])[0]["row_id"] in problems[0]


def test_off_grid_knob_value_and_runner_up(dataset):
    def edit(r):
        r[1]["pe_rows"] = 7
        r[1]["topk"][0]["l2_kib"] = 33.0

    _commit_edited(dataset, edit)
    problems = validate_dataset(dataset)
    assert any("1 design(s) off the space grid" in p for p in problems)
    assert any("1 runner-up design(s) off the space grid" in p for p in problems)


def test_found_row_with_null_design(dataset):
    _commit_edited(dataset, lambda r: r[2].update(cycles=None, dataflow=None))
    problems = validate_dataset(dataset)
    assert len(problems) == 1 and "1 found row(s) with a null design" in problems[0]
    assert "cycles" in problems[0] and "dataflow" in problems[0]


def test_duplicate_row_ids_and_wrong_shard_column(dataset):
    _commit_edited(dataset, lambda r: [x.update(shard=0, row_id="dup") for x in r[:2]])
    problems = validate_dataset(dataset)
    assert any("shard column other than 1" in p for p in problems)
    assert any("1 row_id(s) appear more than once" in p for p in problems)


def test_stats(dataset):
    stats = dataset_stats(dataset)
    assert stats["rows"] == 12 and stats["shards"] == stats["shards_planned"] == 3
    assert stats["rows_per_objective"] == {"edp": 3, "energy": 3, "latency": 6}
    assert stats["rows_per_label_method"] == {"bo": 3, "exhaustive": 9}
    assert stats["rows_per_family"] == {"cnn": 12} and stats["rows_per_model"] == {"tiny": 12}
    assert stats["found"] == 9 and stats["found_share"] == pytest.approx(0.75)
    assert stats["evals_median"] == pytest.approx(1760.0)  # (64 + 3456) / 2
    dist = stats["label_distribution"]
    assert dist["dataflow"] == {"ws": 3, "os": 0, "is": 3, "rs": 3}
    assert dist["pe_array"] == {"8x8": 3, "32x32": 3, "64x64": 3}
    assert dist["l2_kib"] == {"32": 3, "128": 0, "512": 6}
    assert stats["distinct_designs"] == 3 and stats["space_size"] == SPACE.size
    assert stats["coverage"] == pytest.approx(3 / SPACE.size)
    assert stats["knob_histograms"]["pe_rows"] == {"8": 3, "16": 0, "32": 3, "64": 3}
    assert sum(stats["knob_histograms"]["dram_bytes_per_cycle"].values()) == 9
    json.dumps(stats)  # the CLI may print it as JSON
    text = format_stats(stats)
    assert "rows: 12 in 3 of 3 shards" in text and "75.0%" in text and "ws=3" in text


def test_stats_of_empty_dataset(tmp_path):
    DatasetWriter(tmp_path, template())
    stats = dataset_stats(tmp_path)
    assert stats["rows"] == 0 and stats["coverage"] == 0.0
    assert "rows: 0" in format_stats(stats)
