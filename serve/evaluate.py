"""Score what serving answers: a bundle's recommendation for each held-out row.

:func:`airchitect.models.evaluate.evaluate_run` judges the network's ranked designs. A user of
``airchitect
recommend`` or the HTTP API gets something else: the decoder's top designs within the budget
and the designs of the nearest training workloads, re-ranked by the cost model (see
:mod:`airchitect.serve.recommend`). :func:`served_designs` asks the service, row by row, exactly as
a user
would (the row's layer, budget and objective, default
:class:`~airchitect.serve.recommend.Settings`), so
its regret is the regret of the product's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from airchitect.cost.mapper import Objective
from airchitect.models.evaluate import row_budget, row_layer
from airchitect.serve.predictor import OnnxPredictor
from airchitect.serve.recommend import NoFeasibleDesign, RecommendService, Settings


def served_designs(
    bundle_dir: str | Path, frame: pd.DataFrame, settings: Settings | None = None,
    progress: bool = False,
) -> np.ndarray:  # fmt: skip
    """The served answer per row `int64 (rows, 1)`: flat hw index, -1 where the service found
    no design (which counts as invalid, never as regret)."""
    from rich.console import Console
    from rich.progress import track

    service = RecommendService(OnnxPredictor(bundle_dir))
    out = np.full((len(frame), 1), -1, dtype=np.int64)
    rows = track(enumerate(frame.itertuples(index=False)), total=len(frame),
                 description="asking the service", console=Console(stderr=True),
                 disable=not progress)  # fmt: skip
    for i, row in rows:
        try:
            answer = service.recommend(row_layer(row), row_budget(row),
                                       Objective.parse(row.objective), settings)  # fmt: skip
        except NoFeasibleDesign:
            continue
        out[i, 0] = answer.hw_index
    return out


def served_method(bundle_dir: str | Path) -> Callable[[pd.DataFrame], np.ndarray]:
    """``served_designs`` of one bundle, as an ``evaluate_run`` extra method."""
    bundle = Path(bundle_dir)
    OnnxPredictor(bundle)  # a bad bundle fails here, before any scoring starts
    return lambda frame: served_designs(bundle, frame, progress=True)
