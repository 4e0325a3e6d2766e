"""The gray-box optimiser: the labeller contract, budgets before evaluation, improvement,
interruption, and ``--labeller graybox`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.search.base import HardwareEvaluator, Task, budget_feasible
from airchitect.search.graybox import GrayBoxSearch, _Run
from airchitect.search.registry import make_labeller
from airchitect.space.budget import Budget, check_budget
from airchitect.workloads.zoo import get_network
from tests.search.conftest import BIG_CONV, SMALL_CONV, exact_optimum

TASKS = [Task(Budget(), "edp"), Task(Budget(area_mm2=20.0), "latency")]


def test_registered_as_a_labeller(reduced):
    assert isinstance(make_labeller("graybox", reduced), GrayBoxSearch)


def test_one_label_per_task_within_the_evaluation_budget(reduced):
    labels = GrayBoxSearch(reduced, top_k=4).label(SMALL_CONV, TASKS, budget_evals=16, seed=1)
    assert [lab.task for lab in labels] == TASKS
    for lab in labels:
        assert lab.method == "graybox" and 0 < lab.evals <= 16
        scores = [lab.best.score] + [c.score for c in lab.top_k]
        assert scores == sorted(scores)
        flat = np.array([c.hw_index for c in (lab.best, *lab.top_k)])
        assert budget_feasible(reduced, flat, lab.task.budget).all()


def test_deterministic_for_a_seed(reduced):
    def run(seed):
        (lab,) = GrayBoxSearch(reduced).label(SMALL_CONV, TASKS[1:], 12, seed=seed)
        return lab.evals, lab.best.hw_index, lab.best.score

    assert run(3) == run(3)


@pytest.mark.parametrize("budget", [Budget(area_mm2=6.0, power_mw=300.0), Budget(area_mm2=3.0)])
def test_never_evaluates_an_over_budget_design(reduced, budget):
    evaluator = HardwareEvaluator(SMALL_CONV, reduced, "edp")
    over = np.flatnonzero(~budget_feasible(reduced, np.arange(reduced.size), budget))[:5]
    labeller = GrayBoxSearch(reduced)
    labeller.search(evaluator, budget, 30, seed=0, warm_start=over.tolist())  # ignored
    scored = np.array(list(evaluator._cache))
    assert 0 < len(scored) <= 30
    assert budget_feasible(reduced, scored, budget).all()
    lab = labeller.finish(evaluator, Task(budget, "edp"))
    for cand in (lab.best, *lab.top_k):
        assert check_budget(cand.hardware, budget)[0][0] and np.isfinite(cand.score)


def test_every_move_it_proposes_fits_the_budget(reduced):
    budget = Budget(area_mm2=6.0)
    evaluator = HardwareEvaluator(SMALL_CONV, reduced, "latency")
    run = _Run(GrayBoxSearch(reduced), evaluator, budget, 20, 0, None)
    start = run._sized_to_budget()
    run._score(start)
    moves = run._ranked_moves(start, float(evaluator.scores([start])[0]))
    assert moves and budget_feasible(reduced, np.array(moves), budget).all()
    assert start not in moves
    diagnosis = run.diagnose(start)
    assert diagnosis.bound in {"compute", "noc", "dram"}


def test_failures_are_counted_and_never_returned(failing):
    task = Task(Budget(), "latency")
    evaluator = HardwareEvaluator(BIG_CONV, failing, task.objective)
    labeller = GrayBoxSearch(failing, top_k=3)
    labeller.search(evaluator, task.budget, 16, seed=0)
    lab = labeller.finish(evaluator, task)
    assert lab.failures == evaluator.failures > 0
    for cand in (lab.best, *lab.top_k):
        assert np.isfinite(cand.score)
        assert failing.decode(failing.unflat_index(cand.hw_index)).l2_kib > 2


def test_a_budget_nothing_fits_gives_no_best(reduced):
    (lab,) = GrayBoxSearch(reduced).label(SMALL_CONV, [Task(Budget(area_mm2=0.01), "edp")], 20)
    assert lab.best is None and lab.evals == 0


@pytest.mark.parametrize("area", [None, 7.0])
def test_finds_the_exact_optimum_when_the_budget_covers_the_space(tiny, area):
    task = Task(Budget(area_mm2=area), "edp" if area is None else "latency")
    (lab,) = GrayBoxSearch(tiny).label(SMALL_CONV, [task], budget_evals=tiny.size, seed=0)
    optimum = exact_optimum(SMALL_CONV, tiny, task.objective, task.budget)
    assert lab.best.score == pytest.approx(optimum, rel=1e-12)
    n_feasible = int(budget_feasible(tiny, np.arange(tiny.size), task.budget).sum())
    assert lab.evals <= n_feasible


@pytest.mark.parametrize("workload", [SMALL_CONV, get_network("dqn")], ids=["layer", "network"])
def test_improves_on_its_start(reduced, workload):
    budget = Budget(area_mm2=10.0)
    evaluator = HardwareEvaluator(workload, reduced, "edp")
    feasible = np.flatnonzero(budget_feasible(reduced, np.arange(reduced.size), budget))
    start = int(feasible[0])  # the smallest corner of the grid: much to gain
    GrayBoxSearch(reduced).search(evaluator, budget, 15, seed=0, warm_start=[start])
    history = evaluator.history()
    assert history[0] == evaluator.scores([start])[0]
    assert evaluator.best_seen(1)[0][1] < 0.5 * history[0]
    assert evaluator.evals <= 15


def test_ctrl_c_keeps_the_best_so_far(reduced):
    evaluator = HardwareEvaluator(SMALL_CONV, reduced, "edp")
    seen = []

    def progress(evals, total, best):
        seen.append((evals, total, best))
        if evals == 4:
            raise KeyboardInterrupt

    labeller = GrayBoxSearch(reduced)
    labeller.search(evaluator, Budget(area_mm2=10.0), 20, seed=0, progress=progress)
    assert labeller.interrupted and evaluator.evals == 4
    assert [s[0] for s in seen] == [1, 2, 3, 4] and all(s[1] == 20 for s in seen)
    assert seen[-1][2] == evaluator.best_seen(1)[0][1]
    lab = labeller.finish(evaluator, Task(Budget(area_mm2=10.0), "edp"))
    assert lab.best is not None and lab.evals == 4


def test_generate_with_the_graybox_labeller(tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(app, ["generate", "--n", "4", "--space", "reduced",
                                      "--labeller", "graybox", "--budget-evals", "8",
                                      "--workers", "1", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    import pandas as pd

    rows = pd.concat([pd.read_parquet(f) for f in sorted(out.glob("*.parquet"))])
    assert len(rows) == 4 and set(rows["label_method"]) == {"graybox"}
    assert (rows["evals"] <= 8).all()
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["generator"]["labeller"] == "graybox"
