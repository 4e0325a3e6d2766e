"""Generation progress: row by row, with rate and ETA, on a terminal or in a log (issue 20)."""

from __future__ import annotations

import io
import re

from airchitect.data_gen.executors import run_local
from airchitect.data_gen.generate import GeneratorConfig
from airchitect.data_gen.pipeline import generate
from airchitect.data_gen.progress import RowProgress, duration

# one shard of 18 rows: two workloads of 3 budgets x 3 objectives
ONE_SHARD = dict(n=18, space="reduced", workloads="zoo", shards=1, seed=3)
LINE = re.compile(
    r"^labelling: (\d[\d,]*)/(\d[\d,]*) rows \((\d+\.\d) %\), ([\d,]+) rows/min, "
    r"elapsed \w+, ETA \w+$"
)


def test_rows_are_reported_within_a_shard():
    """Each workload's rows are heard as they are labelled, not once per shard."""
    heard: list[int] = []
    ((shard, rows),) = list(run_local(GeneratorConfig(**ONE_SHARD), [0], 1, heard.append))
    assert shard == 0 and len(rows) == 18
    assert heard == [9, 18]


def test_parallel_workers_report_every_row(tmp_path):
    config = GeneratorConfig(n=24, space="reduced", workloads="zoo", shards=3, seed=3)
    heard: list[int] = []
    results = list(run_local(config, [0, 1, 2], 2, heard.append))
    assert sum(len(rows) for _, rows in results) == 24
    assert heard == sorted(heard) and heard[-1] == 24


def test_a_log_gets_plain_lines_with_rate_and_eta(tmp_path):
    log = io.StringIO()  # not a terminal: no bar, plain lines
    with RowProgress(100, done=40, stream=log, every_s=0.0) as bar:
        bar.update(10)
        bar.update(5)  # counts only grow
        bar.update(60)
    lines = log.getvalue().splitlines()
    assert [LINE.match(line).group(1, 2, 3) for line in lines] == [
        ("50", "100", "50.0"), ("100", "100", "100.0"), ("100", "100", "100.0")
    ]  # fmt: skip
    assert "ETA 0s" in lines[-1]


def test_generate_logs_progress_when_not_on_a_terminal(tmp_path, capsys):
    summary = generate(GeneratorConfig(**ONE_SHARD), tmp_path / "d", workers=1)
    assert summary.rows_written == 18
    lines = capsys.readouterr().err.splitlines()
    assert lines and LINE.match(lines[-1]) and lines[-1].startswith("labelling: 18/18 rows")


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (0, 42.4, 425, 7380, -3)] == ["0s", "42s", "7m05s", "2h03m", "0s"]
