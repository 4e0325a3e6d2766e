"""Random search, and what every search labeller shares.

Random search draws distinct budget-feasible grid points uniformly and scores them in batches.
The shared parts: :class:`FeasibleSampler` (fresh budget-feasible points, never one already
drawn) and :class:`SearchLabeller` (one fresh evaluator per task, then a label from the best
points it scored). Subclasses only write :meth:`SearchLabeller.search`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import numpy as np

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import (
    DEFAULT_TOP_K,
    HardwareEvaluator,
    Label,
    Task,
    budget_feasible,
    make_label,
    tie_rank,
)
from airchitect.space.budget import Budget, hardware_area_mm2
from airchitect.space.space import DEFAULT_ENUMERATE_LIMIT, DesignSpace
from airchitect.workloads.layer import Layer

#: Points budget-checked per call when the whole grid is checked (bounds memory).
_CHUNK = 1 << 18


class FeasibleSampler:
    """Draws distinct budget-feasible flat indices, never one already taken.

    Rejection sampling comes first: it is cheap on a space of any size. When it comes up short
    (a tight budget, or most feasible points already taken) and the grid is small enough to
    enumerate, the exact feasible set is computed once, so an empty draw then means that every
    feasible point has been taken.
    """

    def __init__(
        self, space: DesignSpace, budget: Budget, rng: np.random.Generator, tech=DEFAULT_TECH
    ) -> None:
        self.space, self.budget, self.rng, self.tech = space, budget, rng, tech
        self.taken: set[int] = set()
        self._mask: np.ndarray | None = None

    def feasible(self, flat: Sequence[int] | np.ndarray) -> np.ndarray:
        """Budget feasibility per point (vectorised, no evaluation)."""
        flat = np.asarray(flat, dtype=np.int64).reshape(-1)
        if len(flat) == 0:
            return np.zeros(0, dtype=bool)
        return budget_feasible(self.space, flat, self.budget, self.tech)

    def take(self, flat: Iterable[int]) -> None:
        """Mark points as used so no later draw returns them."""
        self.taken.update(int(i) for i in flat)

    @property
    def n_feasible(self) -> int | None:
        """Budget-feasible points in the whole grid; ``None`` when too large to enumerate."""
        mask = self._full_mask()
        return None if mask is None else int(mask.sum())

    def draw(self, n: int, rounds: int = 4) -> np.ndarray:
        """Up to ``n`` fresh feasible points: fewer when the feasible set runs out, or, on a grid
        too large to enumerate, when ``rounds`` of rejection sampling find too few."""
        found = self._rejection(n, rounds)
        if len(found) < n and self._full_mask() is not None:
            found = np.concatenate([found, self._from_mask(n - len(found))])
        return found

    def _rejection(self, n: int, rounds: int) -> np.ndarray:
        found: list[int] = []
        for _ in range(rounds):
            if len(found) >= n:
                break
            draws = self.rng.integers(0, self.space.size, size=max(256, 4 * n), dtype=np.int64)
            _, first = np.unique(draws, return_index=True)
            draws = draws[np.sort(first)]  # distinct, in draw order, so the result is uniform
            draws = self._untaken(draws)
            new = draws[self.feasible(draws)][: n - len(found)]
            self.take(new)
            found.extend(new.tolist())
        return np.array(found, dtype=np.int64)

    def _from_mask(self, n: int) -> np.ndarray:
        free = np.flatnonzero(self._full_mask())
        free = self._untaken(free)
        pick = self.rng.choice(free, size=min(n, len(free)), replace=False).astype(np.int64)
        self.take(pick)
        return pick

    def _untaken(self, flat: np.ndarray) -> np.ndarray:
        taken = np.fromiter(self.taken, dtype=np.int64, count=len(self.taken))
        return flat[~np.isin(flat, taken)]

    def _full_mask(self) -> np.ndarray | None:
        if self._mask is None and self.space.size <= DEFAULT_ENUMERATE_LIMIT:
            starts = range(0, self.space.size, _CHUNK)
            parts = [self.feasible(np.arange(s, min(s + _CHUNK, self.space.size))) for s in starts]
            self._mask = np.concatenate(parts)
        return self._mask


class SearchLabeller(ABC):
    """A labeller that runs one search per task on a fresh evaluator; subclasses search."""

    name = "search"

    def __init__(
        self, space: DesignSpace, top_k: int = DEFAULT_TOP_K, tech: TechTable = DEFAULT_TECH
    ) -> None:
        self.space, self.top_k, self.tech = space, top_k, tech

    def label(
        self, layer: Layer, tasks: Sequence[Task], budget_evals: int, seed: int = 0, **options
    ) -> list[Label]:
        """One label per task; ``options`` go to :meth:`search`."""
        labels = []
        for task in tasks:
            evaluator = HardwareEvaluator(layer, self.space, task.objective, self.tech)
            # every task gets the same seed: a task's label does not depend on its neighbours
            self.search(evaluator, task.budget, budget_evals, seed, **options)
            labels.append(self.finish(evaluator, task))
        return labels

    @abstractmethod
    def search(
        self, evaluator: HardwareEvaluator, budget: Budget, budget_evals: int, seed: int
    ) -> None:
        """Score at most ``budget_evals`` budget-feasible points with ``evaluator``."""

    def finish(self, evaluator: HardwareEvaluator, task: Task) -> Label:
        """The label from the best budget-feasible points the evaluator scored."""
        seen = evaluator.best_seen(evaluator.evals)  # every finite score: failures never win
        flat = np.array([i for i, _ in seen], dtype=np.int64)
        if len(flat):  # feasible by construction; the filter guards against a search's bug
            keep = budget_feasible(self.space, flat, task.budget, self.tech)
            flat, scores = flat[keep], np.array([s for _, s in seen])[keep]
            hw = self.space.decode_batch(self.space.unflat_index(flat))
            area = hardware_area_mm2(hw, self.tech)
            # the exhaustive labeller's order: ties (within TIE_RTOL) go to the smaller chip
            flat = flat[tie_rank(scores, area, flat)][: self.top_k + 1]
        return make_label(
            evaluator.layer, self.space, task, self.name, flat.tolist(), evals=evaluator.evals,
            failures=evaluator.failures, top_k=self.top_k, tech=self.tech,
        )  # fmt: skip


class RandomSearch(SearchLabeller):
    """Uniform random search over the budget-feasible grid points, scored in batches."""

    name = "random"

    def __init__(
        self,
        space: DesignSpace,
        top_k: int = DEFAULT_TOP_K,
        tech: TechTable = DEFAULT_TECH,
        batch: int = 64,
    ) -> None:
        super().__init__(space, top_k, tech)
        self.batch = batch

    def search(
        self, evaluator: HardwareEvaluator, budget: Budget, budget_evals: int, seed: int
    ) -> None:
        sampler = FeasibleSampler(self.space, budget, np.random.default_rng(seed), self.tech)
        while evaluator.evals < budget_evals:
            todo = sampler.draw(min(self.batch, budget_evals - evaluator.evals))
            if len(todo) == 0:  # every budget-feasible point has been scored
                break
            evaluator.scores(todo)
