"""Recommend one hardware design (and a mapping per layer) for a layer or a whole network.

1. The model runs once per distinct layer shape. Its per-knob log-probabilities are pooled over
   the layers, weighted by each layer's share of the network's MACs, and the best joint designs
   of the pooled distribution are the decoder's candidates (for one layer, its own top-k,
   in the order of the model's learned ranker when it has one: ``airchitect.models.ranker``).
2. The faiss neighbours of the heaviest layers add the designs that won on similar workloads.
3. Candidates over the area/power budget are dropped before any cost is computed.
4. Re-ranking: every remaining candidate is scored on the network with a coarse mapping space
   (a subset of PE-reuse and batch tilings), and those within a factor of the best coarse
   score (at most ``max_finalists``) with the full mapper; the best valid one wins. The
   returned design therefore always fits the budget and has a valid mapping for every layer.
5. If no candidate survives, a short search over budget-feasible points takes over; only when
   no point of the space fits the budget at all is an error raised (naming the budget).
6. ``refine=N`` runs a search warm-started from the best candidates for N evaluations: the
   gray-box optimiser (:mod:`airchitect.search.graybox`) or constrained BO
   (``refine_method``); Ctrl-C stops it with the best design so far kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from airchitect.cost.mapper import MappingOptions, Objective
from airchitect.cost.network import (
    DistinctLayers,
    NetworkCost,
    NetworkMappings,
    distinct_layers,
    network_best_mappings,
    network_cost,
)
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.models.decode import (
    BudgetGrid,
    knob_log_probs,
    spread_knob_positions,
    top_k_within_budget,
)
from airchitect.search.analysis import analyse
from airchitect.search.base import HardwareEvaluator, tie_rank
from airchitect.search.cells import SweepCache
from airchitect.search.graybox import GrayBoxSearch
from airchitect.search.graybox import Progress as RefineProgress
from airchitect.search.network_exact import Progress, network_optimum
from airchitect.search.random_search import FeasibleSampler
from airchitect.serve.answer_types import (
    QUERY_DIMS,
    REFINE_METHODS,
    NoFeasibleDesign,
    Recommendation,
    Settings,
    budget_columns,
    query_columns,
    query_frame,
)
from airchitect.serve.network_answer import instant_network_answer
from airchitect.serve.predictor import OnnxPredictor
from airchitect.space.budget import Budget, check_budget, hardware_area_mm2, hardware_power_mw
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network

#: Re-exported: callers import the answer's types from here as well.
__all__ = [
    "QUERY_DIMS", "REFINE_METHODS", "NoFeasibleDesign", "Recommendation", "RecommendService",
    "Settings", "budget_columns", "query_columns", "query_frame",
]  # fmt: skip

#: Coarse mapping space for screening: trip counts 1, 4, 16, ... (every other power of two) for
#: N, P, K and C and PE reuse 1, 8, 64, about a twentieth of the full space; the finalists are
#: then mapped over the full space.
SCREEN_PE_REUSE = (1, 8, 64)
FALLBACK_POINTS = 64  # budget-feasible points a fallback search screens


@dataclass
class _Pool:
    """Candidate hardware points in first-seen order, each with why it was considered."""

    why: dict[int, str] = field(default_factory=dict)

    def add(self, hw_index: int, why: str) -> None:
        self.why.setdefault(int(hw_index), why)

    @property
    def indices(self) -> np.ndarray:
        return np.fromiter(self.why, dtype=np.int64, count=len(self.why))


class RecommendService:
    """Loads a serving bundle once and answers recommendations (CLI and HTTP share it)."""

    def __init__(
        self, predictor: OnnxPredictor, tech: TechTable = DEFAULT_TECH,
        sweep_cache: SweepCache | None = None,
    ) -> None:  # fmt: skip
        """``sweep_cache`` keeps whole-network answers' layer sweeps across calls (a
        co-search's many variants and budgets); without one each answer sweeps afresh."""
        self.predictor, self.space, self.tech = predictor, predictor.space, tech
        self.sweep_cache = sweep_cache
        options = self.space.mapping_options
        # every other trip count of the full space, never beyond its largest: a screening
        # mapping is then always one the full mapper can find too
        self.screen_options = MappingOptions(
            (options.trip_options + 1) // 2, (options.batch_trip_options + 1) // 2,
            tuple(r for r in SCREEN_PE_REUSE if r in options.pe_reuse) or options.pe_reuse[:1],
            trip_step=2,
        )  # fmt: skip

    @cached_property
    def spread_knobs(self) -> tuple[int, ...]:
        """The decoder's candidates are spread over these knobs (:data:`SPREAD_KNOBS`)."""
        return spread_knob_positions(self.space)

    def warm_up(self) -> None:
        """Build the lazy tables (budget grid, onnxruntime's first-run allocations, the
        mapper's candidate grids) with one small query, so no user's first request pays."""
        layer = Layer("warm-up", n=1, k=64, c=64, p=14, q=14, r=3, s=3)
        self.recommend(Network("warm-up", "layer", (layer,)), Budget(area_mm2=20.0), "edp")

    @cached_property
    def smallest_design(self) -> tuple[float, float]:
        """The least area (mm2) and power (mW) of any design in the space."""
        hw = self.space.enumerate()
        return float(hardware_area_mm2(hw, self.tech).min()), float(
            hardware_power_mw(hw, self.tech).min()
        )

    def recommend(
        self, workload: Network | Layer, budget: Budget | None = None,
        objective: Objective | str = Objective.EDP, settings: Settings | None = None,
        progress: Progress | None = None, refine_progress: RefineProgress | None = None,
    ) -> Recommendation:  # fmt: skip
        """``progress(done, total)`` is called as the exact search sweeps layers,
        ``refine_progress(evals, total, best)`` after each refinement evaluation."""
        budget, settings = budget or Budget(), settings or Settings()
        objective = Objective.parse(objective)
        distinct = distinct_layers(workload)
        clock = _Clock()
        out = self.predictor.outputs(query_columns(distinct.layers, budget, objective))
        log_probs = knob_log_probs(out["knob_logits"], self.predictor.kinds)
        weights = _mac_weights(distinct)
        pooled = [(weights[:, None] * lp).sum(0, keepdims=True) for lp in log_probs]
        if len(weights) == 1:
            pool = self._decoder_candidates(log_probs, out["embedding"], budget, settings)
            clock.lap("model")
            near = self._neighbour_candidates(out["embedding"], weights, settings, pool)
            clock.lap("neighbours")
            best, table = self._rerank(distinct, pool, budget, objective, settings)
        else:
            near = self._neighbour_candidates(out["embedding"], weights, settings, _Pool())
            clock.lap("model")
            best, table = self._network_answer(distinct, log_probs, weights, budget, objective,
                                               settings)  # fmt: skip
        if best is None:
            best, table = self._fallback(distinct, budget, objective, settings)
        clock.lap("rerank")
        found, i, source = best
        refinement = certificate = None
        if settings.refine:
            found, i, source, refinement = self._refine(
                distinct, budget, objective, settings, table, found, i, source, refine_progress
            )
            clock.lap("refine")
        if settings.exact or settings.time_budget_s is not None or settings.refine:
            found, i, source, certificate = self._certify(
                workload, budget, objective, settings, (found, i, source), clock, progress
            )
            clock.lap("exact")
        hw_index = self._flat_of(found, i)
        cost = network_cost(distinct, found, i, objective)
        explanation = None
        if settings.explain:
            explanation = self._explain(cost, budget, certificate)
            clock.lap("explain")
        return Recommendation(
            cost=cost, hw_index=hw_index, budget=budget, source=source,
            confidence=_confidence(pooled, self.space.unflat_index(np.array([hw_index]))[0]),
            neighbours=near, candidates=table, refinement=refinement,
            timings_ms=clock.total(), certificate=certificate, explanation=explanation,
        )  # fmt: skip

    def _explain(self, cost: NetworkCost, budget: Budget, certificate) -> dict[str, Any]:
        """The bottleneck analysis, with how far from the grid's optimum the answer can be."""
        explanation = analyse(cost, self.space, budget, self.tech).to_dict()
        if certificate is not None:
            gap = f"at most {100 * certificate['gap']:.1f} % above the grid's optimum"
            if certificate["certified"]:
                gap = "the certified optimum of the grid"
            explanation["summary"] += f"; {gap}"
        return explanation

    def _network_answer(self, distinct, log_probs, weights, budget, objective, settings):
        """A whole network's answer (:mod:`airchitect.serve.network_answer`) and its candidate
        table."""
        found = instant_network_answer(distinct, self.space, budget, objective, log_probs,
                                       weights, self.tech, self.screen_options,
                                       settings.arrays, self.sweep_cache)  # fmt: skip
        if found is None:
            return None, []
        answer = found.answer
        table = [{"hw_index": int(f), "source": "screen", "screen_score": float(sc),
                  "status": "scored"} for f, sc in zip(found.screened, found.screened_scores,
                                                      strict=True)]  # fmt: skip
        chosen = [t for t in table if t["hw_index"] == answer.hw_index]
        if not chosen:
            chosen = [{"hw_index": answer.hw_index, "source": "settle", "status": "scored"}]
            table.insert(0, chosen[0])
        chosen[0]["status"] = "chosen"
        return (answer.mappings, answer.row, "model arrays"), table

    def _certify(self, workload, budget, objective, settings, answer, clock, progress):
        """The whole grid searched from the ``answer``: exact, or within the time left."""
        found, i, source = answer
        limit = None
        if settings.time_budget_s is not None:
            limit = max(settings.time_budget_s - (time.perf_counter() - clock.start), 0.0)
        elif not settings.exact:  # refine only: no search, just the gap to the bounds
            limit = 0.0
        exact = network_optimum(workload, self.space, budget, objective, self.tech,
                                incumbent=self._flat_of(found, i), time_budget_s=limit,
                                progress=progress)  # fmt: skip
        certificate = exact.certificate.to_dict()
        if exact.hw_index != self._flat_of(found, i):
            return exact.mappings, exact.row, "exact", certificate
        return found, i, source, certificate

    # -- candidates ------------------------------------------------------------------------------
    @cached_property
    def budget_grid(self) -> BudgetGrid:
        return BudgetGrid.of(self.space, self.tech)

    def _decoder_candidates(self, log_probs, embedding, budget, settings):
        """One layer's ``top_k`` designs within the budget, in the ranker's order."""
        ranker = self.predictor.ranker if settings.ranker else None
        pool = _Pool()
        self._add_top(pool, log_probs, embedding, settings.top_k, budget, ranker)
        return pool

    def _add_top(self, pool: _Pool, log_probs, embedding, k: int, budget, ranker) -> None:
        """Each row's first ``k`` designs within the budget (spread), in the ranker's order
        when given one."""
        area, power = budget_columns(budget, len(log_probs[0]))
        width = max(k, ranker.config.candidates) if ranker is not None else k
        flat, scores = top_k_within_budget(log_probs, width, self.budget_grid, area, power,
                                           self.spread_knobs)  # fmt: skip
        if ranker is not None:
            flat, scores = ranker.order(embedding, log_probs, flat, scores)
        flat = flat[:, :k]
        for f in flat[flat >= 0]:
            pool.add(int(f), "decoder")

    def _neighbour_candidates(self, embedding, weights, settings: Settings, pool: _Pool):
        if settings.neighbours == 0:
            return []
        heavy = np.argsort(-weights, kind="stable")[: settings.heavy_layers]
        found = self.predictor.neighbours(embedding[heavy], settings.neighbours)
        for row in found:
            for n in row:
                pool.add(n.hw_index, "neighbour")
        return [{"similarity": n.similarity, "hw_index": n.hw_index} | n.workload
                for n in found[0]]  # fmt: skip

    # -- scoring ---------------------------------------------------------------------------------
    def _rerank(self, distinct, pool: _Pool, budget, objective, settings: Settings):
        """The best valid candidate (mapped over the full space) and the candidate table."""
        flat = pool.indices
        hw = self.space.decode_batch(self.space.unflat_index(flat))
        feasible, _ = check_budget(hw, budget, self.tech)
        table = [{"hw_index": int(f), "source": pool.why[int(f)],
                  "status": "candidate" if ok else "over budget"}
                 for f, ok in zip(flat, feasible, strict=True)]  # fmt: skip
        keep = np.flatnonzero(feasible)
        if len(keep) == 0:
            return None, table
        best = self._screen_and_map(distinct, hw.take(keep), objective, settings)
        if best is None:
            for j in keep:
                table[j]["status"] = "no valid mapping"
            return None, table
        found, i, screened = best
        for j, score in zip(keep, screened, strict=True):
            table[j]["screen_score"] = score if math.isfinite(score) else None
            table[j]["status"] = "scored" if math.isfinite(score) else "no valid mapping"
        winner = int(np.flatnonzero(flat == self._flat_of(found, i))[0])
        table[winner]["status"] = "chosen"
        return (found, i, pool.why[int(flat[winner])]), table

    def _screen_and_map(self, distinct, hw, objective, settings: Settings):
        """Coarse scores of every point, then the full mapper on the finalists: the best
        ``finalists``, and any other within ``screen_ratio`` of the best (``max_finalists``
        in all)."""
        coarse = network_best_mappings(distinct, hw, objective, self.tech, self.screen_options)
        order = tie_rank(coarse.score, _area(coarse), np.arange(len(hw)))
        close = coarse.score[order[0]] * settings.screen_ratio
        order = [j for rank, j in enumerate(order[: settings.max_finalists])
                 if np.isfinite(coarse.score[j])
                 and (rank < settings.finalists or coarse.score[j] <= close)]  # fmt: skip
        if not order:  # no tiling of the coarse space fits; the full space may still have one
            order = list(range(len(hw)))
        found = network_best_mappings(distinct, hw.take(np.array(order)), objective, self.tech,
                                      self.space.mapping_options)  # fmt: skip
        if not found.found.any():
            return None
        i = int(tie_rank(found.score, _area(found), np.arange(len(order)))[0])
        return found, i, coarse.score.tolist()

    def _flat_of(self, found: NetworkMappings, i: int) -> int:
        return int(self.space.flat_index(self.space.encode(found.hardware.config(i))))

    def _fallback(self, distinct, budget: Budget, objective, settings: Settings):
        """No candidate fit: screen budget-feasible points drawn from the space."""
        sampler = FeasibleSampler(self.space, budget, np.random.default_rng(settings.seed),
                                  self.tech)  # fmt: skip
        flat = sampler.draw(FALLBACK_POINTS)
        if len(flat) == 0:
            raise self._no_design(budget)
        hw = self.space.decode_batch(self.space.unflat_index(flat))
        best = self._screen_and_map(distinct, hw, objective, settings)
        if best is None:
            raise NoFeasibleDesign(
                f"none of {len(flat)} budget-feasible designs has a valid mapping for every "
                f"layer of {distinct.network.name!r}; relax area_budget_mm2/power_budget_mw"
            )
        found, i, _ = best
        table = [{"hw_index": int(f), "source": "fallback", "status": "scored"} for f in flat]
        return (found, i, "fallback"), table

    def _no_design(self, budget: Budget) -> NoFeasibleDesign:
        area, power = self.smallest_design
        return NoFeasibleDesign(
            f"no design in the space fits the budget (area_budget_mm2={budget.area_mm2}, "
            f"power_budget_mw={budget.power_mw}); the smallest design needs {area:.3f} mm2 "
            f"and the least power is {power:.1f} mW"
        )

    def _refine(self, distinct, budget, objective, settings: Settings, table, found, i, source,
                progress=None):  # fmt: skip
        """A search from the best candidates; keeps the model's answer unless beaten. Ctrl-C
        stops the search, keeping the best design it has scored."""
        before = float(found.score[i])
        ranked = sorted((t for t in table if t.get("screen_score") is not None),
                        key=lambda t: t["screen_score"])  # fmt: skip
        warm = [self._flat_of(found, i)] + [t["hw_index"] for t in ranked[:4]]
        evaluator = _Evaluator(distinct.network, self.space, objective, self.tech)
        evaluator.progress, evaluator.total = progress, settings.refine
        interrupted = False
        try:
            if settings.refine_method == "graybox":  # climbs from the answer itself
                search = GrayBoxSearch(self.space, tech=self.tech)
                search.search(
                    evaluator, budget, settings.refine, settings.seed, warm_start=warm[:1]
                )
                interrupted = search.interrupted
            else:  # torch and optuna load here, on the one path that needs them
                from airchitect.search.bo import ConstrainedBO

                ConstrainedBO(self.space, tech=self.tech).search(
                    evaluator, budget, settings.refine, settings.seed, warm_start=warm
                )
        except KeyboardInterrupt:  # the evaluator keeps every point scored before it
            interrupted = True
        seen = evaluator.best_seen(1)
        refinement = {"evals": evaluator.evals, "before": before, "after": before,
                      "improvement": 1.0, "method": settings.refine_method,
                      "interrupted": interrupted}  # fmt: skip
        if not seen or not seen[0][1] < before * (1 - 1e-9):
            return found, i, source, refinement
        flat, after = seen[0]
        hw = self.space.decode_batch(self.space.unflat_index(np.array([flat])))
        better = network_best_mappings(distinct, hw, objective, self.tech,
                                       self.space.mapping_options)  # fmt: skip
        refinement |= {"after": float(after), "improvement": before / float(after)}
        return better, 0, "refine", refinement


# -- helpers ---------------------------------------------------------------------------------------
class _Evaluator(HardwareEvaluator):
    """Reports ``progress(evals, total, best)`` whenever a search scores new points."""

    progress: RefineProgress | None = None
    total: int = 0

    def scores(self, flat):
        before, out = self.evals, super().scores(flat)
        if self.progress is not None and self.evals > before:
            best = self.best_seen(1)
            self.progress(self.evals, self.total, best[0][1] if best else math.inf)
        return out


def _mac_weights(distinct: DistinctLayers) -> np.ndarray:
    macs = np.array([layer.macs for layer in distinct.layers], dtype=np.float64) * distinct.counts
    return macs / macs.sum()


def _area(found: NetworkMappings) -> np.ndarray:
    return found.per_layer[0].cost.area_mm2


def _confidence(pooled: list[np.ndarray], vector: np.ndarray) -> float:
    """Geometric mean over knobs of the (pooled) decoder probability of the chosen value."""
    logs = [float(lp[0, int(v)]) for lp, v in zip(pooled, vector, strict=True)]
    return float(np.exp(np.mean(logs)))


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = (now - self.last) * 1e3
        self.last = now

    def total(self) -> dict[str, float]:
        return self.laps | {"total": (time.perf_counter() - self.start) * 1e3}
