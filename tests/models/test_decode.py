"""The numpy decoding shared by the torch and ONNX predictors agrees with the torch heads."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from airchitect.models.decode import (
    BudgetGrid,
    decode_candidates,
    knob_log_probs,
    log_softmax,
    ordinal_log_probs,
    spread,
    top_k_joint,
    top_k_within_budget,
)
from airchitect.models.ordinal import ordinal_log_probs as torch_ordinal_log_probs
from airchitect.space.budget import Budget, check_budget
from airchitect.space.space import DesignSpace

logits = st.integers(1, 6).flatmap(
    lambda k: arrays(np.float32, (3, k), elements=st.floats(-20, 20, width=32))
)


@settings(max_examples=50, deadline=None)
@given(logits)
def test_ordinal_log_probs_match_the_torch_head(x: np.ndarray) -> None:
    # compared as probabilities: torch works in float32, whose 1 - p loses digits near p = 1
    expected = np.exp(torch_ordinal_log_probs(torch.from_numpy(x)).numpy())
    assert np.allclose(np.exp(ordinal_log_probs(x)), expected, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(logits)
def test_class_probabilities_sum_to_one(x: np.ndarray) -> None:
    ordinal = np.exp(ordinal_log_probs(x))
    # the probability floor can only add mass, never remove it
    assert np.all(ordinal.sum(-1) >= 1 - 1e-6) and np.all(ordinal.sum(-1) <= 1 + 1e-6 * 8)
    assert np.allclose(np.exp(log_softmax(x)).sum(-1), 1.0)


def test_a_knob_with_one_value_is_certain() -> None:
    assert np.array_equal(ordinal_log_probs(np.zeros((2, 0))), np.zeros((2, 1)))
    idx, scores = top_k_joint(
        [np.log(np.full((1, 3), 1 / 3)), ordinal_log_probs(np.zeros((1, 0)))], 2
    )
    assert idx.shape == (1, 2, 2) and np.allclose(scores, np.log(1 / 3))


def test_knob_log_probs_follow_the_knob_kinds() -> None:
    x = [np.zeros((2, 3)), np.zeros((2, 3))]
    ordinal, categorical = knob_log_probs(x, ["ordinal", "categorical"])
    assert ordinal.shape == (2, 4) and categorical.shape == (2, 3)


# ---- decoding within a budget ---------------------------------------------------------------
REDUCED = DesignSpace.named("reduced")
GRID = BudgetGrid.of(REDUCED)


def _brute_force(log_probs, area, power, k):
    """Every design scored, the unaffordable dropped, the best k kept (ties: grid order)."""
    total = sum(np.meshgrid(*[lp for lp in log_probs], indexing="ij")).reshape(-1)
    fits = GRID.fits(np.arange(total.size)[None, :], np.array([area]), np.array([power]))[0]
    keep = np.flatnonzero(fits)
    return total[keep[np.argsort(-total[keep], kind="stable")[:k]]]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    area_quantile=st.floats(0.0, 1.0),
    power_quantile=st.one_of(st.none(), st.floats(0.0, 1.0)),
    k=st.integers(1, 12),
)
def test_budget_decode_is_the_best_of_the_affordable_designs(
    seed: int, area_quantile: float, power_quantile: float | None, k: int
) -> None:
    rng = np.random.default_rng(seed)
    log_probs = [log_softmax(rng.normal(0, 3, (1, c))) for c in REDUCED.cardinalities]
    area = float(np.quantile(GRID.area_mm2, area_quantile))
    power = np.nan if power_quantile is None else float(np.quantile(GRID.power_mw, power_quantile))
    flat, scores = top_k_within_budget(log_probs, k, GRID, np.array([area]), np.array([power]))
    expected = _brute_force([lp[0] for lp in log_probs], area, power, k)
    found = flat[0] >= 0
    assert found.sum() == len(expected)  # as many as fit, up to k
    assert np.allclose(scores[0, found], expected)  # the same scores: the true best that fit
    hw = REDUCED.decode_batch(REDUCED.unflat_index(flat[0, found]))
    fits, _ = check_budget(hw, Budget(area, None if np.isnan(power) else power))
    assert fits.all()


def test_budget_decode_returns_nothing_when_no_design_fits() -> None:
    log_probs = [np.zeros((2, c)) for c in REDUCED.cardinalities]
    tiny = GRID.area_mm2.min() / 2
    flat, scores = top_k_within_budget(log_probs, 3, GRID, np.array([tiny, np.nan]),
                                       np.array([np.nan, np.nan]))  # fmt: skip
    assert (flat[0] == -1).all() and np.isneginf(scores[0]).all()
    assert (flat[1] >= 0).all()  # the unconstrained row is untouched


def test_decode_candidates_within_budget_only_lists_affordable_designs() -> None:
    logits = [np.zeros((1, c - 1)) for c in REDUCED.cardinalities[:-1]]
    logits.append(np.zeros((1, REDUCED.cardinalities[-1])))
    kinds = ["ordinal"] * (len(logits) - 1) + ["categorical"]
    area = float(np.quantile(GRID.area_mm2, 0.1))
    rows = decode_candidates(
        REDUCED, logits, kinds, 5, (GRID, np.array([area]), np.array([np.nan]))
    )
    assert len(rows[0]) == 5
    hw = REDUCED.decode_batch(np.array([c.index_vector for c in rows[0]]))
    assert check_budget(hw, Budget(area, None))[0].all()


def test_spread_keeps_the_best_first_and_then_skips_near_duplicates() -> None:
    # rank order; knobs 0 and 2 are the ones to spread over, knob 1 does not count
    vectors = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 2, 0], [0, 0, 1], [2, 0, 0]])
    assert spread(vectors, 3, (0, 2)).tolist() == [0, 2, 4]
    # too few distinct designs: the best of the skipped ones fill up, in rank order
    assert spread(vectors[:4], 3, (0, 2)).tolist() == [0, 1, 2]
    assert spread(vectors, 3, ()).tolist() == [0, 1, 2]  # no knobs: the exact top


def test_spread_candidates_still_fit_and_start_with_the_exact_best() -> None:
    rng = np.random.default_rng(3)
    log_probs = [np.log(rng.dirichlet(np.ones(c), size=4)) for c in GRID.cardinalities]
    area = np.array([np.nan, 2.0, 5.0, np.nan])
    power = np.full(4, np.nan)
    exact, _ = top_k_within_budget(log_probs, 5, GRID, area, power)
    spread_flat, _ = top_k_within_budget(log_probs, 5, GRID, area, power, spread_knobs=(0, 1))
    assert (spread_flat[:, 0] == exact[:, 0]).all()
    fits = GRID.fits(np.maximum(spread_flat, 0), area, power) | (spread_flat < 0)
    assert fits.all()
