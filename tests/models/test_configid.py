"""The ConfigID classifier and the divisibility encodings: a residue rule that log-scaled
inputs cannot learn is learnt once the residues are inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from airchitect.models.configid import ConfigIdClassifier, ConfigIdConfig, input_dims, raw_features
from airchitect.models.divisibility import divisibility_features


def test_encodings_shapes_and_values():
    dims = np.array([[96, 0], [100, 7]])
    assert divisibility_features(dims, "log").shape == (2, 2)
    util = divisibility_features(dims, "util", moduli=(48, 64))
    assert util.shape == (2, 6)
    # per dim: log2(1 + D), then utilisation on 48 and 64 lanes
    assert util[0, 1:3] == pytest.approx([1.0, 96 / 128])
    assert util[1, 1:3] == pytest.approx([100 / 144, 100 / 128])
    assert util[0, 4:6] == pytest.approx([0.0, 0.0])  # D = 0 uses no lane
    both = divisibility_features(dims, "both", moduli=(48, 64))
    assert both.shape == (2, 10) and both[1, 1:5] == pytest.approx([4 / 48, 36 / 64, *util[1, 1:3]])
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


def test_exact_values_and_residue_one_hots():
    frame = pd.DataFrame({"k": [5, 6], "c": 8, "p": 3, "q": 4, "r": [1, 3], "s": [1, 3],
                          "dataflow": ["ws", "rs"]})  # fmt: skip
    config = ConfigIdConfig(encoding="log", onehot_moduli=(4,), exact_dims=("r",))
    x = raw_features(frame, config, {"r": np.array([1, 5])})
    # 8 logs, 4 dataflows, r in {1, 5} (3 is unseen: all zeros), then 8 dims x 4 residues
    assert x.shape == (2, 8 + 4 + 2 + 32)
    assert x[:, 12:14].tolist() == [[1, 0], [0, 0]]
    residues = x[0, 14:].reshape(8, 4).argmax(axis=1)
    assert residues.tolist() == [5 % 4, 8 % 4, 3, 0, 1, 1, 3 % 4, 4 % 4]
    with pytest.raises(ValueError, match="exact_dims"):
        ConfigIdConfig(exact_dims=("x",))


def test_input_dims_recover_the_input_size():
    frame = pd.DataFrame({"k": [4], "c": [8], "p": [54], "q": [30], "r": [3], "s": [5]})
    assert input_dims(frame).tolist() == [[4, 8, 54, 30, 3, 5, 56, 34]]
