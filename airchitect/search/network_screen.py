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

from functools import lru_cache

import numpy as np

from airchitect.cost.batch import LayerBatch
from airchitect.cost.mapper import MappingOptions, Objective, mapping_candidates
from airchitect.cost.model import l2_tiles
from airchitect.cost.network import DistinctLayers, distinct_layers
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import tie_rank
from airchitect.search.cells import KNOB, SweepCache, grid_axes, layer_per_point
from airchitect.search.grid_costs import budget_mask, grid_area_mm2
from airchitect.search.network_exact import Progress
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


@lru_cache(maxsize=4096)
def _smallest_l2_level(
    layer: Layer, space_l2_kib: tuple[float, ...], options: MappingOptions
) -> int:
    """The smallest L2 size (index into the space's values) any tiling of ``options`` fits."""
    lay = LayerBatch.from_layers(layer)
    t = l2_tiles(lay, mapping_candidates(layer, options))
    need = float(np.min(t["w_words"] + t["i_words"] + t["o_words"])) * layer.precision_bytes
    return int(np.searchsorted(np.asarray(space_l2_kib) * 1024.0, need))


def network_values(
    distinct: DistinctLayers, space: DesignSpace, objective: Objective,
    arrays: np.ndarray | None = None, tech: TechTable = DEFAULT_TECH,
    options: MappingOptions | None = None, progress: Progress | None = None,
    cache: SweepCache | None = None,
) -> np.ndarray:  # fmt: skip
    """The network objective at every point of ``arrays`` (all by default), shape ``(arrays,
    l1, l2, channels)``: each layer's cell sweep weighted by its runs. Latency and energy are
    exact over the mapping space ``options``; EDP is their product, a lower bound of the
    EDP-best mappings' (least energy and least latency may come from different mappings).
    With a coarse ``options``, a layer whose coarse tilings miss the small L2 sizes the full
    space fits (a huge LLM head) is swept with the full tilings."""
    outputs = {Objective.LATENCY: "latency", Objective.ENERGY: "energy"}.get(objective, "both")
    latency, energy = 0.0, 0.0
    if arrays is None:
        arrays = np.arange(grid_axes(space).n_arrays)
    for j, (layer, count) in enumerate(zip(distinct.layers, distinct.counts, strict=True)):
        layer_options = options
        l2_kib = tuple(space.knobs[KNOB["l2_kib"]].values)
        if options is not None and _smallest_l2_level(layer, l2_kib, options) > _smallest_l2_level(
            layer, l2_kib, space.mapping_options
        ):
            layer_options = space.mapping_options
        # energy-only sweeps give latency 0 where a mapping fits
        lat, en = layer_per_point(layer, space, arrays, tech, layer_options, outputs, cache)
        latency = latency + count * lat
        energy = energy if en is None else energy + count * en[..., None]
        if progress is not None:
            progress(j + 1, len(distinct.layers))
    if objective is Objective.LATENCY:
        return latency
    if objective is Objective.ENERGY:  # bandwidths do not change energy: every channel alike
        energy = np.where(np.isfinite(latency), energy, np.inf)
        return np.broadcast_to(energy, (*energy.shape[:3], grid_axes(space).n_channels))
    return energy * latency / (tech.clock_ghz * 1e9)


def screen_arrays(
    workload: Network | Layer, space: DesignSpace, budget: Budget | None,
    objective: Objective | str, arrays: np.ndarray, k: int, tech: TechTable = DEFAULT_TECH,
    options: MappingOptions | None = None, per_array: bool = False,
    cache: SweepCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The ``k`` best in-budget points of ``arrays`` by the network objective over the mapping
    space ``options`` (the space's own by default): flat grid indices and their screened
    scores, best first (ties to the smaller chip); fewer where fewer points fit.
    ``per_array=True`` gives the best point of each of the ``k`` best arrays instead."""
    objective = Objective.parse(objective)
    arrays = np.unique(np.asarray(arrays, dtype=np.int64))
    axes = grid_axes(space)
    score = network_values(distinct_layers(workload), space, objective, arrays, tech, options,
                           cache=cache)  # fmt: skip
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
