"""Recommendations from a model, whatever runs it: top-k joint designs per row, plus the
embedding. :class:`PredictorBase` turns rows into tokens, calls :meth:`PredictorBase._run` and
decodes (:mod:`airchitect.models.decode`); the torch :class:`airchitect.models.predict.Predictor`
and the onnxruntime
predictor in ``serve/`` only supply ``_run``. Free of torch, so serving never imports it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from airchitect.models.decode import (
    BudgetGrid,
    Candidate,
    candidates_of,
    decode_flat,
    fix_knobs,
    given_knob_indices,
    knob_log_probs,
)
from airchitect.models.features import Columns, FeatureStats, denormalise_cost, encode_features
from airchitect.models.ranker import Ranker
from airchitect.space.space import DesignSpace

__all__ = ["Candidate", "Prediction", "PredictorBase"]


@dataclass
class Prediction:
    """Per row: ``candidates`` (best first), ``embedding`` `(B, D)`, the cost head's
    ``log_cost`` `(B,)` (normalised) and ``cost`` `(B,)` (objective units). Indexing and
    iterating give the candidate lists, so it reads as a list of candidate lists."""

    candidates: list[list[Candidate]]
    embedding: np.ndarray
    log_cost: np.ndarray
    cost: np.ndarray

    def __len__(self) -> int:
        return len(self.candidates)

    def __iter__(self) -> Iterator[list[Candidate]]:
        return iter(self.candidates)

    def __getitem__(self, i: int) -> list[Candidate]:
        return self.candidates[i]


class PredictorBase(ABC):
    """Turns workload+task rows into ranked designs, given a way to run the network.

    ``meta`` holds what travels with a model: ``space``, ``space_hash``, ``feature_stats``,
    ``cost_stats`` and ``model_config``. Subclasses implement :meth:`_run` on encoded tokens
    and set ``ranker`` when the model has one (:mod:`airchitect.models.ranker`).
    """

    ranker: Ranker | None = None

    def __init__(self, meta: dict[str, Any], source: str | Path, batch_size: int = 4096) -> None:
        self.space = DesignSpace.from_dict(meta["space"])
        if self.space.hash != meta["space_hash"]:
            raise ValueError(f"{source}: the model's space does not match its space_hash")
        self.feature_stats = FeatureStats.from_dict(meta["feature_stats"])
        self.cost_stats = meta["cost_stats"]
        self.kinds = tuple(meta["model_config"]["knob_kinds"])
        self.cardinalities = tuple(meta["model_config"]["knob_cardinalities"])
        self.d_model = int(meta["model_config"]["d_model"])
        self.batch_size = batch_size

    @abstractmethod
    def _run(self, ids: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
        """``[embedding (B, D), log_cost (B,), *knob_logits]`` for one batch of tokens."""

    def outputs(self, frame: Columns) -> dict[str, Any]:
        """Raw network outputs: ``embedding`` `(B, D)`, ``log_cost`` `(B,)` and
        ``knob_logits`` (one `(B, K_j - 1)` or `(B, K_j)` array per knob)."""
        ids, values = encode_features(frame, self.feature_stats)
        parts = [self._run(ids[s : s + self.batch_size], values[s : s + self.batch_size])
                 for s in range(0, len(ids), self.batch_size)]  # fmt: skip
        if not parts:
            heads = [k - 1 if kind == "ordinal" else k
                     for k, kind in zip(self.cardinalities, self.kinds, strict=True)]  # fmt: skip
            parts = [[np.zeros((0, self.d_model)), np.zeros(0)] + [np.zeros((0, h)) for h in heads]]
        joined = [np.concatenate(xs) for xs in zip(*parts, strict=True)]
        return {"embedding": joined[0], "log_cost": joined[1], "knob_logits": joined[2:]}

    @cached_property
    def budget_grid(self) -> BudgetGrid:
        """Area and power of every design, to decode within a row's budget."""
        return BudgetGrid.of(self.space)

    def budget_of(self, frame: pd.DataFrame) -> tuple[BudgetGrid, np.ndarray, np.ndarray]:
        """The ``budget`` argument of :func:`decode_candidates` for ``frame``'s rows."""
        area = frame["area_budget_mm2"].to_numpy(dtype=np.float64)
        return self.budget_grid, area, frame["power_budget_mw"].to_numpy(dtype=np.float64)

    def decode(
        self, frame: pd.DataFrame, k: int, within_budget: bool = True
    ) -> tuple[dict[str, Any], list[np.ndarray], np.ndarray, np.ndarray]:
        """The network's outputs, the per-knob log-probabilities (given knobs fixed) and the
        first ``k`` designs per row in the decoder's order: flat indices and joint
        log-probabilities `(B, k)`, padded with -1 / -inf
        (:func:`airchitect.models.decode.decode_flat`)."""
        out = self.outputs(frame)
        fixed = given_knob_indices(self.space, frame, self.feature_stats.given)
        log_probs = fix_knobs(knob_log_probs(out["knob_logits"], self.kinds), fixed)
        budget = self.budget_of(frame) if within_budget else None
        return out, log_probs, *decode_flat(self.space, log_probs, k, budget)

    def predict(
        self, frame: pd.DataFrame, top_k: int = 5, within_budget: bool = True,
        rerank: bool = True,
    ) -> Prediction:  # fmt: skip
        """Top-``top_k`` designs of the model's space for every row of ``frame``; with
        ``within_budget`` only designs within the row's area/power budget (there may be fewer
        than ``top_k``, none when nothing fits). With ``rerank`` and a ranker in the model, the
        decoder's first candidates are answered in the ranker's order; ``rerank=False`` gives
        the decoder's own order (by joint log-probability)."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        ranker = self.ranker if rerank else None
        width = max(top_k, ranker.config.candidates) if ranker else top_k
        out, log_probs, flat, scores = self.decode(frame, width, within_budget)
        if ranker is not None:
            flat, scores = ranker.order(out["embedding"], log_probs, flat, scores)
        log_cost = out["log_cost"].astype(np.float64)
        objectives = frame["objective"].astype(object).to_numpy()
        return Prediction(
            candidates=candidates_of(self.space, flat[:, :top_k], scores[:, :top_k]),
            embedding=out["embedding"],
            log_cost=log_cost,
            cost=denormalise_cost(log_cost, objectives, self.cost_stats),
        )
