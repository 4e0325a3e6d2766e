from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from airchitect.models.bundle import BUNDLE_FORMAT, load_bundle
from airchitect.models.data import RecommenderDataModule
from airchitect.models.decode import top_k_joint
from airchitect.models.features import TOKENS, FeatureStats, encode_features
from airchitect.models.predict import Predictor
from airchitect.models.train import TrainConfig, train

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec")

TINY = dict(d_model=32, n_heads=4, encoder_layers=1, decoder_layers=1, dim_feedforward=64,
            projection_dim=16, batch_size=64, val_fraction=0.2, test_fraction=0.2)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny_run")
    return train(dataset_dir, out, TrainConfig(max_epochs=2, **TINY))


def test_run_directory_describes_itself(tiny_run: Path) -> None:
    _, bundle = load_bundle(tiny_run)
    assert bundle["format"] == BUNDLE_FORMAT and bundle["version"] == 1
    expected = {"model_config", "train_config", "feature_stats", "cost_stats", "space",
                "space_hash", "schema_version", "state_dict", "metrics"}  # fmt: skip
    assert expected <= bundle.keys()
    assert bundle["train_config"]["max_epochs"] == 2
    assert np.isfinite(bundle["metrics"]["val/loss"])
    run = json.loads((tiny_run.parent / "run.json").read_text())
    assert run["space_hash"] == bundle["space_hash"] and "state_dict" not in run
    assert (tiny_run.parent / "logs" / "metrics.csv").is_file()
    assert (tiny_run.parent / "checkpoints" / "best.ckpt").is_file()
    assert not list(tiny_run.parent.glob("*.tmp"))


def test_bundle_round_trip_gives_identical_predictions(
    tiny_run: Path, dataset_frame: pd.DataFrame
) -> None:
    frame = dataset_frame.head(40)
    model, bundle = load_bundle(tiny_run)
    stats = FeatureStats.from_dict(bundle["feature_stats"])
    ids, values = (torch.from_numpy(x) for x in encode_features(frame, stats))
    with torch.no_grad():
        first = model.forward_flat(ids, values)
        again, _ = load_bundle(tiny_run)
        second = again.forward_flat(ids, values)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    p1 = Predictor(tiny_run).predict(frame, top_k=3)
    p2 = Predictor(tiny_run).predict(frame, top_k=3)
    assert p1.candidates == p2.candidates
    assert np.array_equal(p1.embedding, first[0].numpy())


def test_predictions_are_ranked_designs_of_the_space(
    tiny_run: Path, dataset_frame: pd.DataFrame
) -> None:
    predictor = Predictor(tiny_run)
    prediction = predictor.predict(dataset_frame.head(7), top_k=5)
    assert len(prediction) == 7 and prediction.embedding.shape == (7, 32)
    assert np.all(prediction.cost > 0)
    for cands in prediction:
        assert len(cands) == 5
        assert len({c.hw_index for c in cands}) == 5
        assert all(a.log_prob >= b.log_prob for a, b in zip(cands, cands[1:], strict=False))
        for c in cands:
            assert predictor.space.flat_index(list(c.index_vector)) == c.hw_index
            assert c.hardware["dataflow"] in ("ws", "os", "is", "rs")
    # one row alone gets the same answer as inside the batch
    alone = predictor.predict(dataset_frame.iloc[[3]], top_k=5)
    assert [c.hw_index for c in alone[0]] == [c.hw_index for c in prediction[3]]
    assert len(predictor.predict(dataset_frame.head(0))) == 0


def test_top_k_joint_is_exact() -> None:
    torch.manual_seed(0)
    log_probs = [torch.log_softmax(torch.randn(2, k), -1).numpy() for k in (3, 2, 4)]
    idx, scores = top_k_joint(log_probs, 5)
    for row in range(2):
        grid = [(a + b + c, (i, j, m))
                for i, a in enumerate(log_probs[0][row].tolist())
                for j, b in enumerate(log_probs[1][row].tolist())
                for m, c in enumerate(log_probs[2][row].tolist())]  # fmt: skip
        best = sorted(grid, key=lambda x: -x[0])[:5]
        assert [tuple(v) for v in idx[row].tolist()] == [b[1] for b in best]
        assert np.allclose(scores[row], [b[0] for b in best])


def test_training_learns_beyond_the_majority_baseline(dataset_dir: Path, tmp_path: Path) -> None:
    config = TrainConfig(d_model=64, n_heads=4, encoder_layers=2, decoder_layers=1,
                         dim_feedforward=128, dropout=0.0, max_epochs=30, batch_size=32,
                         lr=2e-3, schedule="constant", patience=100, val_fraction=0.2,
                         test_fraction=0.2)  # fmt: skip
    bundle = train(dataset_dir, tmp_path, config)
    log = pd.read_csv(tmp_path / "logs" / "metrics.csv")
    losses = log["train/loss"].dropna().to_numpy()
    assert losses[-1] < 0.75 * losses[0]
    dm = RecommenderDataModule(dataset_dir, val_fraction=0.2, test_fraction=0.2)
    dm.setup()
    train_knobs = dm.tensors["train"]["knobs"].numpy()
    majority = np.array([np.bincount(col).argmax() for col in train_knobs.T])
    held = pd.concat([dm.frames["val"], dm.frames["test"]], ignore_index=True)
    truth = np.concatenate([dm.tensors[s]["knobs"].numpy() for s in ("val", "test")])
    predicted = np.array([c[0].index_vector for c in Predictor(bundle).predict(held, top_k=1)])
    model_acc, base_acc = (predicted == truth).mean(), (majority == truth).mean()
    assert model_acc > base_acc + 0.05, (model_acc, base_acc)
    assert (predicted == truth).all(1).mean() >= (majority == truth).all(1).mean()


def test_contrastive_flag_removes_the_term_from_the_loss(dataset_dir: Path) -> None:
    from airchitect.models.lightning_module import RecommenderModule

    dm = RecommenderDataModule(dataset_dir, batch_size=64)
    config = TrainConfig(**TINY).model_fields(dm.model_dims())
    batch = next(iter(dm.train_dataloader()))
    for contrastive in (True, False):
        torch.manual_seed(0)
        module = RecommenderModule(config.to_dict(), contrastive=contrastive, w_con=0.5)
        m = module.compute_losses(batch)
        base = m["knob_loss"] + 0.5 * m["cost_mse"]
        want = base + 0.5 * m["supcon"] if contrastive else base
        assert torch.allclose(m["loss"], want)
        assert m["supcon"] > 0 and 0 <= m["exact_acc"] <= 1


def test_streamed_training_is_reproducible(dataset_dir: Path, tmp_path: Path) -> None:
    config = TrainConfig(max_epochs=1, stream=True, **TINY)
    first = load_bundle(train(dataset_dir, tmp_path / "a", config))[1]
    second = load_bundle(train(dataset_dir, tmp_path / "b", config))[1]
    assert first["data"]["rows"] is None  # a stream is not counted up front
    for name, tensor in first["state_dict"].items():
        assert torch.equal(tensor, second["state_dict"][name]), name


# ---- knobs the user gives ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def given_dataflow_run(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("given_run")
    return train(dataset_dir, out, TrainConfig(max_epochs=1, given_knobs=("dataflow",), **TINY))


def test_a_given_knob_is_an_input_token_and_every_answer_keeps_it(
    given_dataflow_run: Path, dataset_frame
) -> None:
    predictor = Predictor(given_dataflow_run)
    assert predictor.feature_stats.given == ("dataflow",)
    assert predictor.feature_stats.n_tokens == len(TOKENS) + 1
    rows = dataset_frame[dataset_frame["found"]].head(40).reset_index(drop=True)
    for dataflow in ("ws", "os"):
        asked = rows.assign(dataflow=dataflow)
        for candidates in predictor.predict(asked, top_k=4):
            assert candidates and {c.hardware["dataflow"] for c in candidates} == {dataflow}


def test_a_model_with_a_given_knob_names_it_when_it_is_missing_or_off_grid(
    given_dataflow_run: Path, dataset_frame
) -> None:
    predictor = Predictor(given_dataflow_run)
    rows = dataset_frame.head(3)
    with pytest.raises(ValueError, match="dataflow.*allowed"):
        predictor.predict(rows.assign(dataflow="systolic"))
    with pytest.raises((KeyError, ValueError), match="dataflow"):
        predictor.predict(rows.drop(columns="dataflow"))


def test_a_given_knob_must_be_a_knob_of_the_space(dataset_dir: Path) -> None:
    with pytest.raises(ValueError, match="given_knobs.*allowed"):
        RecommenderDataModule(dataset_dir, given_knobs=("clock_mhz",))


# ---- near-optimal sets ---------------------------------------------------------------------------
def test_a_set_holding_only_the_label_gives_the_label_loss(dataset_dir: Path) -> None:
    from airchitect.models.lightning_module import RecommenderModule

    dm = RecommenderDataModule(dataset_dir, batch_size=64, near_optimal_rtol=0.05)
    config = TrainConfig(**TINY).model_fields(dm.model_dims())
    batch = next(iter(dm.train_dataloader()))
    torch.manual_seed(0)
    module = RecommenderModule(config.to_dict()).eval()  # no dropout: two passes must agree
    label_only = {k: v for k, v in batch.items() if not k.startswith("near_")}
    alone = batch | {"near_mask": torch.zeros_like(batch["near_mask"])}
    alone["near_mask"][:, 0] = True
    want = module.compute_losses(label_only)["knob_loss"]
    assert torch.allclose(module.compute_losses(alone)["knob_loss"], want)
    full = module.compute_losses(batch)
    assert full["near_acc"] >= full["exact_acc"]
    label_only_weight = RecommenderModule(config.to_dict(), near_optimal_label_weight=1.0)
    label_only_weight.load_state_dict(module.state_dict())
    assert torch.allclose(label_only_weight.eval().compute_losses(batch)["knob_loss"], want)


def test_training_on_near_optimal_sets_hits_them(dataset_dir: Path, tmp_path: Path) -> None:
    config = TrainConfig(max_epochs=3, near_optimal_rtol=0.05, **TINY)
    bundle = train(dataset_dir, tmp_path, config)
    assert load_bundle(bundle)[1]["train_config"]["near_optimal_rtol"] == 0.05
    log = pd.read_csv(tmp_path / "logs" / "metrics.csv")
    val = log.dropna(subset=["val/near_acc"])
    assert (val["val/near_acc"] >= val["val/exact_acc"]).all()
    losses = log["train/knob_loss"].dropna().to_numpy()
    assert losses[-1] < losses[0]


def test_a_model_with_budget_features_trains_and_predicts(dataset_dir: Path, tmp_path) -> None:
    from airchitect.models.predict import Predictor

    bundle = train(dataset_dir, tmp_path, TrainConfig(max_epochs=1, budget_features=True, **TINY))
    stats = load_bundle(bundle)[1]["feature_stats"]
    assert "budget_max_pes" in stats["tokens"] and stats["capacity"]["pes"]
    from airchitect.data_gen.dataset import read_dataset

    frame = read_dataset(dataset_dir).head(20)
    assert all(len(row) == 3 for row in Predictor(bundle).predict(frame, top_k=3))


def test_a_model_with_divisibility_tokens_trains_and_predicts(dataset_dir: Path, tmp_path) -> None:
    from airchitect.data_gen.dataset import read_dataset

    config = TrainConfig.from_dict({"max_epochs": 1, "divisibility": [8, 12], **TINY})
    bundle = train(dataset_dir, tmp_path, config)
    stats = load_bundle(bundle)[1]["feature_stats"]
    assert stats["divisibility"] == [8, 12] and "k_mod_12" in stats["tokens"]
    frame = read_dataset(dataset_dir).head(20)
    assert all(len(row) == 3 for row in Predictor(bundle).predict(frame, top_k=3))
