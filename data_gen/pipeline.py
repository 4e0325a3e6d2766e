"""The driver of ``airchitect generate``: resume, run shards, commit, show progress."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from data_gen.executors import executor
from data_gen.generate import GeneratorConfig, new_manifest, shard_row_ranges
from data_gen.writer import DatasetWriter


@dataclass(frozen=True)
class GenerationSummary:
    out: Path
    rows_total: int
    rows_written: int  # in this run; the rest were finished before (resume)
    shards_total: int
    shards_skipped: int
    seconds: float

    @property
    def rows_per_minute(self) -> float:
        return 60.0 * self.rows_written / self.seconds if self.seconds > 0 else 0.0


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]labelling"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>8} rows/min"), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), disable=not enabled, transient=False,
    )  # fmt: skip


def generate(
    config: GeneratorConfig,
    out: Path | str,
    executor_name: str = "process",
    workers: int = 2,
    address: str | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Write the dataset ``config`` describes into ``out``; finished shards are skipped."""
    run = executor(executor_name, workers, address)
    writer = DatasetWriter(out, new_manifest(config))
    ranges = shard_row_ranges(config)
    todo = writer.pending(range(config.n_shards))
    start, written = time.perf_counter(), 0
    with _progress(progress) as bar:
        task = bar.add_task("rows", total=config.n, rate="-")
        bar.advance(task, config.n - sum(len(ranges[s]) for s in todo))
        for shard, rows in run(config, todo):
            writer.commit(shard, rows)
            written += len(rows)
            rate = 60.0 * written / max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=len(rows), rate=f"{rate:,.0f}")
    return GenerationSummary(Path(out), config.n, written, config.n_shards,
                             config.n_shards - len(todo), time.perf_counter() - start)  # fmt: skip
