"""Evaluation: regret is the cost model's verdict on a recommendation; baselines share metrics."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.models.baselines import majority, mlp_classifier, nearest_neighbours
from airchitect.models.evaluate import design_scores, scorecard, scorecards
from airchitect.models.features import fit_feature_stats
from airchitect.space import DesignSpace


@pytest.fixture(scope="module")
def frames(dataset_frame):
    found = dataset_frame[dataset_frame["found"]].reset_index(drop=True)
    return found.iloc[:300], found.iloc[300:360].reset_index(drop=True)


@pytest.fixture(scope="module")
def space(dataset_dir):
    from airchitect.data_gen.manifest import Manifest

    return DesignSpace.from_dict(Manifest.load(dataset_dir).space)


def test_the_label_itself_has_regret_one_and_is_valid(frames, space):
    _, test = frames
    labels = test["hw_index"].to_numpy()[:, None]
    card = scorecard("oracle", test, space, labels)
    assert card.exact_accuracy == 1.0 and card.valid_share == 1.0
    assert card.regret_geomean == pytest.approx(1.0, rel=1e-9)
    assert all(v == 1.0 for v in card.knob_accuracy.values())


def test_over_budget_designs_are_invalid_not_cheap(frames, space):
    _, test = frames
    constrained = test[test["area_budget_mm2"].notna()].iloc[:5].reset_index(drop=True)
    biggest = np.full((len(constrained), 1), space.size - 1)  # every knob at its largest value
    scores = design_scores(constrained, space, biggest)
    assert np.isinf(scores).all()


def test_baselines_return_ranked_designs_seen_in_training(frames, space):
    train, test = frames
    stats = fit_feature_stats(train)
    seen = set(train["hw_index"])
    for candidates in (majority(train, test), nearest_neighbours(train, test, stats),
                       mlp_classifier(train, test, stats, epochs=3)):  # fmt: skip
        assert candidates.shape == (len(test), 5)
        top1 = candidates[:, 0]
        assert set(top1) <= seen
        card = scorecard("b", test, space, candidates)
        assert 0 <= card.valid_share <= 1 and card.regret_geomean >= 1 - 1e-9


def test_majority_baseline_is_the_most_common_training_design(frames):
    train, test = frames
    counts = pd.Series(train["hw_index"]).value_counts()
    top = majority(train, test)[0]
    assert counts[top[0]] == counts.max()
    assert list(counts[top]) == sorted(counts[top], reverse=True)


def test_cli_train_and_evaluate_model(dataset_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(dataset_dir), "--out", str(tmp_path),
                                 "--epochs", "1", "--batch-size", "128"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model.pt").is_file()
    result = runner.invoke(app, ["evaluate-model", "--model", str(tmp_path), "--data",
                                 str(dataset_dir), "--max-rows", "40", "--json",
                                 "--compare", f"again={tmp_path}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [c["name"] for c in json.loads(result.stdout)]
    assert names == ["airchitect", "majority design", "nearest neighbours", "MLP classifier",
                     "again"]  # fmt: skip
    bad = runner.invoke(app, ["evaluate-model", "--model", str(tmp_path), "--data",
                              str(dataset_dir), "--compare", "no-equals-sign"])  # fmt: skip
    assert bad.exit_code == 2 and "NAME=RUN" in bad.output


def test_cli_train_rejects_a_bad_split(dataset_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(dataset_dir), "--out",
                                      str(tmp_path), "--split", "planet:mars"])  # fmt: skip
    assert result.exit_code == 2
    assert "split" in result.output


def test_methods_scored_together_get_the_scores_they_get_alone(frames, space):
    train, test = frames
    test = test.iloc[:20].reset_index(drop=True)
    stats = fit_feature_stats(train)
    methods = {"majority": majority(train, test), "knn": nearest_neighbours(train, test, stats),
               "label": np.pad(test["hw_index"].to_numpy()[:, None], ((0, 0), (0, 4)),
                               constant_values=-1)}  # fmt: skip
    together = scorecards(methods, test, space)
    alone = [scorecard(name, test, space, c) for name, c in methods.items()]
    assert [c.to_dict() for c in together] == [c.to_dict() for c in alone]


def test_the_budget_filter_keeps_the_first_fitting_designs_in_order(frames, space):
    from airchitect.models.decode import BudgetGrid
    from airchitect.models.evaluate import within_budget

    _, test = frames
    grid = BudgetGrid.of(space)
    rows = test.iloc[:4].reset_index(drop=True).assign(power_budget_mw=np.nan)
    smallest, biggest = int(np.argmin(grid.area_mm2)), space.size - 1
    rows["area_budget_mm2"] = [grid.area_mm2[smallest], np.nan, grid.area_mm2[smallest], 1e-6]
    ranked = np.array([[biggest, smallest, -1, smallest]] * 4)
    kept = within_budget(ranked, rows, grid, k=2)
    assert kept.tolist() == [[smallest, smallest], [biggest, smallest], [smallest, smallest],
                             [-1, -1]]  # fmt: skip
