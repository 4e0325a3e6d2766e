from __future__ import annotations

import torch
import torch.nn.functional as F

from airchitect.models.losses import near_optimal_weights, positive_mask, supcon_loss


def test_positive_mask_excludes_self_and_matches_hw_index() -> None:
    mask = positive_mask(torch.tensor([5, 5, 7, 5]))
    assert mask.tolist() == [
        [False, True, False, True],
        [True, False, False, True],
        [False, False, False, False],
        [True, True, False, False],
    ]


def test_soft_positives_allow_one_step_in_one_ordinal_knob() -> None:
    vectors = torch.tensor([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 0], [0, 0, 2]])
    hw = torch.arange(5)
    ordinal = torch.tensor([True, True, False])  # the last knob is categorical
    soft = positive_mask(hw, vectors, soft=True, ordinal=ordinal)
    assert soft[0, 1] and soft[1, 0]  # one step in one ordinal knob
    assert not soft[0, 2]  # two knobs differ
    assert not soft[0, 3] and not soft[0, 4]  # a categorical knob differs
    assert not soft.diagonal().any()
    assert not positive_mask(hw, vectors).any()


def test_identical_positives_give_lower_loss_than_random() -> None:
    torch.manual_seed(0)
    labels = torch.arange(8).repeat_interleave(4)  # 8 classes x 4 rows
    centres = F.normalize(torch.randn(8, 16), dim=-1)
    clustered = centres[labels]
    random = F.normalize(torch.randn(32, 16), dim=-1)
    pos = positive_mask(labels)
    assert supcon_loss(clustered, pos, 0.1) < supcon_loss(random, pos, 0.1)


def test_rows_without_positives_are_excluded() -> None:
    torch.manual_seed(1)
    z = F.normalize(torch.randn(5, 8), dim=-1)
    pos = positive_mask(torch.tensor([0, 0, 1, 1, 2]))  # row 4 has no positive
    loss = supcon_loss(z, pos, 0.5)
    logits = (z @ z.T / 0.5).fill_diagonal_(float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pairs = [(0, 1), (1, 0), (2, 3), (3, 2)]
    manual = -torch.stack([log_prob[i, j] for i, j in pairs]).mean()
    assert torch.allclose(loss, manual, atol=1e-6)


def test_no_positive_anywhere_gives_zero_and_finite_gradients() -> None:
    for b in (1, 4):
        z = F.normalize(torch.randn(b, 8), dim=-1).requires_grad_(True)
        loss = supcon_loss(z, positive_mask(torch.arange(b)), 0.1)
        loss.backward()
        assert loss.item() == 0.0
        assert torch.isfinite(z.grad).all()


def test_stable_at_low_temperature_and_half_precision() -> None:
    z = F.normalize(torch.randn(16, 8), dim=-1).half().requires_grad_(True)
    labels = torch.tensor([0, 1] * 8)
    loss = supcon_loss(z, positive_mask(labels), temperature=0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_near_optimal_weights_share_the_set_and_ignore_empty_slots() -> None:
    log_p = torch.log(torch.tensor([[0.2, 0.6, 0.1], [0.3, 0.3, 0.3]]))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    w = near_optimal_weights(log_p, mask)
    assert torch.allclose(w[0], torch.tensor([0.25, 0.75, 0.0]))
    assert torch.allclose(w[1], torch.tensor([1.0, 0.0, 0.0]))


def test_weighted_nll_has_the_gradient_of_the_set_likelihood() -> None:
    """sum_s w_s * (-log p_s) and -log sum_s p_s differ in value but not in gradient."""
    torch.manual_seed(0)
    logits = torch.randn(4, 2, 5, requires_grad=True)  # 4 rows, 2 categorical knobs
    near = torch.randint(0, 5, (4, 3, 2))  # 3 designs per row
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 0, 1]], dtype=torch.bool)

    def design_log_probs() -> torch.Tensor:
        lp = F.log_softmax(logits, dim=-1)  # (4, 2, 5)
        return sum(lp[:, j].gather(1, near[:, :, j]) for j in range(2))  # (4, 3)

    exact = -torch.logsumexp(design_log_probs().masked_fill(~mask, float("-inf")), dim=1).sum()
    (want,) = torch.autograd.grad(exact, logits)
    lp = design_log_probs()
    weighted = -(near_optimal_weights(lp, mask) * lp).sum()
    (got,) = torch.autograd.grad(weighted, logits)
    assert torch.allclose(got, want, atol=1e-6)
