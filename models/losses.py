"""Supervised contrastive loss (Khosla et al., 2020) on workload embeddings.

Positives are rows whose best designs agree: the same ``hw_index``, or, with ``soft=True``,
designs one grid step apart in at most one ordinal knob. Rows with no positive in the batch
have nothing to be pulled towards and are left out of the average.
"""

from __future__ import annotations

import torch


def positive_mask(
    hw_index: torch.Tensor,
    index_vectors: torch.Tensor | None = None,
    soft: bool = False,
    ordinal: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bool `(B, B)`: ``[i, j]`` when row ``j`` is a positive of row ``i`` (never ``i`` itself).

    ``hw_index`` `(B,)`; ``index_vectors`` `(B, J)` and ``ordinal`` `(J,)` bool (which knobs
    have an order; a categorical knob must match exactly) are needed only when ``soft``.
    """
    same = hw_index.unsqueeze(0) == hw_index.unsqueeze(1)  # (B, B)
    if soft:
        if index_vectors is None:
            raise ValueError("soft positives need the index vectors")
        diff = (index_vectors.unsqueeze(0) - index_vectors.unsqueeze(1)).abs()  # (B, B, J)
        if ordinal is None:
            ordinal = torch.ones(diff.shape[-1], dtype=torch.bool, device=diff.device)
        step_ok = torch.where(ordinal, diff <= 1, diff == 0).all(dim=-1)
        same = same | (step_ok & ((diff > 0).sum(dim=-1) <= 1))
    eye = torch.eye(same.shape[0], dtype=torch.bool, device=same.device)
    return same & ~eye


def supcon_loss(
    projections: torch.Tensor, positives: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """Mean over anchors with a positive of ``-mean_p log softmax_j(z_i . z_j / tau)[p]``.

    ``projections`` `(B, P)` L2-normalised, ``positives`` bool `(B, B)`. Computed in float32
    with a log-sum-exp; zero (still attached to the graph) when no row has a positive.
    """
    z = projections.float()
    b = z.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=z.device)
    logits = (z @ z.T) / temperature  # (B, B)
    logits = logits.masked_fill(eye, float("-inf"))  # an anchor is not its own candidate
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (B, B)
    pos = positives & ~eye
    n_pos = pos.sum(dim=1)  # (B,)
    # where(), not multiplication: the diagonal holds -inf and 0 * -inf would be NaN
    pos_log_prob = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    has_pos = n_pos > 0
    per_anchor = -pos_log_prob / n_pos.clamp_min(1)  # (B,)
    n_anchors = has_pos.sum()
    total = torch.where(has_pos, per_anchor, torch.zeros_like(per_anchor)).sum()
    return total / n_anchors.clamp_min(1) + 0.0 * z.sum()


def near_optimal_weights(joint_log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each near-optimal design's share `(B, S)` of the model's probability of the row's set.

    ``joint_log_probs`` `(B, S)` is the model's log probability of each design, ``mask`` `(B, S)`
    which slots hold one (slot 0, the label, always does). Detached: these are the weights of
    the set's negative log likelihood gradient, ``-grad log sum_s p_s = sum_s w_s (-grad log
    p_s)``, so a loss ``sum_s w_s * nll_s`` trains towards whichever near-optimal design the
    model already prefers instead of splitting it between equally good answers.
    """
    masked = joint_log_probs.detach().float().masked_fill(~mask, float("-inf"))
    return torch.softmax(masked, dim=-1)
