"""Best mapping for (hardware, layer): score a point's whole mapping space in one vectorised call.

The mapping space of a layer on a hardware point is the product of L2 tile extents for N, P, K,
C (the loop bound split into 1, 2, 4, ... DRAM-level trips, i.e. ``ceil(bound / trips)``), the PE
reuse factor and the DRAM loop order. Two facts keep the search small without losing optima:
the DRAM loop order changes only DRAM traffic, and every objective grows with DRAM traffic, so
each tiling takes the order that moves the fewest DRAM words; and tilings whose L2 or L1 working
set cannot fit are dropped before they are scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np

from airchitect.cost.batch import DRAM_ORDERS, GROUPS, LayerBatch, Mapping, MappingBatch
from airchitect.cost.model import (
    CostBatch,
    access_counts,
    dram_traffic_words,
    energy_parts,
    evaluate,
    l2_tiles,
)
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HARDWARE_KNOBS, HardwareBatch, HardwareConfig
from airchitect.workloads.layer import Layer


@dataclass(frozen=True)
class MappingOptions:
    """The mapping space of one hardware point; a design-space file sets it (``mapping:``)."""

    trip_options: int = 8  # DRAM-level trip counts tried for P, K, C: 1, 2, 4, ... 2**(n-1)
    batch_trip_options: int = 3  # the same for N
    pe_reuse: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    # trip counts grow by 2**trip_step: 2 gives a coarse space (1, 4, 16, ...) for screening
    trip_step: int = 1

    def __post_init__(self) -> None:
        for name in ("trip_options", "batch_trip_options"):
            if not 1 <= getattr(self, name) <= 16:
                raise ValueError(f"field {name!r} must be in 1..16, got {getattr(self, name)!r}")
        if not 1 <= self.trip_step <= 4:
            raise ValueError(f"field 'trip_step' must be in 1..4, got {self.trip_step!r}")
        if not self.pe_reuse or any(int(r) < 1 for r in self.pe_reuse):
            raise ValueError(f"field 'pe_reuse' must be positive integers, got {self.pe_reuse!r}")

    def size(self, layer: Layer) -> int:
        """Mappings of ``layer`` in this space, DRAM loop orders included."""
        b = layer.bounds
        n = len(tile_options(b["N"], self.batch_trip_options, self.trip_step))
        for dim in ("P", "K", "C"):
            n *= len(tile_options(b[dim], self.trip_options, self.trip_step))
        return n * len(self.pe_reuse) * len(DRAM_ORDERS)


DEFAULT_MAPPING_OPTIONS = MappingOptions()


class Objective(StrEnum):
    LATENCY = "latency"
    ENERGY = "energy"
    EDP = "edp"

    @classmethod
    def parse(cls, value: str | Objective) -> Objective:
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(o.value for o in cls)
            raise ValueError(f"field 'objective' must be one of {allowed}, got {value!r}") from None


#: The cost field each objective minimises (CostBatch and cost-dict keys).
OBJECTIVE_FIELD: dict[str, str] = {"latency": "cycles", "energy": "energy_pj", "edp": "edp"}


def objective_values(cost: CostBatch, objective: Objective | str) -> np.ndarray:
    """The number to minimise per row; invalid rows score ``inf``."""
    field = OBJECTIVE_FIELD[Objective.parse(objective)]
    return np.where(cost.valid, getattr(cost, field), np.inf)


def tile_options(bound: int, max_options: int, step: int = 1) -> np.ndarray:
    """Distinct tile extents ``ceil(bound / 2**(step * i))``: the largest first, down to 1."""
    trips = 2 ** (step * np.arange(max_options))
    return np.unique(-(-bound // trips[trips <= 2 * bound]))[::-1]


@lru_cache(maxsize=4096)
def _candidate_grid(bounds: tuple[int, ...], options: MappingOptions) -> np.ndarray:
    n, p, k, c = bounds
    trips, step = options.trip_options, options.trip_step
    axes = [
        tile_options(n, options.batch_trip_options, step), tile_options(p, trips, step),
        tile_options(k, trips, step), tile_options(c, trips, step), np.asarray(options.pe_reuse),
    ]  # fmt: skip
    grid = np.stack([a.reshape(-1) for a in np.meshgrid(*axes, indexing="ij")])
    grid.setflags(write=False)
    return grid


def mapping_candidates(
    layer: Layer, options: MappingOptions = DEFAULT_MAPPING_OPTIONS
) -> MappingBatch:
    """Every tiling x PE reuse of a layer's mapping space, with DRAM order 0 (chosen later)."""
    b = layer.bounds
    n, p, k, c, reuse = _candidate_grid((b["N"], b["P"], b["K"], b["C"]), options)
    return MappingBatch(n, p, k, c, reuse, np.zeros_like(n))


# One DRAM loop order per innermost group: the only part of the order traffic depends on.
_ORDER_BY_INNERMOST = np.array(
    [next(i for i, o in enumerate(DRAM_ORDERS) if o[-1] == g) for g in GROUPS]
)


def best_dram_order(layers: LayerBatch, mappings: MappingBatch) -> np.ndarray:
    """Per row, the DRAM loop order that moves the fewest DRAM words."""
    t = l2_tiles(layers, mappings)
    words = []
    for order in _ORDER_BY_INNERMOST:
        d = dram_traffic_words(t, order)
        words.append(d["w"] + d["i"] + d["o_write"] + d["o_read"])
    return _ORDER_BY_INNERMOST[np.argmin(np.stack(words, axis=-1), axis=-1)]


def _within_l2(layers: LayerBatch, m: MappingBatch, l2_kib: float) -> MappingBatch:
    """Drop tilings whose L2 working set cannot fit ``l2_kib``: they can never be valid."""
    t = l2_tiles(layers, m)
    l2_bytes = (t["w_words"] + t["i_words"] + t["o_words"]) * layers.precision_bytes
    return m.take(np.flatnonzero(l2_bytes <= l2_kib * 1024))


def _prefilter(layers: LayerBatch, hw: HardwareBatch, m: MappingBatch) -> MappingBatch:
    """Drop tilings whose L2 working set cannot fit the one point ``hw``."""
    return _within_l2(layers, m, float(hw.l2_kib[0]))


@dataclass(frozen=True)
class MapperResult:
    mapping: Mapping | None  # None when no mapping is valid on this hardware
    cost: dict | None
    candidates_scored: int


def best_mapping(
    layer: Layer,
    hw: HardwareConfig,
    objective: Objective | str = Objective.EDP,
    tech: TechTable = DEFAULT_TECH,
) -> MapperResult:
    """The mapping of ``layer`` on ``hw`` that minimises ``objective``."""
    lay = LayerBatch.from_layers(layer)
    hwb = HardwareBatch.from_configs(hw)
    m = _prefilter(lay, hwb, mapping_candidates(layer))
    if len(m) == 0:
        return MapperResult(None, None, 0)
    m = MappingBatch(m.n_l2, m.p_l2, m.k_l2, m.c_l2, m.pe_reuse, best_dram_order(lay, m))
    cost = evaluate(lay, hwb, m, tech)
    score = objective_values(cost, objective)
    i = int(np.argmin(score))
    if not np.isfinite(score[i]):
        return MapperResult(None, None, len(m))
    return MapperResult(m.mapping(i), cost.row(i), len(m))


def _objective_scores(
    lay: LayerBatch, hw: HardwareBatch, cand: MappingBatch, tiles: dict, objective, tech
) -> np.ndarray:
    """The objective of every (point, candidate) pair, shape ``(points, candidates)``, from
    hardware fields of shape ``(points, 1)``: the same arithmetic as :func:`evaluate`, without
    the breakdown it also returns (only the winners need that); ``inf`` where invalid."""
    counts = access_counts(lay, hw, cand, tiles)
    sched, pb = counts["schedule"], lay.precision_bytes
    noc_cycles = counts["noc_words"] / hw.noc_words_per_cycle
    dram_cycles = counts["dram_words"] * pb / hw.dram_bytes_per_cycle
    busy = counts["compute_cycles"] + sched["exposed_noc"] * noc_cycles
    cycles = np.maximum(np.maximum(busy, noc_cycles), dram_cycles)
    objective = Objective.parse(objective)
    if objective is Objective.LATENCY:
        value = cycles
    else:
        parts = energy_parts(lay, hw, counts["noc_words"], counts["dram_words"], tech)
        value = parts[0] + parts[1] + parts[2] + parts[3] + parts[4]
        if objective is Objective.EDP:
            value = value * (cycles / (tech.clock_ghz * 1e9))
    l2_bytes = (tiles["w_words"] + tiles["i_words"] + tiles["o_words"]) * pb
    in_range = np.ones(len(cand), dtype=bool)
    for extent, bound in ((cand.n_l2, lay.n), (cand.p_l2, lay.p), (cand.k_l2, lay.k),
                          (cand.c_l2, lay.c)):  # fmt: skip
        in_range &= (extent >= 1) & (extent <= bound)
    valid = (sched["l1_words"] * pb <= hw.l1_bytes) & (l2_bytes <= hw.l2_kib * 1024) & in_range
    return np.where(valid, value, np.inf)


@dataclass(frozen=True)
class BestMappings:
    """Best mapping per hardware point; ``found[i]`` is False where no mapping is valid."""

    mappings: MappingBatch
    cost: CostBatch
    score: np.ndarray
    found: np.ndarray


def best_mappings(
    layer: Layer,
    hw: HardwareBatch,
    objective: Objective | str = Objective.EDP,
    tech: TechTable = DEFAULT_TECH,
    options: MappingOptions = DEFAULT_MAPPING_OPTIONS,
    max_rows: int = 1 << 20,
) -> BestMappings:
    """:func:`best_mapping` for many hardware points in one call, shape ``(len(hw),)``.

    The DRAM loop order depends only on the layer and tiling, so it is chosen once per
    candidate; the candidate x hardware product is then scored in chunks of ``max_rows``.
    """
    lay = LayerBatch.from_layers(layer)
    largest_l2 = float(np.max(hw.l2_kib)) if len(hw) else np.inf
    cand = _within_l2(lay, mapping_candidates(layer, options), largest_l2)
    if len(cand) == 0:  # no tiling fits even the largest L2 of the batch
        cand = mapping_candidates(layer, options).take(np.arange(1))
    cand = MappingBatch(cand.n_l2, cand.p_l2, cand.k_l2, cand.c_l2, cand.pe_reuse,
                        best_dram_order(lay, cand))  # fmt: skip
    n_cand, n_hw = len(cand), len(hw)
    best_idx = np.zeros(n_hw, dtype=np.int64)
    best_score = np.full(n_hw, np.inf)
    hw_per_chunk = max(1, max_rows // n_cand)
    # chunks of one dataflow each: the cost model then runs one schedule on every row instead
    # of splitting the rows by dataflow and scattering the results back
    by_dataflow = np.argsort(hw.dataflow, kind="stable")
    starts = np.flatnonzero(np.diff(hw.dataflow[by_dataflow], prepend=-1))
    bounds = [*starts.tolist(), n_hw]
    spans = zip(bounds, bounds[1:], strict=False)
    chunks = [by_dataflow[i:j][k : k + hw_per_chunk] for i, j in spans
              for k in range(0, j - i, hw_per_chunk)]  # fmt: skip
    tiles = l2_tiles(lay, cand)
    for hw_idx in chunks:
        chunk = HardwareBatch(*(getattr(hw, k)[hw_idx][:, None] for k in HARDWARE_KNOBS))
        score = _objective_scores(lay, chunk, cand, tiles, objective, tech)  # (chunk, cand)
        arg = score.argmin(axis=1)
        best_idx[hw_idx] = arg
        best_score[hw_idx] = score[np.arange(len(hw_idx)), arg]
    mappings = cand.take(best_idx)
    cost = evaluate(lay, hw, mappings, tech)
    return BestMappings(mappings, cost, best_score, np.isfinite(best_score))
