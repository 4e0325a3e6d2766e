"""A genetic search over hardware index vectors (one gene per knob).

Tournament selection, uniform crossover, and a mutation that respects each knob's kind: an
ordinal knob moves one grid step (its neighbours are similar designs), the categorical dataflow
is redrawn. Survivors are the best of parents and children together, so the elite is never
lost. Children over budget, already scored or repeated are repaired by further mutation before
any evaluation; those the repair cannot fix are replaced by fresh random feasible points.
"""

from __future__ import annotations

import numpy as np

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import DEFAULT_TOP_K, HardwareEvaluator
from airchitect.search.random_search import FeasibleSampler, SearchLabeller
from airchitect.space.budget import Budget
from airchitect.space.space import DesignSpace


class GeneticSearch(SearchLabeller):
    """(mu + lambda) genetic search; each generation's children are scored in one call."""

    name = "ga"

    def __init__(
        self,
        space: DesignSpace,
        top_k: int = DEFAULT_TOP_K,
        tech: TechTable = DEFAULT_TECH,
        population: int = 20,
        tournament: int = 3,
        repair_rounds: int = 8,
    ) -> None:
        super().__init__(space, top_k, tech)
        self.population, self.tournament, self.repair_rounds = population, tournament, repair_rounds
        cards = space.cardinalities
        self._movable = np.flatnonzero(cards > 1)  # genes a mutation can change
        self._categorical = np.array([k.kind == "categorical" for k in space.knobs])

    def search(
        self, evaluator: HardwareEvaluator, budget: Budget, budget_evals: int, seed: int
    ) -> None:
        rng = np.random.default_rng(seed)
        sampler = FeasibleSampler(self.space, budget, rng, self.tech)
        # the population grows with the budget: at 25-100 evaluations a small one, which
        # exploits sooner, measured clearly better than 16-24 (and random search)
        size = int(np.clip(budget_evals // 8, 4, self.population))
        pop = sampler.draw(min(size, budget_evals))
        fit = evaluator.scores(pop)
        while len(pop) and evaluator.evals < budget_evals:
            n_kids = min(size, budget_evals - evaluator.evals)
            kids = self._offspring(pop, fit, n_kids, rng, sampler)
            if len(kids) == 0:  # every budget-feasible point has been scored
                break
            pop = np.concatenate([pop, kids])
            fit = np.concatenate([fit, evaluator.scores(kids)])
            keep = np.argsort(fit, kind="stable")[:size]  # failures (inf) sort last
            pop, fit = pop[keep], fit[keep]

    def _offspring(
        self, pop: np.ndarray, fit: np.ndarray, n: int, rng: np.random.Generator,
        sampler: FeasibleSampler,
    ) -> np.ndarray:  # fmt: skip
        """``n`` fresh feasible children (flat indices) of the population."""
        genomes = self.space.unflat_index(pop)
        mum, dad = genomes[self._select(fit, n, rng)], genomes[self._select(fit, n, rng)]
        kids = np.where(rng.random(mum.shape) < 0.5, mum, dad)
        rate = 1.0 / max(1, len(self._movable))
        kids = self._mutate(kids, rng.random(kids.shape) < rate, rng)
        return self._repair(kids, rng, sampler)

    def _select(self, fit: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` tournament winners (positions in the population)."""
        rivals = rng.integers(0, len(fit), size=(n, self.tournament))
        return rivals[np.arange(n), np.argmin(fit[rivals], axis=1)]

    def _mutate(self, genomes: np.ndarray, hit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mutate the genes marked in ``hit``: ordinal +-1 step, categorical redrawn."""
        out = genomes.copy()
        cards = self.space.cardinalities
        for j in self._movable:
            rows = np.flatnonzero(hit[:, j])
            if len(rows) == 0:
                continue
            old = out[rows, j]
            if self._categorical[j]:  # no order: any other value, uniformly
                out[rows, j] = (old + rng.integers(1, cards[j], len(rows))) % cards[j]
                continue
            step = rng.choice(np.array([-1, 1]), len(rows))
            new = old + step
            # reflected at the ends rather than clipped, so a mutation always moves
            out[rows, j] = np.where((new < 0) | (new >= cards[j]), old - step, new)
        return out

    def _repair(
        self, kids: np.ndarray, rng: np.random.Generator, sampler: FeasibleSampler
    ) -> np.ndarray:
        """Flat indices of the children made fresh and feasible, topped up by random points."""
        for _ in range(self.repair_rounds):
            bad = self._unusable(kids, sampler)
            if not bad.any() or len(self._movable) == 0:
                break
            hit = np.zeros(kids[bad].shape, dtype=bool)
            hit[np.arange(len(hit)), rng.choice(self._movable, len(hit))] = True
            kids[bad] = self._mutate(kids[bad], hit, rng)
        good = self.space.flat_index(kids)[~self._unusable(kids, sampler)]
        sampler.take(good)
        return np.concatenate([good, sampler.draw(len(kids) - len(good))])

    def _unusable(self, kids: np.ndarray, sampler: FeasibleSampler) -> np.ndarray:
        """Over budget, already taken, or a repeat within the brood."""
        flat = self.space.flat_index(kids)
        _, first = np.unique(flat, return_index=True)
        repeat = np.ones(len(flat), dtype=bool)
        repeat[first] = False
        taken = np.array([int(i) in sampler.taken for i in flat], dtype=bool)
        return repeat | taken | ~sampler.feasible(flat)
