"""Behaviour of the vectorised model: batch/scalar agreement, broadcasting, validity reasons."""

import numpy as np
import pytest

from airchitect.cost.batch import LayerBatch, Mapping, MappingBatch
from airchitect.cost.model import Invalid, evaluate
from airchitect.space.hardware import HardwareBatch, HardwareConfig
from airchitect.workloads.layer import conv2d, gemm

LAYER = conv2d("c", in_channels=64, out_channels=128, in_hw=28, kernel=3, padding=1, batch=2)
HW = [HardwareConfig(16, 16, 256, 256, 16, 16, df) for df in ("ws", "os", "is", "rs")] + [
    HardwareConfig(8, 32, 64, 64, 4, 8, "ws")
]
MAPS = [Mapping(1, 14, 64, 32, 4, o) for o in range(6)]


def test_batch_rows_equal_single_row_calls():
    rows = [(h, m) for h in HW for m in MAPS]
    batch = evaluate(
        LayerBatch.from_layers([LAYER] * len(rows)),
        HardwareBatch.from_configs([h for h, _ in rows]),
        MappingBatch.from_mappings([m for _, m in rows]),
    )
    for i, (h, m) in enumerate(rows):
        single = evaluate(
            LayerBatch.from_layers(LAYER),
            HardwareBatch.from_configs(h),
            MappingBatch.from_mappings(m),
        )
        assert single.row(0) == batch.row(i)


def test_length_one_inputs_broadcast():
    cost = evaluate(
        LayerBatch.from_layers(LAYER),
        HardwareBatch.from_configs(HW[0]),
        MappingBatch.from_mappings(MAPS),
    )
    assert len(cost) == len(MAPS)
    assert np.all(cost.macs == LAYER.macs)


def _row(layer, hw, mapping):
    return evaluate(
        LayerBatch.from_layers(layer),
        HardwareBatch.from_configs(hw),
        MappingBatch.from_mappings(mapping),
    ).row(0)


def test_l2_overflow_is_reported():
    tiny_l2 = HardwareConfig(16, 16, 256, 1, 16, 16, "ws")
    cost = _row(LAYER, tiny_l2, Mapping(2, 28, 128, 64))
    assert not cost["valid"]
    assert "l2_overflow" in cost["invalid_reason"]


def test_l1_overflow_is_reported():
    tiny_l1 = HardwareConfig(16, 16, 4, 1024, 16, 16, "rs")
    cost = _row(LAYER, tiny_l1, Mapping(1, 7, 16, 8, pe_reuse=8))
    assert not cost["valid"]
    assert "l1_overflow" in cost["invalid_reason"]


@pytest.mark.parametrize("bad", [Mapping(0, 1, 1, 1), Mapping(1, 29, 1, 1), Mapping(1, 1, 1, 65)])
def test_tiles_outside_the_loop_bounds_are_invalid(bad):
    cost = _row(LAYER, HW[0], bad)
    assert cost["invalid_reason"] != "valid"
    assert "tile_out_of_range" in cost["invalid_reason"]


def test_invalid_describe_lists_every_reason():
    assert Invalid.describe(0) == "valid"
    assert Invalid.describe(Invalid.L1_OVERFLOW | Invalid.L2_OVERFLOW) == "l1_overflow, l2_overflow"


def test_tiles_that_split_the_reduction_reread_partial_sums():
    g = gemm("g", m=64, k=512, n=64)
    hw = HardwareConfig(16, 16, 256, 1024, 16, 16, "os")
    whole = _row(g, hw, Mapping(1, 64, 64, 512, 1, 0))
    split = _row(g, hw, Mapping(1, 64, 64, 64, 1, 0))  # X-K-F: F innermost, psums stay in L2
    outer_f = _row(g, hw, Mapping(1, 64, 64, 64, 1, 1))  # X-F-K: psums go back to DRAM
    assert whole["dram_bytes"] <= split["dram_bytes"] <= outer_f["dram_bytes"]


def test_latency_is_the_slowest_level_and_reports_it():
    slow_dram = HardwareConfig(16, 16, 256, 1024, 128, 0.01, "ws")
    cost = _row(LAYER, slow_dram, MAPS[0])
    assert cost["bound"] == "dram"
    assert cost["cycles"] == pytest.approx(cost["dram_cycles"])
    assert cost["seconds"] == pytest.approx(cost["cycles"] / 0.2e9)
