"""A generated dataset read by the data tools people already use, and older datasets kept
readable: pandas, pyarrow datasets and DuckDB see the rows and nothing else."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.data_gen.dataset import read_dataset, validate_dataset
from airchitect.data_gen.generate import GeneratorConfig
from airchitect.data_gen.manifest import LEGACY_MANIFEST_NAME, MANIFEST_NAME, Manifest, migrate
from airchitect.data_gen.pipeline import generate
from airchitect.data_gen.writer import DatasetWriter, shard_name, write_shard

SMALL = dict(n=24, space="reduced", workloads="zoo", shards=3, seed=3)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("readers") / "data"
    generate(GeneratorConfig(**SMALL), out, workers=1, progress=False)
    return out


def _ours(directory):
    return read_dataset(directory).sort_values("row_id").reset_index(drop=True)


def test_the_manifest_is_out_of_the_readers_way(generated):
    names = sorted(p.name for p in generated.iterdir())
    assert names == [MANIFEST_NAME, *(shard_name(i) for i in range(3))]
    assert MANIFEST_NAME.startswith("_")


def test_pandas_reads_the_directory(generated):
    frame = pd.read_parquet(generated)
    assert len(frame) == 24
    expected = _ours(generated)
    got = frame.sort_values("row_id").reset_index(drop=True)[list(expected.columns)]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_pyarrow_dataset_reads_the_directory(generated):
    table = ds.dataset(generated, format="parquet").to_table()
    assert table.num_rows == 24 and set(_ours(generated).columns) <= set(table.column_names)


def test_duckdb_reads_the_shards(generated):
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    glob = str(generated / "*.parquet")
    assert con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall() == [(24,)]
    by_objective = con.execute(
        f"SELECT objective, count(*) FROM read_parquet('{glob}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert by_objective == sorted(_ours(generated)["objective"].value_counts().items())


def test_a_half_written_shard_is_invisible_to_readers(generated, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(generated, copy)
    (copy / f".{shard_name(3)}.tmp").write_bytes(b"PAR1 half")  # what a running writer leaves
    assert len(pd.read_parquet(copy)) == 24
    assert ds.dataset(copy, format="parquet").count_rows() == 24


def _legacy_copy(generated, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(generated, old)
    (old / MANIFEST_NAME).rename(old / LEGACY_MANIFEST_NAME)
    return old


def test_an_older_dataset_is_still_read_validated_and_resumed(generated, tmp_path):
    old = _legacy_copy(generated, tmp_path)
    assert validate_dataset(old) == []
    assert len(read_dataset(old)) == 24
    manifest = Manifest.load(old)
    writer = DatasetWriter(old, manifest)  # a resume into it: nothing to redo
    assert writer.pending(range(3)) == []
    # the next save moves the manifest to the new name and leaves one manifest only
    manifest.save(old)
    assert not (old / LEGACY_MANIFEST_NAME).exists() and (old / MANIFEST_NAME).is_file()
    assert validate_dataset(old) == []


def test_migrate_command(generated, tmp_path):
    old = _legacy_copy(generated, tmp_path)
    before = json.loads((old / LEGACY_MANIFEST_NAME).read_text())
    result = CliRunner().invoke(app, ["data", "migrate", str(old)])
    assert result.exit_code == 0 and "migrated" in result.output
    assert json.loads((old / MANIFEST_NAME).read_text()) == before
    assert not (old / LEGACY_MANIFEST_NAME).exists()
    assert len(pd.read_parquet(old)) == 24
    assert migrate(old) is None  # already current
    assert "already current" in CliRunner().invoke(app, ["data", "migrate", str(old)]).output
    missing = CliRunner().invoke(app, ["data", "migrate", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no manifest" in missing.output


def test_shard_temporaries_are_dot_files(generated, tmp_path, monkeypatch):
    import os

    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(a), real_replace(a, b)))
    write_shard(ds.dataset(generated / shard_name(0)).to_table(), tmp_path / shard_name(0))
    assert [os.path.basename(p) for p in seen] == [f".{shard_name(0)}.tmp"]
