"""Exhaustive labelling: the exact optimum over a whole hardware grid, best mapping per point.

Scoring every grid point's whole mapping space directly costs points x mappings evaluations
(about 1e9 for the default space). The model separates, so the sweep does not:

- compute cycles, NoC words and L1 demand depend on the array (rows, columns, dataflow) and the
  mapping only; DRAM words and L2 demand on the mapping only. They are computed once per
  (array, mapping): about 256 x 3,000 rows.
- buffer sizes only decide which mappings are valid, and validity is monotone: a mapping valid
  at L1 level i and L2 level j is valid at every larger level. So the best value per buffer
  pair is a 2-D prefix minimum over (smallest L1 level, smallest L2 level) cells.
- bandwidths and buffer energies enter only the final combination, evaluated per channel:
  one channel per (NoC, DRAM) bandwidth pair for latency, one per L2 size for energy.

Latency and energy per grid point are then exact. EDP is a product, so the sweep bounds it
from below by (min energy) x (min latency) and scores exactly, with the mapper, only the points
whose bound can beat the k-th best: the result is still the exact top-k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from airchitect.cost.batch import LayerBatch, MappingBatch
from airchitect.cost.mapper import Objective, best_dram_order, mapping_candidates
from airchitect.cost.model import access_counts
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import (
    DEFAULT_TOP_K,
    TIE_RTOL,
    HardwareEvaluator,
    Label,
    Task,
    make_label,
    tie_rank,
)
from airchitect.space.budget import hardware_area_mm2, hardware_power_mw
from airchitect.space.hardware import HARDWARE_KNOBS, HardwareBatch
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer

_K = {name: i for i, name in enumerate(HARDWARE_KNOBS)}


@dataclass(frozen=True)
class GridSweep:
    """Best objective per grid point (flat-index order); ``inf`` where no mapping fits."""

    latency_cycles: np.ndarray
    energy_pj: np.ndarray
    clock_ghz: float

    @property
    def feasible(self) -> np.ndarray:
        return np.isfinite(self.latency_cycles)

    @property
    def edp_lower_bound(self) -> np.ndarray:
        """pJ*s; min energy and min latency may come from different mappings."""
        return self.energy_pj * self.latency_cycles / (self.clock_ghz * 1e9)


def _array_grid(space: DesignSpace) -> HardwareBatch:
    """Every (rows, cols, dataflow) of the space; other knobs are placeholders (unused)."""
    rows, cols, flows = (np.asarray(space.knobs[_K[k]].values) for k in
                         ("pe_rows", "pe_cols", "dataflow"))  # fmt: skip
    r, c, f = (a.reshape(-1) for a in np.meshgrid(rows, cols, flows.astype(np.int64),
                                                  indexing="ij"))  # fmt: skip
    one = np.ones_like(r)
    return HardwareBatch(r, c, one * 1.0, one * 1.0, one * 1.0, one * 1.0, f)


def _per_array_mapping(layer: Layer, space: DesignSpace) -> dict[str, np.ndarray]:
    """Access counts of every (array, mapping) pair, arrays outermost: shape (A * M,)."""
    lay = LayerBatch.from_layers(layer)
    cand = mapping_candidates(layer, space.mapping_options)
    cand = MappingBatch(cand.n_l2, cand.p_l2, cand.k_l2, cand.c_l2, cand.pe_reuse,
                        best_dram_order(lay, cand))  # fmt: skip
    arrays = _array_grid(space)
    n_a, n_m = len(arrays), len(cand)
    parts = {k: np.empty(n_a * n_m) for k in ("compute", "noc", "exposed", "l1_bytes")}
    for flow in np.unique(arrays.dataflow):  # one dataflow per call: no per-row dispatch
        sel = np.flatnonzero(arrays.dataflow == flow)
        rows = (sel[:, None] * n_m + np.arange(n_m)).reshape(-1)
        counts = access_counts(lay, arrays.take(np.repeat(sel, n_m)),
                               cand.take(np.tile(np.arange(n_m), len(sel))))  # fmt: skip
        sched = counts["schedule"]
        parts["compute"][rows] = counts["compute_cycles"]
        parts["noc"][rows] = counts["noc_words"]
        parts["exposed"][rows] = sched["exposed_noc"]
        parts["l1_bytes"][rows] = sched["l1_words"] * layer.precision_bytes
        t = counts["tiles"]  # per mapping, repeated per array: the first n_m rows suffice
        dram = np.broadcast_to(counts["dram_words"], (len(sel) * n_m,))[:n_m]
        l2_words = np.broadcast_to(t["w_words"] + t["i_words"] + t["o_words"],
                                   (len(sel) * n_m,))[:n_m]  # fmt: skip
    l2_bytes = l2_words * layer.precision_bytes
    return {
        **parts,
        "array": np.repeat(np.arange(n_a), n_m),
        "dram": np.tile(dram, n_a).astype(np.float64),
        "l2_bytes": np.tile(l2_bytes, n_a),
        "n_arrays": n_a,
    }


def _prefix_min(channels, starts: np.ndarray, cells: np.ndarray, shape) -> np.ndarray:
    """Min per (array, l1 level, l2 level) cell of each channel's values (rows sorted by cell),
    then the running min over smaller buffer levels: the best mapping valid at each buffer
    pair. ``channels`` yields one row vector at a time, so no (channels x rows) temporary is
    ever built. Returns ``(channels, arrays, l1 levels, l2 levels)``."""
    mins = [np.minimum.reduceat(values, starts) for values in channels]
    grid = np.full((len(mins), int(np.prod(shape))), np.inf)
    grid[:, cells] = np.stack(mins)
    grid = grid.reshape(len(mins), *shape)
    return np.minimum.accumulate(np.minimum.accumulate(grid, axis=2), axis=3)


def sweep_grid(layer: Layer, space: DesignSpace, tech: TechTable = DEFAULT_TECH) -> GridSweep:
    """Exact best latency (cycles) and energy (pJ) of ``layer`` at every point of ``space``."""
    v = {k: np.asarray(space.knobs[_K[k]].values, dtype=np.float64) for k in HARDWARE_KNOBS
         if k != "dataflow"}  # fmt: skip
    x = _per_array_mapping(layer, space)
    l1_level = np.searchsorted(v["l1_bytes"], x["l1_bytes"], side="left")
    l2_level = np.searchsorted(v["l2_kib"] * 1024, x["l2_bytes"], side="left")
    n1, n2 = len(v["l1_bytes"]), len(v["l2_kib"])
    cell = (x["array"] * n1 + l1_level) * n2 + l2_level
    cell[(l1_level >= n1) | (l2_level >= n2)] = -1  # fits no buffer of the space
    order = np.argsort(cell, kind="stable")
    order = order[cell[order] >= 0]
    cell = cell[order]
    c, noc, dram, exposed = (x[k][order] for k in ("compute", "noc", "dram", "exposed"))
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    args = (starts, cell[starts], (x["n_arrays"], n1, n2))

    def latencies():  # one channel per (NoC, DRAM) bandwidth pair, NoC-major
        for noc_bw in v["noc_words_per_cycle"]:
            noc_cycles = noc / noc_bw
            busy = np.maximum(noc_cycles * exposed + c, noc_cycles)
            for dram_bw in v["dram_bytes_per_cycle"]:
                yield np.maximum(busy, dram * (layer.precision_bytes / dram_bw))

    scale = layer.precision_bytes / 2.0
    fixed = noc * (tech.noc_pj * scale) + dram * (tech.dram_pj * scale)
    traffic = (noc + dram) * scale
    energies = (fixed + traffic * l2_pj for l2_pj in tech.l2_pj(v["l2_kib"]))  # per L2 size
    return _assemble(layer, space, v, _prefix_min(latencies(), *args),
                     _prefix_min(energies, *args), tech)  # fmt: skip


def _assemble(layer, space, v, lat_grid, energy_grid, tech) -> GridSweep:
    """Read each grid point's value from its (channel, array, l1, l2) cell, in flat order."""
    idx = space.unflat_index(np.arange(space.size))
    n_cols, n_flows = (space.knobs[_K[k]].cardinality for k in ("pe_cols", "dataflow"))
    array = (idx[:, _K["pe_rows"]] * n_cols + idx[:, _K["pe_cols"]]) * n_flows + idx[
        :, _K["dataflow"]
    ]
    l1, l2 = idx[:, _K["l1_bytes"]], idx[:, _K["l2_kib"]]
    channel = idx[:, _K["noc_words_per_cycle"]] * len(v["dram_bytes_per_cycle"]) + idx[
        :, _K["dram_bytes_per_cycle"]]  # fmt: skip
    latency = lat_grid[channel, array, l1, l2]
    scale = layer.precision_bytes / 2.0
    fixed = (
        layer.macs * scale * (tech.mac_pj + tech.l1_accesses_per_mac * tech.l1_pj(v["l1_bytes"]))
    )
    energy = fixed[l1] + energy_grid[l2, array, l1, l2]
    return GridSweep(latency, np.where(np.isfinite(latency), energy, np.inf), tech.clock_ghz)


class ExhaustiveLabeller:
    """The exact top-k of a whole grid; the sweep runs once per layer for every task.

    ``budget_evals`` is ignored: every point is scored. ``evals`` reports the grid size.
    """

    name = "exhaustive"

    def __init__(self, space: DesignSpace, top_k: int = DEFAULT_TOP_K, tech=DEFAULT_TECH):
        self.space, self.top_k, self.tech = space, top_k, tech
        hw = space.enumerate()  # area and power of the whole grid, computed once
        self._area_mm2 = hardware_area_mm2(hw, tech)
        self._power_mw = hardware_power_mw(hw, tech)

    def label(
        self, layer: Layer, tasks: Sequence[Task], budget_evals: int | None = None, seed: int = 0
    ) -> list[Label]:
        sweep = sweep_grid(layer, self.space, self.tech)
        # One exact-EDP cache per layer: budgets of the same layer share their contenders.
        edp = HardwareEvaluator(layer, self.space, Objective.EDP, self.tech)
        return [self._label_task(layer, sweep, task, edp) for task in tasks]

    def _budget_mask(self, task: Task) -> np.ndarray:
        """Budgets are known constraints: a mask over the grid, no evaluation needed."""
        budget, mask = task.budget, np.ones(self.space.size, dtype=bool)
        if budget.area_mm2 is not None:
            mask &= self._area_mm2 <= budget.area_mm2
        if budget.power_mw is not None:
            mask &= self._power_mw <= budget.power_mw
        return mask

    def _label_task(
        self, layer: Layer, sweep: GridSweep, task: Task, edp: HardwareEvaluator
    ) -> Label:
        in_budget = self._budget_mask(task)
        failures = int(np.count_nonzero(in_budget & ~sweep.feasible))
        k = self.top_k + 1
        if task.objective is Objective.EDP:
            ranked = self._rank_edp(edp, sweep, in_budget, k)
        else:
            values = (
                sweep.latency_cycles if task.objective is Objective.LATENCY else sweep.energy_pj
            )
            ranked = self._smallest(np.where(in_budget, values, np.inf), k)
        return make_label(layer, self.space, task, self.name, ranked, self.space.size, failures,
                          self.top_k, self.tech)  # fmt: skip

    def _rank_edp(self, evaluator, sweep: GridSweep, in_budget: np.ndarray, k: int):
        """Exact EDP top-k: score the k best lower bounds exactly; any point whose bound is
        below the k-th exact EDP found could still place, so score those too."""
        bound = np.where(in_budget, sweep.edp_lower_bound, np.inf)
        seed_points = self._smallest(bound, k)
        if not seed_points:
            return []
        exact = evaluator.scores(seed_points)
        threshold = np.sort(exact)[min(k, len(exact)) - 1]
        contenders = np.flatnonzero(
            bound <= threshold * (1 + TIE_RTOL)
        )  # bound == EDP up to rounding
        scores = evaluator.scores(contenders)
        best = tie_rank(scores, self._area_mm2[contenders], contenders)[:k]
        return [int(contenders[i]) for i in best if np.isfinite(scores[i])]

    def _smallest(self, values: np.ndarray, k: int) -> list[int]:
        """Grid indices of the ``k`` best finite values, best first, ties to the smaller chip.

        Ties can outnumber ``k`` (a bigger L2 rarely changes latency), so every point tied
        with the k-th value is ranked, not just the first ``k`` found."""
        finite = np.flatnonzero(np.isfinite(values))
        if len(finite) > k:
            kth = np.partition(values[finite], k - 1)[k - 1]
            finite = finite[values[finite] <= kth * (1 + TIE_RTOL)]
        order = tie_rank(values[finite], self._area_mm2[finite], finite)[:k]
        return [int(i) for i in finite[order]]
