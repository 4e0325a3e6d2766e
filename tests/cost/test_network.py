"""Whole-network evaluation: one design, best mapping per layer, totals are sums."""

import pytest

from airchitect.cost.mapper import best_mapping
from airchitect.cost.network import NoValidMapping, evaluate_network
from airchitect.space.hardware import HardwareConfig
from airchitect.workloads.layer import gemm
from airchitect.workloads.zoo import get_network

HW = HardwareConfig(16, 16, 256, 256, 16, 16, "os")


def test_totals_are_sums_of_per_layer_best_mappings():
    net = get_network("dqn")
    result = evaluate_network(net, HW, "latency")
    assert len(result.layers) == len(net.layers)
    assert result.total["macs"] == net.macs
    for r in result.layers:
        assert r.cost["cycles"] == best_mapping(r.layer, HW, "latency").cost["cycles"]
    assert result.total["cycles"] == pytest.approx(sum(r.cost["cycles"] for r in result.layers))
    assert result.total["edp"] == pytest.approx(result.total["energy_pj"] * result.total["seconds"])
    assert result.total["bound"] in {"compute", "noc", "dram"}


def test_a_single_layer_is_a_one_layer_network():
    result = evaluate_network(gemm("g", m=128, k=256, n=64), HW)
    assert len(result.layers) == 1
    assert result.to_dict()["layers"][0]["layer"]["op"] == "gemm"


def test_a_layer_no_mapping_fits_is_named():
    tiny = HardwareConfig(16, 16, 256, 0.001, 16, 16, "ws")
    with pytest.raises(NoValidMapping, match="layer 'conv1': no mapping fits"):
        evaluate_network(get_network("dqn"), tiny)
