"""Exhaustive labelling: the exact optimum over a whole hardware grid, best mapping per point.

Scoring every grid point's whole mapping space directly costs points x mappings evaluations
(about 1e9 for the default space). The cost model separates, so the sweep does not: latency
and energy per grid point come from one cell sweep per layer (:mod:`airchitect.search.cells`).
EDP is a product, so the sweep bounds it from below by (min energy) x (min latency) and scores
exactly, with the mapper, only the points whose bound can beat the k-th best: the result is
still the exact top-k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from airchitect.cost.mapper import Objective
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
from airchitect.search.cells import grid_axes, sweep_cells
from airchitect.search.grid_costs import budget_mask, grid_area_mm2
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer


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


def sweep_grid(layer: Layer, space: DesignSpace, tech: TechTable = DEFAULT_TECH) -> GridSweep:
    """Exact best latency (cycles) and energy (pJ) of ``layer`` at every point of ``space``."""
    cells = sweep_cells(layer, space, tech=tech)
    latency, energy = cells.read_out()
    points = grid_axes(space).points_of(cells.arrays)
    out = np.empty((2, space.size))
    out[0, points], out[1, points] = latency, energy
    return GridSweep(out[0], out[1], tech.clock_ghz)


class ExhaustiveLabeller:
    """The exact top-k of a whole grid; the sweep runs once per layer for every task.

    ``budget_evals`` is ignored: every point is scored. ``evals`` reports the grid size.
    """

    name = "exhaustive"

    def __init__(self, space: DesignSpace, top_k: int = DEFAULT_TOP_K, tech=DEFAULT_TECH):
        self.space, self.top_k, self.tech = space, top_k, tech
        self._area_mm2 = grid_area_mm2(space, tech)  # of the whole grid, cached per space

    def label(
        self, layer: Layer, tasks: Sequence[Task], budget_evals: int | None = None, seed: int = 0
    ) -> list[Label]:
        sweep = sweep_grid(layer, self.space, self.tech)
        # One exact-EDP cache per layer: budgets of the same layer share their contenders.
        edp = HardwareEvaluator(layer, self.space, Objective.EDP, self.tech)
        return [self._label_task(layer, sweep, task, edp) for task in tasks]

    def _label_task(
        self, layer: Layer, sweep: GridSweep, task: Task, edp: HardwareEvaluator
    ) -> Label:
        in_budget = budget_mask(self.space, task.budget, self.tech)  # known before any evaluation
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
