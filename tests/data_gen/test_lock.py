"""One writer per dataset directory: a second generation is refused at once, a dead one is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airchitect.data_gen.generate import GeneratorConfig
from airchitect.data_gen.lock import LOCK_NAME, DatasetLock, DatasetLockedError
from airchitect.data_gen.pipeline import generate

SMALL = GeneratorConfig(n=6, space="reduced", workloads="zoo", shards=2, seed=3)


def test_a_second_writer_is_refused_naming_the_directory(tmp_path):
    with DatasetLock(tmp_path), pytest.raises(DatasetLockedError) as caught:
        generate(SMALL, tmp_path, workers=1, progress=False)
    message = str(caught.value)
    assert str(tmp_path) in message and "--out" in message and "\n" not in message
    assert not (tmp_path / "_manifest.json").exists(), "the refused run wrote nothing"


def test_the_lock_is_released_and_removed_when_the_run_ends(tmp_path):
    generate(SMALL, tmp_path, workers=1, progress=False)
    assert not (tmp_path / LOCK_NAME).exists()
    with DatasetLock(tmp_path):  # free again
        assert (tmp_path / LOCK_NAME).is_file()


def test_a_lock_file_left_by_a_killed_run_does_not_block(tmp_path):
    (tmp_path / LOCK_NAME).write_text("999999\n")  # a kill -9 cannot remove its file
    summary = generate(SMALL, tmp_path, workers=1, progress=False)
    assert summary.rows_written == 6 and not (tmp_path / LOCK_NAME).exists()


def test_cli_second_generate_fails_at_once_with_one_line(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; "
         "from airchitect.data_gen.lock import DatasetLock; "
         "DatasetLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        cmd = [sys.executable, "-m", "airchitect", "generate", "--n", "6", "--space",
               "reduced", "--workloads", "zoo", "--workers", "1", "--quiet",
               "--out", str(tmp_path)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pid {holder.pid}" in lines[0] and str(tmp_path) in lines[0]


def test_data_import_is_refused_too(tmp_path):
    from typer.testing import CliRunner

    from airchitect.cli import app

    csv = Path(__file__).parent / "fixtures" / "v2_conv.csv"
    with DatasetLock(tmp_path):
        result = CliRunner().invoke(app, ["data", "import", str(csv), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "is writing to this dataset directory" in result.output
    assert not (tmp_path / "_manifest.json").exists()


def test_the_library_import_locks_too(tmp_path):
    """``import_v2`` called from Python (not only the CLI) refuses a second writer (issue 19)."""
    from airchitect.data_gen.airchitect_v2 import import_v2

    csv = Path(__file__).parent / "fixtures" / "v2_conv.csv"
    with DatasetLock(tmp_path), pytest.raises(DatasetLockedError):
        import_v2([csv], tmp_path)
    assert not (tmp_path / "_manifest.json").exists()
    assert import_v2([csv], tmp_path)["rows"] > 0  # free again once the holder is done
