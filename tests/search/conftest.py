"""Shared fixtures for the search labellers: small spaces whose exact optimum is cheap to find."""

from __future__ import annotations

import numpy as np
import pytest

from airchitect.cost.mapper import Objective
from airchitect.search.base import HardwareEvaluator, budget_feasible
from airchitect.space.budget import Budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer, conv2d

SMALL_CONV = conv2d("c", in_channels=32, out_channels=64, in_hw=28, kernel=3, padding=1)
#: Needs more than 2 KiB of L2 for any mapping.
BIG_CONV = conv2d("big", in_channels=512, out_channels=512, in_hw=56, kernel=7, padding=3)


def _space(name: str, **overrides: list) -> DesignSpace:
    hardware = {
        "pe_rows": [8, 16], "pe_cols": [8, 16], "l1_bytes": [64, 256], "l2_kib": [32, 128],
        "noc_words_per_cycle": [16], "dram_bytes_per_cycle": [32], "dataflow": ["ws", "os", "rs"],
    }  # fmt: skip
    return DesignSpace.from_dict({"name": name, "hardware": {**hardware, **overrides}})


@pytest.fixture(scope="session")
def reduced() -> DesignSpace:
    return DesignSpace.named("reduced")


@pytest.fixture(scope="session")
def tiny() -> DesignSpace:
    """48 points: every knob but the bandwidths has a choice."""
    return _space("tiny")


@pytest.fixture(scope="session")
def failing() -> DesignSpace:
    """48 points; the smaller L2 (2 KiB) fits no mapping of :data:`BIG_CONV`: half fail."""
    return _space("failing", l2_kib=[2, 64])


def exact_optimum(
    layer: Layer, space: DesignSpace, objective: Objective | str, budget: Budget | None = None
) -> float:
    """The best score over every budget-feasible point, each scored by the mapper."""
    budget = budget or Budget()
    everything = np.arange(space.size)
    scores = HardwareEvaluator(layer, space, Objective.parse(objective)).scores(everything)
    return float(scores[budget_feasible(space, everything, budget)].min())
