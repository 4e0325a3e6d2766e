"""Export a trained run to a serving bundle (see :mod:`airchitect.serve.bundle` for the layout).

The network goes to ONNX through the dynamo exporter with a dynamic batch axis; the export is
checked against torch on real rows before anything is written (max |difference| <= 1e-4).
The run's ``model.pt`` travels in the bundle too, so a served model can be fine-tuned or
re-evaluated in torch on a machine that never trained it. The faiss index holds the
L2-normalised embeddings of (a seeded sample of) the training rows, each with its best design,
so a query can be answered with the designs of the workloads it is nearest to.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pandas as pd
import torch

from airchitect.models.bundle import BUNDLE_NAME, bundle_file, load_bundle, save_bundle
from airchitect.models.features import FeatureStats, encode_features
from airchitect.models.network import FlatRecommender, Recommender
from airchitect.models.ranker import Ranker
from airchitect.serve.bundle import (
    INDEX_NAME,
    META_NAME,
    NEIGHBOURS_NAME,
    ONNX_NAME,
    RANKER_NAME,
    SERVING_FORMAT,
    SERVING_VERSION,
    write_bundle_dir,
)

# torch's ONNX exporter warns, at every export, that torchvision (which no model here uses) is
# not installed; those lines are not about the user's export
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

PARITY_ATOL = 1e-4
#: The run bundle's (model.pt's) entries that meta.json repeats: serving needs them without torch.
META_FROM_RUN = ("model_config", "feature_stats", "cost_stats", "space", "space_hash",
                 "schema_version", "train_config", "metrics", "data", "finetuned_from")  # fmt: skip
#: 23 is the first opset with a fused Attention op (onnxruntime >= 1.23 runs it on CPU): one
#: node per attention block instead of about twenty reshapes, transposes and matmuls.
OPSET = 23
DEFAULT_MAX_NEIGHBOURS = 10_000
#: Columns kept per neighbour: enough to say which workload it was and what it was given.
NEIGHBOUR_COLUMNS = ("family", "model", "layer_name", "op", "objective", "area_budget_mm2",
                     "power_budget_mw", "hw_index", "score")  # fmt: skip


class ExportError(RuntimeError):
    """The exported graph disagrees with torch, or the run cannot be exported."""


def output_names(model: Recommender) -> list[str]:
    names = model.config.knob_names or tuple(f"knob{j}" for j in range(len(model.knob_heads)))
    return ["cls_embedding", "cost_z", *(f"knob_{n}" for n in names)]


def export_onnx(model: Recommender, path: Path, example: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Write ``model`` as ONNX with a dynamic batch axis on every input and output."""
    torch.set_num_threads(1)
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(
        FlatRecommender(model).eval(), example, str(path), input_names=["ids", "values"],
        output_names=output_names(model), dynamic_shapes=({0: batch}, {0: batch}),
        dynamo=True, opset_version=OPSET, external_data=False, verbose=False,
    )  # fmt: skip


def parity(model: Recommender, onnx_path: Path, ids: np.ndarray, values: np.ndarray) -> float:
    """Max |onnxruntime - torch| over every output on these rows."""
    from airchitect.serve.predictor import onnx_session

    session = onnx_session(onnx_path)
    got = session.run(None, {"ids": ids, "values": values})
    with torch.no_grad():
        want = model.forward_flat(torch.from_numpy(ids), torch.from_numpy(values))
    pairs = zip(got, want, strict=True)
    return max(float(np.abs(g - w.numpy()).max(initial=0.0)) for g, w in pairs)


def training_rows(bundle: dict[str, Any], data_dir: Path, max_rows: int, seed: int) -> pd.DataFrame:
    """The run's own training split of ``data_dir`` (never its test rows), sampled. A fine-tune
    that was capped at ``max_rows`` indexes only the rows it trained on."""
    from airchitect.models.finetune import run_splits

    return run_splits(bundle, data_dir, max_rows, seed)["train"]  # foreign data: ValueError


def embed(onnx_path: Path, stats: FeatureStats, frame: pd.DataFrame) -> np.ndarray:
    """L2-normalised embeddings `float32 (rows, D)` via onnxruntime (what serving will see)."""
    from airchitect.serve.predictor import onnx_session

    session = onnx_session(onnx_path)
    ids, values = encode_features(frame, stats)
    step = 4096
    parts = [session.run(["cls_embedding"], {"ids": ids[s : s + step],
                                             "values": values[s : s + step]})[0]
             for s in range(0, len(frame), step)]  # fmt: skip
    x = np.concatenate(parts).astype(np.float32)
    faiss.normalize_L2(x)
    return x


def neighbour_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product search over fp16-stored vectors: half the size of float32 (the
    bundle ships in the package) for similarities that differ by under 1e-3."""
    index = faiss.IndexScalarQuantizer(
        vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    index.add(vectors)
    return index


def _meta(bundle: dict[str, Any], run: Path, max_abs: float, n_neighbours: int) -> dict[str, Any]:
    meta = {"format": SERVING_FORMAT, "version": SERVING_VERSION}
    meta |= {k: bundle[k] for k in META_FROM_RUN if k in bundle}
    meta["export"] = {"from": str(run), "opset": OPSET, "torch": torch.__version__,
                      "parity_max_abs": max_abs, "neighbours": n_neighbours}  # fmt: skip
    return meta


def export_bundle(
    run: str | Path, data_dir: str | Path, out_dir: str | Path,
    max_neighbours: int = DEFAULT_MAX_NEIGHBOURS, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Write the serving bundle of a trained run into ``out_dir``; returns its meta."""
    model_path = bundle_file(run)
    model, bundle = load_bundle(model_path)
    stats = FeatureStats.from_dict(bundle["feature_stats"])
    train = training_rows(bundle, Path(data_dir), max_neighbours, seed)
    ids, values = encode_features(train.head(256), stats)
    meta: dict[str, Any] = {}

    def fill(tmp: Path) -> None:
        onnx_path = tmp / ONNX_NAME
        export_onnx(model, onnx_path, (torch.from_numpy(ids[:2]), torch.from_numpy(values[:2])))
        max_abs = parity(model, onnx_path, ids, values)
        if not max_abs <= PARITY_ATOL:
            raise ExportError(f"ONNX export differs from torch by {max_abs:.2e} > {PARITY_ATOL}")
        vectors = embed(onnx_path, stats, train)
        index = neighbour_index(vectors)
        faiss.write_index(index, str(tmp / INDEX_NAME))
        train.loc[:, list(NEIGHBOUR_COLUMNS)].to_parquet(tmp / NEIGHBOURS_NAME, index=False)
        meta.update(_meta(bundle, model_path, max_abs, len(train)))
        if "ranker" in bundle:  # numpy weights beside meta.json: serving has no torch
            ranker = Ranker.from_state(bundle["ranker"])
            ranker.save_npz(tmp / RANKER_NAME)
            meta["ranker"] = {"config": ranker.config.to_dict(), "validation": ranker.validation}
        save_bundle(bundle, tmp / BUNDLE_NAME)  # torch weights: fine-tuning starts from them
        (tmp / META_NAME).write_text(json.dumps(meta, indent=1))

    write_bundle_dir(out_dir, fill)
    return meta
