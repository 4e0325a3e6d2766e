"""The numpy decoding shared by the torch and ONNX predictors agrees with the torch heads."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.decode import knob_log_probs, log_softmax, ordinal_log_probs
from models.ordinal import ordinal_log_probs as torch_ordinal_log_probs

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


def test_knob_log_probs_follow_the_knob_kinds() -> None:
    x = [np.zeros((2, 3)), np.zeros((2, 3))]
    ordinal, categorical = knob_log_probs(x, ["ordinal", "categorical"])
    assert ordinal.shape == (2, 4) and categorical.shape == (2, 3)
