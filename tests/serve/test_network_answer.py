"""Whole-network answers: always valid, never worse with more time, exact when asked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airchitect.cost.network import evaluate_network
from airchitect.search.cells import grid_axes
from airchitect.search.network_exact import network_optimum
from airchitect.serve.network_answer import ArrayChoice, candidate_arrays, shape_neighbours
from airchitect.serve.recommend import Settings
from airchitect.space.budget import Budget, check_budget
from airchitect.workloads.zoo import get_network

NETWORKS = ("dqn", "mlp", "alexnet")


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(NETWORKS), st.sampled_from(["latency", "energy", "edp"]),
       st.one_of(st.floats(3.0, 200.0).map(lambda a: Budget(area_mm2=a)),
                 st.floats(150.0, 5000.0).map(lambda p: Budget(power_mw=p))))  # fmt: skip
def test_the_instant_network_answer_is_always_valid(service, name, objective, budget) -> None:
    net = get_network(name)
    rec = service.recommend(net, budget, objective)
    assert check_budget(rec.cost.hardware, budget)[0][0]
    assert len(rec.cost.layers) == len(net.layers)
    assert all(np.isfinite(r.cost["cycles"]) and r.mapping for r in rec.cost.layers)
    direct = evaluate_network(net, rec.cost.hardware, objective)
    assert rec.cost.total["edp"] == pytest.approx(direct.total["edp"], rel=1e-9)


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_a_time_budget_never_returns_a_worse_design(service, objective) -> None:
    net, budget = get_network("alexnet"), Budget(area_mm2=20.0)
    instant = service.recommend(net, budget, objective)
    for seconds in (0.0, 0.05, 30.0):
        timed = service.recommend(net, budget, objective, Settings(time_budget_s=seconds))
        assert timed.score <= instant.score * (1 + 1e-9)
        cert = timed.certificate
        assert cert["best"] == pytest.approx(timed.score, rel=1e-9)
        assert cert["lower_bound"] <= timed.score * (1 + 1e-9) and cert["gap"] >= 0
    assert cert["certified"] and cert["gap"] == 0.0  # 30 s is plenty for AlexNet


def test_exact_answers_the_certified_optimum(service) -> None:
    net, budget = get_network("dqn"), Budget(power_mw=800.0)
    rec = service.recommend(net, budget, "edp", Settings(exact=True))
    direct = network_optimum(net, service.space, budget, "edp")
    assert rec.hw_index == direct.hw_index and rec.certificate["certified"]
    assert rec.score == pytest.approx(direct.certificate.best, rel=1e-9)


def test_refinement_reports_its_gap_to_the_bound(service) -> None:
    rec = service.recommend(get_network("mlp"), Budget(area_mm2=20.0), "edp",
                            Settings(refine=3))  # fmt: skip
    assert rec.refinement is not None and rec.certificate is not None
    assert rec.certificate["lower_bound"] <= rec.score * (1 + 1e-9)


def test_candidate_arrays_fit_the_budget_and_cover_every_dataflow(service) -> None:
    space = service.space
    axes = grid_axes(space)
    cards = [k.cardinality for k in space.knobs]
    rng = np.random.default_rng(0)
    log_probs = [np.log(rng.dirichlet(np.ones(c), size=3)) for c in cards]
    fits = np.ones(axes.n_arrays, dtype=bool)
    fits[::3] = False
    arrays = candidate_arrays(log_probs, np.array([0.5, 0.3, 0.2]), fits, ArrayChoice())
    assert len(arrays) == len(set(arrays.tolist())) and fits[arrays].all()
    n_flows = len(axes.values["dataflow"])
    shapes = {int(a) // n_flows for a in arrays}
    assert any(sum(s * n_flows + f in arrays for f in range(n_flows)) >= 2 for s in shapes)


def test_shape_neighbours_are_one_step_away_with_the_same_dataflow(service) -> None:
    axes = grid_axes(service.space)
    arrays = axes.arrays()
    for a in (0, 37, axes.n_arrays - 1):
        for b in shape_neighbours(service.space, a):
            assert arrays.dataflow[b] == arrays.dataflow[a] and b != a


def test_array_choice_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="screened_arrays"):
        ArrayChoice(screened_arrays=0)
    with pytest.raises(ValueError, match="pooled"):
        ArrayChoice(pooled=-1)
    with pytest.raises(ValueError, match="time_budget_s"):
        Settings(time_budget_s=-1.0)
