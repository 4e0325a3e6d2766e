"""Train a recommender on a dataset directory and write a self-describing run directory.

``train(data_dir, out_dir, config)`` writes into ``out_dir``:

- ``model.pt``: the bundle ``{"format": "airchitect-recommender", "version": 1, "model_config",
  "train_config", "feature_stats", "cost_stats", "space", "space_hash", "schema_version",
  "state_dict", "metrics", "data"}``; :func:`load_bundle` rebuilds the model from it alone;
- ``run.json``: the same minus the weights, for people and tools;
- ``logs/`` (Lightning ``CSVLogger``: ``metrics.csv``, ``hparams.yaml``) and ``checkpoints/``
  (the best epoch by ``val/loss``).

Hardware: CPU by default. ``accelerator``, ``devices``, ``strategy``, ``num_nodes`` and
``precision`` go straight to ``lightning.Trainer``: e.g. ``accelerator="gpu", devices=4,
strategy="ddp"`` for one node with four GPUs, plus ``num_nodes=2`` under a cluster launcher
(SLURM/torchrun set the rank environment), ``precision="bf16-mixed"`` on recent GPUs. In
distributed runs each rank reads the data itself; only rank 0 writes the bundle.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from airchitect.models.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_NAME,
    BUNDLE_VERSION,
    load_bundle,
    save_bundle,
    write_json,
)
from airchitect.models.data import RecommenderDataModule
from airchitect.models.lightning_module import RecommenderModule
from airchitect.models.network import Recommender, RecommenderConfig
from airchitect.models.ranker import RankerConfig, train_ranker


class _NoAdverts(logging.Filter):
    """Lightning logs a tip advertising a third-party logging service at every fit; a user
    training a model wants its metrics, not that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage().lower()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdverts())

__all__ = [
    "TrainConfig",
    "build_module",
    "fit_best",
    "fit_ranker_of",
    "load_bundle",
    "make_datamodule",
    "save_bundle",
    "start_run",
    "train",
    "write_run",
]

MONITOR = "val/loss"


@dataclass
class TrainConfig:
    """Everything a training run depends on (the data's own sizes come from the dataset).

    ``schedule``: "cosine" (linear warm-up, then cosine per step), "onecycle" or "constant";
    with ``stream=True`` the number of steps is unknown and both decaying schedules become a
    cosine over epochs. ``contrastive=False`` is the ablation without the contrastive stage.
    """

    # network: defaults come from RecommenderConfig, the one place they are set
    d_model: int = RecommenderConfig.d_model
    n_heads: int = RecommenderConfig.n_heads
    encoder_layers: int = RecommenderConfig.encoder_layers
    decoder_layers: int = RecommenderConfig.decoder_layers
    dim_feedforward: int = RecommenderConfig.dim_feedforward
    dropout: float = RecommenderConfig.dropout
    projection_dim: int = RecommenderConfig.projection_dim
    # optimisation
    lr: float = 1e-3
    weight_decay: float = 0.01
    schedule: str = "cosine"
    max_epochs: int = 50
    batch_size: int = 256
    patience: int = 8
    contrastive: bool = True
    w_con: float = 0.5
    w_cost: float = 0.5
    temperature: float = 0.1
    soft_positives: bool = False
    # > 0: runners-up within this relative score of the label count as right answers too; the
    # knob loss becomes -log P(the model gives any of them)
    # (airchitect.models.losses.near_optimal_weights)
    near_optimal_rtol: float = 0.0
    # share of that knob loss kept on the label alone (the smallest chip among equals), so the
    # model still prefers it when several near-optimal designs are about equally likely
    near_optimal_label_weight: float = 0.0
    # designs per near-optimal set: the label and up to this many - 1 runners-up (the data keeps
    # `airchitect generate --top-k` of them per row)
    near_optimal_slots: int = 9
    # a budget-capacity token (the largest PE array the budget affords; airchitect.models.features)
    budget_features: bool = False
    # residue tokens of the dims k c p q modulo these (e.g. [8, 12, 16, 32]); () = none, the
    # shipped encoding (airchitect.models.features, "divisibility")
    divisibility: tuple[int, ...] = ()
    # a learned ranker over the decoder's candidates, fitted after training (RankerConfig
    # fields, e.g. {"rows": 10000}; {} for the defaults; None: no ranker; airchitect.models.ranker)
    ranker: dict[str, Any] | None = None
    # data
    seed: int = 0
    split: str = "random"
    val_fraction: float = 0.05
    test_fraction: float = 0.1
    stream: bool = False
    num_workers: int = 0
    given_knobs: tuple[str, ...] = ()  # knobs the user fixes: model inputs, not predictions
    # hardware (passed through to lightning.Trainer)
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"

    def __post_init__(self) -> None:
        self.given_knobs = tuple(str(k) for k in self.given_knobs)
        self.divisibility = tuple(int(m) for m in self.divisibility)
        if not (isinstance(self.near_optimal_rtol, int | float) and self.near_optimal_rtol >= 0):
            raise ValueError(f"near_optimal_rtol must be a number >= 0 (0: the label only), "
                             f"got {self.near_optimal_rtol!r}")  # fmt: skip
        if not (isinstance(self.near_optimal_slots, int) and self.near_optimal_slots >= 1):
            raise ValueError(f"near_optimal_slots must be an integer >= 1, "
                             f"got {self.near_optimal_slots!r}")  # fmt: skip
        if self.ranker is not None:
            if not isinstance(self.ranker, dict):
                raise ValueError(f"ranker must be a mapping of ranker fields or null, "
                                 f"got {self.ranker!r}")  # fmt: skip
            RankerConfig.from_dict(self.ranker)  # names a bad field now, not after training
        if not 0 <= self.near_optimal_label_weight <= 1:
            raise ValueError(f"near_optimal_label_weight must be in [0, 1], "
                             f"got {self.near_optimal_label_weight!r}")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return out | {"given_knobs": list(self.given_knobs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}")
        return cls(**data)

    def model_fields(self, dims: dict[str, Any]) -> RecommenderConfig:
        """The network config: data-given ``dims`` plus this config's sizes."""
        sizes = ("d_model", "n_heads", "encoder_layers", "decoder_layers", "dim_feedforward",
                 "dropout", "projection_dim")  # fmt: skip
        return RecommenderConfig(**dims, **{k: getattr(self, k) for k in sizes})


def build_module(config: TrainConfig, model_config: RecommenderConfig) -> RecommenderModule:
    keys = ("lr", "weight_decay", "contrastive", "w_con", "w_cost", "temperature",
            "soft_positives", "schedule", "near_optimal_label_weight")  # fmt: skip
    return RecommenderModule(model_config.to_dict(), **{k: getattr(config, k) for k in keys})


def _trainer(config: TrainConfig, out_dir: Path) -> pl.Trainer:
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints", filename="best", monitor=MONITOR, mode="min",
        save_top_k=1, auto_insert_metric_name=False,
    )  # fmt: skip
    return pl.Trainer(
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,
        logger=CSVLogger(out_dir, name="logs", version=""),
        callbacks=[EarlyStopping(MONITOR, patience=config.patience, mode="min"), checkpoint],
        deterministic="warn",  # reproducible, but a GPU op without a deterministic kernel warns
        enable_progress_bar=sys.stderr.isatty(),  # a bar (rate, ETA) for people, not in logs
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )


def train(data_dir: str | Path, out_dir: str | Path, config: TrainConfig | None = None) -> Path:
    """Train on ``data_dir``; returns the path of the bundle written into ``out_dir``."""
    config = config or TrainConfig()
    out_dir = start_run(out_dir, config)
    dm = make_datamodule(data_dir, config)
    model_config = config.model_fields(dm.model_dims())
    module = build_module(config, model_config)
    trainer, metrics = fit_best(module, dm, config, out_dir)
    path = write_run(trainer, out_dir, dm, config, model_config, module.model, metrics)
    fit_ranker_of(trainer, path, data_dir, config)
    return path


# ---- the steps of a run, shared with fine-tuning (airchitect.models.finetune) --------------------
def start_run(out_dir: str | Path, config: TrainConfig) -> Path:
    """Create the run directory and seed everything (split, init, batches)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    return out_dir


def fit_ranker_of(
    trainer: pl.Trainer, path: Path, data_dir: str | Path, config: TrainConfig
) -> dict[str, Any] | None:
    """Fit the run's candidate ranker when ``config.ranker`` asks for one (rank 0 only)."""
    if config.ranker is None or not trainer.is_global_zero:
        return None
    return train_ranker(path, data_dir, RankerConfig.from_dict(config.ranker),
                        progress=sys.stderr.isatty())  # fmt: skip


def make_datamodule(
    data_dir: str | Path,
    config: TrainConfig,
    cls: type[RecommenderDataModule] = RecommenderDataModule,
    **kwargs: Any,
) -> RecommenderDataModule:
    """The data module ``config`` describes; ``cls``/``kwargs`` for a subclass's own options."""
    return cls(
        data_dir, split=config.split, val_fraction=config.val_fraction,
        test_fraction=config.test_fraction, seed=config.seed, batch_size=config.batch_size,
        stream=config.stream, num_workers=config.num_workers, given_knobs=config.given_knobs,
        near_optimal_rtol=config.near_optimal_rtol, near_optimal_slots=config.near_optimal_slots,
        budget_features=config.budget_features, divisibility=config.divisibility, **kwargs,
    )  # fmt: skip


def fit_best(
    module: RecommenderModule, dm: RecommenderDataModule, config: TrainConfig, out_dir: Path
) -> tuple[pl.Trainer, dict[str, float]]:
    """Fit with early stopping, restore the best epoch's weights (by ``val/loss``, not the
    last epoch's) and return the trainer with that epoch's validation metrics."""
    trainer = _trainer(config, out_dir)
    trainer.fit(module, datamodule=dm)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    metrics = trainer.validate(module, datamodule=dm, verbose=False)[0]
    return trainer, metrics


def write_run(
    trainer: pl.Trainer,
    out_dir: Path,
    dm: RecommenderDataModule,
    config: TrainConfig,
    model_config: RecommenderConfig,
    model: Recommender,
    metrics: dict[str, float],
    **extra: Any,
) -> Path:
    """Write ``model.pt`` and ``run.json`` (rank 0 only); ``extra`` entries join the bundle."""
    path = out_dir / BUNDLE_NAME
    if trainer.is_global_zero:
        bundle = _bundle(dm, config, model_config, model, metrics) | extra
        save_bundle(bundle, path)
        write_json(out_dir / "run.json", {k: v for k, v in bundle.items() if k != "state_dict"})
    return path


def _bundle(
    dm: RecommenderDataModule,
    config: TrainConfig,
    model_config: RecommenderConfig,
    model: Recommender,
    metrics: dict[str, float],
) -> dict[str, Any]:
    assert dm.feature_stats is not None
    rows = {s: len(f) for s, f in dm.frames.items()} if dm.frames else None
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "model_config": model_config.to_dict(),
        "train_config": config.to_dict(),
        "feature_stats": dm.feature_stats.to_dict(),
        "cost_stats": dm.cost_stats,
        "space": dm.manifest.space,
        "space_hash": dm.manifest.space_hash,
        "schema_version": dm.manifest.schema_version,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metrics": {k: float(v) for k, v in metrics.items()},
        "data": {"dir": str(dm.data_dir), "split": dm.split, "rows": rows},
    }
