"""The gray-box optimiser's multi-knob moves: what the neighbourhood holds, the smaller-tile
mappings its what-if re-costs, and a whole-network search with them (budgets never exceeded,
a valid answer no worse than the start, every evaluation counted, no point scored twice)."""

from __future__ import annotations

import numpy as np
import pytest

from airchitect.cost.batch import MappingBatch
from airchitect.cost.network import distinct_layers, network_best_mappings
from airchitect.search.base import HardwareEvaluator, budget_feasible
from airchitect.search.graybox import GrayBoxSearch, _Run
from airchitect.search.graybox_moves import (
    COLS,
    DATAFLOW,
    L2,
    ROWS,
    mapping_variants,
    moved_knobs,
    neighbourhood,
)
from airchitect.search.network_exact import network_optimum
from airchitect.space.budget import Budget, check_budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.zoo import get_network
from tests.search.conftest import SMALL_CONV

BUDGETS = [Budget(area_mm2=40.0), Budget(power_mw=2000.0)]


@pytest.fixture(scope="module")
def default() -> DesignSpace:
    return DesignSpace.default()


@pytest.fixture(scope="module")
def dqn():
    return get_network("dqn")


def test_neighbourhood_holds_the_sweep_pairs_and_reshapes(default):
    here = default.encode(default.decode([5, 5, 2, 3, 2, 2, 1]))  # 32x32 array
    moves = neighbourhood(default, here)
    assert len(np.unique(moves, axis=0)) == len(moves)
    assert not (moves == here).all(axis=1).any()
    assert ((moves >= 0) & (moves < default.cardinalities)).all()
    rows = {tuple(v) for v in moves.tolist()}
    for j, card in enumerate(default.cardinalities):  # the coordinate sweep: every value
        for v in range(int(card)):
            if v != here[j]:
                assert tuple(np.where(np.arange(7) == j, v, here)) in rows
    knobs = moved_knobs(here, moves)
    assert knobs.max() <= 4
    # an iso-PE reshape on another dataflow with a smaller L2: 64x16 on os, L2 one step down
    reshaped = here.copy()
    reshaped[[ROWS, COLS, DATAFLOW, L2]] = [7, 3, 0, here[L2] - 1]
    assert tuple(reshaped) in rows
    pes = [default.decode(v).pe_rows * default.decode(v).pe_cols for v in moves[knobs == 4]]
    assert min(pes) >= 512 and max(pes) <= 2048  # reshapes keep half to twice the PEs


def test_mapping_variants_only_shrink_tiles():
    m = MappingBatch(*(np.array([v]) for v in (1, 7, 64, 33, 8, 2)))
    variants = mapping_variants(m)
    assert variants[0] is m and len(variants) == 7
    for v in variants:
        for f in ("n_l2", "p_l2", "k_l2", "c_l2", "pe_reuse"):
            assert 1 <= getattr(v, f)[0] <= getattr(m, f)[0]
        assert v.dram_order[0] == m.dram_order[0]


def test_what_if_rates_a_smaller_l2(default, dqn):
    evaluator = HardwareEvaluator(dqn, default, "edp")
    run = _Run(GrayBoxSearch(default), evaluator, Budget(), 10, 0, None)
    here = default.encode(default.decode([7, 3, 0, 4, 4, 3, 0]))
    flat = int(default.flat_index(here))
    run._score(flat)
    smaller = here.copy()
    smaller[L2] -= 2
    moved = np.array([default.flat_index(smaller)])
    assert np.isfinite(run.what_if(moved, around=flat)[0])
    assert evaluator.evals == 1  # the what-if is not an evaluation
    kept = evaluator.mappings_of(flat)  # the evaluator's own mappings, not a second mapper run
    hw = default.decode_batch(here[None, :])
    again = network_best_mappings(distinct_layers(dqn), hw, "edp", options=default.mapping_options)
    for mine, ref in zip(kept, again.per_layer, strict=True):
        assert mine.mapping(0) == ref.mappings.mapping(0)


@pytest.mark.parametrize("budget", BUDGETS, ids=["area", "power"])
def test_whole_network_search_keeps_every_invariant(default, dqn, budget, monkeypatch):
    scored: list[int] = []
    original = _Run._score

    def recording(self, flat):
        scored.append(int(flat))
        return original(self, flat)

    monkeypatch.setattr(_Run, "_score", recording)
    evaluator = HardwareEvaluator(dqn, default, "edp")
    feasible = default.sample_indices(2000, seed=3)
    feasible = feasible[budget_feasible(default, feasible, budget)]
    start = int(feasible[0])
    labeller = GrayBoxSearch(default)
    labeller.search(evaluator, budget, 30, seed=0, warm_start=[start])
    # budgets before evaluation; each point scored once (a failed move is never repeated)
    assert len(scored) == len(set(scored)) == evaluator.evals <= 30
    assert set(scored) == set(evaluator._cache)
    assert budget_feasible(default, np.array(scored), budget).all()
    # not worse than the start, and in this easy case within 1 % of the certified optimum
    best_flat, best = evaluator.best_seen(1)[0]
    assert best <= evaluator.scores([start])[0]
    optimum = network_optimum(dqn, default, budget, "edp").certificate.best
    assert best <= 1.01 * optimum
    # the answer is valid: it fits the budget and every layer has a mapping
    hw = default.decode_batch(default.unflat_index(np.array([best_flat])))
    assert check_budget(hw, budget)[0][0]
    found = network_best_mappings(distinct_layers(dqn), hw, "edp", options=default.mapping_options)
    assert found.found[0] and found.score[0] == pytest.approx(best, rel=1e-12)


def test_single_layer_moves_stay_in_budget(default):
    budget = Budget(area_mm2=10.0)
    evaluator = HardwareEvaluator(SMALL_CONV, default, "latency")
    run = _Run(GrayBoxSearch(default), evaluator, budget, 20, 0, None)
    start = run._sized_to_budget()
    run._score(start)
    moves = run._ranked_moves(start, float(evaluator.scores([start])[0]))
    assert len(moves) > 50  # multi-knob moves, not only one-step ones
    assert budget_feasible(default, np.array(moves), budget).all()
    assert evaluator.evals == 1  # ranking spends no evaluation
