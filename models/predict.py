"""Recommendations from a trained bundle: top-k joint designs per row, plus the embedding.

The decoder gives one distribution per knob (ordinal heads via their class probabilities). The
top-k joint designs by summed log-probability are found by a beam over the knobs, which is
exact here because the knobs' scores add up independently: the best k extensions of a prefix
always come from the best k prefixes. Ties are broken by grid index, so results are
deterministic. Needs torch only (no Lightning).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from airchitect.space.space import DesignSpace
from models.bundle import load_bundle
from models.features import FeatureStats, denormalise_cost, encode_features
from models.ordinal import ordinal_log_probs


@dataclass(frozen=True)
class Candidate:
    """One recommended design: index vector, flat hw index, joint log-probability, values."""

    index_vector: tuple[int, ...]
    hw_index: int
    log_prob: float
    hardware: dict[str, Any]


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


def top_k_joint(log_probs: list[torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best ``k`` joint index vectors `int64 (B, k, J)` and their summed scores `(B, k)`.

    ``log_probs``: one `(B, K_j)` tensor per knob. Fewer than ``k`` come back when the grid is
    smaller than ``k``.
    """
    b = log_probs[0].shape[0]
    scores = torch.zeros(b, 1, dtype=torch.float64)  # (B, beam)
    idx = torch.zeros(b, 1, 0, dtype=torch.long)  # (B, beam, j)
    for lp in log_probs:
        n_classes = lp.shape[1]
        total = scores.unsqueeze(-1) + lp.double().unsqueeze(1)  # (B, beam, K)
        total = total.reshape(b, scores.shape[1] * n_classes)  # (B, beam*K)
        # stable sort: equal scores keep the lower (beam, class) position first
        scores, order = torch.sort(total, dim=1, descending=True, stable=True)
        keep = min(k, total.shape[1])
        scores, order = scores[:, :keep], order[:, :keep]
        beam, choice = order // n_classes, order % n_classes
        prefix = torch.gather(idx, 1, beam.unsqueeze(-1).expand(-1, -1, idx.shape[-1]))
        idx = torch.cat([prefix, choice.unsqueeze(-1)], dim=-1)
    return idx, scores


class Predictor:
    """Loads a bundle once; :meth:`predict` maps a frame of workload+task rows to designs."""

    def __init__(self, bundle_path: str | Path, batch_size: int = 4096) -> None:
        self.model, self.bundle = load_bundle(bundle_path)
        self.space = DesignSpace.from_dict(self.bundle["space"])
        if self.space.hash != self.bundle["space_hash"]:
            raise ValueError(f"{bundle_path}: the bundle's space does not match its space_hash")
        self.feature_stats = FeatureStats.from_dict(self.bundle["feature_stats"])
        self.cost_stats = self.bundle["cost_stats"]
        self.kinds = self.model.config.knob_kinds
        self.batch_size = batch_size
        self._values = [k.json_values() for k in self.space.knobs]

    @torch.no_grad()
    def outputs(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Raw network outputs as CPU tensors: ``embedding`` `(B, D)`, ``log_cost`` `(B,)` and
        ``log_probs`` (one `(B, K_j)` per knob)."""
        ids, values = encode_features(frame, self.feature_stats)
        parts: list[dict[str, Any]] = []
        for start in range(0, len(frame), self.batch_size):
            sl = slice(start, start + self.batch_size)
            out = self.model(torch.from_numpy(ids[sl]), torch.from_numpy(values[sl]))
            out["log_probs"] = [
                ordinal_log_probs(x) if kind == "ordinal" else torch.log_softmax(x.float(), -1)
                for x, kind in zip(out["knob_logits"], self.kinds, strict=True)
            ]
            parts.append(out)
        if not parts:
            return self.outputs_empty()
        return {
            "embedding": torch.cat([p["embedding"] for p in parts]),
            "log_cost": torch.cat([p["log_cost"] for p in parts]),
            "log_probs": [
                torch.cat(xs) for xs in zip(*(p["log_probs"] for p in parts), strict=True)
            ],
        }

    def outputs_empty(self) -> dict[str, Any]:
        c = self.model.config
        return {
            "embedding": torch.zeros(0, c.d_model),
            "log_cost": torch.zeros(0),
            "log_probs": [torch.zeros(0, k) for k in c.knob_cardinalities],
        }

    def predict(self, frame: pd.DataFrame, top_k: int = 5) -> Prediction:
        """Top-``top_k`` designs of the bundle's space for every row of ``frame``."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        out = self.outputs(frame)
        idx, scores = top_k_joint(out["log_probs"], top_k)  # (B, k, J), (B, k)
        idx_np, scores_np = idx.numpy(), scores.numpy()
        flat = np.zeros(idx_np.shape[:2], dtype=np.int64)
        if len(frame):
            flat = self.space.flat_index(idx_np.reshape(-1, idx_np.shape[-1])).reshape(flat.shape)
        candidates = [
            [self._candidate(idx_np[i, r], int(flat[i, r]), float(scores_np[i, r]))
             for r in range(idx_np.shape[1])]
            for i in range(len(frame))
        ]  # fmt: skip
        log_cost = out["log_cost"].numpy().astype(np.float64)
        objectives = frame["objective"].astype(object).to_numpy()
        return Prediction(
            candidates=candidates,
            embedding=out["embedding"].numpy(),
            log_cost=log_cost,
            cost=denormalise_cost(log_cost, objectives, self.cost_stats),
        )

    def _candidate(self, vector: np.ndarray, hw_index: int, log_prob: float) -> Candidate:
        names = (k.name for k in self.space.knobs)
        hardware = {
            name: values[int(i)]
            for name, values, i in zip(names, self._values, vector, strict=True)
        }
        return Candidate(tuple(int(i) for i in vector), hw_index, log_prob, hardware)
