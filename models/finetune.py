"""Fine-tune a trained recommender on new data (a new workload family, an LLM, ...).

``finetune(from_bundle, data_dir, out_dir, config)`` starts from a trained bundle (a run
directory or its ``model.pt``) and trains it further on ``data_dir``:

- the base model's ``FeatureStats`` and cost statistics are kept: the new rows are tokenised and
  their costs normalised exactly as the base model saw its own data, never refitted;
- the dataset must be over the base model's design space (same ``space_hash``);
- ``freeze="encoder"`` keeps the workload encoder fixed (token/value/position embeddings, CLS,
  transformer encoder, contrastive projection) and trains the decoder, its queries and the heads;
  ``freeze="none"`` trains everything;
- the network and loss settings come from the base run's ``train_config``; the learning rate,
  epochs, split, seed and batch size from :class:`FinetuneConfig` (lower/fewer by default);
- ``max_rows`` caps the training rows (a seeded sample, taken after the split so the held-out
  rows are the same as without the cap).

The output is an ordinary run directory (``model.pt``, ``run.json``, ``logs/``,
``checkpoints/``), written by the same code as :func:`airchitect.models.train.train`; the bundle
also
records ``finetuned_from`` (the base's path, metrics and data summary) and ``finetune_config``.
Its ``train_config`` is the effective one, so ``evaluate-model`` scores the fine-tune's own
held-out rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from airchitect.models.bundle import bundle_file, load_bundle
from airchitect.models.data import SPLITS, RecommenderDataModule, encode_rows, parse_split
from airchitect.models.features import FeatureStats
from airchitect.models.network import RecommenderConfig
from airchitect.models.train import (
    TrainConfig,
    build_module,
    fit_best,
    fit_ranker_of,
    make_datamodule,
    start_run,
    write_run,
)

__all__ = [
    "ENCODER_PARTS",
    "FREEZE",
    "FinetuneConfig",
    "capped_rows",
    "finetune",
    "freeze_encoder",
    "run_splits",
    "sample_rows",
]

#: What ``freeze`` accepts.
FREEZE: tuple[str, ...] = ("encoder", "none")
#: ``Recommender`` attributes that make up the workload encoder (frozen by ``freeze="encoder"``).
ENCODER_PARTS: tuple[str, ...] = (
    "token_embedding", "value_projection", "position_embedding", "cls", "encoder", "projection",
)  # fmt: skip
#: ``TrainConfig`` fields a fine-tune does not inherit from its base run: reading the data and
#: the hardware are this run's business (the base may have trained on 8 GPUs).
_NOT_INHERITED = ("stream", "num_workers", "strategy", "num_nodes", "precision")


@dataclass
class FinetuneConfig:
    """What a fine-tune changes; everything else (network, losses, schedule) is the base run's.

    ``max_rows``: at most this many training rows (seeded sample); ``None`` keeps them all.
    ``accelerator``/``devices`` go to ``lightning.Trainer`` as in :class:`TrainConfig`.
    """

    freeze: str = "encoder"
    lr: float = 3e-4
    max_epochs: int = 10
    batch_size: int = 256
    max_rows: int | None = None
    split: str = "random"
    seed: int = 0
    val_fraction: float = 0.05
    test_fraction: float = 0.1
    patience: int = 4
    accelerator: str = "cpu"
    devices: int | str = 1

    def __post_init__(self) -> None:
        if self.freeze not in FREEZE:
            raise ValueError(
                f"field 'freeze' must be one of {', '.join(FREEZE)}, got {self.freeze!r}"
            )
        rows = self.max_rows
        checks = {  # field: (valid, what it must be)
            "lr": (self.lr > 0, "> 0"), "max_epochs": (self.max_epochs >= 1, ">= 1"),
            "batch_size": (self.batch_size >= 1, ">= 1"), "seed": (self.seed >= 0, ">= 0"),
            "max_rows": (rows is None or rows >= 1, ">= 1 (or unset for all rows)"),
            "val_fraction": (0 < self.val_fraction < 1, "in (0, 1)"),
            "test_fraction": (0 <= self.test_fraction < 1, "in [0, 1)"),
            "patience": (self.patience >= 1, ">= 1"),
        }  # fmt: skip
        for name, (ok, rule) in checks.items():
            if not ok:
                raise ValueError(f"field {name!r} must be {rule}, got {getattr(self, name)!r}")
        try:
            parse_split(self.split)
        except ValueError as exc:
            raise ValueError(f"field 'split': {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def train_config(self, base: dict[str, Any]) -> TrainConfig:
        """The effective run config: the base run's ``train_config`` with this one's settings."""
        own = {f.name: getattr(self, f.name) for f in fields(self)}
        del own["freeze"], own["max_rows"]
        inherited = {k: v for k, v in base.items() if k not in _NOT_INHERITED}
        return TrainConfig.from_dict({**inherited, **own})


def capped_rows(train: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """The training rows a fine-tune with ``max_rows`` uses: a seeded sample, in file order."""
    if max_rows is None or len(train) <= max_rows:
        return train
    return train.sample(n=max_rows, random_state=seed).sort_index().reset_index(drop=True)


def run_splits(
    bundle: dict[str, Any], data_dir: str | Path, max_rows: int | None = None, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """The rows of ``data_dir`` per split (train, val, test) as the run ``bundle`` split them:
    its own split, fractions and seed; a fine-tune capped at ``max_rows`` keeps only the
    training rows it trained on. With ``max_rows``, each split is a seeded sample of at most
    that many rows; a run trained on streamed data is sampled chunk by chunk, never read
    whole."""
    cfg = bundle["train_config"]
    dm = RecommenderDataModule(data_dir, split=cfg["split"], val_fraction=cfg["val_fraction"],
                               test_fraction=cfg["test_fraction"], seed=cfg["seed"])  # fmt: skip
    if dm.space.hash != bundle["space_hash"]:
        raise ValueError(f"{data_dir}: dataset space {dm.space.hash} differs from the model's "
                         f"{bundle['space_hash']}")  # fmt: skip
    if cfg.get("stream") and max_rows is not None:
        return {s: dm.sample_split(s, max_rows, seed) for s in SPLITS}
    frames = dm.split_frames()
    if bundle.get("finetune_config"):
        cap = bundle["finetune_config"].get("max_rows")
        frames["train"] = capped_rows(frames["train"], cap, cfg["seed"])
    if max_rows is not None:
        frames = {s: sample_rows(f, max_rows, seed) for s, f in frames.items()}
    return frames


def sample_rows(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A seeded sample of at most ``rows`` of ``frame``'s rows, index reset."""
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=seed)
    return frame.reset_index(drop=True)


class FixedStatsDataModule(RecommenderDataModule):
    """Splits like :class:`RecommenderDataModule`, but encodes with given statistics (the base
    model's) instead of fitting them, and trains on at most ``max_rows`` sampled rows."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        feature_stats: FeatureStats,
        cost_stats: dict[str, Any],
        max_rows: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_dir, **kwargs)
        if self.stream:
            raise ValueError("fine-tuning reads its data into memory (stream=False)")
        self.fixed_stats, self.max_rows = (feature_stats, cost_stats), max_rows

    def _fit(self, train: pd.DataFrame) -> None:
        if len(train) == 0:
            raise ValueError(f"{self.data_dir}: no training rows (split {self.split!r})")
        self.feature_stats, self.cost_stats = self.fixed_stats

    def setup(self, stage: str | None = None) -> None:
        fresh = self.feature_stats is None
        super().setup(stage)
        train = self.frames["train"]
        if fresh and self.max_rows is not None and len(train) > self.max_rows:
            self.frames["train"] = capped_rows(train, self.max_rows, self.seed)
            self.tensors["train"] = encode_rows(
                self.frames["train"],
                self.feature_stats,
                self.cost_stats,
                self.space,
                self.near_optimal_rtol,
                self.near_optimal_slots,
            )


def freeze_encoder(model: nn.Module) -> tuple[int, int]:
    """Stop gradients into :data:`ENCODER_PARTS`; returns (trainable, frozen) parameter counts."""
    for part in ENCODER_PARTS:
        value = getattr(model, part)
        for p in value.parameters() if isinstance(value, nn.Module) else [value]:
            p.requires_grad_(False)
    return _count_parameters(model)


def _count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters()) - trainable


def finetune(
    from_bundle: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    config: FinetuneConfig | None = None,
) -> dict[str, Any]:
    """Fine-tune the bundle at ``from_bundle`` on ``data_dir`` into the run ``out_dir``.

    Returns a summary: ``bundle`` (the new ``model.pt``), ``metrics`` (validation, best epoch),
    ``rows`` per split, ``parameters`` (trainable/frozen counts) and ``finetuned_from``.
    """
    config = config or FinetuneConfig()
    source = bundle_file(from_bundle)
    base_model, base = load_bundle(source)
    train_config = config.train_config(base.get("train_config") or {})
    dm = make_datamodule(
        data_dir, train_config, FixedStatsDataModule, max_rows=config.max_rows,
        feature_stats=FeatureStats.from_dict(base["feature_stats"]), cost_stats=base["cost_stats"],
    )  # fmt: skip
    if dm.manifest.space_hash != base["space_hash"]:
        raise ValueError(
            f"{data_dir}: dataset space hash {dm.manifest.space_hash} differs from the model's "
            f"space hash {base['space_hash']} ({source}); fine-tune on data generated over the "
            "model's design space"
        )
    out_dir = start_run(out_dir, train_config)
    model_config = RecommenderConfig.from_dict(base["model_config"])
    module = build_module(train_config, model_config)
    module.model.load_state_dict(base_model.state_dict())
    if config.freeze == "encoder":
        trainable, frozen = freeze_encoder(module.model)
    else:
        trainable, frozen = _count_parameters(module.model)
    trainer, metrics = fit_best(module, dm, train_config, out_dir)
    lineage = {"path": str(source.resolve()), "metrics": base.get("metrics"),
               "data": base.get("data"), "space_hash": base["space_hash"]}  # fmt: skip
    if "finetuned_from" in base:  # a fine-tune of a fine-tune keeps the whole chain
        lineage["finetuned_from"] = base["finetuned_from"]
    path = write_run(
        trainer, out_dir, dm, train_config, model_config, module.model, metrics,
        finetuned_from=lineage, finetune_config=config.to_dict(),
    )  # fmt: skip
    ranker = fit_ranker_of(trainer, path, data_dir, train_config)  # refitted to the new decoder
    return {
        "bundle": path,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "rows": {s: len(f) for s, f in dm.frames.items()},
        "parameters": {"trainable": trainable, "frozen": frozen},
        "finetuned_from": lineage,
        "ranker": ranker,
    }
