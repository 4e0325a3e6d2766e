"""The driver of ``airchitect generate``: resume, run shards, commit, show progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airchitect.data_gen.executors import executor
from airchitect.data_gen.generate import GeneratorConfig, new_manifest, shard_row_ranges
from airchitect.data_gen.lock import DatasetLock
from airchitect.data_gen.progress import RowProgress
from airchitect.data_gen.writer import DatasetWriter


@dataclass(frozen=True)
class GenerationSummary:
    out: Path
    rows_total: int
    rows_written: int  # in this run; the rest were finished before (resume)
    shards_total: int
    shards_skipped: int
    seconds: float
    shards_repaired: int = 0  # recorded as finished, but missing or corrupt: rewritten

    @property
    def rows_per_minute(self) -> float:
        return 60.0 * self.rows_written / self.seconds if self.seconds > 0 else 0.0


def generate(
    config: GeneratorConfig,
    out: Path | str,
    executor_name: str = "process",
    workers: int = 2,
    address: str | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write the dataset ``config`` describes into ``out``; finished shards are skipped.

    ``out`` is locked for the run: a second generation into it fails at once. Each finished
    shard found missing or corrupt is reported through ``report`` (default: a line on stderr)
    before it is regenerated."""
    run = executor(executor_name, workers, address)
    with DatasetLock(out):
        writer = DatasetWriter(out, new_manifest(config))
        damaged = writer.damaged(range(config.n_shards))
        for line in damaged.values():
            (report or _to_stderr)(line)
        return _run(config, writer, run, progress, len(damaged))


def _run(config, writer, run, progress, repaired) -> GenerationSummary:
    ranges = shard_row_ranges(config)
    todo = writer.pending(range(config.n_shards))
    start, written = time.perf_counter(), 0
    before = config.n - sum(len(ranges[s]) for s in todo)
    with RowProgress(config.n, before, enabled=progress) as bar:
        for shard, rows in run(config, todo, bar.update):  # bar.update: rows labelled so far
            writer.commit(shard, rows)
            written += len(rows)
            bar.update(written)
    return GenerationSummary(writer.out_dir, config.n, written, config.n_shards,
                             config.n_shards - len(todo), time.perf_counter() - start,
                             repaired)  # fmt: skip


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
