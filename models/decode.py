"""From the network's raw outputs to ranked designs, in numpy.

Shared by the torch :class:`models.predict.Predictor` and the onnxruntime predictor in
``serve/``, so both decode identically. The decoder gives one distribution per knob (ordinal
heads via their class probabilities). The top-k joint designs by summed log-probability are
found by a beam over the knobs, which is exact here because the knobs' scores add up
independently: the best k extensions of a prefix always come from the best k prefixes. Ties
are broken by grid position, so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airchitect.space.space import DesignSpace

LOG_PROB_FLOOR = 1e-9  # a class probability of exactly 0 would make every beam -inf


@dataclass(frozen=True)
class Candidate:
    """One recommended design: index vector, flat hw index, joint log-probability, values."""

    index_vector: tuple[int, ...]
    hw_index: int
    log_prob: float
    hardware: dict[str, Any]


def ordinal_log_probs(logits: np.ndarray) -> np.ndarray:
    """Log class probabilities `(B, K)` of an ordinal head's `(B, K-1)` threshold logits.

    ``P(y > j)`` is made non-increasing in ``j`` by a running minimum, then differenced; the
    same rule as :func:`models.ordinal.ordinal_decode`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    p = np.minimum.accumulate(p, axis=-1) if p.shape[-1] else p
    ones, zeros = np.ones_like(p[..., :1]), np.zeros_like(p[..., :1])
    probs = np.clip(np.concatenate([ones, p], -1) - np.concatenate([p, zeros], -1), 0.0, None)
    return np.log(np.maximum(probs, LOG_PROB_FLOOR))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def knob_log_probs(knob_logits: Sequence[np.ndarray], kinds: Sequence[str]) -> list[np.ndarray]:
    """One `(B, K_j)` log-probability array per knob from the heads' logits."""
    return [
        ordinal_log_probs(x) if kind == "ordinal" else log_softmax(x)
        for x, kind in zip(knob_logits, kinds, strict=True)
    ]


def top_k_joint(log_probs: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` joint index vectors `int64 (B, k, J)` and their summed scores `(B, k)`.

    ``log_probs``: one `(B, K_j)` array per knob. Fewer than ``k`` come back when the grid is
    smaller than ``k``.
    """
    b = np.asarray(log_probs[0]).shape[0]
    scores = np.zeros((b, 1))  # (B, beam)
    idx = np.zeros((b, 1, 0), dtype=np.int64)  # (B, beam, j)
    for lp in log_probs:
        lp = np.asarray(lp, dtype=np.float64)
        n_classes = lp.shape[1]
        total = (scores[:, :, None] + lp[:, None, :]).reshape(b, scores.shape[1] * n_classes)
        # stable sort: equal scores keep the lower (beam, class) position first
        order = np.argsort(-total, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(total, order, axis=1)
        beam, choice = order // n_classes, order % n_classes
        prefix = np.take_along_axis(idx, beam[:, :, None], axis=1)
        idx = np.concatenate([prefix, choice[:, :, None]], axis=-1)
    return idx, scores


def decode_candidates(
    space: DesignSpace, knob_logits: Sequence[np.ndarray], kinds: Sequence[str], k: int
) -> list[list[Candidate]]:
    """Top-``k`` designs of ``space`` per row, best first."""
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    idx, scores = top_k_joint(knob_log_probs(knob_logits, kinds), k)
    rows, width = idx.shape[0], idx.shape[1]
    if rows == 0:
        return []
    flat = space.flat_index(idx.reshape(-1, idx.shape[-1])).reshape(rows, width)
    values = [knob.json_values() for knob in space.knobs]
    names = [knob.name for knob in space.knobs]

    def candidate(vector: np.ndarray, hw_index: int, log_prob: float) -> Candidate:
        hardware = {n: v[int(i)] for n, v, i in zip(names, values, vector, strict=True)}
        return Candidate(tuple(int(i) for i in vector), hw_index, log_prob, hardware)

    return [
        [candidate(idx[i, r], int(flat[i, r]), float(scores[i, r])) for r in range(width)]
        for i in range(rows)
    ]
