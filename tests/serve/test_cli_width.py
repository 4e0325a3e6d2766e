"""Answers fit an 80-column terminal: nothing folds mid-number or cuts a layer name (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from airchitect.cli import app

runner = CliRunner()


def _lines(*args: str, columns: int) -> list[str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


@pytest.mark.parametrize("command", ["recommend", "evaluate"])
def test_the_answer_fits_80_columns(bundle_dir: Path, command: str) -> None:
    args = [command, "--model", "dqn", "--area-mm2", "40", "--explain"]
    if command == "evaluate":
        args = [command, "--model", "dqn", "--preset", "eyeriss-like"]
    else:
        args += ["--bundle", str(bundle_dir)]
    lines = _lines(*args, columns=80)
    assert max(len(line) for line in lines) <= 80
    table = [line for line in lines if line.startswith("│ layer") or "│ conv" in line]
    assert table and not any("…" in line for line in table)  # names and numbers whole
    assert any("cycles and mappings: at 120+ columns" in line for line in lines)
    wide = _lines(*args, columns=160)
    assert any("mapping N P K C" in line for line in wide)  # a wide terminal gets them all
