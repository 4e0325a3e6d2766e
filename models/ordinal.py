"""The unified ordinal representation: one head that classifies and regresses at once.

A K-class ordinal target ``y`` becomes K-1 cumulative binary targets ``y > j`` (j = 0..K-2).
The head emits one logit per threshold; ``P(y > j)`` made non-increasing in ``j`` gives class
probabilities by differences, the hard rank by counting thresholds passed (classification) and
the expected rank by summing the probabilities (regression), from the same K-1 numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ordinal_encode(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Cumulative targets `float (B, K-1)`: column ``j`` is ``y > j``; ``y`` is `(B,)`."""
    thresholds = torch.arange(num_classes - 1, device=y.device)
    return (y.long().unsqueeze(-1) > thresholds).to(torch.float32)


def cumulative_probs(logits: torch.Tensor) -> torch.Tensor:
    """``P(y > j)`` `(B, K-1)`, made non-increasing in ``j`` by a running minimum."""
    p = torch.sigmoid(logits.float())
    if p.shape[-1] == 0:
        return p
    return torch.cummin(p, dim=-1).values


def ordinal_decode(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rank `(B,)` int64, class probabilities `(B, K)`, expected rank `(B,)` from `(B, K-1)` logits.

    The rank counts thresholds with ``P(y > j) > 0.5``; on monotone probabilities this is the
    first class whose cumulative probability drops below one half.
    """
    p = cumulative_probs(logits)  # (B, K-1)
    ones = p.new_ones((*p.shape[:-1], 1))
    zeros = p.new_zeros((*p.shape[:-1], 1))
    upper = torch.cat([ones, p], dim=-1)  # P(y > j - 1), (B, K)
    lower = torch.cat([p, zeros], dim=-1)  # P(y > j), (B, K)
    class_probs = (upper - lower).clamp_min(0.0)
    rank = (p > 0.5).sum(dim=-1)
    return rank, class_probs, p.sum(dim=-1)


def ordinal_log_probs(logits: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Log class probabilities `(B, K)` of the ordinal head (floored at ``eps``)."""
    _, probs, _ = ordinal_decode(logits)
    return torch.log(probs.clamp_min(eps))


def ordinal_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy summed over the K-1 thresholds; averaged over rows, or per row
    `(B,)` with ``reduction="none"``.

    Summing (as CORAL does) keeps the scale comparable to a K-way cross-entropy.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if logits.shape[-1] == 0:  # a one-value knob: nothing to learn
        per_row = logits.sum(dim=-1) * 0.0
    else:
        target = ordinal_encode(y, logits.shape[-1] + 1)
        bce = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
        per_row = bce.sum(dim=-1)
    return per_row.mean() if reduction == "mean" else per_row
