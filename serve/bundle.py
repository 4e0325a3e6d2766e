"""The serving bundle: a directory the predictor loads with onnxruntime and faiss, no torch.

Layout::

    model.onnx          encoder + decoder; inputs ids int64 (B, T), values float32 (B, T);
                        outputs cls_embedding (B, D), cost_z (B,), knob_<name> (B, K-1 or K)
    meta.json           format, version, model_config, feature_stats, cost_stats, space,
                        space_hash, schema_version, train_config, metrics, data, export
    neighbours.faiss    inner-product index over L2-normalised training embeddings
    neighbours.parquet  one row per indexed embedding: the workload and its best design
    ranker.npz          optional: the learned candidate ranker's weights
    (airchitect.models.ranker), named
                        in meta.json's "ranker" entry with its config and validation figures
    model.pt            the torch bundle of the same weights (airchitect.models.bundle), for
    fine-tuning
                        and evaluate-model; serving itself never reads it (no torch needed)

A bundle is written under a temporary name and renamed into place, so a reader sees the old
bundle or the new one, never a mix.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVING_FORMAT = "airchitect-serving"
SERVING_VERSION = 1
ONNX_NAME = "model.onnx"
META_NAME = "meta.json"
INDEX_NAME = "neighbours.faiss"
NEIGHBOURS_NAME = "neighbours.parquet"
RANKER_NAME = "ranker.npz"
BUNDLE_FILES = (ONNX_NAME, META_NAME, INDEX_NAME, NEIGHBOURS_NAME)
#: The bundle shipped inside the package; ``make model`` rebuilds it.
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "bundles" / "default"


class BundleError(ValueError):
    """A serving bundle is missing, incomplete or written by another version."""


def read_meta(bundle_dir: str | Path) -> dict[str, Any]:
    """The bundle's ``meta.json``, after checking every file is there and the version fits."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: no serving bundle here (run `airchitect export`)")
    missing = [name for name in BUNDLE_FILES if not (bundle_dir / name).is_file()]
    if missing:
        raise BundleError(f"{bundle_dir}: serving bundle is missing {missing}")
    meta = json.loads((bundle_dir / META_NAME).read_text())
    if meta.get("format") != SERVING_FORMAT:
        raise BundleError(f"{bundle_dir}: not an {SERVING_FORMAT} bundle")
    if meta.get("version") != SERVING_VERSION:
        raise BundleError(f"{bundle_dir}: bundle version {meta.get('version')!r}, "
                          f"this code reads {SERVING_VERSION}")  # fmt: skip
    if "ranker" in meta and not (bundle_dir / RANKER_NAME).is_file():
        raise BundleError(f"{bundle_dir}: meta.json names a ranker but {RANKER_NAME} is missing")
    return meta


def write_bundle_dir(out_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create ``out_dir`` atomically: ``fill`` writes the files into a temporary sibling, which
    then replaces ``out_dir`` (an existing bundle there is swapped out, then removed)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        fill(tmp)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir
