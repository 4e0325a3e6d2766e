"""The analytical cost model, vectorised over rows of (layer, hardware, mapping).

Three memory levels: DRAM -> shared L2 -> (NoC) -> PE array with a per-PE L1. The model works in
two views of the loop nest. At the DRAM and L2 levels it is a convolution: an L2 tile is
``n_l2 x k_l2 x c_l2 x p_l2`` with Q, R, S whole, and its input footprint includes the halo.
At the array it is the GEMM view ``X = N*P*Q``, ``K``, ``F = C*R*S`` that systolic arrays see
(im2col), except for row-stationary, which keeps the convolution's sliding-window reuse.

Traffic follows Timeloop's rule: a tile is re-fetched once per iteration of every loop down to the
innermost loop that indexes it; loops inside that one reuse it. Latency is a roofline over the
levels: the max of compute cycles, NoC words over its bandwidth and DRAM bytes over its bandwidth,
and the argmax is the bottleneck reported with the answer.

Every input is a 1-D array; length-1 arrays broadcast, so a scalar evaluation is the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum, IntFlag

import numpy as np

from airchitect.cost.batch import DRAM_ORDERS, GROUPS, MAPPING_FIELDS, LayerBatch, MappingBatch
from airchitect.cost.dataflows import array_schedule, subset
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HardwareBatch

#: Bumped whenever a formula changes, so datasets record which model labelled them.
COST_MODEL_VERSION = "1.0.0"


class Bound(IntEnum):
    COMPUTE = 0
    NOC = 1
    DRAM = 2


class Invalid(IntFlag):
    """Why a row is invalid; 0 means valid. Several reasons can hold at once."""

    NONE = 0
    TILE_OUT_OF_RANGE = 1  # a tile extent is < 1 or larger than its loop bound
    L1_OVERFLOW = 2
    L2_OVERFLOW = 4
    REUSE_OUT_OF_RANGE = 8  # pe_reuse < 1

    @staticmethod
    def describe(code: int) -> str:
        if code == 0:
            return "valid"
        names = [f.name.lower() for f in Invalid if f and code & f]
        return ", ".join(names)


@dataclass(frozen=True)
class CostBatch:
    """Cost breakdown per row; every field has shape ``(n,)``. Energies in pJ."""

    macs: np.ndarray
    compute_cycles: np.ndarray
    noc_cycles: np.ndarray
    dram_cycles: np.ndarray
    cycles: np.ndarray
    seconds: np.ndarray
    bound: np.ndarray  # Bound codes
    energy_mac_pj: np.ndarray
    energy_l1_pj: np.ndarray
    energy_noc_pj: np.ndarray
    energy_l2_pj: np.ndarray
    energy_dram_pj: np.ndarray
    energy_pj: np.ndarray
    edp: np.ndarray  # pJ * s
    area_mm2: np.ndarray
    power_mw: np.ndarray
    utilization: np.ndarray
    pes_used: np.ndarray
    noc_words: np.ndarray
    dram_bytes: np.ndarray
    l1_bytes_needed: np.ndarray
    l2_bytes_needed: np.ndarray
    valid: np.ndarray
    invalid_reason: np.ndarray  # Invalid flags

    def __len__(self) -> int:
        return len(self.cycles)

    def row(self, i: int) -> dict:
        out = {f.name: getattr(self, f.name)[i].item() for f in fields(self)}
        out["bound"] = Bound(out["bound"]).name.lower()
        out["invalid_reason"] = Invalid.describe(out["invalid_reason"])
        return out


def _cdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -(-a // b)


def l2_tiles(lay: LayerBatch, m: MappingBatch) -> dict[str, np.ndarray]:
    """L2 tile extents, their word counts and the DRAM-level trip counts per loop group."""
    in_rows = (m.p_l2 - 1) * lay.stride + (lay.r - 1) * lay.dilation + 1
    t = {
        "x": m.n_l2 * m.p_l2 * lay.q,
        "f": m.c_l2 * lay.r * lay.s,
        "w_words": m.k_l2 * m.c_l2 * lay.r * lay.s,
        "i_words": m.n_l2 * m.c_l2 * in_rows * lay.input_w,
        "o_words": m.n_l2 * m.k_l2 * m.p_l2 * lay.q,
        "d_x": _cdiv(lay.n, m.n_l2) * _cdiv(lay.p, m.p_l2),
        "d_k": _cdiv(lay.k, m.k_l2),
        "d_f": _cdiv(lay.c, m.c_l2),
    }
    t["tiles"] = t["d_x"] * t["d_k"] * t["d_f"]
    return t


# Each tensor is indexed by two of the three loop groups. Under Timeloop's rule its tile is
# re-fetched on every trip of the loops down to the innermost one that indexes it, so the one
# irrelevant group costs re-fetches unless it is the innermost loop. Only the innermost group of
# a DRAM loop order therefore matters.
_INNERMOST = np.array([GROUPS.index(order[-1]) for order in DRAM_ORDERS])
_X, _K, _F = (GROUPS.index(g) for g in ("X", "K", "F"))


def dram_traffic_words(t: dict[str, np.ndarray], dram_order: np.ndarray) -> dict[str, np.ndarray]:
    """DRAM words moved per group instance for weights, inputs, output writes and psum reads."""
    innermost = _INNERMOST[dram_order]
    d_x, d_k, d_f = t["d_x"], t["d_k"], t["d_f"]
    unique_o = t["o_words"] * d_x * d_k
    o_writes = unique_o * np.where(innermost == _F, 1, d_f)
    return {
        "w": t["w_words"] * d_k * d_f * np.where(innermost == _X, 1, d_x),
        "i": t["i_words"] * d_x * d_f * np.where(innermost == _K, 1, d_k),
        "o_write": o_writes,
        "o_read": o_writes - unique_o,
    }


def _validity(lay: LayerBatch, m: MappingBatch, l1_words, l2_bytes_needed, hw) -> np.ndarray:
    reason = np.zeros(np.broadcast_shapes(l1_words.shape, l2_bytes_needed.shape), dtype=np.int64)
    in_range = np.ones_like(reason, dtype=bool)
    for extent, bound in ((m.n_l2, lay.n), (m.p_l2, lay.p), (m.k_l2, lay.k), (m.c_l2, lay.c)):
        in_range &= (extent >= 1) & (extent <= bound)
    reason |= np.where(in_range, 0, Invalid.TILE_OUT_OF_RANGE)
    reason |= np.where(m.pe_reuse >= 1, 0, Invalid.REUSE_OUT_OF_RANGE)
    reason |= np.where(l1_words * lay.precision_bytes <= hw.l1_bytes, 0, Invalid.L1_OVERFLOW)
    reason |= np.where(l2_bytes_needed <= hw.l2_kib * 1024, 0, Invalid.L2_OVERFLOW)
    return reason


def access_counts(
    lay: LayerBatch, hw: HardwareBatch, m: MappingBatch, tiles: dict | None = None
) -> dict:
    """Everything that does not depend on bandwidths or buffer sizes: tiles, the array
    schedule, NoC and DRAM words and compute cycles. Exhaustive search computes these once per
    (array, mapping) and reuses them across every bandwidth and buffer size; it passes the
    mappings' ``tiles`` (:func:`l2_tiles`) and hardware fields of shape ``(arrays, 1)``, so the
    result broadcasts to ``(arrays, mappings)``."""
    t = l2_tiles(lay, m) if tiles is None else tiles
    sched = array_schedule(lay, hw, m, t)
    dram = dram_traffic_words(t, m.dram_order)
    groups = lay.groups
    # Psums of an L2 tile that is not the first along F are read back into the array.
    noc_words = groups * (
        t["tiles"] * (sched["noc_w"] + sched["noc_i"] + 2 * sched["o_writes"] - t["o_words"])
        + (t["d_f"] - 1) * t["d_x"] * t["d_k"] * t["o_words"]
    )
    dram_words = groups * (dram["w"] + dram["i"] + dram["o_write"] + dram["o_read"])
    compute_cycles = groups * t["tiles"] * (sched["cycles"] + sched["loads"] * sched["fill"])
    return {
        "tiles": t,
        "schedule": sched,
        "noc_words": noc_words,
        "dram_words": dram_words,
        "compute_cycles": np.maximum(compute_cycles - sched["systolic"], 1),
    }


def energy_parts(lay: LayerBatch, hw: HardwareBatch, noc_words, dram_words, tech: TechTable):
    """Energy per level in pJ: MAC, L1, NoC, L2 and DRAM (per-access energies x counts)."""
    scale = lay.precision_bytes / 2.0  # per-access energies are for 16-bit words
    macs = lay.macs
    return (
        macs * tech.mac_pj * scale,
        macs * tech.l1_accesses_per_mac * tech.l1_pj(hw.l1_bytes) * scale,
        noc_words * tech.noc_pj * scale,
        (noc_words + dram_words) * tech.l2_pj(hw.l2_kib) * scale,
        dram_words * tech.dram_pj * scale,
    )


#: Rows scored per pass: large batches run in cache-sized chunks, which is faster than one
#: pass of many-megabyte temporaries.
CHUNK_ROWS = 1 << 15


def evaluate(
    layers: LayerBatch, hw: HardwareBatch, mapping: MappingBatch, tech: TechTable = DEFAULT_TECH
) -> CostBatch:
    """Score every row. Inputs of length 1 broadcast against the others, shape ``(n,)``."""
    n = max(len(layers), len(hw), len(mapping))
    if n <= CHUNK_ROWS:
        return _evaluate(layers, hw, mapping, tech)
    parts = []
    for start in range(0, n, CHUNK_ROWS):
        index = np.arange(start, min(start + CHUNK_ROWS, n))
        args = (subset(x, index) for x in (layers, hw, mapping))
        parts.append(_evaluate(*args, tech))
    return CostBatch(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(CostBatch)}
    )


def _evaluate(
    layers: LayerBatch, hw: HardwareBatch, mapping: MappingBatch, tech: TechTable
) -> CostBatch:
    lay, m = layers, mapping
    reason_tiles = m  # validity is judged on the mapping as given ...
    m = MappingBatch(*(np.maximum(getattr(m, f), 1) for f in MAPPING_FIELDS[:5]), m.dram_order)
    traffic = access_counts(lay, hw, m)  # ... while the arithmetic runs on extents >= 1
    t, sched = traffic["tiles"], traffic["schedule"]
    noc_words, dram_words = traffic["noc_words"], traffic["dram_words"]
    compute_cycles = traffic["compute_cycles"]
    word_bytes = lay.precision_bytes
    noc_cycles = noc_words / hw.noc_words_per_cycle
    dram_cycles = dram_words * word_bytes / hw.dram_bytes_per_cycle
    busy_cycles = compute_cycles + sched["exposed_noc"] * noc_cycles
    levels = np.stack(np.broadcast_arrays(busy_cycles, noc_cycles, dram_cycles), axis=-1)
    cycles = levels.max(axis=-1)
    seconds = cycles / (tech.clock_ghz * 1e9)

    macs = lay.macs
    e_mac, e_l1, e_noc, e_l2, e_dram = energy_parts(lay, hw, noc_words, dram_words, tech)
    energy = e_mac + e_l1 + e_noc + e_l2 + e_dram

    hw_args = (hw.pe_rows, hw.pe_cols, hw.l1_bytes, hw.l2_kib, hw.noc_words_per_cycle,
               hw.dram_bytes_per_cycle)  # fmt: skip
    l2_bytes_needed = (t["w_words"] + t["i_words"] + t["o_words"]) * word_bytes
    reason = _validity(lay, reason_tiles, sched["l1_words"], l2_bytes_needed, hw)
    n_pes = hw.pe_rows * hw.pe_cols

    def full(x: np.ndarray) -> np.ndarray:  # a read-only view, not a copy, where x is shorter
        return x if np.shape(x) == cycles.shape else np.broadcast_to(x, cycles.shape)

    return CostBatch(
        macs=full(macs),
        compute_cycles=full(compute_cycles),
        noc_cycles=full(noc_cycles),
        dram_cycles=full(dram_cycles),
        cycles=cycles,
        seconds=seconds,
        bound=levels.argmax(axis=-1),
        energy_mac_pj=full(e_mac),
        energy_l1_pj=full(e_l1),
        energy_noc_pj=full(e_noc),
        energy_l2_pj=full(e_l2),
        energy_dram_pj=full(e_dram),
        energy_pj=full(energy),
        edp=energy * seconds,
        area_mm2=full(tech.area_mm2(*hw_args)),
        power_mw=full(tech.power_mw(*hw_args)),
        utilization=macs / (cycles * n_pes),
        pes_used=full(sched["pes_used"]),
        noc_words=full(noc_words),
        dram_bytes=full(dram_words * word_bytes),
        l1_bytes_needed=full(sched["l1_words"] * word_bytes),
        l2_bytes_needed=full(l2_bytes_needed),
        valid=reason == 0,
        invalid_reason=reason,
    )
