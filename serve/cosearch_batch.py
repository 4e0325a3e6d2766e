"""The instant whole-network answer for many networks and budgets at once, sharing work.

A co-search asks the recommender the same kind of question hundreds of times: variants of one
family (a depth multiplier changes only how often a block repeats, not its shapes) under a few
budgets. The instant answer (:func:`airchitect.serve.network_answer.instant_network_answer`) is
built
from per-layer cell sweeps, which depend on the layer shape and the PE array only, not on the
network around the layer, the budget or the objective. :class:`BatchRecommender` is the
service with one :class:`airchitect.search.cells.SweepCache` kept across its calls: the same
code path, so the same answers, with the repeated sweeps skipped.
"""

from __future__ import annotations

from airchitect.search.cells import SweepCache
from airchitect.serve.recommend import Recommendation, RecommendService, Settings
from airchitect.space.budget import Budget
from airchitect.workloads.network import Network


class BatchRecommender:
    """:meth:`RecommendService.recommend` with the cell sweeps shared between calls."""

    def __init__(self, service: RecommendService, max_entries: int = 40_000) -> None:
        self.cache = SweepCache(max_entries)
        self.service = RecommendService(service.predictor, service.tech, sweep_cache=self.cache)

    def recommend(
        self, workload: Network, budget: Budget, objective, settings: Settings | None = None
    ) -> Recommendation:
        return self.service.recommend(workload, budget, objective, settings)
