"""The Pareto front: no front point is dominated, every other point is, and it matches a
brute-force scoring of every grid point."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from airchitect.cost.network import distinct_layers, network_best_mappings
from airchitect.search.network_exact import grid_area_mm2
from airchitect.search.pareto import pareto_front, pareto_indices
from tests.search.test_network_exact import NET, TINY

values = arrays(np.float64, st.integers(1, 60), elements=st.floats(0.1, 100.0))


@given(values, values)
def test_the_front_is_exactly_the_undominated_points(resource, value) -> None:
    n = min(len(resource), len(value))
    resource, value = resource[:n], value[:n]
    front = set(pareto_indices(resource, value).tolist())
    for i in range(n):
        dominated = np.any((resource <= resource[i]) & (value <= value[i])
                           & ((resource < resource[i]) | (value < value[i])))  # fmt: skip
        if i in front:
            assert not dominated
        else:  # dominated, or an exact duplicate of a front point
            assert dominated or any(resource[j] == resource[i] and value[j] == value[i]
                                    for j in front)  # fmt: skip


def test_the_latency_front_matches_brute_force() -> None:
    front = pareto_front(NET, TINY, "latency", "area")
    brute = network_best_mappings(distinct_layers(NET), TINY.enumerate(), "latency").score
    area = grid_area_mm2(TINY)
    expected = pareto_indices(area, brute)
    np.testing.assert_allclose(front.objective_values, brute[expected], rtol=1e-9)
    np.testing.assert_allclose(front.resource_values, area[expected])
    assert np.all(np.diff(front.resource_values) > 0) and np.all(
        np.diff(front.objective_values) < 0
    )
