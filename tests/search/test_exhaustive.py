"""The exhaustive sweep is exact: it agrees with scoring every grid point with the mapper."""

import numpy as np
import pytest

from airchitect.cost.mapper import Objective
from airchitect.search.base import HardwareEvaluator, Task
from airchitect.search.exhaustive import ExhaustiveLabeller, sweep_grid
from airchitect.space import Budget, DesignSpace, check_budget
from airchitect.workloads.layer import conv2d, depthwise_conv2d, gemm

# Small enough to score every point with the mapper in a few seconds; every knob has a choice.
REDUCED = DesignSpace.from_dict(
    {
        "name": "tiny",
        "hardware": {
            "pe_rows": [8, 16, 32], "pe_cols": [8, 16, 32], "l1_bytes": [64, 256],
            "l2_kib": [32, 128, 512], "noc_words_per_cycle": [4, 16],
            "dram_bytes_per_cycle": [8, 32], "dataflow": ["ws", "os", "is", "rs"],
        },
    }
)  # fmt: skip
LAYERS = [
    conv2d("conv", in_channels=32, out_channels=64, in_hw=28, kernel=3, padding=1),
    depthwise_conv2d("dw", channels=96, in_hw=14, kernel=3, padding=1, stride=2),
    gemm("gemm", m=128, k=768, n=256, precision_bytes=1),
]


@pytest.fixture(scope="module")
def brute_force():
    """Every reduced-space point scored by the mapper, per layer and objective."""
    everything = np.arange(REDUCED.size)
    return {
        (layer.name, obj): HardwareEvaluator(layer, REDUCED, obj).scores(everything)
        for layer in LAYERS
        for obj in Objective
    }


@pytest.mark.parametrize("layer", LAYERS, ids=lambda x: x.name)
def test_sweep_values_equal_the_mapper_at_every_point(layer, brute_force):
    sweep = sweep_grid(layer, REDUCED)
    np.testing.assert_allclose(sweep.latency_cycles, brute_force[layer.name, Objective.LATENCY],
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(sweep.energy_pj, brute_force[layer.name, Objective.ENERGY],
                               rtol=1e-12)  # fmt: skip
    edp = brute_force[layer.name, Objective.EDP]
    finite = np.isfinite(edp)
    assert np.all(sweep.edp_lower_bound[finite] <= edp[finite] * (1 + 1e-12))


@pytest.mark.parametrize("layer", LAYERS, ids=lambda x: x.name)
@pytest.mark.parametrize("area_mm2", [None, 8.0, 4.0])
def test_labels_are_the_exact_top_k_under_the_budget(layer, area_mm2, brute_force):
    budget = Budget(area_mm2=area_mm2)
    in_budget, _ = check_budget(REDUCED.enumerate(), budget)
    tasks = [Task(budget, obj) for obj in Objective]
    for label in ExhaustiveLabeller(REDUCED, top_k=4).label(layer, tasks):
        exact = np.where(in_budget, brute_force[layer.name, label.task.objective], np.inf)
        expected = np.sort(exact[np.isfinite(exact)])[:5]
        assert len(expected) == 5, "the budget must leave room for a top-k"
        got = [label.best.score] + [c.score for c in label.top_k]
        np.testing.assert_allclose(got, expected, rtol=1e-9)
        assert all(in_budget[c.hw_index] for c in (label.best, *label.top_k))
        assert label.method == "exhaustive" and label.evals == REDUCED.size


def test_no_design_in_budget_gives_no_label():
    tasks = [Task(Budget(area_mm2=0.01), Objective.EDP)]
    (label,) = ExhaustiveLabeller(REDUCED).label(LAYERS[0], tasks)
    assert label.failures == 0
    assert label.best is None and label.top_k == ()


def test_ties_go_to_the_smaller_chip():
    """Latency rarely depends on L2 size once tiles fit: the label takes the smallest L2."""
    (label,) = ExhaustiveLabeller(REDUCED, top_k=8).label(LAYERS[0], [Task(Budget(), "latency")])
    tied = [c for c in label.top_k if np.isclose(c.score, label.best.score, rtol=1e-9)]
    assert all(c.cost["area_mm2"] >= label.best.cost["area_mm2"] for c in tied)
