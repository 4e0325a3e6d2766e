"""Schema rows of a parsed AIrchitect v2 file, built column by column (no per-row Python but
the row-id hash).

Each data row becomes one label on the v2 space: design = the decoded (#PE, buffer level,
dataflow), ``score`` = the file's ``rewards`` (MAESTRO cycles), ``evals`` = 0, ``layer_name`` =
``line<N>`` (the CSV's own line). The mapping and the other cost columns are this project's
cost model on that design, from one of two mappers:

- ``"reduced"`` (the default, seconds for 1e5 rows): every row tries the same
  :data:`REDUCED_TILINGS` x :data:`REDUCED_PE_REUSE` mappings in one vectorised call and keeps
  the fastest that fits the buffers;
- ``"full"``: the exhaustive per-layer mapper of label generation (about 10 ms a row).

Where no tried mapping fits, the row keeps the one that overflows the buffers least, costed
as if it fit, and ``failures`` = 1 flags it. A degenerate row (no layer: a conv kernel larger
than its input, a GEMM with a zero dimension) that the user keeps is written with
``found`` = False, ``label_method`` = :data:`DEGENERATE_METHOD`, output sizes clipped at 0 and
no design.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from airchitect.cost.batch import MAPPING_FIELDS, LayerBatch, MappingBatch
from airchitect.cost.mapper import Objective, best_dram_order
from airchitect.cost.model import Bound, CostBatch, evaluate
from airchitect.data_gen.schema import (
    COST_COLUMNS,
    DESIGN_COLUMNS,
    TOPK_COLUMN,
    WORKLOAD_DIM_COLUMNS,
    dataset_schema,
    row_id,
    topk_type,
)
from airchitect.search.base import make_candidate
from airchitect.space.hardware import HARDWARE_KNOBS, Dataflow, HardwareBatch
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer, OpType

if TYPE_CHECKING:
    from airchitect.data_gen.airchitect_v2 import V2File

LABEL_METHOD = "airchitect-v2"
DEGENERATE_METHOD = "airchitect-v2-degenerate"
MAPPERS: tuple[str, ...] = ("reduced", "full")
#: Halvings of every DRAM-level tile (P, K and C alike): extents ceil(bound / 2**h).
REDUCED_TILINGS: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
REDUCED_PE_REUSE: tuple[int, ...] = (1, 8)
_DATAFLOW_CODES = {"dla": int(Dataflow.WS), "eye": int(Dataflow.RS), "shi": int(Dataflow.OS)}


def layer_columns(file: V2File) -> dict[str, np.ndarray]:
    """The workload columns (``n`` .. ``macs`` and ``op``) of every row: a stride-1 unpadded
    conv of the input X x Y (``conv2d(in_hw=(Y, X))``), or ``gemm(m=M, k=GEMM_K, n=N)``."""
    f, n = file.frame, len(file.frame)
    one = np.ones(n, dtype=np.int64)
    if file.kind == "conv":
        dims = {"k": f["K"], "c": f["C"], "p": f["Y"] - f["R"] + 1, "q": f["X"] - f["S"] + 1,
                "r": f["R"], "s": f["S"]}  # fmt: skip
        op = OpType.CONV.value
    else:
        dims = {"k": f["N"], "c": f["GEMM_K"], "p": f["M"], "q": one, "r": one, "s": one}
        op = OpType.GEMM.value
    cols = {name: np.maximum(np.asarray(v, dtype=np.int64), 0) for name, v in dims.items()}
    cols |= {"n": one, "stride": one, "dilation": one, "groups": one, "precision_bytes": 2 * one}
    cols["macs"] = cols["n"] * cols["k"] * cols["c"] * cols["p"] * cols["q"] * cols["r"] * cols["s"]
    out = {name: cols[name] for name in WORKLOAD_DIM_COLUMNS}
    out["op"] = np.full(n, op, dtype=object)
    return out


def design_levels(file: V2File, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """1-based (#PE level, buffer level) of every row's ConfigID under ``scheme``."""
    from airchitect.data_gen.airchitect_v2 import BUFFER_LEVELS, PE_LEVELS, SCHEMES

    s = SCHEMES[scheme]
    z = file.frame["ConfigID"].to_numpy(dtype=np.int64) - s.first_id
    if s.pe_major:
        pe, buf = np.divmod(z, BUFFER_LEVELS)
    else:
        buf, pe = np.divmod(z, PE_LEVELS)
    return pe + 1, buf + 1


def design_hardware(
    space: DesignSpace, file: V2File, scheme: str
) -> tuple[np.ndarray, HardwareBatch]:
    """Flat grid indices and hardware of every row's label design."""
    pe, buf = design_levels(file, scheme)
    dataflows = space.knobs[HARDWARE_KNOBS.index("dataflow")].values
    codes = file.frame["df"].map(_DATAFLOW_CODES).to_numpy(dtype=np.int64)
    df_level = _levels_of(dataflows)[codes]
    idx = np.zeros((len(pe), len(HARDWARE_KNOBS)), dtype=np.int64)
    idx[:, HARDWARE_KNOBS.index("pe_rows")] = pe - 1
    idx[:, HARDWARE_KNOBS.index("l2_kib")] = buf - 1
    idx[:, HARDWARE_KNOBS.index("dataflow")] = df_level
    return space.flat_index(idx), space.decode_batch(idx)


def _levels_of(dataflows: tuple) -> np.ndarray:
    """Level of each Dataflow code in the space's dataflow knob (-1 where absent)."""
    levels = np.full(max(int(d) for d in Dataflow) + 1, -1, dtype=np.int64)
    for d in Dataflow:
        if d in dataflows:
            levels[int(d)] = dataflows.index(d)
    return levels


# ---- costs of the label design -------------------------------------------------------------------
def reduced_mappings(
    lay: LayerBatch, hw: HardwareBatch
) -> tuple[MappingBatch, CostBatch, np.ndarray]:
    """Per row the fastest of the reduced mappings that fits, else the least overflowing;
    returns the mappings, their costs and whether each fits."""
    n = len(lay)
    best_key = np.full((n, 2), np.inf)  # (overflow bytes, cycles)
    best: dict[str, np.ndarray] = {f: np.ones(n, dtype=np.int64) for f in MAPPING_FIELDS}
    for halving in REDUCED_TILINGS:
        for reuse in REDUCED_PE_REUSE:
            tile = {d: np.maximum(-(-getattr(lay, d) // (1 << halving)), 1) for d in "pkc"}
            m = MappingBatch(
                lay.n,
                tile["p"],
                tile["k"],
                tile["c"],
                np.full(n, reuse, dtype=np.int64),
                np.zeros(n, dtype=np.int64),
            )
            m = MappingBatch(*(getattr(m, f) for f in MAPPING_FIELDS[:-1]), best_dram_order(lay, m))
            cost = evaluate(lay, hw, m)
            over = np.maximum(cost.l2_bytes_needed - hw.l2_kib * 1024, 0)
            over = over + np.maximum(cost.l1_bytes_needed - hw.l1_bytes, 0)
            better = (over < best_key[:, 0]) | (
                (over == best_key[:, 0]) & (cost.cycles < best_key[:, 1])
            )
            best_key[better] = np.stack([over, cost.cycles], axis=1)[better]
            for f in MAPPING_FIELDS:
                best[f][better] = getattr(m, f)[better]
    mappings = MappingBatch(**best)
    return mappings, evaluate(lay, hw, mappings), best_key[:, 0] == 0


def _full_mappings(
    layers: list[Layer],
    space: DesignSpace,
    hw_index: np.ndarray,
    lay: LayerBatch,
    hw: HardwareBatch,
) -> tuple[MappingBatch, CostBatch, np.ndarray]:
    """The exhaustive mapper of label generation, row by row (slow); rows without a fitting
    mapping fall back to the reduced mappers' least overflowing one."""
    mappings, _, fits = reduced_mappings(lay, hw)
    cols = {f: getattr(mappings, f).copy() for f in MAPPING_FIELDS}
    fits = np.zeros(len(layers), dtype=bool)
    for i, layer in enumerate(layers):
        cand = make_candidate(layer, space, int(hw_index[i]), Objective.LATENCY)
        if cand is not None:
            fits[i] = True
            for f in MAPPING_FIELDS:
                cols[f][i] = getattr(cand.mapping, f)
    mappings = MappingBatch(**cols)
    return mappings, evaluate(lay, hw, mappings), fits


def _layer_batch(cols: dict[str, np.ndarray]) -> LayerBatch:
    return LayerBatch(
        **{
            name: cols[name]
            for name in (
                "n",
                "k",
                "c",
                "p",
                "q",
                "r",
                "s",
                "stride",
                "dilation",
                "groups",
                "precision_bytes",
            )
        }
    )


# ---- the table -----------------------------------------------------------------------------------
def file_table(
    file: V2File, space: DesignSpace, scheme: str, keep: np.ndarray, mapper: str = "reduced"
) -> pa.Table:
    """The schema table of the rows of ``file`` where ``keep`` is True, in file order."""
    if mapper not in MAPPERS:
        raise ValueError(f"field 'mapper' must be one of {', '.join(MAPPERS)}, got {mapper!r}")
    frame = file.frame[keep].reset_index(drop=True)
    sub = type(file)(file.path, file.kind, frame)
    n = len(frame)
    work = layer_columns(sub)
    found = ~frame["degenerate"].to_numpy(dtype=bool)
    family, model = f"airchitect-v2-{file.kind}", Path(file.name).stem
    names = np.array([f"line{line}" for line in frame["line"]], dtype=object)
    cols: dict[str, object] = {
        "row_id": _row_ids(family, model, names, work),
        "shard": np.zeros(n, dtype=np.int32), "seed": np.zeros(n, dtype=np.int64),
        "family": np.full(n, family, dtype=object), "model": np.full(n, model, dtype=object),
        "layer_name": names, **work,
        "area_budget_mm2": np.full(n, None, dtype=object),
        "power_budget_mw": np.full(n, None, dtype=object),
        "objective": np.full(n, Objective.LATENCY.value, dtype=object),
        "label_method": np.where(found, LABEL_METHOD, DEGENERATE_METHOD).astype(object),
        "evals": np.zeros(n, dtype=np.int64), "found": found,
    }  # fmt: skip
    design = _design(sub, space, scheme, work, found, mapper)
    cols["failures"] = design.pop("failures")
    cols |= design
    cols[TOPK_COLUMN] = pa.array([[] for _ in range(n)], type=topk_type())
    schema = dataset_schema()
    arrays = [
        cols[f.name]
        if isinstance(cols[f.name], pa.Array)
        else pa.array(cols[f.name], type=f.type, from_pandas=True)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _design(
    file: V2File, space: DesignSpace, scheme: str, work: dict, found: np.ndarray, mapper: str
) -> dict[str, object]:
    """Design, mapping and cost columns (null where not ``found``) and ``failures``."""
    n = len(found)
    out: dict[str, object] = {name: np.full(n, None, dtype=object) for name in DESIGN_COLUMNS}
    out["failures"] = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(found)
    if len(rows) == 0:
        return out
    hw_index, hw = design_hardware(space, file, scheme)
    hw_index, hw = (
        hw_index[rows],
        HardwareBatch(**{k: getattr(hw, k)[rows] for k in HARDWARE_KNOBS}),
    )
    lay = _layer_batch({k: v[rows] for k, v in work.items() if k not in ("op", "macs")})
    if mapper == "full":
        layers = [_layer(work, i) for i in rows]
        mappings, cost, fits = _full_mappings(layers, space, hw_index, lay, hw)
    else:
        mappings, cost, fits = reduced_mappings(lay, hw)
    values: dict[str, np.ndarray] = {"hw_index": hw_index}
    for knob in HARDWARE_KNOBS:
        values[knob] = getattr(hw, knob)
    values["dataflow"] = np.array(
        [Dataflow(int(c)).name.lower() for c in hw.dataflow], dtype=object
    )
    for f in MAPPING_FIELDS:
        values[f] = getattr(mappings, f)
    for name in COST_COLUMNS[1:]:
        values[name] = getattr(cost, name)
    values["bound"] = np.array([b.name.lower() for b in Bound], dtype=object)[cost.bound]
    values["score"] = file.frame["rewards"].to_numpy(dtype=np.float64)[rows]
    for name, column in values.items():
        full = np.full(n, None, dtype=object)
        full[rows] = column
        out[name] = full
    out["failures"][rows] = (~fits).astype(np.int64)
    return out


def _layer(work: dict[str, np.ndarray], i: int) -> Layer:
    return Layer(f"row{i}", **{k: int(work[k][i]) for k in ("n", "k", "c", "p", "q", "r", "s")},
                 op=OpType(work["op"][i]))  # fmt: skip


def _row_ids(family: str, model: str, names: np.ndarray, work: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`airchitect.data_gen.schema.row_id` of every row (no budget, objective latency)."""
    budget = {"area_budget_mm2": None, "power_budget_mw": None}
    dims = [name for name in WORKLOAD_DIM_COLUMNS if name != "macs"]
    columns = [work[name].tolist() for name in dims]
    macs, ops = work["macs"].tolist(), work["op"]
    out = np.empty(len(names), dtype=object)
    for i, name in enumerate(names):
        layer = SimpleNamespace(**{d: col[i] for d, col in zip(dims, columns, strict=True)},
                                macs=macs[i], op=OpType(ops[i]))  # fmt: skip
        source = SimpleNamespace(family=family, model=model, layer=name)
        out[i] = row_id(layer, source, budget, Objective.LATENCY.value)
    return out
