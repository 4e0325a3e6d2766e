"""Dataset -> tensors for the recommender, with leak-free train/val/test splits.

Only rows with a design (``found``) are used. Splits are made over *workloads* (a layer of a
model, identified by its source and loop-nest dims), never over rows, so the budgets and
objectives of one layer stay on one side:

- ``"random"``: a seeded permutation of the workloads;
- ``"family:NAME[,NAME]"`` / ``"model:NAME[,NAME]"``: those families' / models' rows are the test
  split (held-out networks); the rest is split randomly into train and val.

Knob targets come from the dataset's own space (its manifest) via ``DesignSpace.encode_batch``;
feature and cost statistics are fitted on the training split only. ``stream=True`` reads the
shards batch by batch (``airchitect.data_gen.dataset.iter_batches``) instead of loading them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from airchitect.data_gen.dataset import iter_batches, read_dataset
from airchitect.data_gen.manifest import Manifest
from airchitect.data_gen.schema import TOPK_COLUMN, WORKLOAD_DIM_COLUMNS
from airchitect.models.features import (
    INPUT_COLUMNS,
    FeatureStats,
    encode_features,
    fit_cost_stats,
    fit_feature_stats,
    normalise_cost,
)
from airchitect.space.hardware import HARDWARE_KNOBS, Dataflow, HardwareBatch
from airchitect.space.space import DesignSpace

SPLITS: tuple[str, ...] = ("train", "val", "test")
KEY_COLUMNS: tuple[str, ...] = ("family", "model", "layer_name", "op", *WORKLOAD_DIM_COLUMNS)
_LABEL_COLUMNS = ("found", "hw_index", *HARDWARE_KNOBS, "score", TOPK_COLUMN)
COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(("row_id", *KEY_COLUMNS, *INPUT_COLUMNS, *_LABEL_COLUMNS))
)
STREAM_CHUNK = 8192  # rows read per shard batch when streaming
#: Designs per row in a near-optimal set, by default: the winner and up to 8 runners-up (the
#: generator's default ``top_k``). Fixed per run, so streamed batches stack to the same shape.
NEAR_OPTIMAL_SLOTS = 9


# ---- splits --------------------------------------------------------------------------------------
def workload_keys(frame: pd.DataFrame) -> pd.Series:
    """One string per row naming its workload (source + dims); budgets/objective excluded."""
    key = frame[KEY_COLUMNS[0]].astype(str)
    for name in KEY_COLUMNS[1:]:  # column-wise concatenation: no per-row Python
        key = key + "|" + frame[name].astype(str)
    return key


def workload_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per workload of ``frame``: columns key, family, model."""
    groups = pd.DataFrame(
        {"key": workload_keys(frame), "family": frame["family"], "model": frame["model"]}
    )
    return groups.drop_duplicates("key")


def parse_split(split: str) -> tuple[str, list[str]]:
    """``("random", [])``, ``("family", names)`` or ``("model", names)``."""
    if split == "random":
        return "random", []
    kind, _, names = split.partition(":")
    values = [n.strip() for n in names.split(",") if n.strip()]
    if kind not in ("family", "model") or not values:
        raise ValueError(f"split must be 'random', 'family:NAME[,NAME]' or 'model:NAME[,NAME]', "
                         f"got {split!r}")  # fmt: skip
    return kind, values


def assign_groups(
    groups: pd.DataFrame, split: str, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, str]:
    """Workload key -> ``"train"|"val"|"test"``; ``groups`` has columns key, family, model."""
    kind, names = parse_split(split)
    groups = groups.drop_duplicates("key").sort_values("key", kind="stable")
    rng = np.random.default_rng(seed)
    out: dict[str, str] = {}
    if kind != "random":
        available = sorted(set(groups[kind]))
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"split {split!r}: no {kind} {unknown} in the data; have {available}")
        held = groups[kind].isin(names).to_numpy()
        out |= dict.fromkeys(groups["key"][held], "test")
        groups, test_fraction = groups[~held], 0.0
    keys = groups["key"].to_numpy()[rng.permutation(len(groups))]
    n_test = _count(len(keys), test_fraction)
    n_val = _count(len(keys) - n_test, val_fraction / max(1e-12, 1.0 - test_fraction))
    out |= dict.fromkeys(keys[:n_test], "test")
    out |= dict.fromkeys(keys[n_test : n_test + n_val], "val")
    out |= dict.fromkeys(keys[n_test + n_val :], "train")
    return out


def _count(n: int, fraction: float) -> int:
    """Groups for a split: at least one when asked for any and enough remain for training."""
    if fraction <= 0 or n < 3:
        return 0
    return int(min(n - 1, max(1, round(fraction * n))))


# ---- rows -> tensors -----------------------------------------------------------------------------
def knob_targets(frame: pd.DataFrame, space: DesignSpace) -> np.ndarray:
    """Index vectors `int64 (B, J)` of the rows' designs; checked against ``hw_index``."""
    columns = {k: frame[k].to_numpy() for k in HARDWARE_KNOBS}
    flows = frame["dataflow"]
    codes = {v: int(Dataflow.parse(v)) for v in flows.unique()}  # parse each name once
    columns["dataflow"] = flows.map(codes).to_numpy()
    idx = space.encode_batch(HardwareBatch.from_columns(columns))
    if len(idx) and not np.array_equal(space.flat_index(idx), frame["hw_index"].to_numpy()):
        raise ValueError("hw_index disagrees with the design columns: wrong space for this data?")
    return idx


def near_optimal_targets(
    frame: pd.DataFrame, space: DesignSpace, rtol: float, slots: int = NEAR_OPTIMAL_SLOTS
) -> tuple[np.ndarray, np.ndarray]:
    """Every design of a row scoring within ``rtol`` of its label: index vectors
    `int64 (B, slots, J)` and a mask `bool (B, slots)`.

    Slot 0 is the label; then the row's runners-up (``topk``, best first) whose score is at most
    ``score * (1 + rtol)``. Each is as right an answer as the label: regret at most ``1 + rtol``,
    and it fits the row's budget (the labellers only rank designs that fit). Unused slots repeat
    the label and are masked out. Rows without runners-up (imported data) keep the label alone.
    """
    flat = np.repeat(frame["hw_index"].to_numpy(dtype=np.int64)[:, None], slots, axis=1)
    mask = np.zeros(flat.shape, dtype=bool)
    mask[:, 0] = True
    topk = frame[TOPK_COLUMN] if TOPK_COLUMN in frame else [()] * len(frame)
    for i, (score, runners) in enumerate(zip(frame["score"].to_numpy(), topk, strict=True)):
        limit = float(score) * (1.0 + rtol)
        near = [int(c["hw_index"]) for c in (runners if runners is not None else ())
                if float(c["score"]) <= limit][: slots - 1]  # fmt: skip
        flat[i, 1 : 1 + len(near)] = near
        mask[i, 1 : 1 + len(near)] = True
    return space.unflat_index(flat.reshape(-1)).reshape(*flat.shape, -1), mask


def encode_rows(
    frame: pd.DataFrame,
    stats: FeatureStats,
    cost_stats: dict[str, Any],
    space: DesignSpace,
    near_optimal_rtol: float = 0.0,
    near_optimal_slots: int = NEAR_OPTIMAL_SLOTS,
) -> dict[str, torch.Tensor]:
    """Tensors of a frame: ``ids``/``values`` `(B, T)`, ``knobs`` `(B, J)`, ``hw_index`` and
    ``log_cost`` `(B,)`; with ``near_optimal_rtol > 0`` also ``near_knobs`` `(B, S, J)` and
    ``near_mask`` `(B, S)` (:func:`near_optimal_targets`)."""
    ids, values = encode_features(frame, stats)
    out = {
        "ids": torch.from_numpy(ids),
        "values": torch.from_numpy(values),
        "knobs": torch.from_numpy(knob_targets(frame, space)),
        "hw_index": torch.from_numpy(frame["hw_index"].to_numpy(dtype=np.int64, copy=True)),
        "log_cost": torch.from_numpy(normalise_cost(frame, cost_stats)),
    }
    if near_optimal_rtol > 0:
        near, mask = near_optimal_targets(frame, space, near_optimal_rtol, near_optimal_slots)
        out |= {"near_knobs": torch.from_numpy(near), "near_mask": torch.from_numpy(mask)}
    return out


class TensorBatches(Dataset):
    """Rows held as tensors; ``__getitems__`` slices a whole batch at once (no per-row collate)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {k: v[index] for k, v in self.tensors.items()}


def _keep_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return batch  # collate_fn for TensorBatches: the batch is already assembled


class StreamedRows(IterableDataset):
    """One split's rows read shard batch by shard batch, yielding encoded batches.

    Shard batches are dealt round-robin to (rank, worker) pairs, so data-loader workers and
    distributed ranks each see their own part; rows are shuffled within a chunk when
    ``shuffle`` (a seeded generator that advances each epoch).
    """

    def __init__(self, module: RecommenderDataModule, split: str, shuffle: bool) -> None:
        self.module, self.split, self.shuffle = module, split, shuffle
        self.epoch = 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        m = self.module
        part, parts = _partition()
        rng = np.random.default_rng([m.seed, self.epoch])
        self.epoch += 1
        for frame in m.iter_split_frames(self.split, part, parts):
            tensors = encode_rows(frame, m.feature_stats, m.cost_stats, m.space,
                                  m.near_optimal_rtol, m.near_optimal_slots)  # fmt: skip
            order = rng.permutation(len(frame)) if self.shuffle else np.arange(len(frame))
            for start in range(0, len(order), m.batch_size):
                index = torch.from_numpy(order[start : start + m.batch_size])
                yield {k: v[index] for k, v in tensors.items()}


def _partition() -> tuple[int, int]:
    """This reader's (part, parts) over distributed ranks x data-loader workers."""
    rank, world = 0, 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * nw + wid, world * nw


# ---- the data module -----------------------------------------------------------------------------
class RecommenderDataModule(pl.LightningDataModule):
    """Train/val/test loaders over a dataset directory; see the module docstring.

    After :meth:`setup`: ``space`` (the dataset's), ``feature_stats``, ``cost_stats``,
    ``group_split`` (workload key -> split) and, unless streaming, ``frames``/``tensors`` per
    split (``frames`` keeps ``row_id`` so evaluation can join back to the full rows).
    """

    def __init__(
        self,
        data_dir: str | Path,
        split: str = "random",
        val_fraction: float = 0.05,
        test_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 256,
        stream: bool = False,
        num_workers: int = 0,
        stats_rows: int = 1_000_000,
        given_knobs: tuple[str, ...] = (),
        near_optimal_rtol: float = 0.0,
        near_optimal_slots: int = NEAR_OPTIMAL_SLOTS,
        budget_features: bool = False,
        divisibility: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        parse_split(split)  # fail before any reading
        if not near_optimal_rtol >= 0:
            raise ValueError(f"near_optimal_rtol must be >= 0, got {near_optimal_rtol!r}")
        if not near_optimal_slots >= 1:
            raise ValueError(f"near_optimal_slots must be >= 1, got {near_optimal_slots!r}")
        self.near_optimal_rtol = float(near_optimal_rtol)
        self.near_optimal_slots = int(near_optimal_slots)
        self.budget_features = bool(budget_features)
        self.divisibility = tuple(int(m) for m in divisibility)
        self.data_dir, self.split = Path(data_dir), split
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self.batch_size, self.stream, self.num_workers = batch_size, stream, num_workers
        self.stats_rows = stats_rows
        self.manifest = Manifest.load(self.data_dir)
        self.space = DesignSpace.from_dict(self.manifest.space)
        knobs = [k.name for k in self.space.knobs]
        unknown = [k for k in given_knobs if k not in knobs]
        if unknown:
            raise ValueError(f"given_knobs {unknown} are not knobs of space "
                             f"{self.space.name!r}; allowed: {knobs}")  # fmt: skip
        self.given_knobs = tuple(given_knobs)
        self.feature_stats: FeatureStats | None = None
        self.cost_stats: dict[str, Any] | None = None
        self.group_split: dict[str, str] = {}
        self.frames: dict[str, pd.DataFrame] = {}
        self.tensors: dict[str, dict[str, torch.Tensor]] = {}

    def setup(self, stage: str | None = None) -> None:
        """Split and fit the statistics once (Lightning calls this per stage)."""
        if self.feature_stats is not None:
            return
        if self.stream:
            self._setup_stream()
        else:
            self._setup_memory()

    def _assign(self, groups: pd.DataFrame) -> None:
        self.group_split = assign_groups(
            groups, self.split, self.val_fraction, self.test_fraction, self.seed
        )

    def _fit(self, train: pd.DataFrame) -> None:
        if len(train) == 0:
            raise ValueError(f"{self.data_dir}: no training rows (split {self.split!r})")
        self.feature_stats = fit_feature_stats(
            train, given=self.given_knobs, space=self.space if self.budget_features else None,
            divisibility=self.divisibility,
        )  # fmt: skip
        self.cost_stats = fit_cost_stats(train)

    def split_frames(self) -> dict[str, pd.DataFrame]:
        """Every split's rows in memory, as read (no statistics fitted, nothing encoded)."""
        frame = read_dataset(self.data_dir, COLUMNS)
        frame = frame[frame["found"].astype(bool)].reset_index(drop=True)
        self._assign(workload_groups(frame))
        labels = workload_keys(frame).map(self.group_split).to_numpy()
        return {s: frame[labels == s].reset_index(drop=True) for s in SPLITS}

    def sample_split(self, split: str, rows: int, seed: int) -> pd.DataFrame:
        """A seeded sample of at most ``rows`` rows of ``split``, read chunk by chunk: memory
        holds the sample, never the split (for data larger than memory)."""
        if not self.group_split:
            self._assign_streamed()
        rng = np.random.default_rng(seed)
        kept, keys = pd.DataFrame(), np.zeros(0)
        for frame in self.iter_split_frames(split):
            # every row draws a key; the sample is the rows with the smallest keys so far
            kept = pd.concat([kept, frame], ignore_index=True)
            keys = np.concatenate([keys, rng.random(len(frame))])
            if len(kept) > rows:
                best = np.sort(np.argsort(keys, kind="stable")[:rows])
                kept, keys = kept.iloc[best].reset_index(drop=True), keys[best]
        return kept

    def _setup_memory(self) -> None:
        self.frames = self.split_frames()
        self._fit(self.frames["train"].iloc[: self.stats_rows])
        if len(self.frames["val"]) == 0:
            raise ValueError(f"{self.data_dir}: no validation rows; too few workloads to split")
        self.tensors = {
            s: encode_rows(
                f,
                self.feature_stats,
                self.cost_stats,
                self.space,
                self.near_optimal_rtol,
                self.near_optimal_slots,
            )
            for s, f in self.frames.items()
        }

    def _assign_streamed(self) -> None:
        """The split, from the workload keys only (one row per workload), read chunk by chunk."""
        parts = [workload_groups(f) for f in self._found_frames()]
        empty = pd.DataFrame(columns=["key", "family", "model"])
        self._assign(pd.concat(parts) if parts else empty)

    def _setup_stream(self) -> None:
        self._assign_streamed()  # pass 1: the split
        # pass 2: statistics from the first ``stats_rows`` training rows, as in memory
        sample, n = [], 0
        for frame in self.iter_split_frames("train"):
            sample.append(frame.iloc[: self.stats_rows - n])
            n += len(sample[-1])
            if n >= self.stats_rows:
                break
        self._fit(pd.concat(sample, ignore_index=True) if sample else pd.DataFrame())

    def _found_frames(self, part: int = 0, parts: int = 1) -> Iterator[pd.DataFrame]:
        for i, batch in enumerate(iter_batches(self.data_dir, STREAM_CHUNK, COLUMNS)):
            if i % parts == part:
                frame = batch.to_pandas()
                yield frame[frame["found"].astype(bool)].reset_index(drop=True)

    def iter_split_frames(
        self, split: str, part: int = 0, parts: int = 1
    ) -> Iterator[pd.DataFrame]:
        """Rows of ``split`` chunk by chunk, in shard order (this reader's part only)."""
        for frame in self._found_frames(part, parts):
            chosen = (workload_keys(frame).map(self.group_split) == split).to_numpy()
            if chosen.any():
                yield frame[chosen].reset_index(drop=True)

    def model_dims(self) -> dict[str, Any]:
        """The ``RecommenderConfig`` fields fixed by the data: vocabulary, tokens, knobs."""
        self.setup()
        assert self.feature_stats is not None
        return {
            "vocab_size": self.feature_stats.vocab_size,
            "n_tokens": self.feature_stats.n_tokens,
            "knob_cardinalities": [k.cardinality for k in self.space.knobs],
            "knob_kinds": [k.kind for k in self.space.knobs],
            "knob_names": [k.name for k in self.space.knobs],
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        if self.stream:
            dataset = StreamedRows(self, split, shuffle)
            return DataLoader(dataset, batch_size=None, num_workers=self.num_workers)
        return DataLoader(
            TensorBatches(self.tensors[split]), batch_size=self.batch_size, shuffle=shuffle,
            collate_fn=_keep_batch, num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed),
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
