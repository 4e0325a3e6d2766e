"""The area (or power) vs objective Pareto front of a workload over the whole hardware grid.

Every grid point's exact network latency and energy come from one cell sweep per distinct
layer (:mod:`airchitect.search.cells`), each layer at its best mapping. A point is on the front
when no other point is both no larger (area or power) and no worse (objective). For EDP the
sweep gives a lower bound per point (least energy times least latency, possibly of different
mappings); the front is taken on it, then its points are scored exactly (each layer at its
EDP-best mapping) and the front is taken again on the exact values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airchitect.cost.mapper import Objective
from airchitect.cost.network import distinct_layers, network_best_mappings
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.cells import grid_axes
from airchitect.search.grid_costs import grid_area_mm2, grid_power_mw
from airchitect.search.network_exact import Progress
from airchitect.search.network_screen import network_values
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network

RESOURCES = ("area", "power")


@dataclass(frozen=True)
class ParetoFront:
    """Front points, smallest resource first: grid indices, resource and objective values."""

    objective: str
    resource: str  # "area" (mm2) or "power" (mW)
    hw_index: np.ndarray
    resource_values: np.ndarray
    objective_values: np.ndarray
    points_scored: int  # grid points with a valid mapping for every layer


def pareto_indices(resource: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (lower is better), ordered by
    ``resource``; of equal points the first is kept."""
    finite = np.flatnonzero(np.isfinite(value) & np.isfinite(resource))
    order = finite[np.lexsort((value[finite], resource[finite]))]
    best_so_far = np.minimum.accumulate(value[order])
    strictly_better = np.r_[True, value[order][1:] < best_so_far[:-1]]
    return order[strictly_better]


def pareto_front(
    workload: Network | Layer, space: DesignSpace, objective: Objective | str = Objective.EDP,
    resource: str = "area", tech: TechTable = DEFAULT_TECH, progress: Progress | None = None,
) -> ParetoFront:  # fmt: skip
    """The ``resource`` vs ``objective`` front of ``workload`` over every point of ``space``."""
    if resource not in RESOURCES:
        raise ValueError(
            f"field 'resource' must be one of {', '.join(RESOURCES)}, got {resource!r}"
        )
    objective = Objective.parse(objective)
    axes = grid_axes(space)
    distinct = distinct_layers(workload)
    value = network_values(distinct, space, objective, tech=tech, progress=progress)
    points = axes.points_of(np.arange(axes.n_arrays))
    flat_value = np.full(space.size, np.inf)
    flat_value[points] = value.reshape(-1)
    cost = grid_area_mm2(space, tech) if resource == "area" else grid_power_mw(space, tech)
    front = pareto_indices(cost, flat_value)
    if objective is Objective.EDP:  # exact EDP of the bound's front, then the front again
        hw = space.decode_batch(space.unflat_index(front))
        exact = network_best_mappings(distinct, hw, objective, tech, space.mapping_options).score
        keep = pareto_indices(cost[front], exact)
        front, values = front[keep], exact[keep]
    else:
        values = flat_value[front]
    return ParetoFront(objective.value, resource, front, cost[front], values,
                       int(np.isfinite(flat_value).sum()))  # fmt: skip
