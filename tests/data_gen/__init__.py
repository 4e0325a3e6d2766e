"""Tests of the dataset format, with hand-built labels on the reduced space."""

from __future__ import annotations

from functools import cache
from typing import Any

from airchitect.cost.mapper import Objective
from airchitect.data_gen.manifest import Manifest
from airchitect.data_gen.schema import WorkloadSource, label_to_row
from airchitect.search.base import Candidate, Label, Task, make_candidate
from airchitect.space.budget import Budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer, conv2d

SPACE = DesignSpace.named("reduced")
LAYER = conv2d("conv", in_channels=16, out_channels=32, in_hw=14, kernel=3, padding=1)
#: Grid points whose mapping fits for LAYER, spread over the grid (checked in test_schema).
HW_INDICES = (123, 700, 1500, 2222, 3001, 3400)
GENERATOR = {"labeller": "exhaustive", "n": 12, "workloads": "tiny", "budget_evals": 64,
             "shards": 3, "seed": 7, "top_k": 2}  # fmt: skip
SEEDS = [1000, 1001, 1002]
UNCONSTRAINED = Budget()


@cache
def candidate(hw_index: int, objective: str = "latency") -> Candidate:
    cand = make_candidate(LAYER, SPACE, hw_index, Objective.parse(objective))
    assert cand is not None, f"no mapping fits at {hw_index}"
    return cand


def label(
    objective: str = "latency",
    budget: Budget = UNCONSTRAINED,
    ranked: tuple[int, ...] = HW_INDICES[:3],
    method: str = "exhaustive",
    evals: int = 3456,
) -> Label:
    """A label whose winner is ``ranked[0]`` and runners-up the rest; no winner if empty."""
    cands = [candidate(i, objective) for i in ranked]
    best = cands[0] if cands else None
    return Label(Task(budget, Objective.parse(objective)), method, evals, best, tuple(cands[1:]), 1)


def rows(shard: int, seed: int, layer: Layer = LAYER) -> list[dict[str, Any]]:
    """Four rows: latency/energy/edp labels (one budgeted, one by BO) and one without a design."""
    src = WorkloadSource("cnn", "tiny", f"conv-s{shard}")
    labels = [
        label("latency", ranked=HW_INDICES[:3]),
        label("energy", Budget(area_mm2=50.0), ranked=HW_INDICES[3:5]),
        label("edp", Budget(power_mw=500.0), ranked=HW_INDICES[5:], method="bo", evals=64),
        label("latency", Budget(area_mm2=0.01, power_mw=1.0), ranked=(), evals=0),
    ]
    return [label_to_row(layer, src, lab, shard, seed) for lab in labels]


def template(**generator: Any) -> Manifest:
    return Manifest.new(SPACE, GENERATOR | generator, SEEDS)
