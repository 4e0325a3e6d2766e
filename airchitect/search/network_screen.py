"""Screen every point of a few PE arrays for a whole network, fast enough to answer instantly.

A PE array (rows, columns, dataflow) fixes most of what a design costs; its buffer sizes and
bandwidths are 960 more points of the default grid. The cell sweep
(:mod:`airchitect.search.cells`) scores all of them per layer at once, so given a handful of
promising arrays (from the learned recommender) the network's latency and energy at each of
their points cost one sweep per layer, over a coarse mapping space. Coarse costs are upper
bounds of exact ones (the coarse mappings are a subset), close enough to rank points; the
caller maps the best few exactly.
"""

from __future__ import annotations

import numpy as np

from airchitect.cost.batch import LayerBatch
from airchitect.cost.mapper import MappingOptions, Objective, mapping_candidates
from airchitect.cost.model import l2_tiles
from airchitect.cost.network import distinct_layers
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import tie_rank
from airchitect.search.cells import KNOB, grid_axes, sweep_cells
from airchitect.search.network_exact import budget_mask, grid_area_mm2
from airchitect.space.budget import Budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network


def array_of_designs(space: DesignSpace, flat: np.ndarray) -> np.ndarray:
    """The PE array (index of :meth:`GridAxes.arrays`) of each grid point."""
    return grid_axes(space).array_of[np.asarray(flat, dtype=np.int64)]


def arrays_in_budget(space: DesignSpace, budget: Budget, tech: TechTable = DEFAULT_TECH):
    """Which PE arrays have at least one point within ``budget``, shape ``(arrays,)``."""
    axes = grid_axes(space)
    fits = np.zeros(axes.n_arrays, dtype=bool)
    fits[axes.array_of[budget_mask(space, budget, tech)]] = True
    return fits


def _smallest_l2_level(layer: Layer, space: DesignSpace, options: MappingOptions) -> int:
    """The smallest L2 size (index into the space's values) any tiling of ``options`` fits."""
    lay = LayerBatch.from_layers(layer)
    t = l2_tiles(lay, mapping_candidates(layer, options))
    need = float(np.min(t["w_words"] + t["i_words"] + t["o_words"])) * layer.precision_bytes
    return int(np.searchsorted(np.asarray(space.knobs[KNOB["l2_kib"]].values) * 1024.0, need))


def screen_arrays(
    workload: Network | Layer, space: DesignSpace, budget: Budget | None,
    objective: Objective | str, arrays: np.ndarray, k: int, tech: TechTable = DEFAULT_TECH,
    options: MappingOptions | None = None, per_array: bool = False,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The ``k`` best in-budget points of ``arrays`` by the network objective over the mapping
    space ``options`` (the space's own by default): flat grid indices and their screened
    scores, best first (ties to the smaller chip); fewer where fewer points fit.
    ``per_array=True`` gives the best point of each of the ``k`` best arrays instead."""
    objective = Objective.parse(objective)
    arrays = np.unique(np.asarray(arrays, dtype=np.int64))
    axes = grid_axes(space)
    distinct = distinct_layers(workload)
    latency, energy = 0.0, 0.0
    for layer, count in zip(distinct.layers, distinct.counts, strict=True):
        layer_options = options
        if options is not None and _smallest_l2_level(layer, space, options) > _smallest_l2_level(
            layer, space, space.mapping_options
        ):  # the coarse tilings miss small L2 sizes the full space fits (huge LLM heads)
            layer_options = space.mapping_options
        lat, en = sweep_cells(layer, space, arrays, tech, layer_options).per_point()
        latency, energy = latency + count * lat, energy + count * en[..., None]
    if objective is Objective.LATENCY:
        score = latency
    elif objective is Objective.ENERGY:
        score = np.where(np.isfinite(latency), energy, np.inf)
    else:
        score = energy * latency / (tech.clock_ghz * 1e9)
    points = axes.points_of(arrays)
    score = np.where(budget_mask(space, budget or Budget(), tech)[points], score.reshape(-1),
                     np.inf)  # fmt: skip
    if per_array:  # keep each array's best point only
        per = score.reshape(len(arrays), -1)
        best = per.argmin(axis=1) + np.arange(len(arrays)) * per.shape[1]
        points, score = points[best], score[best]
    finite = np.flatnonzero(np.isfinite(score))
    if len(finite) > k:
        kth = np.partition(score[finite], k - 1)[k - 1]
        finite = finite[score[finite] <= kth]
    order = finite[tie_rank(score[finite], grid_area_mm2(space, tech)[points[finite]],
                            points[finite])][:k]  # fmt: skip
    return points[order], score[order]
