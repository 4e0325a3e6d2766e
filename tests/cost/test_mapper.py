"""The mapper returns the true optimum of its mapping space, for one or many hardware points."""

import numpy as np
import pytest

from airchitect.cost.batch import DRAM_ORDERS, LayerBatch, MappingBatch
from airchitect.cost.mapper import (
    MappingOptions,
    Objective,
    best_mapping,
    best_mappings,
    mapping_candidates,
    objective_values,
    tile_options,
)
from airchitect.cost.model import evaluate
from airchitect.space.hardware import HardwareBatch, HardwareConfig
from airchitect.workloads.layer import conv2d, gemm

LAYER = conv2d("c", in_channels=32, out_channels=64, in_hw=14, kernel=3, padding=1, batch=2)
HWS = [
    HardwareConfig(8, 8, 64, 32, 8, 8, "ws"),
    HardwareConfig(16, 8, 256, 64, 4, 16, "os"),
    HardwareConfig(8, 16, 128, 16, 16, 4, "is"),
    HardwareConfig(12, 14, 512, 108, 14, 8, "rs"),
]


def _brute_force(layer, hw, objective):
    """Score every candidate under every DRAM loop order (what the mapper avoids doing)."""
    cand = mapping_candidates(layer)
    rows = len(cand)
    orders = np.repeat(np.arange(len(DRAM_ORDERS)), rows)
    idx = np.tile(np.arange(rows), len(DRAM_ORDERS))
    m = MappingBatch(*(getattr(cand, f)[idx] for f in ("n_l2", "p_l2", "k_l2", "c_l2",
                                                       "pe_reuse")), orders)  # fmt: skip
    cost = evaluate(LayerBatch.from_layers(layer), HardwareBatch.from_configs(hw), m)
    return objective_values(cost, objective).min()


@pytest.mark.parametrize("hw", HWS, ids=lambda h: h.dataflow.name)
@pytest.mark.parametrize("objective", list(Objective))
def test_mapper_finds_the_optimum_over_all_loop_orders(hw, objective):
    result = best_mapping(LAYER, hw, objective)
    field = {"latency": "cycles", "energy": "energy_pj", "edp": "edp"}[objective]
    assert result.cost["valid"]
    assert result.cost[field] == pytest.approx(_brute_force(LAYER, hw, objective))


def test_many_hardware_points_agree_with_one_at_a_time():
    many = best_mappings(LAYER, HardwareBatch.from_configs(HWS), "edp", max_rows=5000)
    for i, hw in enumerate(HWS):
        one = best_mapping(LAYER, hw, "edp")
        assert many.found[i]
        assert many.score[i] == pytest.approx(one.cost["edp"])
        assert many.cost.row(i)["edp"] == pytest.approx(one.cost["edp"])


def test_no_valid_mapping_gives_none_not_an_invalid_answer():
    hw = HardwareConfig(8, 8, 16, 0.001, 8, 8, "ws")  # an L2 of one byte fits no tile
    result = best_mapping(gemm("g", m=64, k=64, n=64), hw)
    assert result.mapping is None and result.cost is None
    many = best_mappings(gemm("g", m=64, k=64, n=64), HardwareBatch.from_configs([hw, HWS[0]]))
    assert list(many.found) == [False, True]


def test_tile_options_cover_the_bound_from_whole_to_one():
    assert list(tile_options(55, 8)) == [55, 28, 14, 7, 4, 2, 1]
    assert list(tile_options(1, 8)) == [1]
    assert list(tile_options(64, 3)) == [64, 32, 16]


def test_mapping_space_size_counts_every_knob():
    opts = MappingOptions(trip_options=2, batch_trip_options=1, pe_reuse=(1, 2))
    layer = gemm("g", m=8, k=8, n=8)
    assert opts.size(layer) == 1 * 2 * 2 * 2 * 2 * 6
    with pytest.raises(ValueError, match="trip_options"):
        MappingOptions(trip_options=0)


def test_objective_names_are_checked():
    assert Objective.parse("EDP") is Objective.EDP
    with pytest.raises(ValueError, match="field 'objective' must be one of latency, energy, edp"):
        Objective.parse("throughput")
