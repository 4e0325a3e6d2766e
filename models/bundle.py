"""The self-describing model bundle (``model.pt``): writing it atomically and loading it.

Kept free of Lightning so that serving can load a model with torch alone. Contents::

    {"format": "airchitect-recommender", "version": 1,
     "model_config": RecommenderConfig.to_dict(), "train_config": TrainConfig.to_dict(),
     "feature_stats": FeatureStats.to_dict(), "cost_stats": fit_cost_stats(...),
     "space": the dataset's space dict, "space_hash": str, "schema_version": int,
     "state_dict": Recommender weights, "metrics": final validation metrics,
     "data": {"dir", "split", "rows": {split: count}}}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from airchitect.models.bundle_files import BUNDLE_NAME, bundle_file, write_json
from airchitect.models.network import Recommender, RecommenderConfig

__all__ = ["BUNDLE_NAME", "bundle_file", "load_bundle", "save_bundle", "write_json"]

BUNDLE_FORMAT = "airchitect-recommender"
BUNDLE_VERSION = 1


def save_bundle(bundle: dict[str, Any], path: str | Path) -> Path:
    """Write atomically: a crash leaves the old bundle or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(bundle, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_bundle(path: str | Path) -> tuple[Recommender, dict[str, Any]]:
    """The model (eval mode, CPU) and the bundle dict, rebuilt from the bundle file alone."""
    # weights_only: a bundle is tensors and plain data, and loading it runs no pickled code
    bundle = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{path}: not an {BUNDLE_FORMAT} bundle")
    if bundle.get("version") != BUNDLE_VERSION:
        raise ValueError(
            f"{path}: bundle version {bundle.get('version')!r}, this code reads {BUNDLE_VERSION}"
        )
    model = Recommender(RecommenderConfig.from_dict(bundle["model_config"]))
    model.load_state_dict(bundle["state_dict"])
    model.eval()
    return model, bundle
