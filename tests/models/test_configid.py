"""The ConfigID classifier and the divisibility encodings: a residue rule that log-scaled
inputs cannot learn is learnt once the residues are inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from models.configid import ConfigIdClassifier, ConfigIdConfig, input_dims
from models.divisibility import divisibility_features


def test_encodings_shapes_and_values():
    dims = np.array([[96, 0], [100, 7]])
    assert divisibility_features(dims, "log").shape == (2, 2)
    util = divisibility_features(dims, "util", moduli=(48, 64))
    assert util.shape == (2, 6)
    # per dim: log2(1 + D), then utilisation on 48 and 64 lanes
    assert util[0, 1:3] == pytest.approx([1.0, 96 / 128])
    assert util[1, 1:3] == pytest.approx([100 / 144, 100 / 128])
    assert util[0, 4:6] == pytest.approx([0.0, 0.0])  # D = 0 uses no lane
    res = divisibility_features(dims, "residue", moduli=(48,))
    assert res[1, 1] == pytest.approx(4 / 48) and res[0, 1] == 0
    with pytest.raises(ValueError, match="encoding"):
        divisibility_features(dims, "bucket")
    with pytest.raises(ValueError, match="moduli"):
        divisibility_features(dims, "util", moduli=(0,))


def test_config_names_bad_fields():
    with pytest.raises(ValueError, match="unknown ConfigID classifier field"):
        ConfigIdConfig.from_dict({"hiden": 3})
    with pytest.raises(ValueError, match="encoding"):
        ConfigIdConfig(encoding="bucket")
    with pytest.raises(ValueError, match="'epochs'"):
        ConfigIdConfig(epochs=0)


def _rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Layers whose label is K mod 3: balanced classes, invisible at any log scale."""
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 512, n)
    frame = pd.DataFrame(
        {
            "k": k,
            "c": rng.integers(2, 512, n),
            "p": rng.integers(1, 64, n),
            "q": rng.integers(1, 64, n),
            "r": 3,
            "s": 3,
            "dataflow": "ws",
        }
    )
    return frame, k % 3


def test_a_residue_rule_is_learnt_with_residues_and_not_from_logs(tmp_path):
    torch.set_num_threads(1)
    train, y = _rows(3000, 0)
    test, y_test = _rows(1000, 1)
    small = {"hidden": 64, "layers": 2, "epochs": 20, "batch_size": 128, "lr": 0.01,
             "moduli": (2, 3, 4, 8)}  # fmt: skip
    scores = {}
    for encoding in ("log", "util", "residue"):
        model = ConfigIdClassifier(ConfigIdConfig(encoding=encoding, **small)).fit(train, y)
        scores[encoding] = float((model.predict(test) == y_test).mean())
    assert scores["log"] < 0.5  # a third is chance
    assert scores["util"] > 0.95 and scores["residue"] > 0.95
    again = ConfigIdClassifier.load(model.save(tmp_path / "m"))
    assert (again.predict(test) == model.predict(test)).all()
    one = again.predict(test.iloc[:1])
    assert one[0] == model.predict(test)[0]  # batch 1 answers as the batch does


def test_input_dims_recover_the_input_size():
    frame = pd.DataFrame({"k": [4], "c": [8], "p": [54], "q": [30], "r": [3], "s": [5]})
    assert input_dims(frame).tolist() == [[4, 8, 54, 30, 3, 5, 56, 34]]
