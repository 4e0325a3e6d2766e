"""Invariants of the cost model that must hold for every layer, hardware point and mapping."""

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airchitect.cost.batch import LayerBatch, MappingBatch
from airchitect.cost.mapper import best_mapping
from airchitect.cost.model import evaluate
from airchitect.space.hardware import HardwareBatch
from tests.cost.strategies import hardware, layers, mappings


def _cost(layer, hw, mapping):
    return evaluate(
        LayerBatch.from_layers(layer),
        HardwareBatch.from_configs(hw),
        MappingBatch.from_mappings(mapping),
    ).row(0)


@st.composite
def cases(draw):
    layer = draw(layers())
    return layer, draw(hardware()), draw(mappings(layer))


@given(cases(), st.sampled_from(["noc_words_per_cycle", "dram_bytes_per_cycle"]))
def test_more_bandwidth_never_raises_latency(case, knob):
    layer, hw, mapping = case
    wider = dataclasses.replace(hw, **{knob: getattr(hw, knob) * 2})
    assert _cost(layer, wider, mapping)["cycles"] <= _cost(layer, hw, mapping)["cycles"]


@given(cases())
def test_macs_are_conserved_across_mappings(case):
    layer, hw, mapping = case
    cost = _cost(layer, hw, mapping)
    assert cost["macs"] == layer.macs
    # The schedule must cover every MAC: no mapping does the work in fewer PE-cycles.
    assert cost["compute_cycles"] * hw.num_pes >= layer.macs
    assert 0 < cost["utilization"] <= 1


@given(cases())
def test_energy_is_never_negative(case):
    cost = _cost(*case)
    parts = ["energy_mac_pj", "energy_l1_pj", "energy_noc_pj", "energy_l2_pj", "energy_dram_pj"]
    assert all(cost[p] >= 0 for p in parts)
    assert np.isclose(cost["energy_pj"], sum(cost[p] for p in parts))


@given(cases(), st.sampled_from(["l1_bytes", "l2_kib"]))
def test_enlarging_a_buffer_never_invalidates_a_mapping(case, knob):
    layer, hw, mapping = case
    bigger = dataclasses.replace(hw, **{knob: getattr(hw, knob) * 2})
    if _cost(layer, hw, mapping)["valid"]:
        assert _cost(layer, bigger, mapping)["valid"]


@settings(max_examples=30, deadline=None)
@given(layers(), hardware())
def test_a_bigger_l2_never_slows_the_best_mapping(layer, hw):
    bigger = dataclasses.replace(hw, l2_kib=hw.l2_kib * 4)
    small, big = best_mapping(layer, hw, "latency"), best_mapping(layer, bigger, "latency")
    if small.cost is not None:
        assert big.cost is not None
        assert big.cost["cycles"] <= small.cost["cycles"]
