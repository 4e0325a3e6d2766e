"""The genetic search: kind-aware mutation, repaired children, one evaluation call a generation."""

from __future__ import annotations

import numpy as np

from airchitect.search.base import HardwareEvaluator
from airchitect.search.genetic import GeneticSearch
from airchitect.search.random_search import FeasibleSampler
from airchitect.space.budget import Budget
from tests.search.conftest import SMALL_CONV


class CountingEvaluator(HardwareEvaluator):
    """Records the size of every scoring call."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []

    def scores(self, flat):
        self.calls.append(len(np.asarray(flat).reshape(-1)))
        return super().scores(flat)


def test_mutation_steps_ordinal_knobs_and_redraws_the_dataflow(reduced):
    ga, rng = GeneticSearch(reduced), np.random.default_rng(0)
    genomes = reduced.unflat_index(reduced.sample_indices(500, seed=1))
    hit = rng.random(genomes.shape) < 0.5
    out = ga._mutate(genomes, hit, rng)
    assert (out[~hit] == genomes[~hit]).all()
    assert (out >= 0).all() and (out < reduced.cardinalities).all()
    for j, knob in enumerate(reduced.knobs):
        moved = out[hit[:, j], j] - genomes[hit[:, j], j]
        if knob.kind == "categorical":
            assert (moved != 0).all() and len(np.unique(out[hit[:, j], j])) == knob.cardinality
        else:
            assert set(np.abs(moved).tolist()) == {1}  # one grid step, reflected at the ends


def test_children_are_fresh_distinct_and_in_budget(reduced):
    budget = Budget(area_mm2=10.0)
    ga, rng = GeneticSearch(reduced), np.random.default_rng(0)
    sampler = FeasibleSampler(reduced, budget, rng)
    pop = sampler.draw(8)
    fit = HardwareEvaluator(SMALL_CONV, reduced, "edp").scores(pop)
    kids = ga._offspring(pop, fit, 8, rng, sampler)
    assert len(kids) == 8 == len(set(kids.tolist()))
    assert not set(kids.tolist()) & set(pop.tolist())
    assert sampler.feasible(kids).all()


def test_each_generation_is_scored_in_one_call(reduced):
    evaluator = CountingEvaluator(SMALL_CONV, reduced, "edp")
    GeneticSearch(reduced).search(evaluator, Budget(), 40, seed=0)
    assert evaluator.evals == 40
    assert evaluator.calls == [5] * 8  # population 40 // 8 = 5, then 7 broods of 5


def test_the_best_survives_every_generation(reduced):
    best = []
    for budget_evals in (8, 16, 24, 32, 40):  # same seed: each run extends the previous one
        evaluator = HardwareEvaluator(SMALL_CONV, reduced, "latency")
        GeneticSearch(reduced, population=4).search(evaluator, Budget(), budget_evals, seed=2)
        best.append(evaluator.best_seen(1)[0][1])
    assert best == sorted(best, reverse=True)
