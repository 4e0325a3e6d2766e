"""How each dataflow schedules one L2 tile on the PE array.

Each function returns, per L2 tile: compute ``cycles``; ``loads`` of the stationary operand into
the array and the ``fill`` cycles each costs (a systolic array's fill and drain, SCALE-Sim's
``2*rows + cols - 2``); words the NoC delivers for weights (``noc_w``) and inputs (``noc_i``);
output words written back to L2 (``o_writes``, psums included); the L1 words one PE needs; and
the PEs the spatial unrolling keeps busy; and the share of NoC time compute cannot hide.

Spatial unrolling follows the dataflow; the mapping's ``pe_reuse`` is how many operands along
the dataflow's reuse dimension one PE keeps in its L1 (Eyeriss's filters-per-PE), which divides
the NoC traffic of the streamed operand at the cost of L1 capacity.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from airchitect.cost.batch import LayerBatch, MappingBatch
from airchitect.space.hardware import Dataflow, HardwareBatch

Schedule = dict[str, np.ndarray]


#: Share of the NoC transfer time a row-stationary array cannot hide behind compute. Eyeriss's
#: scratchpads are single-buffered, so part of every pass's delivery stalls the PEs; systolic
#: arrays pass operands through pipeline registers and hide all of it. Calibrated once against
#: the Eyeriss chip's AlexNet latencies (docs/validation.md), then checked against MAESTRO.
RS_EXPOSED_NOC_FRACTION = 0.2


def _cdiv(a, b):
    return -(-a // b)


def _systolic_fill(hw: HardwareBatch) -> np.ndarray:
    return 2 * hw.pe_rows + hw.pe_cols - 2


def weight_stationary(lay: LayerBatch, hw: HardwareBatch, m: MappingBatch, t: Schedule) -> Schedule:
    """Rows take the flattened reduction F (im2col), columns take K; pixels stream through."""
    x, f, k = t["x"], t["f"], m.k_l2
    it_f = _cdiv(f, hw.pe_rows)
    k_pe = np.minimum(m.pe_reuse, _cdiv(k, hw.pe_cols))
    it_k = _cdiv(k, hw.pe_cols * k_pe)
    return {
        "cycles": it_k * it_f * x * k_pe,
        "loads": it_k * it_f,
        "fill": _systolic_fill(hw),
        "noc_w": k * f,
        "noc_i": it_k * x * f,
        "o_writes": it_f * x * k,
        "l1_words": 2 * k_pe + 1,
        "exposed_noc": np.zeros(1),
        "pes_used": np.minimum(f, hw.pe_rows) * np.minimum(k, hw.pe_cols),
    }


def output_stationary(lay: LayerBatch, hw: HardwareBatch, m: MappingBatch, t: Schedule) -> Schedule:
    """Rows take output pixels X, columns take K; the reduction F streams through."""
    x, f, k = t["x"], t["f"], m.k_l2
    it_x = _cdiv(x, hw.pe_rows)
    k_pe = np.minimum(m.pe_reuse, _cdiv(k, hw.pe_cols))
    it_k = _cdiv(k, hw.pe_cols * k_pe)
    return {
        "cycles": it_x * it_k * f * k_pe,
        "loads": it_x * it_k,
        "fill": _systolic_fill(hw),
        "noc_w": it_x * k * f,
        "noc_i": it_k * x * f,
        "o_writes": x * k,
        "l1_words": 2 * k_pe + 1,
        "exposed_noc": np.zeros(1),
        "pes_used": np.minimum(x, hw.pe_rows) * np.minimum(k, hw.pe_cols),
    }


def input_stationary(lay: LayerBatch, hw: HardwareBatch, m: MappingBatch, t: Schedule) -> Schedule:
    """Rows take the reduction F, columns take output pixels X; filters stream through."""
    x, f, k = t["x"], t["f"], m.k_l2
    it_f = _cdiv(f, hw.pe_rows)
    x_pe = np.minimum(m.pe_reuse, _cdiv(x, hw.pe_cols))
    it_x = _cdiv(x, hw.pe_cols * x_pe)
    return {
        "cycles": it_f * it_x * k * x_pe,
        "loads": it_f * it_x,
        "fill": _systolic_fill(hw),
        "noc_w": it_x * k * f,
        "noc_i": x * f,
        "o_writes": it_f * x * k,
        "l1_words": 2 * x_pe + 1,
        "exposed_noc": np.zeros(1),
        "pes_used": np.minimum(f, hw.pe_rows) * np.minimum(x, hw.pe_cols),
    }


def row_stationary(lay: LayerBatch, hw: HardwareBatch, m: MappingBatch, t: Schedule) -> Schedule:
    """Eyeriss: a PE runs a 1-D convolution of one filter row (length R here) along P.

    Rows take whole filter columns S, replicated over input channels C; columns take output
    columns Q. Inputs are multicast along diagonals, so the NoC carries the raw input footprint
    (with halo) rather than im2col copies.
    """
    s_rows = np.minimum(lay.s, hw.pe_rows)
    c_rep = hw.pe_rows // s_rows
    it_s = _cdiv(lay.s, s_rows)
    it_c = _cdiv(m.c_l2, c_rep)
    it_q = _cdiv(lay.q, hw.pe_cols)
    k_pe = np.minimum(m.pe_reuse, m.k_l2)
    it_k = _cdiv(m.k_l2, k_pe)
    return {
        "cycles": m.n_l2 * it_k * k_pe * it_c * it_s * it_q * m.p_l2 * lay.r,
        "loads": np.zeros_like(it_k),
        "fill": np.zeros_like(it_k),
        "noc_w": t["w_words"],
        "noc_i": it_k * t["i_words"],
        "o_writes": it_c * it_s * t["o_words"],
        "l1_words": k_pe * lay.r + lay.r + k_pe,
        "exposed_noc": np.full_like(it_k, 1, dtype=np.float64) * RS_EXPOSED_NOC_FRACTION,
        "pes_used": s_rows * np.minimum(m.c_l2, c_rep) * np.minimum(lay.q, hw.pe_cols),
    }


_SCHEDULERS = {
    Dataflow.WS: weight_stationary,
    Dataflow.OS: output_stationary,
    Dataflow.IS: input_stationary,
    Dataflow.RS: row_stationary,
}


def subset(obj, index: np.ndarray):
    """Rows ``index`` of a struct of arrays whose fields have length 1 (broadcast) or n."""

    def pick(a):
        return a if np.ndim(a) == 0 or a.shape[0] == 1 else a[index]

    if isinstance(obj, dict):
        return {k: pick(v) for k, v in obj.items()}
    return type(obj)(**{f.name: pick(getattr(obj, f.name)) for f in fields(obj)})


def array_schedule(lay: LayerBatch, hw: HardwareBatch, m: MappingBatch, t: Schedule) -> Schedule:
    """Dispatch every row to its dataflow's schedule and merge the results."""
    shape = np.broadcast_shapes(hw.dataflow.shape, m.k_l2.shape, lay.k.shape, t["x"].shape)
    dataflow = np.broadcast_to(hw.dataflow, shape)
    present = np.flatnonzero(np.bincount(dataflow.reshape(-1), minlength=len(Dataflow)))
    if len(present) == 1:  # the common case: one hardware point, many mappings
        out = _SCHEDULERS[Dataflow(int(present[0]))](lay, hw, m, t)
        out = {k: np.broadcast_to(v, shape) for k, v in out.items()}
    else:  # score each dataflow on its own rows only, then scatter back
        out = {}
        for df in present:
            index = np.flatnonzero(dataflow == df)
            args = (subset(x, index) for x in (lay, hw, m, t))
            for key, value in _SCHEDULERS[Dataflow(int(df))](*args).items():
                if key not in out:
                    out[key] = np.empty(shape, dtype=np.result_type(value))
                out[key][index] = value
    out["systolic"] = (dataflow != Dataflow.RS).astype(np.int64)
    return out
