"""The certified whole-network optimum agrees with scoring every grid point; its bounds hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airchitect.cost.mapper import Objective
from airchitect.cost.network import distinct_layers, network_best_mappings
from airchitect.search.base import tie_rank
from airchitect.search.cells import grid_axes, sweep_cells
from airchitect.search.network_exact import (
    NoDesignInBudget,
    budget_mask,
    grid_area_mm2,
    layer_lower_bounds,
    network_optimum,
)
from airchitect.search.network_screen import screen_arrays
from airchitect.space import Budget, DesignSpace
from airchitect.workloads.layer import Layer, conv2d, depthwise_conv2d, gemm
from airchitect.workloads.network import Network

# Small enough to map every point of for a whole network in a few seconds.
TINY = DesignSpace.from_dict(
    {
        "name": "tiny-network",
        "hardware": {
            "pe_rows": [8, 16, 32], "pe_cols": [8, 16, 32], "l1_bytes": [64, 256],
            "l2_kib": [32, 128, 512], "noc_words_per_cycle": [4, 16],
            "dram_bytes_per_cycle": [8, 32], "dataflow": ["ws", "os", "is", "rs"],
        },
    }
)  # fmt: skip
NET = Network(
    "tiny-net", "cnn",
    (conv2d("stem", in_channels=3, out_channels=32, in_hw=32, kernel=3, padding=1),
     depthwise_conv2d("dw", channels=32, in_hw=32, kernel=3, padding=1),
     conv2d("pw", in_channels=32, out_channels=64, in_hw=32, kernel=1),
     depthwise_conv2d("dw2", channels=32, in_hw=32, kernel=3, padding=1),  # same shape as dw
     gemm("fc", m=1, k=64, n=10)),
    (1, 2, 1, 1, 1),
)  # fmt: skip
BUDGETS = [Budget(), Budget(area_mm2=6.0), Budget(power_mw=300.0)]


@pytest.fixture(scope="module")
def brute_force():
    """Every point of the grid mapped for the whole network, per objective."""
    hw = TINY.enumerate()
    distinct = distinct_layers(NET)
    return {obj: network_best_mappings(distinct, hw, obj).score for obj in Objective}


def _brute_best(scores: np.ndarray, budget: Budget) -> int:
    mask = budget_mask(TINY, budget)
    values = np.where(mask, scores, np.inf)
    tied = np.flatnonzero(values <= values.min() * (1 + 1e-9))
    return int(tied[tie_rank(values[tied], grid_area_mm2(TINY)[tied], tied)[0]])


@pytest.mark.parametrize("objective", list(Objective))
@pytest.mark.parametrize("budget", BUDGETS, ids=["free", "area", "power"])
def test_the_exact_answer_is_the_brute_force_optimum(brute_force, objective, budget) -> None:
    answer = network_optimum(NET, TINY, budget, objective)
    best = _brute_best(brute_force[objective], budget)
    assert answer.certificate.best == pytest.approx(brute_force[objective][best], rel=1e-9)
    assert answer.hw_index == best  # ties go to the smaller chip, as the brute force does
    assert answer.cost.total[{"latency": "cycles", "energy": "energy_pj", "edp": "edp"}[
        objective.value]] == pytest.approx(answer.certificate.best, rel=1e-9)  # fmt: skip


@pytest.mark.parametrize("objective", list(Objective))
def test_the_certificate_bounds_every_point_in_the_budget(brute_force, objective) -> None:
    budget = Budget(area_mm2=6.0)
    cert = network_optimum(NET, TINY, budget, objective).certificate
    in_budget = np.where(budget_mask(TINY, budget), brute_force[objective], np.inf)
    assert cert.certified and cert.gap == 0.0 and cert.stopped == "certified"
    assert cert.lower_bound <= in_budget.min() * (1 + 1e-9)
    assert cert.points_in_budget == int(budget_mask(TINY, budget).sum())
    assert cert.layers == cert.layers_swept == len(distinct_layers(NET).layers)


def test_an_incumbent_prunes_arrays_and_changes_nothing(brute_force) -> None:
    plain = network_optimum(NET, TINY, Budget(), "latency")
    started = network_optimum(NET, TINY, Budget(), "latency", incumbent=plain.hw_index)
    assert started.hw_index == plain.hw_index
    assert started.certificate.arrays_pruned >= plain.certificate.arrays_pruned


def test_out_of_time_answers_the_incumbent_with_an_honest_gap(brute_force) -> None:
    worst = int(np.argmax(np.where(np.isfinite(brute_force["edp"]), brute_force["edp"], 0)))
    answer = network_optimum(NET, TINY, Budget(), "edp", incumbent=worst, time_budget_s=0.0)
    cert = answer.certificate
    optimum = np.min(brute_force["edp"])
    assert not cert.certified and cert.stopped == "time budget"
    assert cert.best <= brute_force["edp"][worst]  # never worse than where it started
    assert cert.lower_bound <= optimum * (1 + 1e-9)
    assert cert.best / cert.lower_bound - 1 == pytest.approx(cert.gap)


def test_progress_reports_every_layer_sweep() -> None:
    seen = []
    network_optimum(NET, TINY, Budget(), "energy", progress=lambda d, t: seen.append((d, t)))
    n = len(distinct_layers(NET).layers)
    assert seen == [(i + 1, n) for i in range(n)]


def test_a_budget_nothing_fits_is_a_clear_error() -> None:
    with pytest.raises(NoDesignInBudget, match="budget"):
        network_optimum(NET, TINY, Budget(area_mm2=0.01), "edp")


def test_a_search_restricted_to_arrays_stays_on_them() -> None:
    axes = grid_axes(TINY)
    arrays = np.array([3, 17, 30])
    answer = network_optimum(NET, TINY, Budget(), "latency", arrays=arrays, probes=False)
    assert axes.array_of[answer.hw_index] in arrays
    flat, scores = screen_arrays(NET, TINY, Budget(), "latency", arrays, k=4)
    assert np.all(np.isin(axes.array_of[flat], arrays)) and np.all(np.diff(scores) >= 0)


layers = st.builds(
    lambda k, c, hw, r, stride, groups: Layer(
        "l", n=1, k=k * groups, c=c * groups, p=max(1, (hw - r) // stride + 1),
        q=max(1, (hw - r) // stride + 1), r=r, s=r, stride=stride, groups=groups),
    st.integers(1, 96), st.integers(1, 96), st.integers(3, 40), st.sampled_from([1, 3, 5]),
    st.sampled_from([1, 2]), st.sampled_from([1, 1, 4]),
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(layers)
def test_layer_lower_bounds_never_exceed_the_exact_sweep(layer: Layer) -> None:
    axes = grid_axes(TINY)
    lat, energy = sweep_cells(layer, TINY).per_point()  # (arrays, l1, l2, channels), (.., l2)
    lb_lat, lb_energy = layer_lower_bounds(layer, axes)  # (arrays, channels), (l1, l2)
    ok = np.isfinite(lat)
    assert np.all((lb_lat[:, None, None, :] <= lat * (1 + 1e-12))[ok])
    assert np.all((lb_energy[None] <= energy * (1 + 1e-12))[np.isfinite(energy)])
