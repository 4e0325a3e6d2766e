"""The contract every search labeller keeps (parametrised over all three), and random search."""

from __future__ import annotations

import numpy as np
import pytest

from airchitect.search.base import HardwareEvaluator, Label, Task, budget_feasible
from airchitect.search.bo import ConstrainedBO
from airchitect.search.genetic import GeneticSearch
from airchitect.search.random_search import FeasibleSampler, RandomSearch
from airchitect.space.budget import Budget
from tests.search.conftest import BIG_CONV, SMALL_CONV, exact_optimum

LABELLERS = [RandomSearch, GeneticSearch, ConstrainedBO]
TASKS = [Task(Budget(), "edp"), Task(Budget(area_mm2=20.0), "latency")]


def _key(label: Label) -> tuple:
    cands = (label.best, *label.top_k) if label.best else ()
    return label.evals, label.failures, tuple((c.hw_index, c.score) for c in cands)


@pytest.mark.parametrize("cls", LABELLERS, ids=lambda c: c.name)
def test_one_label_per_task_within_the_evaluation_budget(cls, reduced):
    labels = cls(reduced, top_k=4).label(SMALL_CONV, TASKS, budget_evals=16, seed=1)
    assert [lab.task for lab in labels] == TASKS
    for lab in labels:
        assert lab.method == cls.name and 0 < lab.evals <= 16
        assert len(lab.top_k) == 4
        assert lab.best.hw_index not in {c.hw_index for c in lab.top_k}
        scores = [lab.best.score] + [c.score for c in lab.top_k]
        assert scores == sorted(scores)
        flat = np.array([c.hw_index for c in (lab.best, *lab.top_k)])
        assert budget_feasible(reduced, flat, lab.task.budget).all()


@pytest.mark.parametrize("cls", LABELLERS, ids=lambda c: c.name)
def test_deterministic_for_a_seed(cls, reduced):
    def run(seed):
        return [_key(lab) for lab in cls(reduced).label(SMALL_CONV, TASKS[:1], 12, seed=seed)]

    assert run(3) == run(3)


@pytest.mark.parametrize(
    "cls,area",
    [(RandomSearch, None), (GeneticSearch, None), pytest.param(ConstrainedBO, None,
     marks=pytest.mark.slow), (RandomSearch, 7.0), (GeneticSearch, 7.0), (ConstrainedBO, 7.0)],
    ids=lambda x: getattr(x, "name", str(x)),
)  # fmt: skip
def test_finds_the_exact_optimum_when_the_budget_covers_the_space(cls, area, tiny):
    task = Task(Budget(area_mm2=area), "edp" if area is None else "latency")
    (lab,) = cls(tiny).label(SMALL_CONV, [task], budget_evals=tiny.size, seed=0)
    optimum = exact_optimum(SMALL_CONV, tiny, task.objective, task.budget)
    assert lab.best.score == pytest.approx(optimum, rel=1e-12)
    n_feasible = int(budget_feasible(tiny, np.arange(tiny.size), task.budget).sum())
    assert 0 < n_feasible < tiny.size or area is None
    assert lab.evals == n_feasible  # stops once every feasible point is scored


@pytest.mark.parametrize("cls", LABELLERS, ids=lambda c: c.name)
def test_over_budget_points_are_never_evaluated(cls, reduced):
    task = Task(Budget(area_mm2=6.0, power_mw=300.0), "edp")
    evaluator = HardwareEvaluator(SMALL_CONV, reduced, task.objective)
    labeller = cls(reduced)
    labeller.search(evaluator, task.budget, 16, seed=0)
    scored = np.array(list(evaluator._cache))
    assert 0 < len(scored) <= 16
    assert budget_feasible(reduced, scored, task.budget).all()
    lab = labeller.finish(evaluator, task)
    for cand in (lab.best, *lab.top_k):
        assert cand.cost["area_mm2"] <= 6.0 and cand.cost["power_mw"] <= 300.0


@pytest.mark.parametrize("cls", LABELLERS, ids=lambda c: c.name)
def test_a_budget_nothing_fits_gives_no_best(cls, reduced):
    (lab,) = cls(reduced).label(SMALL_CONV, [Task(Budget(area_mm2=0.01), "edp")], 20)
    assert lab.best is None and lab.top_k == () and lab.evals == 0


@pytest.mark.parametrize("cls", LABELLERS, ids=lambda c: c.name)
def test_failures_are_counted_and_never_returned(cls, failing):
    task = Task(Budget(), "latency")
    evaluator = HardwareEvaluator(BIG_CONV, failing, task.objective)
    labeller = cls(failing, top_k=3)
    labeller.search(evaluator, task.budget, 16, seed=0)
    lab = labeller.finish(evaluator, task)
    assert lab.failures == evaluator.failures > 0  # half the space fails
    assert len(evaluator._cache) == lab.evals  # failures are kept, not dropped
    for cand in (lab.best, *lab.top_k):
        assert np.isfinite(cand.score)
        assert failing.decode(failing.unflat_index(cand.hw_index)).l2_kib > 2


def test_zero_evaluations_give_an_empty_label(reduced):
    (lab,) = RandomSearch(reduced).label(SMALL_CONV, TASKS[:1], 0)
    assert lab.best is None and lab.evals == 0


def test_sampler_draws_distinct_fresh_feasible_points(reduced):
    budget = Budget(area_mm2=6.0)
    sampler = FeasibleSampler(reduced, budget, np.random.default_rng(0))
    sampler.take([0, 1, 2])
    drawn = np.concatenate([sampler.draw(50) for _ in range(100)])
    feasible = budget_feasible(reduced, np.arange(reduced.size), budget)
    assert len(drawn) == len(set(drawn.tolist())) == feasible.sum() - feasible[:3].sum()
    assert feasible[drawn].all() and not {0, 1, 2} & set(drawn.tolist())
    assert len(sampler.draw(5)) == 0  # exhausted


def test_random_search_is_uniform_over_feasible_points(reduced):
    budget = Budget(area_mm2=20.0)
    evaluator = HardwareEvaluator(SMALL_CONV, reduced, "edp")
    RandomSearch(reduced, batch=7).search(evaluator, budget, 40, seed=0)
    scored = np.array(list(evaluator._cache))
    assert len(scored) == 40 and budget_feasible(reduced, scored, budget).all()
