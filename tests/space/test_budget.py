"""Budgets: hardware-only area and power limits, checked before any evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space import (
    Budget,
    BudgetViolation,
    DesignSpace,
    HardwareBatch,
    HardwareConfig,
    check_budget,
    hardware_area_mm2,
    hardware_power_mw,
)

REDUCED = DesignSpace.named("reduced")
EYERISS = HardwareConfig(12, 14, 512, 108, 16, 16, "rs")


@pytest.mark.parametrize("field", ["area_mm2", "power_mw"])
@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "10"])
def test_budget_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"budget field '{field}' must be a positive number"):
        Budget(**{field: value})


def test_budget_accepts_numbers_and_none():
    assert Budget().unconstrained
    b = Budget(area_mm2=np.float64(12.5), power_mw=300)
    assert not b.unconstrained and b.to_dict() == {"area_mm2": 12.5, "power_mw": 300}


def test_wrappers_call_the_tech_table():
    hw = REDUCED.sample(20, seed=0)
    args = (hw.pe_rows, hw.pe_cols, hw.l1_bytes, hw.l2_kib, hw.noc_words_per_cycle,
            hw.dram_bytes_per_cycle)  # fmt: skip
    np.testing.assert_allclose(hardware_area_mm2(hw), DEFAULT_TECH.area_mm2(*args))
    np.testing.assert_allclose(hardware_power_mw(hw), DEFAULT_TECH.power_mw(*args))
    bigger_pes = TechTable(pe_logic_mm2=0.05)
    assert (hardware_area_mm2(hw, bigger_pes) > hardware_area_mm2(hw)).all()
    one = hardware_area_mm2(EYERISS)
    assert one.shape == (1,) and 5 < one[0] < 20  # near Eyeriss's published 12.25 mm^2 core


@settings(max_examples=100, deadline=None)
@given(
    rows=st.integers(1, 256),
    extra=st.integers(1, 256),
    cols=st.integers(1, 256),
    l1=st.integers(1, 4096),
    l2=st.floats(1, 8192),
    noc=st.floats(1, 512),
    dram=st.floats(1, 256),
)
def test_area_and_power_grow_with_pe_rows(rows, extra, cols, l1, l2, noc, dram):
    small = HardwareConfig(rows, cols, l1, l2, noc, dram)
    large = HardwareConfig(rows + extra, cols, l1, l2, noc, dram)
    hw = HardwareBatch.from_configs([small, large])
    area, power = hardware_area_mm2(hw), hardware_power_mw(hw)
    assert area[1] > area[0] and power[1] > power[0]


def test_check_budget_masks_and_reasons():
    hw = REDUCED.enumerate()
    area, power = hardware_area_mm2(hw), hardware_power_mw(hw)
    a_cap, p_cap = float(np.median(area)), float(np.median(power))
    feasible, reason = check_budget(hw, Budget(area_mm2=a_cap, power_mw=p_cap))
    assert feasible.dtype == bool and reason.shape == (len(hw),)
    np.testing.assert_array_equal(feasible, (area <= a_cap) & (power <= p_cap))
    np.testing.assert_array_equal(reason & BudgetViolation.AREA != 0, area > a_cap)
    np.testing.assert_array_equal(reason & BudgetViolation.POWER != 0, power > p_cap)
    both = BudgetViolation.AREA | BudgetViolation.POWER
    for flags in (0, BudgetViolation.AREA, BudgetViolation.POWER, both):
        assert (reason == flags).any()
    assert 0 < feasible.sum() < len(hw)


def test_single_axis_and_unconstrained_budgets():
    hw = REDUCED.sample(200, seed=2)
    area = hardware_area_mm2(hw)
    feasible, reason = check_budget(hw, Budget(area_mm2=float(area.max())))
    assert feasible.all() and (reason == 0).all()  # a point exactly at the budget is feasible
    feasible, reason = check_budget(hw, Budget(power_mw=1e-3))
    assert not feasible.any() and (reason == BudgetViolation.POWER).all()
    for budget in (None, Budget()):
        assert check_budget(hw, budget)[0].all()


def test_check_budget_uses_the_given_tech():
    cap = float(hardware_area_mm2(EYERISS)[0]) * 1.01
    assert check_budget(EYERISS, Budget(area_mm2=cap))[0].all()
    assert not check_budget(EYERISS, Budget(area_mm2=cap), TechTable(pe_logic_mm2=0.1))[0].any()
