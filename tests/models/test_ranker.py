"""The learned candidate ranker: features, fitting, storage, and its place in a trained run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.models.bundle import load_bundle, save_bundle
from airchitect.models.predict import Predictor
from airchitect.models.ranker import (
    Ranker,
    RankerConfig,
    RankTable,
    candidate_features,
    fit_ranker,
    train_ranker,
    validate,
)
from airchitect.models.train import TrainConfig, train

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec")

TINY = dict(d_model=32, n_heads=4, encoder_layers=1, decoder_layers=1, dim_feedforward=64,
            projection_dim=16, batch_size=64, val_fraction=0.2, test_fraction=0.2)  # fmt: skip
SMALL_RANKER = {"rows": 120, "val_rows": 60, "candidates": 6, "epochs": 3, "hidden": 16,
                "keep_if_better": False}  # fmt: skip
CARDS = (3, 4, 2)


def _log_probs(rows: int, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for k in CARDS:
        x = rng.normal(size=(rows, k))
        out.append(x - np.log(np.exp(x).sum(1, keepdims=True)))
    return out


def test_features_hold_the_design_its_log_probs_and_rank() -> None:
    rng = np.random.default_rng(0)
    log_probs = _log_probs(2, rng)
    flat = np.array([[0, 5, 23], [7, -1, -1]])
    scores = np.array([[-1.0, -2.0, -3.0], [-0.5, -np.inf, -np.inf]])
    x = candidate_features(np.ones((2, 4)), log_probs, flat, scores)
    assert x.shape == (2, 3, 4 + sum(CARDS) + len(CARDS) + 2) and np.isfinite(x).all()
    onehot = x[:, :, 4 : 4 + sum(CARDS)]
    assert (onehot.sum(-1) == len(CARDS)).all()  # one value per knob
    vector = np.unravel_index(23, CARDS)  # the last design of the grid
    assert onehot[0, 2].nonzero()[0].tolist() == [vector[0], 3 + vector[1], 7 + vector[2]]
    knob_lp = x[0, 1, 4 + sum(CARDS) : 4 + sum(CARDS) + len(CARDS)]
    want = [lp[0, i] for lp, i in zip(log_probs, np.unravel_index(5, CARDS), strict=True)]
    np.testing.assert_allclose(knob_lp, want, rtol=1e-6)
    np.testing.assert_allclose(x[0, :, -1], [0, 1 / 3, 2 / 3], rtol=1e-6)  # decoder rank / N


def _table(rows: int, seed: int) -> RankTable:
    """Candidates whose regret depends on one knob only: knob 0 at value 2 is optimal."""
    rng = np.random.default_rng(seed)
    log_probs = _log_probs(rows, rng)
    flat = np.stack([rng.permutation(24)[:6] for _ in range(rows)])
    scores = np.sort(rng.normal(size=(rows, 6)), axis=1)[:, ::-1]
    features = candidate_features(rng.normal(size=(rows, 4)), log_probs, flat, scores)
    knob0 = np.unravel_index(flat, CARDS)[0]
    regret = np.where(knob0 == 2, 1.0, 1.5 + 0.5 * knob0)
    return RankTable(features, flat, regret, np.zeros_like(flat, dtype=bool))


def test_a_fitted_ranker_puts_the_cheapest_designs_first() -> None:
    ranker = fit_ranker(_table(400, 0), RankerConfig(epochs=30, hidden=32, label_bonus=0.0))
    held_out = _table(200, 1)
    summary = validate(ranker, held_out)
    assert summary["ranker"]["regret"] < summary["decoder"]["regret"]
    best = np.exp(np.log(held_out.regret.min(axis=1)).mean())  # the best order there is
    assert summary["ranker"]["regret"] < best * 1.01
    assert summary["better"]


def test_order_keeps_padding_last_and_columns_past_its_candidates() -> None:
    ranker = fit_ranker(_table(200, 0), RankerConfig(epochs=5, hidden=8, candidates=4))
    rng = np.random.default_rng(3)
    log_probs = _log_probs(2, rng)
    flat = np.array([[1, 2, -1, -1, 9, 10], [3, 4, 5, 6, 11, 12]])
    scores = np.where(flat >= 0, -np.arange(6.0), -np.inf)
    ordered, ordered_scores = ranker.order(rng.normal(size=(2, 4)), log_probs, flat, scores)
    assert sorted(ordered[0, :2].tolist()) == [1, 2] and ordered[0, 2:4].tolist() == [-1, -1]
    assert sorted(ordered[1, :4].tolist()) == [3, 4, 5, 6]
    assert ordered[:, 4:].tolist() == [[9, 10], [11, 12]]  # past `candidates`: decoder order
    for row in range(2):  # each design keeps its own joint log-probability
        lookup = dict(zip(flat[row], scores[row], strict=True))
        assert [lookup[f] for f in ordered[row]] == ordered_scores[row].tolist()


def test_storage_round_trips_give_the_same_scores(tmp_path: Path) -> None:
    ranker = fit_ranker(_table(100, 0), RankerConfig(epochs=2, hidden=8))
    features = _table(20, 5).features
    want = ranker.log_regret(features)
    state = Ranker.from_state(ranker.to_state())
    np.testing.assert_array_equal(state.log_regret(features), want)
    ranker.save_npz(tmp_path / "ranker.npz")
    meta = {"config": ranker.config.to_dict(), "validation": {}}
    loaded = Ranker.load_npz(tmp_path / "ranker.npz", meta)
    np.testing.assert_array_equal(loaded.log_regret(features), want)


@pytest.mark.parametrize(
    ("field", "value"), [("rows", 0), ("candidates", 1), ("regret_cap", 1.0), ("label_bonus", -1)]
)
def test_config_names_the_bad_field(field: str, value) -> None:
    with pytest.raises(ValueError, match=f"ranker field '{field}'"):
        RankerConfig(**{field: value})
    with pytest.raises(ValueError, match="unknown ranker field"):
        RankerConfig.from_dict({"row": 5})
    with pytest.raises(ValueError, match=f"ranker field '{field}'"):
        TrainConfig(ranker={field: value})


@pytest.fixture(scope="module")
def ranked_run(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ranked_run")
    return train(dataset_dir, out, TrainConfig(max_epochs=2, ranker=SMALL_RANKER, **TINY))


def test_training_with_a_ranker_stores_it_and_describes_it(ranked_run: Path) -> None:
    _, bundle = load_bundle(ranked_run)
    fit = bundle["ranker_fit"]
    assert fit["kept"] and "ranker" in bundle
    assert fit["train_rows"] <= SMALL_RANKER["rows"] and fit["decoder"]["rows"] > 0
    assert 1.0 <= fit["ranker"]["regret"] < float("inf")
    run = json.loads((ranked_run.parent / "run.json").read_text())
    assert run["ranker_fit"]["config"]["candidates"] == SMALL_RANKER["candidates"]
    assert run["train_config"]["ranker"]["rows"] == SMALL_RANKER["rows"]


def test_the_ranker_reorders_the_decoders_candidates_row_by_row(
    ranked_run: Path, dataset_frame
) -> None:
    predictor = Predictor(ranked_run)
    assert predictor.ranker is not None
    rows = dataset_frame.head(40).reset_index(drop=True)
    n = predictor.ranker.config.candidates
    ranked = predictor.predict(rows, top_k=n)
    plain = predictor.predict(rows, top_k=n, rerank=False)
    for a, b in zip(ranked, plain, strict=True):  # the same designs, the ranker's order
        assert sorted(c.hw_index for c in a) == sorted(c.hw_index for c in b)
    assert any([c.hw_index for c in a] != [c.hw_index for c in b]
               for a, b in zip(ranked, plain, strict=True))  # fmt: skip
    assert len(predictor.predict(rows.head(0))) == 0
    wide = predictor.predict(rows, top_k=n + 3)  # past the ranked ones: the decoder's order
    for a, b in zip(wide, predictor.predict(rows, top_k=n + 3, rerank=False), strict=True):
        assert [c.hw_index for c in a][n:] == [c.hw_index for c in b][n:]
    alone = predictor.predict(rows.iloc[[7]], top_k=3)  # batch independence holds with it
    assert [c.hw_index for c in alone[0]] == [c.hw_index for c in predictor.predict(rows)[7]][:3]


def test_a_ranker_no_better_than_the_decoder_is_not_kept(
    ranked_run: Path, dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airchitect.models.ranker

    def worse(ranker, table):
        return validate(ranker, table) | {"better": False}

    monkeypatch.setattr(airchitect.models.ranker, "validate", worse)
    config = RankerConfig(**SMALL_RANKER | {"keep_if_better": True})
    (tmp_path / "model.pt").write_bytes(ranked_run.read_bytes())
    earlier = load_bundle(tmp_path / "model.pt")[1]["ranker"]
    summary = train_ranker(tmp_path, dataset_dir, config)
    _, bundle = load_bundle(tmp_path / "model.pt")
    assert not summary["kept"] and bundle["ranker_fit"]["kept"] is False
    assert bundle["ranker"]["validation"] == earlier["validation"]  # the earlier one stays
    save_bundle({k: v for k, v in bundle.items() if k != "ranker"}, tmp_path / "model.pt")
    train_ranker(tmp_path, dataset_dir, config)
    assert Predictor(tmp_path).ranker is None


def test_cli_train_ranker_and_its_errors(ranked_run: Path, dataset_dir: Path, tmp_path) -> None:
    (tmp_path / "model.pt").write_bytes(ranked_run.read_bytes())
    runner = CliRunner()
    bad = runner.invoke(app, ["train-ranker", "--model", str(tmp_path), "--data",
                              str(dataset_dir), "--rows", "0"])  # fmt: skip
    assert bad.exit_code != 0 and "--rows" in bad.output and ">= 1" in bad.output
    (tmp_path / "meta.json").write_text("{}")  # a serving bundle: fit on the run, then export
    served = runner.invoke(app, ["train-ranker", "--model", str(tmp_path), "--data",
                                 str(dataset_dir)])  # fmt: skip
    assert served.exit_code != 0 and "serving bundle" in served.output
    (tmp_path / "meta.json").unlink()
    args = ["train-ranker", "--model", str(tmp_path), "--data", str(dataset_dir), "--rows",
            "80", "--val-rows", "40", "--candidates", "4", "--epochs", "2",
            "--no-keep-if-better"]  # fmt: skip
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kept"] and summary["train_rows"] <= 80
    assert load_bundle(tmp_path / "model.pt")[1]["ranker"]["config"]["candidates"] == 4
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "ranker kept in" in table.output


def test_numpy_gelu_is_torchs_tanh_gelu() -> None:
    import torch

    from airchitect.models.ranker import _gelu

    x = np.linspace(-6, 6, 1001)
    want = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    np.testing.assert_allclose(_gelu(x), want, rtol=1e-12, atol=1e-12)


def test_a_ranked_model_with_a_given_knob_keeps_it_in_every_answer(
    dataset_dir: Path, dataset_frame, tmp_path: Path
) -> None:
    config = TrainConfig(max_epochs=1, given_knobs=("dataflow",), ranker=SMALL_RANKER, **TINY)
    predictor = Predictor(train(dataset_dir, tmp_path, config))
    assert predictor.ranker is not None
    rows = dataset_frame[dataset_frame["found"]].head(30).reset_index(drop=True)
    for dataflow in ("ws", "os"):
        for candidates in predictor.predict(rows.assign(dataflow=dataflow), top_k=4):
            assert candidates and all(c.hardware["dataflow"] == dataflow for c in candidates)
