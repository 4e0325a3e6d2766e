"""Generation end to end: determinism, resume after a kill, executors, errors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airchitect.data_gen.dataset import read_dataset, validate_dataset
from airchitect.data_gen.generate import GeneratorConfig, label_shard, shard_row_ranges, shard_tasks
from airchitect.data_gen.manifest import Manifest, manifest_path
from airchitect.data_gen.pipeline import generate

SMALL = dict(n=24, space="reduced", workloads="zoo", shards=3, seed=3)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_shards_partition_the_rows_exactly():
    config = GeneratorConfig(n=1000, shards=7)
    ranges = shard_row_ranges(config)
    assert [r.start for r in ranges[1:]] == [r.stop for r in ranges[:-1]]
    assert ranges[0].start == 0 and ranges[-1].stop == 1000
    sizes = [sum(len(t) for _, t in shard_tasks(config, s)) for s in range(7)]
    assert sizes == [len(r) for r in ranges]


def test_a_shard_is_a_pure_function_of_config_and_index():
    config = GeneratorConfig(**SMALL)
    assert label_shard(config, 1) == label_shard(config, 1)


def test_same_command_same_bytes_and_the_dataset_validates(tmp_path):
    config = GeneratorConfig(**SMALL)
    generate(config, tmp_path / "a", workers=1, progress=False)
    generate(config, tmp_path / "b", workers=2, progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert validate_dataset(tmp_path / "a") == []
    frame = read_dataset(tmp_path / "a")
    assert len(frame) == 24 and frame["found"].all()
    assert set(frame["objective"]) == {"latency", "energy", "edp"}


def test_finished_shards_are_skipped(tmp_path):
    config = GeneratorConfig(**SMALL)
    first = generate(config, tmp_path, workers=1, progress=False)
    again = generate(config, tmp_path, workers=1, progress=False)
    assert first.rows_written == 24
    assert again.rows_written == 0 and again.shards_skipped == 3


def test_resume_after_a_kill_gives_the_uninterrupted_bytes(tmp_path):
    cmd = [sys.executable, "-m", "airchitect", "generate", "--n", "60", "--space", "reduced",
           "--workloads", "zoo", "--shards", "10", "--workers", "1", "--quiet"]  # fmt: skip
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill -9 once some, not all, shards are committed
        if manifest_path(killed) is not None and Manifest.load(killed).shards:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(Manifest.load(killed).shards)
    assert 0 < done < 10, "the kill should land mid-run"
    subprocess.run([*cmd, "--out", str(killed)], check=True)
    subprocess.run([*cmd, "--out", str(reference)], check=True)
    assert _files(killed) == _files(reference)


def test_a_different_config_refuses_to_resume(tmp_path):
    generate(GeneratorConfig(**SMALL), tmp_path, workers=1, progress=False)
    with pytest.raises(ValueError, match="generator.n"):
        generate(GeneratorConfig(**{**SMALL, "n": 30}), tmp_path, workers=1, progress=False)


@pytest.mark.parametrize(
    "field, value, message",
    [("labeller", "sa", "field 'labeller' must be one of exhaustive, bo, random, ga"),
     ("workloads", "zoo+imagenet", "field 'workloads' must be sources from zoo, llm"),
     ("n", 0, "field 'n' is out of range"),
     ("space", "nope", "nope")],
)  # fmt: skip
def test_bad_config_is_rejected_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**{**SMALL, field: value})


def test_ray_executor_matches_the_local_one(tmp_path):
    pytest.importorskip("ray")
    config = GeneratorConfig(**SMALL)
    generate(config, tmp_path / "local", workers=1, progress=False)
    generate(config, tmp_path / "ray", executor_name="ray", workers=2, progress=False)
    assert _files(tmp_path / "local") == _files(tmp_path / "ray")


def test_rows_are_distinct_tasks(tmp_path):
    """Two unconstrained budgets drawn for one workload would repeat its rows."""
    config = GeneratorConfig(n=450, space="reduced", workloads="zoo", seed=5)
    tasks = [(w.layer.name, t.budget, t.objective) for s in range(config.n_shards)
             for w, ts in shard_tasks(config, s) for t in ts]  # fmt: skip
    assert len(tasks) == len(set(tasks)) == 450


def test_ctrl_c_stops_promptly_and_the_dataset_resumes(tmp_path):
    # many small shards: on an idle machine all 40 of 10 rows finished before the signal
    cmd = [sys.executable, "-m", "airchitect", "generate", "--n", "400", "--space", "reduced",
           "--workloads", "zoo", "--shards", "200", "--workers", "2", "--quiet", "--out",
           str(tmp_path)]  # fmt: skip
    # SIG_DFL in the child: a shell without job control starts background jobs with SIGINT
    # ignored, and Python then never raises KeyboardInterrupt (a suite run with `&` failed so)
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if manifest_path(tmp_path) is not None and Manifest.load(tmp_path).shards:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the job
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "run the same command again to resume" in stderr
    assert len(Manifest.load(tmp_path).shards) < 200
    subprocess.run(cmd, check=True)
    assert validate_dataset(tmp_path) == []


def test_tasks_do_not_depend_on_the_shard_count_and_never_repeat(tmp_path):
    """A workload split across shards keeps its budgets, and a layer the pool serves twice
    never gets the same task twice (an unconstrained budget used to repeat)."""
    from airchitect.data_gen.generate import GeneratorConfig, shard_tasks

    def tasks(shards: int) -> list[tuple]:
        config = GeneratorConfig(n=1600, space="reduced", workloads="zoo", shards=shards)
        return [(w.family, w.model, w.layer.name, t.budget, t.objective)
                for s in range(config.n_shards) for w, ts in shard_tasks(config, s)
                for t in ts]  # fmt: skip

    one, many = tasks(1), tasks(130)
    assert one == many
    assert len(set(one)) == len(one) == 1600


def test_a_repaired_shard_is_reported_and_rewritten(tmp_path):
    config = GeneratorConfig(**SMALL)
    generate(config, tmp_path, workers=1, progress=False)
    shard = tmp_path / "shard-00001.parquet"
    original = shard.read_bytes()
    shard.write_bytes(original[: len(original) // 2])  # truncated
    lines: list[str] = []
    summary = generate(config, tmp_path, workers=1, progress=False, report=lines.append)
    assert len(lines) == 1 and lines[0].startswith("shard-00001.parquet: corrupt or truncated")
    assert summary.shards_repaired == 1 and summary.rows_written == 8
    assert shard.read_bytes() == original


def test_cli_reports_a_repair_on_stderr(tmp_path):
    cmd = [sys.executable, "-m", "airchitect", "generate", "--n", "6", "--space", "reduced",
           "--workloads", "zoo", "--shards", "2", "--workers", "1", "--quiet",
           "--out", str(tmp_path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    (tmp_path / "shard-00000.parquet").unlink()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    assert "shard-00000.parquet: listed in the manifest but missing; regenerating it" in (
        done.stderr
    )
    assert "1 repaired" in done.stdout
