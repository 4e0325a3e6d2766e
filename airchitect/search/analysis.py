"""Why a design wins: bottleneck analysis and a what-if table for a design and a workload.

From a network's per-layer costs on one design (:class:`airchitect.cost.network.NetworkCost`):

- **latency by bound**: each layer's cycles go to the level that bounds it (compute, NoC or
  DRAM; L1 and L2 capacity decide which mappings are valid, not how long they take), weighted
  by its runs;
- **utilisation and where it is lost**: MACs per PE-cycle, as a product of three factors: the
  array under-filled by the layer's shape (PEs the spatial unrolling leaves idle), tiling and
  pipeline fill (ceil divisions, systolic fill and drain), and stalls on bandwidth (cycles
  beyond compute);
- **energy by level** (MAC, L1, NoC, L2, DRAM);
- **budgets**: area and power used against each limit, and which binds (a one-step larger
  resource would not fit);
- **what-if**: every knob one step up and one step down on the space's grid (every other
  dataflow for the dataflow), re-mapped and re-costed for the whole workload in one mapper call:
  the objective, area and power ratios and whether the moved design still fits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from airchitect.cost.mapper import OBJECTIVE_FIELD
from airchitect.cost.network import NetworkCost, distinct_layers, network_best_mappings
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.budget import Budget, check_budget
from airchitect.space.hardware import HARDWARE_KNOBS, Dataflow, HardwareBatch
from airchitect.space.space import DesignSpace
from airchitect.workloads.network import Network

LEVELS = ("mac", "l1", "noc", "l2", "dram")
#: Knobs that buy a resource: one step up costs area and power.
RESOURCE_KNOBS = HARDWARE_KNOBS[:-1]


@dataclass(frozen=True)
class WhatIf:
    """One knob moved one step: the objective, area and power relative to the design."""

    knob: str
    move: str  # "up", "down" or, for the dataflow, the other dataflow's name
    value: float | str
    objective_ratio: float | None  # moved / design; None where no mapping fits a layer
    area_mm2: float
    power_mw: float
    fits: bool  # within the budget


@dataclass(frozen=True)
class Analysis:
    objective: str
    latency_by_bound: dict[str, float]  # share of the total cycles per bounding level
    utilization: float
    utilization_lost: dict[str, float]  # share of PE-cycles lost to each cause
    energy_by_level: dict[str, float]  # share of the total energy per level
    budgets: dict[str, dict[str, float | bool]]  # area_mm2 / power_mw: used, limit, binds
    what_if: tuple[WhatIf, ...]
    summary: str

    def to_dict(self) -> dict:
        out = asdict(self)
        out["what_if"] = [asdict(w) for w in self.what_if]
        return out


def analyse(
    cost: NetworkCost, space: DesignSpace, budget: Budget | None = None,
    tech: TechTable = DEFAULT_TECH,
) -> Analysis:  # fmt: skip
    """The bottleneck analysis and what-if table of ``cost``'s design for its workload."""
    budget = budget or Budget()
    rows = cost.layers
    cycles = np.array([r.repeat * r.cost["cycles"] for r in rows])
    bounds = [r.cost["bound"] for r in rows]
    total_cycles = float(cycles.sum())
    by_bound = {b: float(cycles[[x == b for x in bounds]].sum() / total_cycles)
                for b in ("compute", "noc", "dram")}  # fmt: skip
    utilization, lost = _utilization(cost)
    energy = {level: cost.total[f"energy_{level}_pj"] / cost.total["energy_pj"] for level in LEVELS}
    what_if = _what_if(cost, space, budget, tech)
    budgets = _budgets(cost, budget, what_if)
    summary = _summary(cost, by_bound, utilization, lost, budgets, what_if)
    return Analysis(cost.objective.value, by_bound, utilization, lost, energy, budgets,
                    tuple(what_if), summary)  # fmt: skip


def _utilization(cost: NetworkCost) -> tuple[float, dict[str, float]]:
    """MACs per PE-cycle, and the shares of PE-cycles lost to each cause (they add up to
    ``1 - utilization``)."""
    pes = cost.hardware.num_pes
    r = cost.layers
    macs = sum(x.repeat * x.cost["macs"] for x in r)
    filled = sum(x.repeat * x.cost["macs"] / max(x.cost["pes_used"], 1) for x in r)
    compute = sum(x.repeat * x.cost["compute_cycles"] for x in r)
    cycles = sum(x.repeat * x.cost["cycles"] for x in r)
    ideal = macs / pes
    # PE-cycles: ideal <= filled (idle PEs) <= compute (tiling, fill) <= cycles (stalls)
    filled, compute = max(filled, ideal), max(compute, filled)
    cycles = max(cycles, compute)
    lost = {"array_underfilled": (filled - ideal) / cycles, "tiling_and_fill": (compute - filled)
            / cycles, "bandwidth_stalls": (cycles - compute) / cycles}  # fmt: skip
    return ideal / cycles, {k: float(v) for k, v in lost.items()}


def _moves(cost: NetworkCost, space: DesignSpace) -> list[tuple[str, str, int, object]]:
    """(knob, move, knob position, new value) for every one-step move on the grid."""
    hw = cost.hardware.to_dict()
    out = []
    for j, knob in enumerate(space.knobs):
        values = list(knob.json_values())
        here = values.index(hw[knob.name]) if hw[knob.name] in values else None
        if knob.name == "dataflow":
            out += [(knob.name, v, j, v) for v in values if v != hw[knob.name]]
        elif here is not None:
            for step, move in ((1, "up"), (-1, "down")):
                if 0 <= here + step < len(values):
                    out.append((knob.name, move, j, values[here + step]))
    return out


def _what_if(cost: NetworkCost, space: DesignSpace, budget: Budget, tech) -> list[WhatIf]:
    moves = _moves(cost, space)
    if not moves:
        return []
    base = cost.hardware.to_dict()
    columns = {k: [] for k in HARDWARE_KNOBS}
    for knob, _, _, value in moves:
        for k in HARDWARE_KNOBS:
            columns[k].append(value if k == knob else base[k])
    columns["dataflow"] = [_dataflow_index(v) for v in columns["dataflow"]]
    hw = HardwareBatch.from_columns(columns)
    distinct = distinct_layers(cost_network(cost))
    found = network_best_mappings(distinct, hw, cost.objective, tech, space.mapping_options)
    fits, _ = check_budget(hw, budget, tech)
    area, power = found.per_layer[0].cost.area_mm2, found.per_layer[0].cost.power_mw
    here = cost.total[OBJECTIVE_FIELD[cost.objective]]
    out = []
    for i, (knob, move, _, value) in enumerate(moves):
        ratio = float(found.score[i] / here) if found.found[i] and here > 0 else None
        out.append(WhatIf(knob, move, value, ratio, float(area[i]), float(power[i]),
                          bool(fits[i])))  # fmt: skip
    return out


def cost_network(cost: NetworkCost) -> Network:
    """The workload of ``cost`` as a :class:`Network` (its layers with their repeats)."""
    return Network(cost.network, "analysed", tuple(r.layer for r in cost.layers),
                   tuple(float(r.repeat) for r in cost.layers))  # fmt: skip


def _dataflow_index(value) -> int:
    return int(Dataflow.parse(value))


def _budgets(cost: NetworkCost, budget: Budget, what_if: list[WhatIf]) -> dict:
    """Each budget's use, and whether it binds: some one-step larger resource exceeds it."""
    out = {}
    for field, limit in (("area_mm2", budget.area_mm2), ("power_mw", budget.power_mw)):
        if limit is None:
            continue
        over = [w for w in what_if if w.move == "up" and w.knob in RESOURCE_KNOBS
                and getattr(w, field) > limit]  # fmt: skip
        out[field] = {"used": float(cost.total[field]), "limit": float(limit),
                      "binds": bool(over), "blocked_moves": [w.knob for w in over]}  # fmt: skip
    return out


def _summary(cost, by_bound, utilization, lost, budgets, what_if) -> str:
    bound = max(by_bound, key=by_bound.get)
    cause = max(lost, key=lost.get).replace("_", " ")
    parts = [f"{bound}-bound ({100 * by_bound[bound]:.0f} % of the latency) at "
             f"{100 * utilization:.0f} % utilisation (most loss: {cause})"]  # fmt: skip
    units = {"area_mm2": "mm²", "power_mw": "mW"}
    for field, b in budgets.items():
        name = field.split("_")[0]
        state = "binds" if b["binds"] else "does not bind"
        parts.append(f"the {b['limit']:g} {units[field]} {name} budget {state} at "
                     f"{b['used']:.1f} {units[field]}")  # fmt: skip
    better = [w for w in what_if if w.fits and w.objective_ratio and w.objective_ratio < 1]
    if better:
        w = min(better, key=lambda x: x.objective_ratio)
        parts.append(f"{w.knob} {w.move} to {w.value} would cut {cost.objective.value} by "
                     f"{100 * (1 - w.objective_ratio):.1f} % within the budget")  # fmt: skip
    else:
        parts.append("no one-step move within the budget improves it")
    cheaper = [w for w in what_if if w.move == "down" and w.objective_ratio is not None
               and w.area_mm2 < cost.total["area_mm2"]]  # fmt: skip
    if cheaper:
        w = min(cheaper, key=lambda x: x.objective_ratio)
        saved = 1 - w.area_mm2 / cost.total["area_mm2"]
        parts.append(f"{w.knob} down costs {100 * (w.objective_ratio - 1):.1f} % "
                     f"{cost.objective.value}, saves {100 * saved:.1f} % area")  # fmt: skip
    return "; ".join(parts)
