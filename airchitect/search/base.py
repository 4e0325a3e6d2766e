"""What every labeller shares: the task, the answer, and a caching hardware evaluator.

An *evaluation* is one hardware point scored for one layer: the mapper scores that point's
whole mapping space and keeps the best mapping, so a search over hardware with the exact
mapper inside searches the joint hardware x mapping space. Budgets are known before any
evaluation (area and power depend on the hardware alone), so searches skip over-budget points
without spending an evaluation; a point on which no mapping fits the buffers is a measured
failure and is recorded as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from airchitect.cost.batch import Mapping, MappingBatch
from airchitect.cost.mapper import OBJECTIVE_FIELD, Objective, best_mappings
from airchitect.cost.network import DistinctLayers, distinct_layers, network_best_mappings
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.budget import Budget, check_budget
from airchitect.space.hardware import HardwareBatch, HardwareConfig
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network

DEFAULT_TOP_K = 8


@dataclass(frozen=True)
class Task:
    """One label request: the best design for a layer under a budget, for an objective."""

    budget: Budget
    objective: Objective

    def __post_init__(self) -> None:
        object.__setattr__(self, "objective", Objective.parse(self.objective))


@dataclass(frozen=True)
class Candidate:
    """A scored design: grid index, hardware, its best mapping and cost breakdown."""

    hw_index: int
    hardware: HardwareConfig
    mapping: Mapping
    cost: dict
    score: float  # the task's objective (cycles, pJ or pJ*s); lower is better


@dataclass(frozen=True)
class Label:
    task: Task
    method: str
    evals: int  # hardware evaluations spent (each scores one point's whole mapping space)
    best: Candidate | None  # None when no design fits the budget and the buffers
    top_k: tuple[Candidate, ...] = ()  # runners-up, best first, the winner excluded
    failures: int = 0  # evaluated points on which no mapping fit


class Labeller(Protocol):
    """A budget of evaluations in, best design and runners-up out, for each task."""

    name: str

    def label(
        self, layer: Layer, tasks: Sequence[Task], budget_evals: int, seed: int = 0
    ) -> list[Label]: ...


@dataclass
class HardwareEvaluator:
    """Scores hardware points (by flat grid index) for one workload and objective; caches
    results. The workload is a layer or a whole network (one design for all its layers, the
    network objective of :func:`airchitect.cost.network.network_score`).

    ``evals`` counts distinct points scored; a repeated query is free.
    """

    layer: Layer | Network
    space: DesignSpace
    objective: Objective
    tech: TechTable = DEFAULT_TECH
    #: keep each scored point's per-layer best mappings (:meth:`mappings_of`; the gray-box
    #: optimiser reads them instead of mapping the point a second time)
    keep_mappings: bool = False
    _cache: dict[int, float] = field(default_factory=dict, repr=False)
    _mappings: dict[int, list[MappingBatch]] = field(default_factory=dict, repr=False)

    @cached_property
    def _distinct(self) -> DistinctLayers | None:
        return distinct_layers(self.layer) if isinstance(self.layer, Network) else None

    def _score_points(self, hw: HardwareBatch) -> np.ndarray:
        options = self.space.mapping_options
        if self._distinct is not None:
            found = network_best_mappings(self._distinct, hw, self.objective, self.tech, options)
            self._found = [b.mappings for b in found.per_layer]
            return found.score
        best = best_mappings(self.layer, hw, self.objective, self.tech, options)
        self._found = [best.mappings]
        return best.score

    @property
    def evals(self) -> int:
        return len(self._cache)

    def scores(self, flat: Sequence[int] | np.ndarray) -> np.ndarray:
        """Objective per point (``inf`` where no mapping fits), shape ``(n,)``."""
        flat = np.asarray(flat, dtype=np.int64).reshape(-1)
        todo = np.array(sorted({int(i) for i in flat} - self._cache.keys()), dtype=np.int64)
        if len(todo):
            hw = self.space.decode_batch(self.space.unflat_index(todo))
            score = self._score_points(hw)
            self._cache.update(zip(todo.tolist(), score.tolist(), strict=True))
            if self.keep_mappings:
                for i in np.flatnonzero(np.isfinite(score)):
                    rows = np.array([i])
                    self._mappings[int(todo[i])] = [m.take(rows) for m in self._found]
        return np.array([self._cache[int(i)] for i in flat])

    def mappings_of(self, flat: int) -> list[MappingBatch] | None:
        """The per-layer best mappings of a point scored with ``keep_mappings`` on (one per
        distinct layer of a network), ``None`` where not kept or no mapping fits."""
        return self._mappings.get(int(flat))

    @property
    def failures(self) -> int:
        return sum(1 for v in self._cache.values() if not np.isfinite(v))

    def history(self) -> np.ndarray:
        """Scores in the order the points were first evaluated (for anytime curves)."""
        return np.fromiter(self._cache.values(), dtype=np.float64, count=len(self._cache))

    def best_seen(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` best finite (index, score) pairs seen so far, best first."""
        seen = sorted((s, i) for i, s in self._cache.items() if np.isfinite(s))
        return [(i, s) for s, i in seen[:k]]


def budget_feasible(space: DesignSpace, flat: np.ndarray, budget: Budget, tech=DEFAULT_TECH):
    """Which points fit ``budget``: known before evaluation, so searches never spend on them."""
    hw = space.decode_batch(space.unflat_index(np.asarray(flat, dtype=np.int64)))
    feasible, _ = check_budget(hw, budget, tech)
    return feasible


def make_candidates(
    layer: Layer, space: DesignSpace, hw_indices: Sequence[int], objective: Objective,
    tech=DEFAULT_TECH,
) -> list[Candidate]:  # fmt: skip
    """Re-derive the winning mapping and full cost breakdown of many points in one mapper call;
    points on which no mapping fits are left out."""
    if len(hw_indices) == 0:
        return []
    flat = np.asarray(hw_indices, dtype=np.int64)
    hw = space.decode_batch(space.unflat_index(flat))
    found = best_mappings(layer, hw, objective, tech, space.mapping_options)
    field_name = OBJECTIVE_FIELD[Objective.parse(objective).value]
    out = []
    for i in np.flatnonzero(found.found):
        cost = found.cost.row(int(i))
        out.append(Candidate(int(flat[i]), hw.config(int(i)), found.mappings.mapping(int(i)),
                             cost, cost[field_name]))  # fmt: skip
    return out


def make_candidate(
    layer: Layer, space: DesignSpace, hw_index: int, objective: Objective, tech=DEFAULT_TECH
) -> Candidate | None:
    """:func:`make_candidates` for one point; ``None`` when no mapping fits."""
    found = make_candidates(layer, space, [hw_index], objective, tech)
    return found[0] if found else None


#: Scores closer than this (relative) are ties; ties go to the smaller chip, which is what a
#: designer would pick and keeps labels consistent for the recommender to learn.
TIE_RTOL = 1e-9


def tie_rank(scores: np.ndarray, area_mm2: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Order (best first) by score, then by area among ties, then by grid index."""
    scores = np.asarray(scores, dtype=np.float64)
    rounded = np.where(np.isfinite(scores), np.round(np.log(np.where(scores > 0, scores, 1.0))
                                                     / TIE_RTOL), np.inf)  # fmt: skip
    return np.lexsort((index, area_mm2, rounded))


def make_label(
    layer: Layer, space: DesignSpace, task: Task, method: str, ranked: Sequence[int],
    evals: int, failures: int, top_k: int = DEFAULT_TOP_K, tech=DEFAULT_TECH,
) -> Label:  # fmt: skip
    """A label from hardware indices ranked best first (winner + ``top_k`` runners-up)."""
    cands = make_candidates(layer, space, list(ranked[: top_k + 1]), task.objective, tech)
    if cands:
        order = tie_rank(np.array([c.score for c in cands]),
                         np.array([c.cost["area_mm2"] for c in cands]),
                         np.array([c.hw_index for c in cands]))  # fmt: skip
        cands = [cands[i] for i in order]
    if not cands:
        return Label(task, method, evals, None, (), failures)
    return Label(task, method, evals, cands[0], tuple(cands[1:]), failures)
