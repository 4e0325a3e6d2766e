"""Dataset generation: plan shards, label each deterministically, write them resumably.

A shard's rows depend only on the generator config and the shard's index (its seed comes from
the config's seed), so shards can run in any order, on any worker, and a resumed or repeated
run rewrites the same bytes. Workers only label; the driver is the one writer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from airchitect import limits
from airchitect.cost.mapper import Objective
from airchitect.data_gen.manifest import Manifest
from airchitect.data_gen.schema import WorkloadSource, label_to_row
from airchitect.data_gen.workloads import Workload, parse_sources, workload_pool
from airchitect.search.base import DEFAULT_TOP_K, Task
from airchitect.search.registry import LABELLERS, make_labeller
from airchitect.space.budget import Budget, hardware_area_mm2, hardware_power_mw
from airchitect.space.space import DesignSpace

# 2: a workload's budgets come from (seed, workload index) alone, not from its shard's stream
GENERATOR_VERSION = 2
ROWS_PER_SHARD = 100  # small shards: balanced workers, fine progress, cheap resume after a kill


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that decides a dataset's contents (executors and workers do not)."""

    n: int
    workloads: str = "zoo+synthetic"
    space: str = "default"
    labeller: str = "exhaustive"
    budget_evals: int = 100
    shards: int = 0  # 0: one shard per ROWS_PER_SHARD rows
    seed: int = 0
    top_k: int = DEFAULT_TOP_K
    budgets_per_workload: int = 3

    def __post_init__(self) -> None:
        parse_sources(self.workloads)
        checks = {
            "n": self.n >= 1, "budget_evals": self.budget_evals >= 1, "shards": self.shards >= 0,
            "top_k": 0 <= self.top_k <= 64, "budgets_per_workload": self.budgets_per_workload >= 1,
            "seed": self.seed >= 0,
        }  # fmt: skip
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"field {name!r} is out of range: {getattr(self, name)!r}")
        for name, key in (("n", "generate_n"), ("shards", "shards"), ("seed", "seed"),
                          ("budget_evals", "budget_evals"),
                          ("budgets_per_workload", "budgets_per_workload")):  # fmt: skip
            limits.check(name, getattr(self, name), limits.COUNTS[key])
        if self.shards > self.n:  # a shard per row at most: more would be written empty
            raise ValueError(f"field 'shards' must be at most n={self.n}, got {self.shards}")
        if self.labeller not in LABELLERS:
            raise ValueError(
                f"field 'labeller' must be one of {', '.join(LABELLERS)}, got {self.labeller!r}"
            )
        DesignSpace.named(self.space)  # fails early, naming the file or the allowed names

    @property
    def n_shards(self) -> int:
        return self.shards or max(1, math.ceil(self.n / ROWS_PER_SHARD))

    @property
    def rows_per_workload(self) -> int:
        return self.budgets_per_workload * len(Objective)

    def shard_seeds(self) -> list[int]:
        state = np.random.SeedSequence(self.seed).generate_state(self.n_shards, dtype=np.uint32)
        return [int(s) for s in state]

    def to_dict(self) -> dict:
        return {**asdict(self), "shards": self.n_shards, "version": GENERATOR_VERSION}


def shard_row_ranges(config: GeneratorConfig) -> list[range]:
    """Global row indices of each shard: contiguous, sizes differing by at most one."""
    bounds = np.linspace(0, config.n, config.n_shards + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@lru_cache(maxsize=4)
def _pool(config: GeneratorConfig) -> tuple[Workload, ...]:
    """The workloads row blocks are drawn from, shuffled by the seed (cached per process)."""
    n_workloads = math.ceil(config.n / config.rows_per_workload)
    sources = parse_sources(config.workloads)
    real = workload_pool([s for s in sources if s != "synthetic"], 0, config.seed)
    n_synthetic = max(0, n_workloads - len(real)) * 2 if "synthetic" in sources else 0
    pool = workload_pool(sources, n_synthetic, config.seed)
    order = np.random.default_rng(config.seed).permutation(len(pool))
    return tuple(pool[i] for i in order)


@lru_cache(maxsize=4)
def _budget_ranges(space_name: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Realistic budget ranges: the 2nd to 98th percentile of the space's area and power."""
    hw = DesignSpace.named(space_name).enumerate()
    area, power = hardware_area_mm2(hw), hardware_power_mw(hw)
    return tuple(np.percentile(area, [2, 98])), tuple(np.percentile(power, [2, 98]))


def sample_budget(rng: np.random.Generator, space_name: str) -> Budget:
    """Log-uniform area and power budgets; either may be absent (unconstrained)."""
    area_range, power_range = _budget_ranges(space_name)

    def log_uniform(lo: float, hi: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    area = log_uniform(*area_range) if rng.random() < 0.8 else None
    power = log_uniform(*power_range) if rng.random() < 0.5 else None
    return Budget(area_mm2=round(area, 3) if area else None,
                  power_mw=round(power, 1) if power else None)  # fmt: skip


def _distinct_budgets(
    rng: np.random.Generator, config: GeneratorConfig, taken: set[Budget] = frozenset()
) -> list[Budget]:
    """Budgets for one workload, all different and none in ``taken``: two unconstrained draws
    would label the same task twice."""
    budgets: list[Budget] = []
    while len(budgets) < config.budgets_per_workload:
        budget = sample_budget(rng, config.space)
        if budget not in budgets and budget not in taken:
            budgets.append(budget)
    return budgets


def workload_budgets(config: GeneratorConfig, w: int, pool_size: int) -> list[Budget]:
    """The budgets of the ``w``-th workload visit, drawn from (seed, w) alone.

    So a workload whose rows straddle two shards gets the same budgets in both, and when the
    pool wraps (visit w + pool_size is the same layer again) the later visit avoids every
    budget of the earlier ones: otherwise an unconstrained budget would repeat a task."""
    taken: set[Budget] = set()
    for visit in range(w % pool_size, w + 1, pool_size):
        rng = np.random.default_rng([config.seed, visit])
        budgets = _distinct_budgets(rng, config, taken)
        taken.update(budgets)
    return budgets


def shard_tasks(config: GeneratorConfig, shard: int) -> list[tuple[Workload, list[Task]]]:
    """The (workload, tasks) pairs of one shard, rows in global order."""
    rows = shard_row_ranges(config)[shard]
    pool, per = _pool(config), config.rows_per_workload
    plan: list[tuple[Workload, list[Task]]] = []
    for w in range(rows.start // per, math.ceil(rows.stop / per)):
        budgets = workload_budgets(config, w, len(pool))
        tasks = [Task(b, o) for b in budgets for o in Objective]
        first, last = w * per, (w + 1) * per
        keep = tasks[max(0, rows.start - first) : per - max(0, last - rows.stop)]
        plan.append((pool[w % len(pool)], keep))
    return plan


@lru_cache(maxsize=4)
def _labeller(name: str, space: str, top_k: int):
    """One labeller per process: the exhaustive one caches the grid's area and power."""
    return make_labeller(name, DesignSpace.named(space), top_k)


def label_shard(
    config: GeneratorConfig, shard: int, on_rows: Callable[[int], None] | None = None
) -> list[dict]:
    """Label every row of one shard; pure function of (config, shard). ``on_rows`` hears the
    number of rows each workload adds, as they are labelled (progress)."""
    labeller = _labeller(config.labeller, config.space, config.top_k)
    seed = config.shard_seeds()[shard]
    rows = []
    for i, (workload, tasks) in enumerate(shard_tasks(config, shard)):
        labels = labeller.label(workload.layer, tasks, config.budget_evals, seed=seed + i)
        source = WorkloadSource(workload.family, workload.model, workload.layer.name)
        rows += [label_to_row(workload.layer, source, lab, shard, seed) for lab in labels]
        if on_rows is not None:
            on_rows(len(labels))
    return rows


def new_manifest(config: GeneratorConfig) -> Manifest:
    return Manifest.new(DesignSpace.named(config.space), config.to_dict(), config.shard_seeds())
