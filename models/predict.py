"""Recommendations from a trained bundle with torch (training, evaluation); serving runs the
same decoding over ONNX (:mod:`airchitect.models.predict_base`). Needs torch only (no Lightning).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from airchitect.models.bundle import bundle_file, load_bundle
from airchitect.models.decode import Candidate
from airchitect.models.predict_base import Prediction, PredictorBase
from airchitect.models.ranker import Ranker

__all__ = ["Candidate", "Prediction", "Predictor", "PredictorBase"]


class Predictor(PredictorBase):
    """Runs a ``model.pt`` bundle (or a run directory holding one) with torch (training,
    evaluation; serving uses ONNX)."""

    def __init__(self, bundle_path: str | Path, batch_size: int = 4096) -> None:
        self.model, self.bundle = load_bundle(bundle_file(bundle_path))
        super().__init__(self.bundle, bundle_path, batch_size)
        if "ranker" in self.bundle:
            self.ranker = Ranker.from_state(self.bundle["ranker"])

    @torch.no_grad()
    def _run(self, ids: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
        out = self.model.forward_flat(torch.from_numpy(ids), torch.from_numpy(values))
        return [x.float().numpy() for x in out]
