"""Lightning training wrapper around :class:`airchitect.models.network.Recommender`.

loss = sum over knobs (ordinal BCE or cross-entropy) + ``w_cost`` * MSE(normalised log cost)
       + ``w_con`` * SupCon(projections)   [only with ``contrastive=True``]

With near-optimal sets in the batch (``near_knobs``/``near_mask``, see
``airchitect.models.data.near_optimal_targets``), the knob term is the set's negative log
likelihood: each
near-optimal design's knob loss weighted by its share of the model's probability of the set.

The contrastive term is always computed and logged (``*/supcon``) so runs with and without the
contrastive stage can be compared, but only enters the loss when enabled.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from airchitect.models.losses import near_optimal_weights, positive_mask, supcon_loss
from airchitect.models.network import Recommender, RecommenderConfig
from airchitect.models.ordinal import ordinal_decode, ordinal_log_probs, ordinal_loss

SCHEDULES = ("cosine", "onecycle", "constant")


def knob_predictions(logits: list[torch.Tensor], kinds: tuple[str, ...]) -> torch.Tensor:
    """Most likely index per knob `int64 (B, J)`: ordinal rank or categorical argmax."""
    preds = [
        ordinal_decode(x)[0] if kind == "ordinal" else x.argmax(dim=-1)
        for x, kind in zip(logits, kinds, strict=True)
    ]
    return torch.stack(preds, dim=-1)


class RecommenderModule(pl.LightningModule):
    """Holds a ``Recommender``; ``model_config`` is a ``RecommenderConfig.to_dict()``."""

    def __init__(
        self,
        model_config: dict[str, Any],
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        contrastive: bool = True,
        w_con: float = 0.5,
        w_cost: float = 0.5,
        temperature: float = 0.1,
        soft_positives: bool = False,
        schedule: str = "cosine",
        warmup_fraction: float = 0.05,
        near_optimal_label_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.save_hyperparameters()
        self.config = RecommenderConfig.from_dict(dict(model_config))
        self.model = Recommender(self.config)
        ordinal = torch.tensor([k == "ordinal" for k in self.config.knob_kinds])
        self.register_buffer("ordinal_knobs", ordinal, persistent=False)

    def forward(self, ids: torch.Tensor, values: torch.Tensor) -> dict[str, Any]:
        return self.model(ids, values)

    def _knob_loss(self, logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
        """Per-row loss `(B,)` of one knob's logits against targets ``y`` `(B,)`."""
        if kind == "ordinal":
            return ordinal_loss(logits, y, reduction="none")
        return F.cross_entropy(logits.float(), y, reduction="none")

    def _label_loss(self, logits: list[torch.Tensor], knobs: torch.Tensor) -> torch.Tensor:
        """Sum over knobs of the mean loss against the label's index vector ``knobs`` `(B, J)`."""
        kinds = self.config.knob_kinds
        per_knob = [self._knob_loss(x, knobs[:, j], kind).mean()
                    for j, (x, kind) in enumerate(zip(logits, kinds, strict=True))]  # fmt: skip
        return torch.stack(per_knob).sum()

    def _near_optimal_loss(
        self, logits: list[torch.Tensor], near: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Set loss over near-optimal designs ``near`` `(B, S, J)` (``mask`` `(B, S)`).

        ``near_optimal_label_weight`` a moves that share of every row's weight onto slot 0,
        the label: ``(1 - a) * set loss + a * label loss``, from the same per-slot losses."""
        b, s, _ = near.shape
        losses, log_probs = [], []
        for j, (x, kind) in enumerate(zip(logits, self.config.knob_kinds, strict=True)):
            y = near[:, :, j]  # (B, S)
            rows = x.unsqueeze(1).expand(b, s, x.shape[-1]).reshape(b * s, -1)
            losses.append(self._knob_loss(rows, y.reshape(-1), kind).view(b, s))
            lp = ordinal_log_probs(x) if kind == "ordinal" else F.log_softmax(x.float(), dim=-1)
            log_probs.append(lp.gather(1, y))  # (B, S)
        weights = near_optimal_weights(torch.stack(log_probs).sum(0), mask)  # (B, S)
        a = self.hparams.near_optimal_label_weight
        if a > 0:  # keep a preference for the label itself among near-optimal designs
            weights = (1 - a) * weights
            weights[:, 0] += a
        return (weights * torch.stack(losses).sum(0)).sum(dim=-1).mean()

    def compute_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms and metrics of a batch (``loss`` is the one to minimise)."""
        hp, kinds = self.hparams, self.config.knob_kinds
        out = self.model(batch["ids"], batch["values"])
        knobs = batch["knobs"]  # (B, J)
        if "near_knobs" in batch:
            knob_loss = self._near_optimal_loss(
                out["knob_logits"], batch["near_knobs"], batch["near_mask"]
            )
        else:
            knob_loss = self._label_loss(out["knob_logits"], knobs)
        cost = F.mse_loss(out["log_cost"].float(), batch["log_cost"].float())
        positives = positive_mask(batch["hw_index"], knobs, hp.soft_positives, self.ordinal_knobs)
        con = supcon_loss(out["projection"], positives, hp.temperature)
        # without the contrastive stage the term is kept at weight 0 so every parameter is
        # still in the graph (distributed training rejects unused parameters)
        w_con = hp.w_con if hp.contrastive else 0.0
        loss = knob_loss + hp.w_cost * cost + w_con * con
        predicted = knob_predictions(out["knob_logits"], kinds)  # (B, J)
        correct = predicted == knobs
        metrics = {"loss": loss, "knob_loss": knob_loss, "cost_mse": cost, "supcon": con}
        metrics["exact_acc"] = correct.all(dim=-1).float().mean()
        if "near_knobs" in batch:  # the prediction is one of the row's near-optimal designs
            hit = (predicted.unsqueeze(1) == batch["near_knobs"]).all(-1) & batch["near_mask"]
            metrics["near_acc"] = hit.any(dim=-1).float().mean()
        for j, name in enumerate(self._knob_names()):
            metrics[f"acc_{name}"] = correct[:, j].float().mean()
        return metrics

    def _knob_names(self) -> tuple[str, ...]:
        c = self.config
        return c.knob_names or tuple(f"knob{j}" for j in range(len(c.knob_kinds)))

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        metrics = self.compute_losses(batch)
        n = batch["ids"].shape[0]
        logged = {f"{stage}/{k}": v.detach() for k, v in metrics.items()}
        sync = stage != "train"  # epoch means of val/test are averaged over ranks
        self.log_dict(logged, on_step=False, on_epoch=True, batch_size=n, sync_dist=sync)
        return metrics["loss"]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        # no weight decay on biases, norms, embeddings' position/CLS/query vectors
        decay = [p for p in self.parameters() if p.ndim >= 2 and p.shape[0] > 1]
        others = [p for p in self.parameters() if not (p.ndim >= 2 and p.shape[0] > 1)]
        groups = [{"params": decay, "weight_decay": hp.weight_decay},
                  {"params": others, "weight_decay": 0.0}]  # fmt: skip
        optimizer = torch.optim.AdamW(groups, lr=hp.lr)
        if hp.schedule == "constant":
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self._scheduler(optimizer)}

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        hp = self.hparams
        total = self.trainer.estimated_stepping_batches
        # a stream of unknown length (Lightning reports inf, or max_steps=-1): cosine over epochs
        if not math.isfinite(total) or total <= 0:
            epochs = max(1, self.trainer.max_epochs or 1)
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
            return {"scheduler": cosine, "interval": "epoch"}
        total = max(1, int(total))
        if hp.schedule == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=hp.lr, total_steps=total, pct_start=max(hp.warmup_fraction, 0.01)
            )
        else:
            warmup = max(1, int(hp.warmup_fraction * total))
            sched = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup, total))
        return {"scheduler": sched, "interval": "step"}


def _warmup_cosine(warmup: int, total: int) -> Any:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to 5%."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
