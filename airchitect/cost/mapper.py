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
from itertools import product

import numpy as np

from airchitect.cost.batch import DRAM_ORDERS, LayerBatch, Mapping, MappingBatch
from airchitect.cost.model import CostBatch, dram_traffic_words, evaluate, l2_tiles
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HardwareBatch, HardwareConfig
from airchitect.workloads.layer import Layer

MAX_TRIPS_OPTIONS = 7  # DRAM-level trip counts tried per dimension: 1, 2, 4, ... 64
PE_REUSE_OPTIONS = (1, 2, 4, 8, 16, 32, 64)


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


def objective_values(cost: CostBatch, objective: Objective | str) -> np.ndarray:
    """The number to minimise per row; invalid rows score ``inf``."""
    field = {"latency": "cycles", "energy": "energy_pj", "edp": "edp"}[Objective.parse(objective)]
    return np.where(cost.valid, getattr(cost, field), np.inf)


def tile_options(bound: int, max_options: int = MAX_TRIPS_OPTIONS) -> np.ndarray:
    """Distinct tile extents ``ceil(bound / 2**i)``: the largest first, down to 1."""
    trips = 2 ** np.arange(max_options)
    return np.unique(-(-bound // trips[trips <= 2 * bound]))[::-1]


def mapping_candidates(layer: Layer) -> MappingBatch:
    """Every tiling x PE reuse of a layer's mapping space, with DRAM order 0 (chosen later)."""
    b = layer.bounds
    axes = [
        tile_options(b["N"], 3), tile_options(b["P"]), tile_options(b["K"]),
        tile_options(b["C"]), np.asarray(PE_REUSE_OPTIONS),
    ]  # fmt: skip
    grid = np.array(list(product(*axes)), dtype=np.int64)
    n, p, k, c, reuse = grid.T
    return MappingBatch(n, p, k, c, reuse, np.zeros_like(n))


def best_dram_order(layers: LayerBatch, mappings: MappingBatch) -> np.ndarray:
    """Per row, the DRAM loop order that moves the fewest DRAM words."""
    t = l2_tiles(layers, mappings)
    words = []
    for order in range(len(DRAM_ORDERS)):
        d = dram_traffic_words(t, np.array([order]))
        words.append(d["w"] + d["i"] + d["o_write"] + d["o_read"])
    return np.argmin(np.stack(words, axis=-1), axis=-1)


def _prefilter(layers: LayerBatch, hw: HardwareBatch, m: MappingBatch) -> MappingBatch:
    """Drop tilings whose L2 working set cannot fit: they can never be valid."""
    t = l2_tiles(layers, m)
    l2_bytes = (t["w_words"] + t["i_words"] + t["o_words"]) * layers.precision_bytes
    return m.take(np.flatnonzero(l2_bytes <= hw.l2_kib * 1024))


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
