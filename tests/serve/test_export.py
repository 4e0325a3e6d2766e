"""Export: the ONNX graph matches torch, answers do not depend on the batch, bundles are whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from airchitect.models.features import encode_features
from airchitect.models.predict import Predictor
from airchitect.serve.bundle import BUNDLE_FILES, META_NAME, RANKER_NAME, BundleError, read_meta
from airchitect.serve.predictor import OnnxPredictor


@pytest.fixture(scope="module")
def frame(serve_dataset: Path):
    from airchitect.data_gen.dataset import read_dataset

    rows = read_dataset(serve_dataset)
    return rows[rows["found"]].reset_index(drop=True)


def test_bundle_holds_every_file_and_describes_itself(bundle_dir: Path) -> None:
    assert all((bundle_dir / name).is_file() for name in BUNDLE_FILES)
    meta = read_meta(bundle_dir)
    assert meta["export"]["parity_max_abs"] <= 1e-4
    assert meta["space_hash"] and meta["feature_stats"]["tokens"]
    assert meta["export"]["neighbours"] > 0
    assert not list(bundle_dir.parent.glob(".*tmp*"))  # the temporary directory is gone


def test_every_attention_block_exports_as_one_fused_node(bundle_dir: Path, serve_run: Path) -> None:
    import onnx

    from airchitect.models.bundle import load_bundle
    from airchitect.serve.bundle import ONNX_NAME

    config = load_bundle(serve_run / "model.pt")[1]["model_config"]
    # encoder self-attention, decoder self- and cross-attention
    blocks = config["encoder_layers"] + 2 * config["decoder_layers"]
    ops = [n.op_type for n in onnx.load(bundle_dir / ONNX_NAME).graph.node]
    assert ops.count("Attention") == blocks
    assert "Softmax" not in ops  # no attention left decomposed into matmuls and a softmax


def test_onnx_matches_torch_within_1e4(bundle_dir: Path, serve_run: Path, frame) -> None:
    torch_out = Predictor(serve_run / "model.pt").outputs(frame)
    onnx_out = OnnxPredictor(bundle_dir).outputs(frame)
    assert np.abs(torch_out["embedding"] - onnx_out["embedding"]).max() <= 1e-4
    assert np.abs(torch_out["log_cost"] - onnx_out["log_cost"]).max() <= 1e-4
    for a, b in zip(torch_out["knob_logits"], onnx_out["knob_logits"], strict=True):
        assert np.abs(a - b).max() <= 1e-4


def test_a_row_gets_the_same_answer_alone_or_in_a_batch_of_1000(bundle_dir: Path, frame) -> None:
    predictor = OnnxPredictor(bundle_dir)
    big = frame.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    ids, values = encode_features(big, predictor.feature_stats)
    batched = predictor.session.run(None, {"ids": ids, "values": values})
    for i in (0, 17, 999):
        alone = predictor.session.run(None, {"ids": ids[i : i + 1], "values": values[i : i + 1]})
        for a, b in zip(alone, batched, strict=True):
            assert np.array_equal(a[0], b[i])
    first = predictor.predict(big.iloc[[17]], top_k=5)
    assert [c.hw_index for c in first[0]] == [c.hw_index for c in predictor.predict(big)[17]]


def test_the_ranker_travels_in_the_bundle_and_ranks_as_in_torch(
    bundle_dir: Path, serve_run: Path, frame
) -> None:
    meta = read_meta(bundle_dir)
    assert (bundle_dir / RANKER_NAME).is_file() and meta["ranker"]["config"]["candidates"] == 6
    onnx_predictor, torch_predictor = OnnxPredictor(bundle_dir), Predictor(serve_run)
    assert onnx_predictor.ranker is not None
    rows = frame.head(60)
    served = [[c.hw_index for c in r] for r in onnx_predictor.predict(rows, top_k=6)]
    trained = [[c.hw_index for c in r] for r in torch_predictor.predict(rows, top_k=6)]
    assert served == trained
    unranked = [[c.hw_index for c in r] for r in onnx_predictor.predict(rows, 6, rerank=False)]
    assert served != unranked  # the ranker changed some answers' order


def test_a_bundle_that_names_a_missing_ranker_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    for name in BUNDLE_FILES:
        (tmp_path / name).write_bytes((bundle_dir / name).read_bytes())
    with pytest.raises(BundleError, match=RANKER_NAME):
        read_meta(tmp_path)


def test_neighbours_come_nearest_first_with_their_designs(bundle_dir: Path, frame) -> None:
    predictor = OnnxPredictor(bundle_dir)
    out = predictor.outputs(frame.head(3))
    found = predictor.neighbours(out["embedding"], 5)
    assert len(found) == 3
    for row in found:
        sims = [n.similarity for n in row]
        assert len(row) == 5 and sims == sorted(sims, reverse=True)
        assert all(0 <= n.hw_index < predictor.space.size for n in row)
        assert {"model", "layer_name", "objective"} <= set(row[0].workload)


def test_an_incomplete_or_foreign_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no serving bundle"):
        read_meta(tmp_path / "absent")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / META_NAME).write_text("{}")
    with pytest.raises(BundleError, match="missing"):
        read_meta(broken)
    other = tmp_path / "other"
    other.mkdir()
    for name in BUNDLE_FILES:
        (other / name).write_bytes((bundle_dir / name).read_bytes())
    meta = json.loads((other / META_NAME).read_text())
    (other / META_NAME).write_text(json.dumps(meta | {"version": 99}))
    with pytest.raises(BundleError, match="version 99"):
        read_meta(other)


def test_the_bundle_carries_the_runs_torch_weights(bundle_dir: Path, serve_run: Path) -> None:
    import torch

    from airchitect.models.bundle import BUNDLE_NAME, bundle_file, load_bundle

    assert bundle_file(bundle_dir) == bundle_dir / BUNDLE_NAME  # finetune --from BUNDLE finds it
    shipped, run = load_bundle(bundle_dir / BUNDLE_NAME)[0], load_bundle(serve_run / "model.pt")[0]
    want = run.state_dict()
    for name, value in shipped.state_dict().items():
        assert torch.equal(value, want[name]), name


def test_weights_recovered_from_the_onnx_graph_are_the_trained_ones(
    bundle_dir: Path, serve_run: Path
) -> None:
    import torch

    from airchitect.models.bundle import load_bundle
    from airchitect.serve.recover import check_parity, recover_model

    recovered, initialised = recover_model(bundle_dir)
    trained = load_bundle(serve_run / "model.pt")[0].state_dict()
    # only the contrastive projection is absent from the serving graph
    assert initialised and all(name.startswith("projection.") for name in initialised)
    for name, value in recovered.state_dict().items():
        if name not in initialised:
            assert torch.equal(value, trained[name]), name
    assert check_parity(recovered, bundle_dir) <= 1e-4


def test_a_serving_bundle_can_be_fine_tuned_where_it_was_never_trained(
    bundle_dir: Path, serve_dataset: Path, tmp_path: Path
) -> None:
    from airchitect.models.bundle import load_bundle
    from airchitect.models.finetune import FinetuneConfig, finetune

    out = finetune(bundle_dir, serve_dataset, tmp_path / "ft", FinetuneConfig(max_epochs=1))
    assert out["finetuned_from"]["path"] == str((bundle_dir / "model.pt").resolve())
    assert load_bundle(out["bundle"])[1]["feature_stats"] == read_meta(bundle_dir)["feature_stats"]
