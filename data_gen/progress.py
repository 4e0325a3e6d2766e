"""Progress of a long labelling run, row by row: a live bar on a terminal, a plain line every
``every_s`` seconds elsewhere (a log file, CI), each with the rate and the time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def duration(seconds: float) -> str:
    """``42s``, ``7m05s``, ``2h03m``: a duration a person reads at a glance."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class RowProgress:
    """Rows labelled out of ``total``; ``done`` rows were finished by an earlier run (resume)
    and count neither towards the rate nor the estimate."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True,
                 stream: TextIO | None = None, every_s: float = 30.0) -> None:  # fmt: skip
        self.total, self.before, self.enabled = total, done, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.rows = 0  # labelled in this run
        self._start = self._last_line = time.monotonic()
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> RowProgress:
        if self.enabled and self.stream.isatty():
            self._bar = Progress(
                TextColumn("[bold]labelling"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[rate]:>8} rows/min"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task("rows", total=self.total, completed=self.before,
                                            rate="-")  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self.enabled and self.rows:
            self._line()

    def update(self, rows: int) -> None:
        """``rows`` labelled so far in this run (monotone; smaller values are ignored)."""
        if rows <= self.rows:
            return
        self.rows = min(rows, self.total - self.before)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.before + self.rows,
                             rate=f"{self.rows_per_minute:,.0f}")  # fmt: skip
        elif self.enabled and time.monotonic() - self._last_line >= self.every_s:
            self._line()

    @property
    def rows_per_minute(self) -> float:
        return 60.0 * self.rows / max(time.monotonic() - self._start, 1e-9)

    def eta_s(self) -> float | None:
        rate = self.rows_per_minute
        return 60.0 * (self.total - self.before - self.rows) / rate if rate > 0 else None

    def _line(self) -> None:
        done = self.before + self.rows
        eta = self.eta_s()
        print(f"labelling: {done:,}/{self.total:,} rows ({100.0 * done / self.total:.1f} %), "
              f"{self.rows_per_minute:,.0f} rows/min, elapsed "
              f"{duration(time.monotonic() - self._start)}, ETA "
              f"{duration(eta) if eta is not None else '-'}",
              file=self.stream, flush=True)  # fmt: skip
        self._last_line = time.monotonic()
