"""The instant whole-network answer for many networks and budgets at once, sharing work.

A co-search asks the recommender the same kind of question hundreds of times: variants of one
family (a depth multiplier changes only how often a block repeats, not its shapes) under a few
budgets. The answer of :func:`serve.network_answer.instant_network_answer` is built from
per-layer cell sweeps (:func:`airchitect.search.cells.sweep_cells`): the exact best latency and
energy of one layer shape at every point of a PE array. Those depend on the layer shape and
the array only, not on the network around the layer, the budget or the objective. So
:class:`SweepCache` keeps them per (shape, array, mapping space), and :func:`batched_answer`
runs the same three steps (arrays from the model, screen, settle) from the cache:

- **screen**: the network's value at every point of the proposed arrays is the count-weighted
  sum of its layers' cached sweeps over the coarse mapping space, summed in the same order as
  :func:`airchitect.search.network_screen.screen_arrays`;
- **settle** (latency or energy): the arrays of the best screened points are exact over the
  full mapping space by the same sums; the best in-budget point (ties within the search's
  tolerance: the smallest chip) is mapped, as the restricted
  :func:`airchitect.search.network_exact.network_optimum` does. EDP is not a sum of layer
  values, so an EDP answer settles with ``network_optimum`` itself.

The answer is the service's (``tests/serve/test_cosearch_batch.py`` checks it design for design);
only the repeated sweeps are skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from airchitect.cost.mapper import MappingOptions, Objective
from airchitect.cost.network import (
    DistinctLayers,
    distinct_layers,
    network_best_mappings,
    network_cost,
)
from airchitect.search.base import TIE_RTOL, tie_rank
from airchitect.search.cells import grid_axes, sweep_cells
from airchitect.search.network_exact import (
    NoDesignInBudget,
    budget_mask,
    grid_area_mm2,
    network_optimum,
)
from airchitect.search.network_screen import (
    _smallest_l2_level,  # screen_arrays' rule for which tilings screen a layer
    array_of_designs,
    arrays_in_budget,
)
from airchitect.space.budget import Budget
from airchitect.workloads.network import Network
from models.decode import knob_log_probs
from serve.network_answer import ArrayChoice, candidate_arrays, shape_neighbours
from serve.recommend import Recommendation, RecommendService, Settings, query_columns

MAX_ENTRIES = 40_000  # cached (shape, array) sweeps, about 8 kB each: ~320 MB at most


@dataclass
class SweepCache:
    """Per-(layer shape, PE array) sweeps over one mapping space: latency ``(l1, l2,
    channels)`` in cycles and energy ``(l1, l2)`` in pJ per run of the layer."""

    options: MappingOptions | None  # None: the space's own (full) mapping space
    max_entries: int = MAX_ENTRIES
    _entries: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    sweeps: int = 0  # layer sweeps run
    hits: int = 0  # (shape, array) values read from the cache

    def layer(self, layer, arrays: np.ndarray, service) -> tuple[np.ndarray, np.ndarray]:
        shape = dataclasses.replace(layer, name="")  # the key distinct_layers merges by
        missing = [int(a) for a in arrays if (shape, int(a)) not in self._entries]
        if missing and len(self._entries) + len(missing) > self.max_entries:
            self._entries.clear()  # full: start again (this layer's arrays all swept anew)
            missing = [int(a) for a in arrays]
        self.hits += len(arrays) - len(missing)
        if missing:
            sweep = sweep_cells(layer, service.space, np.array(missing, dtype=np.int64),
                                service.tech, self.options)  # fmt: skip
            lat, en = sweep.per_point()
            self.sweeps += 1
            for j, a in enumerate(missing):
                self._entries[(shape, a)] = (lat[j], en[j])
        values = [self._entries[(shape, int(a))] for a in arrays]
        return np.stack([v[0] for v in values]), np.stack([v[1] for v in values])


@dataclass
class BatchRecommender:
    """:meth:`RecommendService.recommend` (default settings) for whole networks, with the cell
    sweeps shared between calls (module doc). Networks with a single distinct layer shape, and
    any answer the proposed arrays cannot give, go to the service itself."""

    service: RecommendService
    choice: ArrayChoice = ArrayChoice()
    screen: SweepCache = field(init=False)
    full: SweepCache = field(init=False)

    def __post_init__(self) -> None:
        self.screen = SweepCache(self.service.screen_options)
        self.full = SweepCache(None)
        self._coarse_ok: dict = {}  # layer shape -> whether the coarse tilings suit it

    def _network(self, distinct: DistinctLayers, arrays: np.ndarray, coarse: bool) -> tuple:
        """Count-weighted latency `(A, l1, l2, channels)` and energy `(A, l1, l2)` of the
        network at every point of ``arrays``, summed over its distinct layers in order; with
        ``coarse``, over the screening tilings wherever ``screen_arrays`` uses them."""
        latency, energy = 0.0, 0.0
        for layer, count in zip(distinct.layers, distinct.counts, strict=True):
            cache = self.screen if coarse and self._coarse_suits(layer) else self.full
            lat, en = cache.layer(layer, arrays, self.service)
            latency, energy = latency + count * lat, energy + count * en
        return latency, energy

    def _coarse_suits(self, layer) -> bool:
        """``screen_arrays``'s rule: a layer whose coarse tilings miss small L2 sizes the full
        space fits is screened with the full tilings."""
        shape = dataclasses.replace(layer, name="")
        if shape not in self._coarse_ok:
            space = self.service.space
            self._coarse_ok[shape] = _smallest_l2_level(
                layer, space, self.service.screen_options
            ) <= _smallest_l2_level(layer, space, space.mapping_options)
        return self._coarse_ok[shape]

    def recommend(self, workload: Network, budget: Budget, objective, settings=None):
        objective = Objective.parse(objective)
        if settings is not None and settings != Settings():
            return self.service.recommend(workload, budget, objective, settings)
        distinct = distinct_layers(workload)
        if len(distinct.layers) == 1:
            return self.service.recommend(workload, budget, objective)
        found = self._answer(distinct, budget, objective)
        if found is None:  # the service falls back to a search (or says no design fits)
            return self.service.recommend(workload, budget, objective)
        flat, mappings, row, pooled = found
        cost = network_cost(distinct, mappings, row, objective)
        vector = self.service.space.unflat_index(np.array([flat]))[0]
        logs = [float(lp[int(v)]) for lp, v in zip(pooled, vector, strict=True)]
        return Recommendation(cost=cost, hw_index=flat, budget=budget, source="model arrays",
                              confidence=float(np.exp(np.mean(logs))), neighbours=[],
                              candidates=[], refinement=None)  # fmt: skip

    def _answer(self, distinct: DistinctLayers, budget: Budget, objective: Objective):
        svc, space = self.service, self.service.space
        out = svc.predictor.outputs(query_columns(distinct.layers, budget, objective))
        log_probs = knob_log_probs(out["knob_logits"], svc.predictor.kinds)
        macs = np.array([x.macs for x in distinct.layers], dtype=np.float64) * distinct.counts
        fits = arrays_in_budget(space, budget, svc.tech)
        arrays = candidate_arrays(log_probs, macs / macs.sum(), fits, self.choice)
        if len(arrays) == 0:
            return None
        k = self.choice.screened_arrays
        flat, scores = self._screen(distinct, budget, objective, arrays, k)
        if len(flat) == 0:
            return None
        if self.choice.neighbour_shapes:
            near = shape_neighbours(space, int(array_of_designs(space, flat[:1])[0]))
            near = near[fits[near] & ~np.isin(near, arrays)]
            if len(near):
                more, more_scores = self._screen(distinct, budget, objective, near, k)
                both, both_scores = np.r_[flat, more], np.r_[scores, more_scores]
                order = np.argsort(both_scores, kind="stable")[:k]
                flat = both[order]
        settled = np.unique(array_of_designs(space, flat))
        found = self._settle(distinct, budget, objective, settled)
        weights = macs / macs.sum()
        pooled = [(weights[:, None] * lp).sum(0) for lp in log_probs]  # for the confidence
        return None if found is None else (*found, pooled)

    def _scores(self, coarse: bool, distinct, objective, arrays) -> np.ndarray:
        """The network objective at every point of ``arrays``, flat in ``points_of`` order."""
        latency, energy = self._network(distinct, arrays, coarse)
        if objective is Objective.LATENCY:
            return latency.reshape(-1)
        energy = np.broadcast_to(energy[..., None], latency.shape)
        if objective is Objective.ENERGY:
            return np.where(np.isfinite(latency), energy, np.inf).reshape(-1)
        return (energy * latency / (self.service.tech.clock_ghz * 1e9)).reshape(-1)

    def _screen(self, distinct, budget, objective, arrays, k):
        """:func:`airchitect.search.network_screen.screen_arrays` (``per_array=True``) from
        the cache: the best point of each of the ``k`` best arrays."""
        space, tech = self.service.space, self.service.tech
        arrays = np.unique(np.asarray(arrays, dtype=np.int64))
        points = grid_axes(space).points_of(arrays)
        score = self._scores(True, distinct, objective, arrays)
        score = np.where(budget_mask(space, budget, tech)[points], score, np.inf)
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

    def _settle(self, distinct, budget, objective, settled):
        """The exact best in-budget point of the ``settled`` arrays, mapped."""
        svc, space = self.service, self.service.space
        if objective is Objective.EDP:
            try:
                exact = network_optimum(distinct.network, space, budget, objective, svc.tech,
                                        arrays=settled, probes=False)  # fmt: skip
            except NoDesignInBudget:
                return None
            return exact.hw_index, exact.mappings, exact.row
        points = grid_axes(space).points_of(settled)
        score = self._scores(False, distinct, objective, settled)
        score = np.where(budget_mask(space, budget, svc.tech)[points], score, np.inf)
        if not np.isfinite(score).any():
            return None
        tied = np.flatnonzero(score <= score.min() * (1 + TIE_RTOL))
        best = points[tied[tie_rank(score[tied], grid_area_mm2(space, svc.tech)[points[tied]],
                                    points[tied])[0]]]  # fmt: skip
        hw = space.decode_batch(space.unflat_index(np.array([best])))
        mappings = network_best_mappings(distinct, hw, objective, svc.tech,
                                         space.mapping_options)  # fmt: skip
        if not np.isfinite(mappings.score[0]):
            return None
        return int(best), mappings, 0
