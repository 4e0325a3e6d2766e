"""A learned ranker over the decoder's candidates: which of its top designs to answer first.

The decoder scores every knob on its own, so its joint ranking cannot express "a larger array
with a smaller L2" as one choice, and its top-1 often misses a design that costs a few percent
less. The ranker is a small MLP that reads, for each of the decoder's first
``candidates`` designs (spread, within the row's budget): the workload embedding, the design
(one-hot knobs), each knob's log-probability, the joint log-probability and the decoder's
rank, and predicts the design's log regret (its cost over the optimum's, with its best
mapping). Candidates are answered in that order.

It is trained on cost-model scores, not labels: :func:`train_ranker` maps each candidate of a
seeded sample of training rows, fits the MLP, and keeps it only when it beats the decoder's
own order on the validation rows. A small bonus on non-label designs makes the label win
near-ties, which keeps exact-design accuracy. Inference is plain numpy, so the onnxruntime
predictor applies it without torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from airchitect.models.bundle_files import write_json

__all__ = ["RankTable", "Ranker", "RankerConfig", "candidate_features",
           "fit_ranker", "rank_table", "train_ranker"]  # fmt: skip

MISSING_FEATURE = -30.0  # a -inf log-probability (a given knob's other values) as a number
_GELU_C = math.sqrt(2.0 / math.pi)


@dataclass
class RankerConfig:
    """How a ranker is fitted. ``label_bonus`` is added to the target log regret of every
    design but the label, so near-ties go to the label (chosen on validation rows; see
    BENCHMARKS.md). ``regret_cap`` bounds the target of invalid or very poor designs."""

    rows: int = 10_000  # training rows whose candidates the cost model scores
    val_rows: int = 2_000  # validation rows that decide whether the ranker is kept
    candidates: int = 16
    hidden: int = 128
    epochs: int = 25
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    regret_cap: float = 4.0
    label_bonus: float = 0.15
    seed: int = 0
    # False keeps the ranker whatever the validation rows say (too few of them to judge by)
    keep_if_better: bool = True

    def __post_init__(self) -> None:
        checks = {  # field: (valid, rule)
            "rows": (self.rows >= 1, ">= 1"), "val_rows": (self.val_rows >= 1, ">= 1"),
            "candidates": (self.candidates >= 2, ">= 2"), "hidden": (self.hidden >= 1, ">= 1"),
            "epochs": (self.epochs >= 1, ">= 1"), "lr": (self.lr > 0, "> 0"),
            "weight_decay": (self.weight_decay >= 0, ">= 0"),
            "batch_size": (self.batch_size >= 1, ">= 1"),
            "regret_cap": (self.regret_cap > 1, "> 1"),
            "label_bonus": (self.label_bonus >= 0, ">= 0"), "seed": (self.seed >= 0, ">= 0"),
        }  # fmt: skip
        for name, (ok, rule) in checks.items():
            if not ok:
                value = getattr(self, name)
                raise ValueError(f"ranker field {name!r} must be {rule}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RankerConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown ranker field(s) {sorted(unknown)}; "
                             f"allowed: {[f.name for f in fields(cls)]}")  # fmt: skip
        return cls(**data)


def candidate_features(
    embedding: np.ndarray, log_probs: Sequence[np.ndarray], flat: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """Ranker inputs `float32 (B, N, F)` of the candidates ``flat`` `(B, N)` (-1: none) with
    joint log-probabilities ``scores``: embedding, one-hot knobs, per-knob and joint
    log-probabilities (one `(B, K_j)` array per knob), and rank / N."""
    rows, n = flat.shape
    cardinalities = [np.shape(lp)[1] for lp in log_probs]
    vectors = np.stack(np.unravel_index(np.maximum(flat, 0), tuple(cardinalities)), axis=-1)
    offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)
    onehot = np.zeros((rows, n, int(sum(cardinalities))), np.float32)
    np.put_along_axis(onehot, vectors + offsets, 1.0, axis=2)
    knob_lp = np.stack([np.take_along_axis(np.asarray(lp), vectors[:, :, j], axis=1)
                        for j, lp in enumerate(log_probs)], axis=-1)  # fmt: skip
    parts = [
        np.repeat(np.asarray(embedding, np.float32)[:, None, :], n, axis=1), onehot, knob_lp,
        np.asarray(scores)[..., None], np.broadcast_to(np.arange(n) / n, (rows, n))[..., None],
    ]  # fmt: skip
    x = np.concatenate(parts, axis=-1).astype(np.float32)
    x[~np.isfinite(x)] = MISSING_FEATURE
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form: the same function as torch's ``GELU(approximate="tanh")``."""
    # x * x * x, not x**3: numpy's float power is ten times slower here
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * x * (1.0 + 0.044715 * x * x)))


@dataclass(frozen=True)
class Ranker:
    """A fitted ranker: input standardisation and MLP weights, applied in numpy (float64)."""

    config: RankerConfig
    arrays: dict[str, np.ndarray]  # mean, scale, w0, b0, w1, b1, w2, b2 (w: (in, out))
    validation: dict[str, Any]

    def log_regret(self, features: np.ndarray) -> np.ndarray:
        """Predicted log regret (plus the bonus the training target carried) `(B, N)`."""
        a = self.arrays
        h = (np.asarray(features, np.float64) - a["mean"]) / a["scale"]
        h = _gelu(h @ a["w0"] + a["b0"])
        h = _gelu(h @ a["w1"] + a["b1"])
        return (h @ a["w2"] + a["b2"])[..., 0]

    def order(
        self, embedding: np.ndarray, log_probs: Sequence[np.ndarray], flat: np.ndarray,
        scores: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """``flat``/``scores`` `(B, W)` with the first ``candidates`` columns in the ranker's
        order (padding last); any further columns keep the decoder's order after them."""
        n = min(self.config.candidates, flat.shape[1])
        head, head_scores = flat[:, :n], scores[:, :n]
        predicted = self.log_regret(candidate_features(embedding, log_probs, head, head_scores))
        predicted = np.where(head >= 0, predicted, np.inf)
        order = np.argsort(predicted, axis=1, kind="stable")
        return (
            np.concatenate([np.take_along_axis(head, order, 1), flat[:, n:]], axis=1),
            np.concatenate([np.take_along_axis(head_scores, order, 1), scores[:, n:]], 1),
        )

    # ---- storage: tensors in model.pt, an .npz beside meta.json in a serving bundle ----------
    def to_state(self) -> dict[str, Any]:
        """For ``model.pt`` (loaded with ``weights_only``: tensors and plain data)."""
        import torch

        # float32 halves the file and loses nothing: the weights were trained in float32
        arrays = {k: torch.from_numpy(v.astype(np.float32)) for k, v in self.arrays.items()}
        return {"config": self.config.to_dict(), "validation": self.validation, "arrays": arrays}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Ranker:
        arrays = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)
                  for k, v in state["arrays"].items()}  # fmt: skip
        return cls(RankerConfig.from_dict(state["config"]), arrays, state.get("validation", {}))

    def save_npz(self, path: Path) -> None:
        np.savez(path, **{k: v.astype(np.float32) for k, v in self.arrays.items()})

    @classmethod
    def load_npz(cls, path: Path, meta: dict[str, Any]) -> Ranker:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k].astype(np.float64) for k in data.files}
        return cls(RankerConfig.from_dict(meta["config"]), arrays, meta.get("validation", {}))


@dataclass(frozen=True)
class RankTable:
    """The decoder's candidates for some rows and what the cost model says of them."""

    features: np.ndarray  # (B, N, F)
    flat: np.ndarray  # (B, N), -1 where fewer fit
    regret: np.ndarray  # (B, N) cost / the label's cost; inf: invalid or none
    is_label: np.ndarray  # (B, N) bool


def rank_table(predictor: Any, frame: pd.DataFrame, n: int, progress: bool = False) -> RankTable:
    """Decode ``frame``'s rows with ``predictor`` (its first ``n`` spread designs within
    budget, decoder order) and map every candidate with the cost model."""
    from airchitect.models.evaluate import (
        design_scores,  # the cost model: needed to fit, not to answer
    )

    out, log_probs, flat, scores = predictor.decode(frame, n)
    features = candidate_features(out["embedding"], log_probs, flat, scores)
    cost = design_scores(frame, predictor.space, flat, progress=progress)
    regret = cost / frame["score"].to_numpy(np.float64)[:, None]
    label = frame["hw_index"].to_numpy(np.int64)[:, None]
    return RankTable(features, flat, np.where(flat >= 0, regret, np.inf), flat == label)


def fit_ranker(table: RankTable, config: RankerConfig) -> Ranker:
    """Fit the MLP to the log regret of ``table``'s candidates (torch, one thread)."""
    import torch

    torch.manual_seed(config.seed)
    present = table.flat >= 0
    capped = np.clip(np.where(np.isfinite(table.regret), table.regret, config.regret_cap), 1.0,
                     config.regret_cap)  # fmt: skip
    target = np.log(capped) + config.label_bonus * ~table.is_label
    x = torch.from_numpy(table.features[present].astype(np.float32))
    y = torch.from_numpy(target[present].astype(np.float32))
    if len(x) == 0:
        raise ValueError("no candidates to fit the ranker on (no design fits any row's budget)")
    mean, scale = x.mean(0), x.std(0, unbiased=False) + 1e-6
    width = config.hidden
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], width), torch.nn.GELU(approximate="tanh"),
        torch.nn.Linear(width, width), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(width, 1),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), config.lr, weight_decay=config.weight_decay)
    xs = (x - mean) / scale
    for _ in range(config.epochs):
        for batch in torch.randperm(len(xs)).split(config.batch_size):
            loss = torch.nn.functional.mse_loss(net(xs[batch]).squeeze(-1), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    arrays = {"mean": mean.numpy(), "scale": scale.numpy()}
    for i, layer in enumerate(layers):
        arrays[f"w{i}"] = layer.weight.detach().numpy().T.copy()
        arrays[f"b{i}"] = layer.bias.detach().numpy().copy()
    return Ranker(config, {k: v.astype(np.float64) for k, v in arrays.items()}, {})


def order_scores(table: RankTable, order: np.ndarray) -> dict[str, float]:
    """Top-1 and best-of-5 regret (geometric mean over valid answers) and exact share of
    the candidates taken in ``order`` `(B, N)`."""
    regret = np.take_along_axis(table.regret, order, axis=1)
    exact = np.take_along_axis(table.is_label, order, axis=1)[:, 0]

    def geomean(values: np.ndarray) -> float:
        ok = np.isfinite(values)
        return float(np.exp(np.log(np.maximum(values[ok], 1e-12)).mean())) if ok.any() else math.inf

    return {"regret": geomean(regret[:, 0]), "top5_regret": geomean(regret[:, :5].min(axis=1)),
            "exact": float(exact.mean()), "rows": len(order)}  # fmt: skip


def validate(ranker: Ranker, table: RankTable) -> dict[str, Any]:
    """The decoder's order against the ranker's on held-out rows; ``better`` when the
    ranker's top-1 regret is no worse and its exact-design share no lower."""
    decoder = order_scores(table, np.broadcast_to(np.arange(table.flat.shape[1]), table.flat.shape))
    predicted = np.where(table.flat >= 0, ranker.log_regret(table.features), np.inf)
    ranked = order_scores(table, np.argsort(predicted, axis=1, kind="stable"))
    better = ranked["regret"] <= decoder["regret"] and ranked["exact"] >= decoder["exact"]
    return {"decoder": decoder, "ranker": ranked, "better": bool(better)}


def train_ranker(
    run: str | Path, data_dir: str | Path, config: RankerConfig | None = None,
    progress: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Fit a ranker for the run ``run`` on a sample of its own training split of ``data_dir``
    (a capped fine-tune: of the rows it trained on), validate it on the split's validation
    rows, and store it in the run's ``model.pt`` and ``run.json`` when it beats the decoder's
    order there. Returns the validation summary (``kept``, and the decoder's and the ranker's
    top-1 regret, best-of-5 regret and exact share)."""
    from airchitect.models.bundle import bundle_file, save_bundle
    from airchitect.models.finetune import run_splits, sample_rows
    from airchitect.models.predict import Predictor

    config = config or RankerConfig()
    path = bundle_file(run)
    predictor = Predictor(path)
    frames = run_splits(predictor.bundle, data_dir, max(config.rows, config.val_rows), config.seed)
    train = sample_rows(frames["train"], config.rows, config.seed)
    val = sample_rows(frames["val"], config.val_rows, config.seed)
    if len(val) == 0:
        raise ValueError(f"{data_dir}: no validation rows to judge the ranker on")
    ranker = fit_ranker(rank_table(predictor, train, config.candidates, progress), config)
    summary = validate(ranker, rank_table(predictor, val, config.candidates, progress))
    summary |= {"train_rows": len(train),
                "kept": summary["better"] or not config.keep_if_better}  # fmt: skip
    bundle = dict(predictor.bundle)  # a ranker not kept leaves an earlier one in place
    if summary["kept"]:
        bundle["ranker"] = Ranker(config, ranker.arrays, summary).to_state()
    bundle["ranker_fit"] = {"config": config.to_dict(), **summary}
    # the run's effective config names its ranker, so a fine-tune of it refits one alike
    bundle["train_config"] = {**bundle["train_config"], "ranker": config.to_dict()}
    save_bundle(bundle, path)
    _update_run_json(path.parent / "run.json", bundle)
    return summary


def _update_run_json(path: Path, bundle: dict[str, Any]) -> None:
    """``run.json`` (the bundle minus its weights) with the ranker's fit and config."""
    if not path.is_file():
        return
    keys = ("ranker_fit", "train_config")
    write_json(path, json.loads(path.read_text("utf-8")) | {k: bundle[k] for k in keys})
