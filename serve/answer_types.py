"""What a recommendation is asked and what it answers: the settings, the answer, the query rows.

Split from :mod:`airchitect.serve.recommend` (which re-exports every name here) so the service's
file
holds the search itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from airchitect.cost.mapper import OBJECTIVE_FIELD, Objective
from airchitect.cost.network import NetworkCost
from airchitect.serve.network_answer import ArrayChoice
from airchitect.space.budget import Budget
from airchitect.workloads.layer import Layer

REFINE_METHODS = ("graybox", "bo")


class NoFeasibleDesign(ValueError):
    """No design of the space fits the budget; the message names the budget field."""


@dataclass(frozen=True)
class Settings:
    """How hard to look: candidate counts, finalists, refinement."""

    top_k: int = 8  # decoder designs
    neighbours: int = 4  # faiss neighbours per heavy layer
    heavy_layers: int = 3  # layers whose faiss neighbours are added (one layer) or listed
    finalists: int = 1  # candidates always mapped over the full mapping space
    # ... and so is every candidate whose screening score is within this factor of the best
    # one: the coarse space can overrate a design's cost by up to about 2x (large GEMMs whose
    # best tiles it lacks); picking by the screen alone cost about 2 % of regret on held-out
    # LLM layers and 1.5 % on other held-out layers (BENCHMARKS.md, re-ranking)
    screen_ratio: float = 2.0
    max_finalists: int = 6
    refine: int = 0  # search evaluations after the model's answer
    # the search that refines: "graybox" (the default: it won bench/graybox.py) or "bo"
    refine_method: str = "graybox"
    exact: bool = False  # prove the answer optimal over the grid (or find the optimum)
    time_budget_s: float | None = None  # ... within this many seconds, counted from the query
    arrays: ArrayChoice = ArrayChoice()  # a whole network's model-proposed PE arrays
    explain: bool = False  # attach the bottleneck analysis and what-if table (one mapper call)
    seed: int = 0
    # one layer's candidates in the order of the model's learned ranker (when it has one)
    ranker: bool = True

    def __post_init__(self) -> None:
        for name in ("top_k", "heavy_layers", "finalists"):
            if getattr(self, name) < 1:
                raise ValueError(f"field {name!r} must be >= 1, got {getattr(self, name)!r}")
        for name in ("neighbours", "refine"):
            if getattr(self, name) < 0:
                raise ValueError(f"field {name!r} must be >= 0, got {getattr(self, name)!r}")
        if self.refine_method not in REFINE_METHODS:
            raise ValueError(f"field 'refine_method' must be one of {', '.join(REFINE_METHODS)}, "
                             f"got {self.refine_method!r}")  # fmt: skip
        if self.time_budget_s is not None and not (
            isinstance(self.time_budget_s, int | float) and 0 <= self.time_budget_s <= 3600
        ):
            raise ValueError(f"field 'time_budget_s' must be in 0..3600 seconds, "
                             f"got {self.time_budget_s!r}")  # fmt: skip
        if not self.screen_ratio >= 1.0:
            raise ValueError(f"field 'screen_ratio' must be >= 1, got {self.screen_ratio!r}")
        if self.max_finalists < self.finalists:
            raise ValueError(f"field 'max_finalists' must be >= finalists ({self.finalists}), "
                             f"got {self.max_finalists!r}")  # fmt: skip


@dataclass
class Recommendation:
    """The answer: a design, its per-layer mappings and costs, and where it came from."""

    cost: NetworkCost
    hw_index: int
    budget: Budget
    source: str  # "decoder", "neighbour", "fallback" or "refine"
    confidence: float  # geometric mean over knobs of the decoder's probability of this design
    neighbours: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    refinement: dict[str, Any] | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    certificate: dict[str, Any] | None = None  # gap to the grid's optimum, when searched
    explanation: dict[str, Any] | None = None  # :func:`airchitect.search.analysis.analyse`

    @property
    def score(self) -> float:
        return float(self.cost.total[OBJECTIVE_FIELD[self.cost.objective]])

    def to_dict(self, layers: bool = True) -> dict[str, Any]:
        out = self.cost.to_dict()
        if not layers:
            out.pop("layers")
        return out | {
            "hw_index": self.hw_index, "score": self.score, "bound": self.cost.total["bound"],
            "budget": self.budget.to_dict(), "source": self.source,
            "confidence": self.confidence, "neighbours": self.neighbours,
            "candidates": self.candidates, "refinement": self.refinement,
            "timings_ms": self.timings_ms, "certificate": self.certificate,
            "explanation": self.explanation,
        }  # fmt: skip


QUERY_DIMS = ("n", "k", "c", "p", "q", "r", "s", "stride", "dilation", "groups",
              "precision_bytes", "macs")  # fmt: skip


def budget_columns(budget: Budget, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Area and power budget columns of ``n`` rows; NaN where that axis is unconstrained."""
    return tuple(np.full(n, np.nan if v is None else float(v))
                 for v in (budget.area_mm2, budget.power_mw))  # fmt: skip


def query_columns(
    layers: tuple[Layer, ...], budget: Budget, objective: Objective
) -> dict[str, np.ndarray]:
    """The model's input rows, one per layer with the task's budget and objective, as plain
    columns: building a DataFrame per query cost more than running the model."""
    n = len(layers)
    columns = {name: np.array([getattr(x, name) for x in layers], dtype=np.float64)
               for name in QUERY_DIMS}  # fmt: skip
    columns["op"] = np.array([x.op.value for x in layers], dtype=object)
    columns["area_budget_mm2"], columns["power_budget_mw"] = budget_columns(budget, n)
    columns["objective"] = np.full(n, objective.value, dtype=object)
    return columns


def query_frame(layers: tuple[Layer, ...], budget: Budget, objective: Objective) -> pd.DataFrame:
    """:func:`query_columns` as a DataFrame."""
    return pd.DataFrame(query_columns(layers, budget, objective))
