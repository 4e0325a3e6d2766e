"""Fine-tuning a base model (zoo + synthetic layers) on LLM layers: bundle, regret, freezing."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from airchitect.models.bundle import load_bundle, save_bundle
from airchitect.models.data import RecommenderDataModule
from airchitect.models.evaluate import evaluate_run, recommender_candidates, scorecard
from airchitect.models.finetune import ENCODER_PARTS, FinetuneConfig, finetune
from airchitect.models.predict import Predictor
from airchitect.models.train import TrainConfig, train

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec")

TINY = dict(d_model=32, n_heads=4, encoder_layers=1, decoder_layers=1, dim_feedforward=64,
            projection_dim=16, batch_size=64, val_fraction=0.2, test_fraction=0.2)  # fmt: skip
#: the fine-tune's split of the LLM data; the "before" scores use the very same held-out rows
SPLIT = dict(split="random", val_fraction=0.2, test_fraction=0.3, seed=0)
LLM_ROWS = 360


@pytest.fixture(scope="module")
def llm_dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~360 rows of LLM layers only (5 families), over the same reduced space as the base."""
    from airchitect.data_gen.generate import GeneratorConfig
    from airchitect.data_gen.pipeline import generate

    out = tmp_path_factory.mktemp("llm_dataset")
    generate(GeneratorConfig(n=LLM_ROWS, space="reduced", workloads="llm"), out, workers=1,
             progress=False)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def base_run(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on zoo + synthetic layers: it has never seen an LLM layer."""
    return train(dataset_dir, tmp_path_factory.mktemp("base"), TrainConfig(max_epochs=5, **TINY))


@pytest.fixture(scope="module")
def finetuned(
    base_run: Path, llm_dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A frozen-encoder fine-tune from the run directory; the tiny data needs a higher lr."""
    out = tmp_path_factory.mktemp("finetuned")
    config = FinetuneConfig(batch_size=32, lr=2e-3, max_epochs=20, patience=20, **SPLIT)
    return finetune(base_run.parent, llm_dataset_dir, out, config)


def _is_encoder(key: str) -> bool:
    return key.split(".")[0] in ENCODER_PARTS


def test_finetuned_bundle_loads_predicts_and_records_its_base(
    finetuned: dict[str, Any], base_run: Path, llm_dataset_dir: Path
) -> None:
    path = finetuned["bundle"]
    model, bundle = load_bundle(path)
    _, base = load_bundle(base_run)
    # the base model's normalisation, not statistics refitted on the LLM rows
    for key in ("feature_stats", "cost_stats", "space_hash", "space", "model_config"):
        assert bundle[key] == base[key], key
    lineage = bundle["finetuned_from"]
    assert lineage["path"] == str(base_run.resolve())
    assert lineage["metrics"] == base["metrics"] and lineage["data"] == base["data"]
    assert bundle["finetune_config"]["freeze"] == "encoder"
    assert bundle["train_config"]["lr"] == 2e-3 and bundle["train_config"]["d_model"] == 32
    assert bundle["data"]["dir"] == str(llm_dataset_dir)
    assert bundle["data"]["rows"] == finetuned["rows"]
    run = json.loads((path.parent / "run.json").read_text())
    assert run["finetuned_from"] == lineage and "state_dict" not in run
    assert (path.parent / "logs" / "metrics.csv").is_file()
    assert (path.parent / "checkpoints" / "best.ckpt").is_file()
    assert finetuned["parameters"]["frozen"] > 0 and finetuned["parameters"]["trainable"] > 0
    dm = RecommenderDataModule(llm_dataset_dir, **SPLIT)
    dm.setup()
    frame = dm.frames["test"].head(6)
    prediction = Predictor(path).predict(frame, top_k=3)
    assert len(prediction) == 6 and all(len(c) == 3 for c in prediction)
    assert prediction.embedding.shape == (6, model.config.d_model)


def test_finetuning_lowers_regret_on_held_out_llm_rows(
    finetuned: dict[str, Any], base_run: Path, llm_dataset_dir: Path
) -> None:
    dm = RecommenderDataModule(llm_dataset_dir, **SPLIT)
    dm.setup()
    test = dm.frames["test"]
    before = scorecard("base", test, dm.space, recommender_candidates(base_run, test))
    # the fine-tuned bundle evaluates like any model: on the held-out rows of its own split
    (after,) = evaluate_run(finetuned["bundle"], llm_dataset_dir, baselines=False)
    assert after.rows == before.rows == len(test) > 0
    assert after.regret_geomean < before.regret_geomean, (after, before)
    assert after.valid_share >= before.valid_share, (after, before)


def test_frozen_encoder_is_unchanged_and_the_decoder_moves(
    finetuned: dict[str, Any], base_run: Path
) -> None:
    base = load_bundle(base_run)[1]["state_dict"]
    tuned = load_bundle(finetuned["bundle"])[1]["state_dict"]
    encoder = [k for k in base if _is_encoder(k)]
    rest = [k for k in base if not _is_encoder(k)]
    assert {k.split(".")[0] for k in encoder} == set(ENCODER_PARTS)
    assert {"queries", "decoder", "knob_heads", "cost_head"} <= {k.split(".")[0] for k in rest}
    for key in encoder:
        assert torch.equal(base[key], tuned[key]), key
    for key in rest:
        assert not torch.equal(base[key], tuned[key]), key


def test_freeze_none_and_max_rows(
    finetuned: dict[str, Any], base_run: Path, llm_dataset_dir: Path, tmp_path: Path
) -> None:
    config = FinetuneConfig(freeze="none", max_rows=40, max_epochs=1, batch_size=32, **SPLIT)
    summary = finetune(base_run, llm_dataset_dir, tmp_path, config)  # a model.pt path works too
    assert summary["parameters"]["frozen"] == 0
    # the cap samples training rows after the split: the held-out rows stay the same
    assert summary["rows"]["train"] == 40
    assert summary["rows"]["test"] == finetuned["rows"]["test"]
    assert summary["rows"]["val"] == finetuned["rows"]["val"]
    base = load_bundle(base_run)[1]["state_dict"]
    tuned = load_bundle(summary["bundle"])[1]["state_dict"]
    for key in ("encoder.layers.0.linear1.weight", "token_embedding.weight", "cls"):
        assert not torch.equal(base[key], tuned[key]), key
    # served, the fine-tune's neighbours are the 40 rows it trained on, none of the others
    from airchitect.serve.export import training_rows

    bundle = load_bundle(summary["bundle"])[1]
    indexed = training_rows(bundle, llm_dataset_dir, max_rows=10_000, seed=0)
    dm = RecommenderDataModule(llm_dataset_dir, **SPLIT)
    dm.setup()
    assert len(indexed) == 40
    assert set(indexed["row_id"]) < set(dm.frames["train"]["row_id"])


def test_space_hash_mismatch_names_both_hashes(
    base_run: Path, llm_dataset_dir: Path, tmp_path: Path
) -> None:
    bundle = torch.load(base_run, map_location="cpu", weights_only=True)
    bundle["space_hash"] = "f" * 64
    other = save_bundle(bundle, tmp_path / "model.pt")
    data_hash = json.loads((llm_dataset_dir / "_manifest.json").read_text())["space_hash"]
    with pytest.raises(ValueError, match=rf"{data_hash}.*{'f' * 64}"):
        finetune(other, llm_dataset_dir, tmp_path / "run", FinetuneConfig(max_epochs=1))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("freeze", "all", "'freeze' must be one of encoder, none, got 'all'"),
        ("max_rows", 0, "'max_rows' must be >= 1"),
        ("lr", 0.0, "'lr' must be > 0"),
        ("max_epochs", 0, "'max_epochs' must be >= 1"),
        ("split", "held:x", "'split'"),
    ],
)
def test_config_rejects_bad_values(field: str, value: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        FinetuneConfig(**{field: value})


def test_cli_finetune_then_evaluate_model(
    base_run: Path, llm_dataset_dir: Path, tmp_path: Path
) -> None:
    from airchitect.cli import app

    runner = CliRunner()
    out = tmp_path / "cli_run"
    result = runner.invoke(app, [
        "finetune", "--from", str(base_run.parent), "--data", str(llm_dataset_dir),
        "--out", str(out), "--freeze", "none", "--epochs", "1", "--max-rows", "30",
        "--split", "family:llm-gpt2", "--seed", "1", "--batch-size", "16", "--lr", "1e-4",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"model written to {out / 'model.pt'}" in result.stdout
    bundle = load_bundle(out / "model.pt")[1]
    assert bundle["finetune_config"]["lr"] == 1e-4 and bundle["finetune_config"]["seed"] == 1
    assert bundle["train_config"]["split"] == "family:llm-gpt2"
    assert bundle["data"]["rows"]["train"] == 30
    result = runner.invoke(app, [
        "evaluate-model", "--model", str(out), "--data", str(llm_dataset_dir), "--no-baselines",
        "--max-rows", "10", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (card,) = json.loads(result.stdout)
    assert card["name"] == "airchitect" and card["rows"] == 10


def test_a_fine_tune_refits_its_bases_ranker_on_its_own_rows(
    base_run: Path, dataset_dir: Path, llm_dataset_dir: Path, tmp_path: Path
) -> None:
    from airchitect.models.ranker import RankerConfig, train_ranker

    base = tmp_path / "base"
    base.mkdir()
    (base / "model.pt").write_bytes(base_run.read_bytes())
    ranker = RankerConfig(rows=100, val_rows=40, candidates=4, epochs=2, hidden=8,
                          keep_if_better=False)  # fmt: skip
    train_ranker(base, dataset_dir, ranker)
    config = FinetuneConfig(batch_size=32, max_epochs=1, max_rows=50, **SPLIT)
    summary = finetune(base, llm_dataset_dir, tmp_path / "tuned", config)
    _, bundle = load_bundle(summary["bundle"])
    assert summary["ranker"] is not None and summary["ranker"]["kept"]
    assert bundle["ranker_fit"]["train_rows"] == 50  # the capped rows the fine-tune trained on
    assert bundle["ranker"]["config"]["candidates"] == 4
    assert Predictor(summary["bundle"]).ranker is not None
