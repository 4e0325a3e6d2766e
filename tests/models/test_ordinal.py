from __future__ import annotations

import pytest
import torch

from airchitect.models.ordinal import cumulative_probs, ordinal_decode, ordinal_encode, ordinal_loss


def hard_logits(y: torch.Tensor, k: int, scale: float = 20.0) -> torch.Tensor:
    return (2.0 * ordinal_encode(y, k) - 1.0) * scale


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_round_trip_on_hard_targets(k: int) -> None:
    y = torch.arange(k).repeat(3)
    target = ordinal_encode(y, k)
    assert target.shape == (len(y), k - 1)
    rank, probs, expected = ordinal_decode(hard_logits(y, k))
    assert torch.equal(rank, y)
    assert torch.equal(probs.argmax(dim=-1), y)
    assert torch.allclose(expected, y.float(), atol=1e-6)
    assert torch.allclose(probs.sum(dim=-1), torch.ones(len(y)), atol=1e-6)


def test_encode_is_cumulative() -> None:
    assert ordinal_encode(torch.tensor([0, 2, 3]), 4).tolist() == [
        [0, 0, 0],
        [1, 1, 0],
        [1, 1, 1],
    ]


def test_non_monotone_logits_are_corrected() -> None:
    logits = torch.tensor([[-1.0, 2.0, 0.5], [3.0, -2.0, 4.0]])
    p = cumulative_probs(logits)
    assert (p[:, 1:] <= p[:, :-1]).all()
    rank, probs, expected = ordinal_decode(logits)
    assert (probs >= 0).all()
    assert torch.allclose(probs.sum(-1), torch.ones(2), atol=1e-6)
    assert torch.allclose(expected, p.sum(-1))
    assert rank.tolist() == [0, 1]


def test_decode_gives_classification_and_regression() -> None:
    logits = torch.tensor([[4.0, 0.1, -4.0]])  # P(y>0) high, P(y>1) ~ 0.52, P(y>2) low
    rank, probs, expected = ordinal_decode(logits)
    assert rank.item() == 2
    assert 1.4 < expected.item() < 1.6
    assert probs.shape == (1, 4)


def test_loss_grows_with_distance_from_the_target() -> None:
    k, y = 6, torch.tensor([2])
    losses = [ordinal_loss(hard_logits(torch.tensor([c]), k, 3.0), y).item() for c in range(k)]
    assert losses[2] == min(losses)
    assert losses[2] < losses[1] < losses[0]
    assert losses[2] < losses[3] < losses[4] < losses[5]


def test_loss_has_finite_gradients() -> None:
    logits = torch.randn(5, 3, requires_grad=True)
    ordinal_loss(logits * 100, torch.tensor([0, 1, 2, 3, 1])).backward()
    assert torch.isfinite(logits.grad).all()
    assert ordinal_loss(torch.zeros(4, 0), torch.zeros(4, dtype=torch.long)).item() == 0.0
