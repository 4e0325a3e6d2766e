from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from airchitect.models.data import (
    NEAR_OPTIMAL_SLOTS,
    RecommenderDataModule,
    StreamedRows,
    workload_keys,
)


def split_ids(dm: RecommenderDataModule) -> dict[str, set[str]]:
    dm.setup()
    return {s: set(f["row_id"]) for s, f in dm.frames.items()}


def test_random_split_is_disjoint_by_workload_and_deterministic(dataset_dir: Path) -> None:
    a = RecommenderDataModule(dataset_dir, seed=3, val_fraction=0.1, test_fraction=0.2)
    ids = split_ids(a)
    assert all(ids[s] for s in ("train", "val", "test"))
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"])
    keys = {s: set(workload_keys(f)) for s, f in a.frames.items()}
    assert not (keys["train"] & keys["test"]) and not (keys["train"] & keys["val"])
    assert split_ids(RecommenderDataModule(dataset_dir, seed=3, val_fraction=0.1,
                                           test_fraction=0.2)) == ids  # fmt: skip
    assert split_ids(RecommenderDataModule(dataset_dir, seed=4, val_fraction=0.1,
                                           test_fraction=0.2)) != ids  # fmt: skip


@pytest.mark.parametrize("split", ["family:llm,rl", "model:resnet50"])
def test_held_out_sources_never_reach_train(dataset_dir: Path, split: str) -> None:
    dm = RecommenderDataModule(dataset_dir, split=split, val_fraction=0.1)
    dm.setup()
    kind, names = split.split(":")
    names = names.split(",")
    assert set(dm.frames["test"][kind]) == set(names)
    for s in ("train", "val"):
        assert not dm.frames[s][kind].isin(names).any()
    # the statistics saw training rows only: a held-out-only op is unknown to them
    train_ops = set(dm.frames["train"]["op"])
    assert set(dm.feature_stats.categorical["op"]) == train_ops


def test_every_found_row_lands_in_exactly_one_split(
    dataset_dir: Path, dataset_frame: pd.DataFrame
) -> None:
    ids = split_ids(RecommenderDataModule(dataset_dir, split="family:llm"))
    found = set(dataset_frame.loc[dataset_frame["found"], "row_id"])
    assert sum(len(v) for v in ids.values()) == len(found)
    assert set().union(*ids.values()) == found


def test_bad_split_names_are_refused(dataset_dir: Path) -> None:
    with pytest.raises(ValueError, match="split must be"):
        RecommenderDataModule(dataset_dir, split="layer:conv1")
    dm = RecommenderDataModule(dataset_dir, split="family:nosuchfamily")
    with pytest.raises(ValueError, match="nosuchfamily"):
        dm.setup()


def test_targets_come_from_the_dataset_space(dataset_dir: Path) -> None:
    dm = RecommenderDataModule(dataset_dir)
    dm.setup()
    t = dm.tensors["train"]
    flat = dm.space.flat_index(t["knobs"].numpy())
    assert np.array_equal(flat, t["hw_index"].numpy())
    assert (t["knobs"] < torch.tensor(dm.space.cardinalities)).all()
    dims = dm.model_dims()
    assert dims["knob_kinds"][-1] == "categorical" and dims["knob_cardinalities"][0] == 4
    batch = next(iter(dm.train_dataloader()))
    assert batch["ids"].shape == (min(256, len(dm.frames["train"])), dims["n_tokens"])


def _concat(batches) -> dict[str, torch.Tensor]:
    batches = list(batches)
    return {k: torch.cat([b[k] for b in batches]) for k in batches[0]}


def test_stream_yields_the_same_rows(dataset_dir: Path) -> None:
    memory = RecommenderDataModule(dataset_dir, split="family:llm", batch_size=64)
    memory.setup()
    stream = RecommenderDataModule(dataset_dir, split="family:llm", batch_size=64, stream=True)
    stream.setup()
    assert stream.group_split == memory.group_split
    assert stream.feature_stats.to_dict() == memory.feature_stats.to_dict()
    for split in ("train", "val", "test"):
        got = _concat(StreamedRows(stream, split, shuffle=False))
        for k, v in memory.tensors[split].items():
            assert torch.equal(got[k], v), (split, k)
    shuffled = _concat(stream.train_dataloader())
    assert sorted(shuffled["hw_index"].tolist()) == sorted(
        memory.tensors["train"]["hw_index"].tolist()
    )


def test_a_streamed_sample_is_seeded_and_stays_inside_its_split(dataset_dir: Path) -> None:
    split = dict(split="random", seed=2, val_fraction=0.2, test_fraction=0.2)
    whole = RecommenderDataModule(dataset_dir, **split).split_frames()
    stream = RecommenderDataModule(dataset_dir, stream=True, **split)
    for name, frame in whole.items():
        sample = stream.sample_split(name, 25, seed=1)
        assert len(sample) == min(25, len(frame))
        assert set(sample["row_id"]) <= set(frame["row_id"])
        again = RecommenderDataModule(dataset_dir, stream=True, **split)
        assert again.sample_split(name, 25, seed=1)["row_id"].tolist() == sample["row_id"].tolist()
    everything = stream.sample_split("train", 10**6, seed=0)  # larger than the split: all of it
    assert sorted(everything["row_id"]) == sorted(whole["train"]["row_id"])


def test_run_splits_of_a_streamed_run_are_capped_samples(dataset_dir: Path) -> None:
    from airchitect.models.finetune import run_splits

    dm = RecommenderDataModule(dataset_dir)
    cfg = {"split": "random", "val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}
    streamed = {"train_config": cfg | {"stream": True}, "space_hash": dm.space.hash}
    frames = run_splits(streamed, dataset_dir, max_rows=30, seed=0)
    full = run_splits({**streamed, "train_config": cfg}, dataset_dir)
    for name in ("train", "val", "test"):
        assert len(frames[name]) == min(30, len(full[name]))
        assert set(frames[name]["row_id"]) <= set(full[name]["row_id"])


@pytest.mark.parametrize("rtol", [1e-6, 0.05, 10.0])
def test_near_optimal_sets_hold_the_label_and_every_runner_up_within_rtol(
    dataset_dir: Path, rtol: float
) -> None:
    dm = RecommenderDataModule(dataset_dir, near_optimal_rtol=rtol)
    dm.setup()
    frame, t = dm.frames["train"], dm.tensors["train"]
    near, mask = t["near_knobs"].numpy(), t["near_mask"].numpy()
    assert near.shape[:2] == mask.shape == (len(frame), NEAR_OPTIMAL_SLOTS)
    assert mask[:, 0].all() and np.array_equal(near[:, 0], t["knobs"].numpy())
    for i, (score, runners) in enumerate(zip(frame["score"], frame["topk"], strict=True)):
        want = [r["hw_index"] for r in runners if r["score"] <= score * (1 + rtol)]
        got = dm.space.flat_index(near[i][mask[i]]).tolist()
        assert got == [frame["hw_index"][i], *want][:NEAR_OPTIMAL_SLOTS]
    if rtol == 10.0:  # every runner-up of the generator's 8 counts
        assert mask.sum(1).max() == NEAR_OPTIMAL_SLOTS


@pytest.mark.parametrize("slots", [1, 4, 30])
def test_near_optimal_sets_hold_as_many_designs_as_slots_allow(dataset_dir: Path, slots) -> None:
    dm = RecommenderDataModule(dataset_dir, near_optimal_rtol=10.0, near_optimal_slots=slots)
    dm.setup()
    frame, t = dm.frames["train"], dm.tensors["train"]
    mask = t["near_mask"].numpy()
    assert mask.shape == (len(frame), slots)
    # every runner-up is within a factor 11 of the label: the set is as wide as the data allows
    want = np.minimum(frame["topk"].map(len).to_numpy() + 1, slots)
    assert np.array_equal(mask.sum(1), want)
    with pytest.raises(ValueError, match="near_optimal_slots"):
        RecommenderDataModule(dataset_dir, near_optimal_rtol=0.1, near_optimal_slots=0)


def test_without_rtol_rows_carry_no_near_optimal_set(dataset_dir: Path) -> None:
    dm = RecommenderDataModule(dataset_dir)
    dm.setup()
    assert "near_knobs" not in dm.tensors["train"]
    with pytest.raises(ValueError, match="near_optimal_rtol"):
        RecommenderDataModule(dataset_dir, near_optimal_rtol=-0.1)
