"""The bottleneck analysis: its what-if table is a direct re-evaluation of each moved design."""

from __future__ import annotations

import pytest

from airchitect.cost.network import evaluate_network
from airchitect.search.analysis import analyse
from airchitect.space import Budget, DesignSpace, HardwareConfig, check_budget
from airchitect.workloads.zoo import get_network

SPACE = DesignSpace.default()
DESIGN = HardwareConfig(32, 32, 64, 256, 16, 16, "os")


@pytest.fixture(scope="module")
def analysis():
    cost = evaluate_network(get_network("dqn"), DESIGN, "edp")
    return cost, analyse(cost, SPACE, Budget(area_mm2=20.0))


def test_what_if_entries_equal_direct_re_evaluation(analysis) -> None:
    cost, a = analysis
    assert (
        len(a.what_if)
        == 2 * 6
        - 0
        + 3
        - sum(  # up and down per ordinal knob, 3 dataflows
            1 for k in SPACE.knobs[:-1] if DESIGN.to_dict()[k.name] in (k.values[0], k.values[-1])
        )
    )
    for w in a.what_if:
        moved = HardwareConfig(**(DESIGN.to_dict() | {w.knob: w.value}))
        direct = evaluate_network(get_network("dqn"), moved, "edp")
        assert w.objective_ratio == pytest.approx(direct.total["edp"] / cost.total["edp"])
        assert w.area_mm2 == pytest.approx(direct.total["area_mm2"])
        assert w.fits == bool(check_budget(moved, Budget(area_mm2=20.0))[0][0])


def test_shares_add_up_and_the_summary_names_the_bound(analysis) -> None:
    cost, a = analysis
    assert sum(a.latency_by_bound.values()) == pytest.approx(1.0)
    assert sum(a.energy_by_level.values()) == pytest.approx(1.0)
    assert a.utilization + sum(a.utilization_lost.values()) == pytest.approx(1.0)
    assert a.utilization == pytest.approx(cost.total["utilization"])
    bound = max(a.latency_by_bound, key=a.latency_by_bound.get)
    assert a.summary.startswith(f"{bound}-bound") and "area budget" in a.summary


def test_a_binding_budget_names_the_moves_it_blocks() -> None:
    cost = evaluate_network(get_network("dqn"), DESIGN, "latency")
    a = analyse(cost, SPACE, Budget(area_mm2=cost.total["area_mm2"] * 1.01))
    area = a.budgets["area_mm2"]
    assert area["binds"] and "pe_rows" in area["blocked_moves"]
    assert all(not w.fits for w in a.what_if if w.knob in area["blocked_moves"] and
               w.move == "up")  # fmt: skip
