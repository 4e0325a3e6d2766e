"""Judge a recommender on held-out rows: accuracy, and the figure that matters, regret.

Regret of a row = cost of the recommended design (with its best mapping, for the row's
objective, under the row's budget) / cost of the label. A recommendation over budget, or one
on which no mapping fits, is invalid: it is counted in the valid share, never in the regret.
``top-5`` regret takes the best valid of the first five candidates, re-ranked by the cost
model, which is how serving answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from airchitect.cost.mapper import Objective, best_mappings
from airchitect.models.decode import BudgetGrid
from airchitect.space.budget import Budget, check_budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer

TOP_K = 5
RANKED = 64  # designs a baseline ranks before the budget filter keeps its first TOP_K


def within_budget(
    candidates: np.ndarray, frame: pd.DataFrame, grid: BudgetGrid, k: int = TOP_K
) -> np.ndarray:
    """The first ``k`` candidates of each row that fit its budget, in their order (-1 pads).
    Budgets are known before any search, so every method may use them."""
    candidates = np.asarray(candidates, dtype=np.int64)
    area = frame["area_budget_mm2"].to_numpy(dtype=np.float64)
    power = frame["power_budget_mw"].to_numpy(dtype=np.float64)
    fits = (candidates >= 0) & grid.fits(np.maximum(candidates, 0), area, power)
    out = np.full((len(candidates), k), -1, dtype=np.int64)
    for i in range(len(candidates)):
        kept = candidates[i, fits[i]][:k]
        out[i, : len(kept)] = kept
    return out


def row_layer(row) -> Layer:
    return Layer(str(row.layer_name), n=int(row.n), k=int(row.k), c=int(row.c), p=int(row.p),
                 q=int(row.q), r=int(row.r), s=int(row.s), stride=int(row.stride),
                 dilation=int(row.dilation), groups=int(row.groups),
                 precision_bytes=int(row.precision_bytes), op=str(row.op))  # fmt: skip


def row_budget(row) -> Budget:
    area, power = row.area_budget_mm2, row.power_budget_mw
    return Budget(None if pd.isna(area) else float(area), None if pd.isna(power) else float(power))


def design_scores(
    frame: pd.DataFrame, space: DesignSpace, hw_index: np.ndarray, progress: bool = False
) -> np.ndarray:
    """Objective of each candidate design per row, ``inf`` where invalid; `(rows, k)`.

    A design named twice in a row (by several methods scored together) is mapped once.
    ``progress`` shows a bar (rows mapped, rate, ETA) on stderr."""
    from rich.console import Console
    from rich.progress import track

    hw_index = np.asarray(hw_index, dtype=np.int64).reshape(len(frame), -1)
    out = np.full(hw_index.shape, np.inf)
    rows = track(enumerate(frame.itertuples(index=False)), total=len(frame),
                 description="mapping candidates", console=Console(stderr=True),
                 disable=not progress)  # fmt: skip
    for i, row in rows:
        designs, where = np.unique(hw_index[i], return_inverse=True)
        designs = designs[designs >= 0]
        if not len(designs):
            continue
        hw = space.decode_batch(space.unflat_index(designs))
        fits, _ = check_budget(hw, row_budget(row))
        found = best_mappings(row_layer(row), hw, Objective.parse(row.objective),
                              options=space.mapping_options)  # fmt: skip
        score = np.where(fits & found.found, found.score, np.inf)
        offset = int((hw_index[i] < 0).any())  # np.unique puts the -1 pad first
        out[i] = np.where(hw_index[i] >= 0, score[np.maximum(where - offset, 0)], np.inf)
    return out


@dataclass(frozen=True)
class Scorecard:
    name: str
    rows: int
    exact_accuracy: float  # top-1 design equals the label
    knob_accuracy: dict[str, float]
    valid_share: float  # top-1 within budget with a mapping that fits
    regret_geomean: float  # top-1, over valid answers
    regret_p90: float
    top5_valid_share: float
    top5_regret_geomean: float
    top5_regret_p90: float
    # per row (id, top-1 regret), for paired comparisons of methods on the same rows; not in
    # to_dict
    row_ids: np.ndarray | None = field(default=None, repr=False, compare=False)
    row_regret: np.ndarray | None = field(default=None, repr=False, compare=False)  # inf: invalid

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("row_")}


def _stats(ratios: np.ndarray) -> tuple[float, float, float]:
    valid = np.isfinite(ratios)
    if not valid.any():
        return 0.0, float("inf"), float("inf")
    r = np.maximum(ratios[valid], 1e-12)
    return float(valid.mean()), float(np.exp(np.log(r).mean())), float(np.percentile(r, 90))


def scorecard(
    name: str, frame: pd.DataFrame, space: DesignSpace, candidates: np.ndarray,
    scores: np.ndarray | None = None,
) -> Scorecard:  # fmt: skip
    """Metrics of ``candidates`` `(rows, k)` flat hw indices (best first; -1 = none);
    ``scores`` are their :func:`design_scores` when already known."""
    candidates = np.asarray(candidates, dtype=np.int64)[:, :TOP_K]
    label = frame["hw_index"].to_numpy(dtype=np.int64)
    label_score = frame["score"].to_numpy(dtype=np.float64)
    scores = design_scores(frame, space, candidates) if scores is None else scores
    top1 = _stats(scores[:, 0] / label_score)
    top5 = _stats(scores.min(axis=1) / label_score)
    truth = space.unflat_index(label)
    guess = space.unflat_index(np.maximum(candidates[:, 0], 0))
    knobs = {k.name: float((truth[:, i] == guess[:, i]).mean()) for i, k in enumerate(space.knobs)}
    ids = frame["row_id"].to_numpy() if "row_id" in frame else np.arange(len(frame))
    return Scorecard(name, len(frame), float((candidates[:, 0] == label).mean()), knobs,
                     *top1, *top5, row_ids=ids, row_regret=scores[:, 0] / label_score)  # fmt: skip


def recommender_candidates(
    bundle_path, frame: pd.DataFrame, k: int = TOP_K, rerank: bool = True
) -> np.ndarray:
    """The model's top-``k`` designs per row `(rows, k)`; ``rerank=False``: in the decoder's
    own order, without the model's ranker."""
    from airchitect.models.predict import Predictor

    prediction = Predictor(bundle_path).predict(frame, top_k=k, rerank=rerank)
    return np.array([[c.hw_index for c in row] + [-1] * (k - len(row)) for row in prediction],
                    dtype=np.int64)  # fmt: skip


def evaluate_run(
    bundle_path,
    data_dir,
    split: str | None = None,
    baselines: bool = True,
    max_rows: int = 5000,
    extra_models: dict[str, str] | None = None,
    progress: bool = False,
    extra_methods: dict[str, Callable[[pd.DataFrame], np.ndarray]] | None = None,
) -> list[Scorecard]:
    """Scorecards of the model (and the baselines) on the held-out rows of its own split.

    The split defaults to the one the model was trained with, so its test rows were never
    seen; ``max_rows`` caps the rows scored (a seeded sample) to bound the mapper time.
    ``extra_models`` (name -> run), e.g. ablations trained on the same split, are scored on
    the same rows, and so are ``extra_methods`` (name -> a function from the test rows to their
    ranked designs `(rows, k)`, e.g. a serving bundle's answers)."""
    import torch as _torch

    from airchitect.models.baselines import majority, mlp_classifier, nearest_neighbours
    from airchitect.models.data import RecommenderDataModule
    from airchitect.models.features import FeatureStats

    bundle = _torch.load(bundle_path, map_location="cpu", weights_only=True)
    train_cfg = bundle["train_config"]
    dm = RecommenderDataModule(data_dir, split=split or train_cfg["split"],
                               val_fraction=train_cfg["val_fraction"],
                               test_fraction=train_cfg["test_fraction"],
                               seed=train_cfg["seed"])  # fmt: skip
    frames = dm.split_frames()  # rows as read: scoring needs no encoded tensors
    space = DesignSpace.from_dict(bundle["space"])
    train, test = frames["train"], frames["test"]
    if len(test) > max_rows:
        test = test.sample(max_rows, random_state=0).reset_index(drop=True)
    methods = {"airchitect": recommender_candidates(bundle_path, test)}
    if "ranker" in bundle:  # the ranker's own ablation: the same model in the decoder's order
        methods["airchitect, decoder order"] = recommender_candidates(
            bundle_path, test, rerank=False
        )
    if baselines:  # long ranked lists, then the budget: the model decodes within it too
        stats = FeatureStats.from_dict(bundle["feature_stats"])
        grid = BudgetGrid.of(space)
        methods["majority design"] = within_budget(majority(train, test, RANKED), test, grid)
        methods["nearest neighbours"] = within_budget(
            nearest_neighbours(train, test, stats, RANKED, neighbours=RANKED), test, grid
        )
        methods["MLP classifier"] = within_budget(
            mlp_classifier(train, test, stats, RANKED), test, grid
        )
    for name, path in (extra_models or {}).items():
        methods[name] = recommender_candidates(path, test)
    for name, method in (extra_methods or {}).items():
        methods[name] = method(test)
    return scorecards(methods, test, space, progress)


def scorecards(
    methods: dict[str, np.ndarray], frame: pd.DataFrame, space: DesignSpace,
    progress: bool = False,
) -> list[Scorecard]:  # fmt: skip
    """One scorecard per method, mapping each (row, design) once however many name it."""
    blocks = [np.asarray(c, dtype=np.int64)[:, :TOP_K] for c in methods.values()]
    scores = np.split(design_scores(frame, space, np.concatenate(blocks, axis=1), progress),
                      np.cumsum([b.shape[1] for b in blocks])[:-1], axis=1)  # fmt: skip
    return [scorecard(name, frame, space, c, s)
            for name, c, s in zip(methods, blocks, scores, strict=True)]  # fmt: skip
