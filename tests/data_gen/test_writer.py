"""Shard writing: round trip, byte-for-byte determinism, atomic commits and resuming."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from airchitect.data_gen.dataset import read_dataset, validate_dataset
from airchitect.data_gen.manifest import MANIFEST_NAME, Manifest, ManifestError
from airchitect.data_gen.schema import COLUMNS, DESIGN_COLUMNS, SCHEMA_VERSION, rows_to_table
from airchitect.data_gen.writer import DatasetWriter, ResumeError, shard_name, write_shard
from airchitect.space.space import DesignSpace

from . import GENERATOR, HW_INDICES, SEEDS, SPACE, rows, template


def _commit_all(out, shards=(0, 1, 2)) -> DatasetWriter:
    writer = DatasetWriter(out, template())
    for i in shards:
        writer.commit(i, rows(i, SEEDS[i]))
    return writer


def flip_byte(path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_shard_name():
    assert shard_name(7) == "shard-00007.parquet"
    with pytest.raises(ValueError):
        shard_name(-1)


def test_round_trip_all_column_types(tmp_path):
    _commit_all(tmp_path, shards=(0, 1))
    df = read_dataset(tmp_path)
    expected = pd.DataFrame(rows(0, SEEDS[0]) + rows(1, SEEDS[1]))
    assert list(df.columns) == list(COLUMNS) and len(df) == 8
    assert df["found"].tolist() == [True, True, True, False] * 2
    for col in (c for c in COLUMNS if c != "topk"):
        pd.testing.assert_series_equal(df[col], expected[col], check_dtype=False, obj=col)
    assert df.loc[3, DESIGN_COLUMNS].isna().all()
    assert pd.isna(df.loc[0, "area_budget_mm2"]) and df.loc[1, "area_budget_mm2"] == 50.0
    assert [e["hw_index"] for e in df.loc[0, "topk"]] == list(HW_INDICES[1:3])
    assert df.loc[0, "topk"][1] == expected.loc[0, "topk"][1]
    assert len(df.loc[3, "topk"]) == 0


def test_identical_bytes_for_identical_runs(tmp_path):
    a, b = _commit_all(tmp_path / "a"), _commit_all(tmp_path / "b")
    for i in range(3):
        assert a.shard_path(i).read_bytes() == b.shard_path(i).read_bytes()
    manifest = (tmp_path / "a" / MANIFEST_NAME).read_bytes()
    assert manifest == (tmp_path / "b" / MANIFEST_NAME).read_bytes()
    assert b"time" not in manifest


def test_manifest_contents_and_json_round_trip(tmp_path):
    _commit_all(tmp_path, shards=(0, 2))
    m = Manifest.load(tmp_path)
    assert m.schema_version == SCHEMA_VERSION and m.created_by.startswith("airchitect ")
    assert m.space_hash == SPACE.hash and DesignSpace.from_dict(m.space).hash == SPACE.hash
    assert m.generator == GENERATOR and m.seeds == SEEDS
    assert list(m.shards) == [shard_name(0), shard_name(2)]
    assert m.shards[shard_name(2)]["rows"] == 4 and m.shards[shard_name(2)]["seed"] == SEEDS[2]
    assert Manifest.from_json(m.to_json()) == m
    with pytest.raises(ManifestError, match="missing field.*seeds"):
        Manifest.from_json(json.dumps({k: v for k, v in json.loads(m.to_json()).items()
                                       if k != "seeds"}))  # fmt: skip


def test_pending_and_resume(tmp_path):
    writer = _commit_all(tmp_path, shards=(0, 2))
    assert writer.pending(range(3)) == [1]
    resumed = DatasetWriter(tmp_path, template())
    assert resumed.pending(range(3)) == [1] and resumed.finished() == [0, 2]
    resumed.commit(1, rows(1, SEEDS[1]))
    assert resumed.pending(range(3)) == [] and validate_dataset(tmp_path) == []


def test_corrupted_shard_is_detected_and_rewritten_identically(tmp_path):
    writer = _commit_all(tmp_path)
    path = writer.shard_path(1)
    original = path.read_bytes()
    flip_byte(path)
    assert any("shard-00001.parquet: checksum mismatch" in p for p in validate_dataset(tmp_path))
    resumed = DatasetWriter(tmp_path, template())
    assert resumed.pending(range(3)) == [1]
    resumed.commit(1, rows(1, SEEDS[1]))
    assert path.read_bytes() == original and validate_dataset(tmp_path) == []


def test_unrecorded_shard_is_pending(tmp_path):
    """A kill between writing a shard and recording it leaves a file the manifest lacks."""
    writer = _commit_all(tmp_path, shards=(0,))
    write_shard(rows_to_table(rows(1, SEEDS[1])), writer.shard_path(1))
    assert DatasetWriter(tmp_path, template()).pending(range(3)) == [1, 2]
    assert any("extra shard file shard-00001.parquet" in p for p in validate_dataset(tmp_path))


def test_stray_temporaries_are_removed_on_open(tmp_path):
    _commit_all(tmp_path, shards=(0,))
    (tmp_path / "shard-00001.parquet.tmp").write_bytes(b"half")
    (tmp_path / "manifest.json.tmp").write_text("{")
    assert any("leftover temporary" in p for p in validate_dataset(tmp_path))
    DatasetWriter(tmp_path, template())
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME, shard_name(0)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"generator": GENERATOR | {"n": 13}}, "generator.n"),
        ({"generator": GENERATOR | {"labeller": "bo"}}, "generator.labeller"),
        ({"seeds": [1, 2, 3]}, "seeds"),
        ({"space_hash": "0" * 64}, "space_hash"),
        ({"cost_model_version": "9.9.9"}, "cost_model_version"),
        ({"schema_version": SCHEMA_VERSION + 1}, "schema_version"),
    ],
)
def test_resume_refuses_a_different_dataset(tmp_path, change, field):
    _commit_all(tmp_path, shards=(0,))
    other = template()
    for key, value in change.items():
        setattr(other, key, value)
    with pytest.raises(ResumeError, match=rf"{field}: existing dataset has .*new --out"):
        DatasetWriter(tmp_path, other)


def test_refuses_non_empty_directory_without_manifest(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ResumeError, match="has no _manifest.json"):
        DatasetWriter(tmp_path, template())


def test_manifest_is_written_before_any_shard(tmp_path):
    DatasetWriter(tmp_path / "new", template())
    m = Manifest.load(tmp_path / "new")
    assert m.shards == {} and m.seeds == SEEDS


def test_damaged_names_missing_and_corrupt_recorded_shards_only(tmp_path):
    writer = _commit_all(tmp_path, shards=(0, 1, 2))
    flip_byte(writer.shard_path(1))
    writer.shard_path(2).unlink()
    damaged = DatasetWriter(tmp_path, template()).damaged(range(4))  # shard 3: never written
    assert sorted(damaged) == [1, 2]
    assert damaged[1].startswith("shard-00001.parquet: corrupt or truncated")
    assert damaged[2].startswith("shard-00002.parquet: listed in the manifest but missing")
