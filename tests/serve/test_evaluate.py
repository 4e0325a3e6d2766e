"""Scoring the served answer: the regret a user of ``recommend`` sees, on held-out rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.cost.mapper import Objective
from airchitect.models.evaluate import design_scores, evaluate_run, row_budget, row_layer
from airchitect.serve.evaluate import served_designs, served_method


@pytest.fixture(scope="module")
def rows(serve_dataset: Path):
    from airchitect.data_gen.dataset import read_dataset

    frame = read_dataset(serve_dataset)
    return frame[frame["found"]].head(6).reset_index(drop=True)


def test_served_designs_are_what_the_service_recommends(bundle_dir, service, rows) -> None:
    got = served_designs(bundle_dir, rows)
    assert got.shape == (len(rows), 1)
    for i, row in enumerate(rows.itertuples(index=False)):
        answer = service.recommend(row_layer(row), row_budget(row), Objective.parse(row.objective))
        assert got[i, 0] == answer.hw_index


def test_served_answers_are_valid_and_no_worse_than_the_label_allows(
    bundle_dir, service, rows
) -> None:
    space = service.space
    scores = design_scores(rows, space, served_designs(bundle_dir, rows))[:, 0]
    assert np.isfinite(scores).all()  # within budget, every layer mapped
    # the label is the exact optimum over the grid, so no answer beats it
    assert (scores >= rows["score"].to_numpy() * (1 - 1e-9)).all()


def test_evaluate_run_scores_a_served_method_on_the_same_rows(
    serve_run, serve_dataset, bundle_dir
) -> None:
    cards = evaluate_run(serve_run / "model.pt", serve_dataset, baselines=False, max_rows=8,
                         extra_methods={"served": served_method(bundle_dir)})  # fmt: skip
    # the fixture's model has a ranker, so its decoder's own order is scored too
    assert [c.name for c in cards] == ["airchitect", "airchitect, decoder order", "served"]
    served = cards[2]
    assert served.rows == cards[0].rows
    assert served.valid_share == 1.0 and served.regret_geomean >= 1.0
    # one answer per row: its best of top-5 is the answer itself
    assert served.top5_regret_geomean == served.regret_geomean


def test_cli_evaluate_model_served_flag(serve_run, serve_dataset, bundle_dir, tmp_path) -> None:
    runner = CliRunner()
    base = ["evaluate-model", "--model", str(serve_run), "--data", str(serve_dataset),
            "--no-baselines", "--max-rows", "4"]  # fmt: skip
    ok = runner.invoke(app, [*base, "--served", f"tiny={bundle_dir}", "--json"])
    assert ok.exit_code == 0, ok.output
    assert '"tiny (served answer)"' in ok.output
    missing = runner.invoke(app, [*base, "--served", f"tiny={tmp_path / 'none'}"])
    assert missing.exit_code != 0 and "--served" in missing.output
    malformed = runner.invoke(app, [*base, "--served", str(bundle_dir)])
    assert malformed.exit_code != 0 and "NAME=BUNDLE" in malformed.output
