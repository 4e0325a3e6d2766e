"""The serving predictor: an onnxruntime session, the decoder's ranked designs and faiss
neighbours. Loads a serving bundle (:mod:`airchitect.serve.bundle`); needs no torch at run time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import onnxruntime as ort
import pandas as pd

from airchitect.models.predict_base import PredictorBase
from airchitect.models.ranker import Ranker
from airchitect.serve.bundle import (
    DEFAULT_BUNDLE,
    INDEX_NAME,
    NEIGHBOURS_NAME,
    ONNX_NAME,
    RANKER_NAME,
    read_meta,
)


def onnx_session(path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads and one inter-op thread: on shared cores
    parallelism comes from processes, not from threads fighting inside one query."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Neighbour:
    """A training workload near the query in embedding space, with its labelled design."""

    similarity: float  # cosine similarity of the embeddings, in [-1, 1]
    hw_index: int
    workload: dict[str, Any]  # family, model, layer_name, op, objective, budgets, score


class OnnxPredictor(PredictorBase):
    """:class:`airchitect.models.predict_base.PredictorBase` over an onnxruntime session, plus
    neighbours."""

    def __init__(self, bundle_dir: str | Path = DEFAULT_BUNDLE, threads: int = 1,
                 batch_size: int = 4096) -> None:  # fmt: skip
        bundle_dir = Path(bundle_dir)
        self.meta = read_meta(bundle_dir)
        super().__init__(self.meta, bundle_dir, batch_size)
        self.bundle_dir = bundle_dir
        self.session = onnx_session(bundle_dir / ONNX_NAME, threads)
        if "ranker" in self.meta:
            self.ranker = Ranker.load_npz(bundle_dir / RANKER_NAME, self.meta["ranker"])
        faiss.omp_set_num_threads(1)
        self.index = faiss.read_index(str(bundle_dir / INDEX_NAME))
        self.neighbour_rows = pd.read_parquet(bundle_dir / NEIGHBOURS_NAME)
        self._hw_index = self.neighbour_rows["hw_index"].to_numpy(dtype=np.int64)
        # plain dicts once at load: a pandas row lookup per neighbour cost more than the search
        workloads = self.neighbour_rows.drop(columns="hw_index").to_dict("records")
        self._workloads = [{k: _plain(v) for k, v in w.items()} for w in workloads]

    def _run(self, ids: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {"ids": ids, "values": values})

    def neighbours(self, embedding: np.ndarray, k: int) -> list[list[Neighbour]]:
        """The ``k`` nearest training rows per query embedding `(B, D)`, nearest first."""
        if k < 1 or len(embedding) == 0:
            return [[] for _ in range(len(embedding))]
        x = np.ascontiguousarray(embedding, dtype=np.float32).copy()
        faiss.normalize_L2(x)
        similarity, rows = self.index.search(x, min(k, self.index.ntotal))
        return [
            [self._neighbour(int(r), float(s)) for r, s in zip(rr, ss, strict=True) if r >= 0]
            for rr, ss in zip(rows, similarity, strict=True)
        ]

    def _neighbour(self, row: int, similarity: float) -> Neighbour:
        return Neighbour(similarity, int(self._hw_index[row]), dict(self._workloads[row]))


def _plain(value: Any) -> Any:
    """JSON-friendly scalars: numpy types to Python, NaN (an absent budget) to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
