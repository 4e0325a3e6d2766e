"""A ConfigID classifier for datasets whose label is one of a few hundred whole designs.

AIrchitect v2 asks for one class out of the 768 (#PE, buffer) pairs under a given dataflow; the
release uses 272 of them. The recommender decodes a design knob by knob, ordinal heads per knob,
which spreads one joint label (whose #PE and buffer level move together, e.g. 48 PEs with
buffer 10) over separate heads; a softmax over the joint classes scores it directly and trains
in minutes on two cores. It reads the same dataset columns as the recommender (``k c p q r s``,
and the input sizes ``p + r - 1``, ``q + s - 1``; a GEMM's extra dims are constants), encoded by
:func:`airchitect.models.divisibility.divisibility_features`, plus the dataflow.

Use it like a scikit-learn estimator: ``ConfigIdClassifier(config).fit(frame, labels)``,
``predict(frame)``; ``save(dir)`` / ``load(dir)`` keep the config, the classes, the feature
normalisation and the weights together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from airchitect.models.divisibility import ENCODINGS, divisibility_features

DIM_COLUMNS: tuple[str, ...] = ("k", "c", "p", "q", "r", "s")
#: Names of :func:`input_dims`' columns: the loop-nest dims, then the input height and width.
INPUT_DIMS: tuple[str, ...] = (*DIM_COLUMNS, "h", "w")
DATAFLOWS: tuple[str, ...] = ("ws", "os", "is", "rs")


@dataclass(frozen=True)
class ConfigIdConfig:
    """Hyperparameters; :meth:`from_dict` names an unknown or bad field."""

    encoding: str = "util"
    moduli: tuple[int, ...] = tuple(range(2, 65))
    # dims (INPUT_DIMS names) that also enter as exact-value one-hots over the values seen in
    # training (unseen values: all zeros); lets a small dim such as r act as a category
    exact_dims: tuple[str, ...] = ()
    # every dim's residue modulo each of these as a one-hot (exact residues as categories: they
    # do not fade for dims many times the modulus, as utilisation does)
    onehot_moduli: tuple[int, ...] = ()
    hidden: int = 512
    layers: int = 3
    dropout: float = 0.0
    epochs: int = 12
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    members: int = 1  # an ensemble of this many nets (seeds seed, seed+1, ...), softmax averaged
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "moduli", tuple(int(m) for m in self.moduli))
        object.__setattr__(self, "exact_dims", tuple(str(d) for d in self.exact_dims))
        object.__setattr__(self, "onehot_moduli", tuple(int(m) for m in self.onehot_moduli))
        if any(m < 2 for m in self.onehot_moduli):
            raise ValueError(
                f"field 'onehot_moduli' must be integers >= 2, got {self.onehot_moduli}"
            )
        bad = [d for d in self.exact_dims if d not in INPUT_DIMS]
        if bad:
            raise ValueError(f"field 'exact_dims': unknown dim(s) {bad}; known: {INPUT_DIMS}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"field 'encoding' must be one of {', '.join(ENCODINGS)}")
        for name in ("hidden", "layers", "epochs", "batch_size", "members"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"field {name!r} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1 or self.lr <= 0:
            raise ValueError("fields 'dropout' and 'label_smoothing' lie in [0, 1), 'lr' > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfigIdConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"unknown ConfigID classifier field(s) {unknown}; known: {sorted(names)}"
            )
        return cls(**data)


def input_dims(frame: pd.DataFrame) -> np.ndarray:
    """``(n, 8)`` integer dims of dataset rows: ``k c p q r s`` and the input height/width."""
    d = {c: frame[c].to_numpy(dtype=np.int64) for c in DIM_COLUMNS}
    cols = [d[c] for c in DIM_COLUMNS] + [d["p"] + d["r"] - 1, d["q"] + d["s"] - 1]
    return np.maximum(np.stack(cols, axis=1), 0)


def raw_features(
    frame: pd.DataFrame, config: ConfigIdConfig, vocab: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """Unnormalised inputs ``(n, F)``: the dims' encoding, the dataflow one-hot and, for
    ``config.exact_dims``, one-hots over ``vocab`` (dim -> sorted values)."""
    dims = input_dims(frame)
    feats = divisibility_features(dims, config.encoding, config.moduli)
    df = frame["dataflow"].astype(str).str.lower().to_numpy()
    parts = [feats, np.stack([df == name for name in DATAFLOWS], axis=1).astype(np.float32)]
    for name in config.exact_dims:
        values = vocab[name]
        x = dims[:, INPUT_DIMS.index(name)]
        at = np.clip(np.searchsorted(values, x), 0, len(values) - 1)
        hit = values[at] == x
        onehot = np.zeros((len(x), len(values)), dtype=np.float32)
        onehot[np.flatnonzero(hit), at[hit]] = 1.0
        parts.append(onehot)
    for m in config.onehot_moduli:
        residue = np.mod(dims, m)  # (n, 8)
        onehot = np.zeros((len(dims), dims.shape[1] * m), dtype=np.float32)
        onehot[np.arange(len(dims))[:, None], np.arange(dims.shape[1]) * m + residue] = 1.0
        parts.append(onehot)
    return np.concatenate(parts, axis=1)


def _net(n_in: int, n_out: int, config: ConfigIdConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(config.layers):
        layers += [nn.Linear(width, config.hidden), nn.GELU()]
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
        width = config.hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class ConfigIdClassifier:
    """MLP (ensemble) over divisibility features -> softmax over the training labels."""

    def __init__(self, config: ConfigIdConfig | None = None) -> None:
        self.config = config or ConfigIdConfig()

    # ---- fitting ---------------------------------------------------------------------------------
    def fit(
        self,
        frame: pd.DataFrame,
        labels: np.ndarray,
        val: tuple[pd.DataFrame, np.ndarray] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> ConfigIdClassifier:
        """Train on ``frame`` rows with integer ``labels`` ``(n,)``; with ``val`` (frame,
        labels), log validation accuracy after every epoch."""
        cfg = self.config
        self.classes_ = np.unique(np.asarray(labels, dtype=np.int64))
        dims = input_dims(frame)
        self.vocab_ = {d: np.unique(dims[:, INPUT_DIMS.index(d)]) for d in cfg.exact_dims}
        x = raw_features(frame, cfg, self.vocab_)
        self.mean_, self.std_ = x.mean(axis=0), x.std(axis=0) + 1e-6
        xt = torch.from_numpy(self._normalise(x))
        yt = torch.from_numpy(np.searchsorted(self.classes_, np.asarray(labels, dtype=np.int64)))
        start = time.perf_counter()
        self.nets_ = []
        for member in range(cfg.members):
            net = self._train_one(xt, yt, cfg.seed + member, val, log, start)
            self.nets_.append(net)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _train_one(self, xt, yt, seed, val, log, start) -> nn.Sequential:
        cfg = self.config
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = _net(xt.shape[1], len(self.classes_), cfg)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        per_epoch = -(-len(xt) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * per_epoch)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        for epoch in range(cfg.epochs):
            net.train()
            order = torch.randperm(len(xt), generator=gen)
            for b in range(0, len(xt), cfg.batch_size):
                i = order[b : b + cfg.batch_size]
                loss = loss_fn(net(xt[i]), yt[i])  # (B, classes) vs (B,)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if log is not None and val is not None:
                net.eval()
                self.nets_ = [net]
                acc = float((self.predict(val[0]) == np.asarray(val[1])).mean())
                log(f"seed {seed} epoch {epoch + 1}/{cfg.epochs}: loss {loss.item():.3f}, "
                    f"val exact {acc:.4f}, {time.perf_counter() - start:.0f} s")  # fmt: skip
        net.eval()
        return net

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.std_).astype(np.float32)

    # ---- predicting ------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, frame: pd.DataFrame, batch_size: int = 4096) -> np.ndarray:
        """``(n, classes)`` probabilities (the members' mean); each row is scored on its own,
        so an answer never depends on the other rows of the batch."""
        x = torch.from_numpy(self._normalise(raw_features(frame, self.config, self.vocab_)))
        out = np.zeros((len(x), len(self.classes_)), dtype=np.float64)
        for net in self.nets_:
            for b in range(0, len(x), batch_size):
                out[b : b + batch_size] += torch.softmax(net(x[b : b + batch_size]), -1).numpy()
        return out / len(self.nets_)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The most likely label of every row, ``(n,)``."""
        return self.classes_[np.argmax(self.predict_proba(frame), axis=1)]

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``configid.pt`` (weights, classes, normalisation) and ``configid.json``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state = {"classes": self.classes_, "mean": self.mean_, "std": self.std_,
                 "vocab": self.vocab_, "nets": [n.state_dict() for n in self.nets_]}  # fmt: skip
        tmp = out / "configid.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(out / "configid.pt")
        meta = {"config": asdict(self.config), "fit_seconds": self.fit_seconds_}
        (out / "configid.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> ConfigIdClassifier:
        src = Path(directory)
        meta = json.loads((src / "configid.json").read_text())
        model = cls(ConfigIdConfig.from_dict(meta["config"]))
        state = torch.load(src / "configid.pt", weights_only=False)
        model.classes_, model.mean_, model.std_ = state["classes"], state["mean"], state["std"]
        model.vocab_ = state.get("vocab", {})
        model.fit_seconds_ = meta.get("fit_seconds", 0.0)
        n_in = len(model.mean_)
        model.nets_ = []
        for weights in state["nets"]:
            net = _net(n_in, len(model.classes_), model.config)
            net.load_state_dict(weights)
            net.eval()
            model.nets_.append(net)
        return model
