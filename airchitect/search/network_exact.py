"""The certified optimum of a whole network over the hardware grid, by branch and bound.

A network's cost on a design is the sum over its layers, each at its best mapping (EDP is the
total energy times the total latency). Every point of the grid therefore has a cheap *lower
bound* per layer (no PE does more than one MAC a cycle; every weight and output crosses DRAM at
least once; every MAC pays its MAC and L1 energy) and an exact value from that layer's cell
sweep (:mod:`airchitect.search.cells`). The search keeps, per point, the sum of exact values
of the layers swept so far and lower bounds of the rest, which is a lower bound of the point's
network cost that tightens layer by layer:

1. the incumbent (the instant answer, or the point of least bound) is scored exactly;
2. layers are swept heaviest first, each only over the PE arrays that still hold a point whose
   bound is below the incumbent: the rest cannot win, so they are never swept again;
3. after each layer the point of least bound is scored exactly and becomes the incumbent if it
   is better;
4. when every layer is swept, latency and energy are exact at every live point; EDP is scored
   exactly (with the mapper) in bound order until the next bound passes the best.

The answer carries a :class:`Certificate`: the lower bound over every in-budget point and the
gap to it, zero when the answer is proven optimal. Stopped early by a time budget, the same
numbers say how far from optimal the answer can be.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from airchitect.cost.mapper import Objective
from airchitect.cost.network import (
    DistinctLayers,
    NetworkCost,
    NetworkMappings,
    distinct_layers,
    network_best_mappings,
    network_cost,
)
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import TIE_RTOL, tie_rank
from airchitect.search.cells import GridAxes, SweepCache, grid_axes, layer_per_point
from airchitect.search.grid_costs import budget_mask, grid_area_mm2, grid_power_mw
from airchitect.space.budget import Budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network

_CHANNEL_KNOBS = ("noc_words_per_cycle", "dram_bytes_per_cycle")
#: Re-exported: callers find the grid's budgets next to the search that uses them.
__all__ = ["Certificate", "ExactAnswer", "NoDesignInBudget", "Progress", "budget_mask",
           "grid_area_mm2", "grid_power_mw", "layer_lower_bounds", "network_optimum"]  # fmt: skip
#: Points scored exactly per mapper call while EDP is refined in bound order.
EDP_BATCH = 24
#: Bounds within this factor of the incumbent keep a point alive (guards float rounding).
BOUND_SLACK = 1 + 1e-9

Progress = Callable[[int, int], None]


class NoDesignInBudget(ValueError):
    """No point of the grid fits the budget, or none has a valid mapping for every layer."""


@dataclass(frozen=True)
class Certificate:
    """How the answer was proven: ``gap`` is ``best / lower_bound - 1`` (0 when certified)."""

    objective: str
    best: float  # the answer's objective (cycles, pJ or pJ*s)
    lower_bound: float  # no in-budget point of the grid scores below this
    gap: float
    certified: bool
    grid_points: int
    points_in_budget: int
    layers_swept: int
    layers: int
    arrays_swept: int  # (array, layer) sweeps run; each covers every buffer and bandwidth
    arrays_pruned: int  # (array, layer) sweeps skipped: bound above the incumbent
    points_scored: int  # points mapped exactly (incumbents, EDP refinement)
    seconds: float
    stopped: str  # "certified" or "time budget"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExactAnswer:
    hw_index: int
    cost: NetworkCost
    certificate: Certificate
    mappings: NetworkMappings  # the answer's per-layer best mappings are row ``row`` of these
    row: int


def layer_lower_bounds(
    layer: Layer, axes: GridAxes, tech: TechTable = DEFAULT_TECH
) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of one run's latency (cycles), shape ``(arrays, channels)``, and energy
    (pJ), shape ``(l1 sizes, l2 sizes)``: neither depends on the other axes of a point.

    Every weight and output word crosses DRAM at least once, and the NoC at least once.
    Latency: no PE does more than one MAC per cycle, and those words move at the point's DRAM
    and NoC bandwidths. Energy: every MAC pays its MAC and L1 energy, and those words their
    DRAM, NoC and L2 energy."""
    v = axes.values
    n_flows = len(v["dataflow"])
    pes = np.repeat(np.outer(v["pe_rows"], v["pe_cols"]).reshape(-1), n_flows)  # per array
    b = layer.bounds
    words = layer.groups * (b["K"] * b["C"] * layer.r * layer.s + b["N"] * b["K"] * b["P"]
                            * b["Q"])  # fmt: skip
    pb, scale = layer.precision_bytes, layer.precision_bytes / 2.0
    n_noc, n_dram = (len(v[k]) for k in _CHANNEL_KNOBS)
    dram_bw = np.tile(v["dram_bytes_per_cycle"], n_noc)  # per channel, NoC-major
    noc_bw = np.repeat(v["noc_words_per_cycle"], n_dram)
    compute = np.maximum(layer.macs / pes - 1.0, 1.0)
    traffic = np.maximum(words * pb / dram_bw, words / noc_bw)
    latency = np.maximum(compute[:, None], traffic[None, :])
    l1_pj = tech.mac_pj + tech.l1_accesses_per_mac * tech.l1_pj(v["l1_bytes"])
    per_l1 = layer.macs * scale * np.asarray(l1_pj, dtype=np.float64)
    per_l2 = words * scale * (tech.dram_pj + tech.noc_pj + 2 * tech.l2_pj(v["l2_kib"]))
    return latency, per_l1[:, None] + np.asarray(per_l2, dtype=np.float64)[None, :]


#: Layers after which the point of least bound is scored (and at the end): often enough to
#: improve a poor incumbent early, rarely enough that a good one costs little.
_PROBE_AFTER = frozenset({1, 2, 4, 8, 16, 32, 64, 128})


class _Search:
    """State of one branch and bound. Points are held in sweep order (array, L1, L2, channel):
    ``latency`` has that shape, ``energy`` has no channel axis (bandwidths do not change it).
    Both are lower bounds that become exact as layers are swept."""

    def __init__(self, workload, space, budget, objective, tech, deadline, arrays=None,
                 cache=None) -> None:  # fmt: skip
        self.space, self.tech, self.objective, self.deadline = space, tech, objective, deadline
        self.cache: SweepCache | None = cache
        self.distinct: DistinctLayers = distinct_layers(workload)
        self.counts = self.distinct.counts
        self.axes = grid_axes(space)
        shape = self.axes.shape
        self.flat_of = self.axes.points_of(np.arange(self.axes.n_arrays))  # position -> flat
        self.in_budget = budget_mask(space, budget, tech)[self.flat_of].reshape(shape)
        if arrays is not None:  # a search restricted to some PE arrays (the instant answer)
            keep = np.zeros(self.axes.n_arrays, dtype=bool)
            keep[np.asarray(arrays, dtype=np.int64)] = True
            self.in_budget &= keep[:, None, None, None]
        if not self.in_budget.any():
            raise NoDesignInBudget("no point of the grid fits the budget")
        self.area = grid_area_mm2(space, tech)[self.flat_of]
        lat, en = 0.0, 0.0
        for layer, count in zip(self.distinct.layers, self.counts, strict=True):
            lb_lat, lb_en = layer_lower_bounds(layer, self.axes, tech)
            lat, en = lat + count * lb_lat, en + count * lb_en
        self.latency = np.broadcast_to(lat[:, None, None, :], shape).copy()
        self.energy = np.broadcast_to(en[None], shape[:3]).copy()
        self.swept = np.zeros(len(self.counts), dtype=bool)
        self.best, self.best_score = -1, np.inf  # a position in sweep order
        self.best_found = None  # (NetworkMappings, row) of the incumbent
        self.scored: dict[int, float] = {}
        self.arrays_swept = self.arrays_pruned = 0

    # -- bounds and incumbents ------------------------------------------------------------------
    def bound(self) -> np.ndarray:
        """Lower bound of the network objective per position (flat); ``inf`` outside the
        budget."""
        if self.objective is Objective.LATENCY:
            b = self.latency
        elif self.objective is Objective.ENERGY:
            b = np.broadcast_to(self.energy[..., None], self.latency.shape)
        else:
            b = self.energy[..., None] * self.latency / (self.tech.clock_ghz * 1e9)
        return np.where(self.in_budget, b, np.inf).reshape(-1)

    def score(self, positions: np.ndarray) -> np.ndarray:
        """Exact network objective at positions (each layer at its best mapping)."""
        todo = np.array([p for p in positions.tolist() if p not in self.scored], dtype=np.int64)
        if len(todo):
            hw = self.space.decode_batch(self.space.unflat_index(self.flat_of[todo]))
            found = network_best_mappings(self.distinct, hw, self.objective, self.tech,
                                          self.space.mapping_options)  # fmt: skip
            for i, (p, s) in enumerate(zip(todo.tolist(), found.score.tolist(), strict=True)):
                self.scored[p] = s
                if self._offer(p, s):
                    self.best_found = (found, i)
        return np.array([self.scored[p] for p in positions.tolist()])

    def _offer(self, position: int, score: float) -> bool:
        """Make ``position`` the incumbent if it beats it (ties: the smaller chip)."""
        if not np.isfinite(score):
            return False
        if self.best >= 0:
            pair = np.array([position, self.best])
            ranked = tie_rank(np.array([score, self.best_score]), self.area[pair],
                              self.flat_of[pair])  # fmt: skip
            if ranked[0] != 0:
                return False
        self.best, self.best_score = position, float(score)
        return True

    def probe(self) -> None:
        """Score the point of least bound exactly: the likeliest better incumbent."""
        bound = self.bound()
        position = int(np.argmin(bound))
        if np.isfinite(bound[position]):
            self.score(np.array([position]))

    # -- sweeping ----------------------------------------------------------------------------------
    def live_arrays(self) -> np.ndarray:
        """Arrays with an in-budget point whose bound is below the incumbent."""
        if not np.isfinite(self.best_score):  # no incumbent: every array with a point left
            bound = self.latency.reshape(self.axes.n_arrays, -1)
            live = self.in_budget.reshape(self.axes.n_arrays, -1) & np.isfinite(bound)
        else:
            bound = self.bound().reshape(self.axes.n_arrays, -1)
            live = bound <= self.best_score * BOUND_SLACK
        return np.flatnonzero(live.any(axis=1))

    def sweep(self, j: int) -> None:
        """Layer ``j`` exactly over the live arrays; only the bounds the objective reads."""
        arrays = self.live_arrays()
        self.arrays_pruned += self.axes.n_arrays - len(arrays)
        self.arrays_swept += len(arrays)
        layer, count = self.distinct.layers[j], self.counts[j]
        if len(arrays):
            outputs = {Objective.LATENCY: "latency", Objective.ENERGY: "energy"}.get(
                self.objective, "both"
            )
            lat, en = layer_per_point(layer, self.space, arrays, self.tech, None, outputs,
                                      self.cache)  # fmt: skip
            lb_lat, lb_en = layer_lower_bounds(layer, self.axes, self.tech)
            if outputs == "energy":  # infeasible points go to inf, the bound stays a bound
                self.latency[arrays] += lat
            else:
                self.latency[arrays] += count * (lat - lb_lat[arrays][:, None, None, :])
            if en is not None:
                self.energy[arrays] += count * (en - lb_en[None])
        self.swept[j] = True

    def layer_order(self) -> np.ndarray:
        """Heaviest layers first, by their share of the incumbent's objective: those tighten
        the bounds most (a depthwise layer can carry half the latency on a few MACs)."""
        if self.best < 0:
            return np.argsort(-self.counts * np.array([x.macs for x in self.distinct.layers]))
        found, i = self.best_found
        field = {"latency": "cycles", "energy": "energy_pj", "edp": "edp"}[self.objective.value]
        share = [count * float(getattr(m.cost, field)[i]) for m, count in
                 zip(found.per_layer, self.counts, strict=True)]  # fmt: skip
        return np.argsort(-np.nan_to_num(np.array(share), nan=0.0, posinf=0.0))

    def refine_edp(self) -> None:
        """Every layer swept: score points exactly in bound order until the bound passes.
        Batches grow from 2 to :data:`EDP_BATCH`: the first few points usually settle it."""
        bound = self.bound()
        live = np.flatnonzero((bound <= self.best_score * BOUND_SLACK) & np.isfinite(bound))
        live = live[np.argsort(bound[live], kind="stable")]
        start, size = 0, 2
        while start < len(live):
            batch = live[start : start + size]
            if bound[batch[0]] > self.best_score * BOUND_SLACK or self.out_of_time():
                return
            self.score(batch[bound[batch] <= self.best_score * BOUND_SLACK])
            start, size = start + size, min(2 * size, EDP_BATCH)

    def settle_ties(self) -> None:
        """Every layer swept, latency and energy bounds are exact: of the points tied with
        the best (a bigger buffer rarely changes the latency), the smallest chip wins."""
        bound = self.bound()
        tied = np.flatnonzero(bound <= bound.min() * (1 + TIE_RTOL))
        if len(tied) and np.isfinite(bound[tied[0]]):
            self.score(tied[tie_rank(bound[tied], self.area[tied], self.flat_of[tied])[:1]])

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def lower_bound(self) -> float:
        """No in-budget point scores below this: exact scores where known, bounds elsewhere."""
        bound = self.bound()
        if self.scored:
            points = np.fromiter(self.scored, dtype=np.int64)
            bound[points] = np.where(
                self.in_budget.reshape(-1)[points],
                np.fromiter(self.scored.values(), dtype=np.float64),
                np.inf,
            )
        return float(min(bound.min(), self.best_score))


def network_optimum(
    workload: Network | Layer,
    space: DesignSpace,
    budget: Budget | None = None,
    objective: Objective | str = Objective.EDP,
    tech: TechTable = DEFAULT_TECH,
    *,
    incumbent: int | None = None,
    time_budget_s: float | None = None,
    progress: Progress | None = None,
    arrays: np.ndarray | None = None,
    probes: bool = True,
    cache: SweepCache | None = None,
) -> ExactAnswer:
    """The exact best design of ``space`` for ``workload`` under ``budget``, with its
    certificate; or, when ``time_budget_s`` runs out first, the best design found and how far
    from optimal it can be.

    ``incumbent`` (a flat grid index, e.g. the instant answer) starts the search: the better it
    is, the more of the grid is pruned unswept. ``arrays`` restricts the search to those PE
    arrays (indices of :meth:`GridAxes.arrays`); the certificate then covers only them.
    ``probes=False`` scores no point before every layer is swept (for a small ``arrays``,
    where sweeping is cheaper than mapping). Raises :class:`NoDesignInBudget` when no point
    fits the budget or none maps every layer. ``cache`` keeps the layer sweeps for the next
    search (:class:`airchitect.search.cells.SweepCache`)."""
    start = time.perf_counter()
    deadline = None if time_budget_s is None else start + float(time_budget_s)
    objective = Objective.parse(objective)
    s = _Search(workload, space, budget or Budget(), objective, tech, deadline, arrays, cache)
    if incumbent is not None:
        position = int(np.flatnonzero(s.flat_of == int(incumbent))[0])
        if s.in_budget.reshape(-1)[position]:
            s.score(np.array([position]))
    if probes and not s.out_of_time():
        s.probe()
    order = s.layer_order() if not s.out_of_time() else np.arange(len(s.counts))
    total = len(order)
    for done, j in enumerate(order):
        if s.out_of_time():
            break
        s.sweep(int(j))
        if probes and done + 1 in _PROBE_AFTER:
            s.probe()
        if progress is not None:
            progress(done + 1, total)
    if s.swept.all():
        s.refine_edp() if objective is Objective.EDP else s.settle_ties()
    if s.best < 0 and not s.swept.all():  # stopped before any point scored: score one
        s.probe()
    if s.best < 0:
        raise NoDesignInBudget(
            f"no design within the budget has a valid mapping for every layer of "
            f"{s.distinct.network.name!r}"
        )
    return _answer(s, start)


def _answer(s: _Search, start: float) -> ExactAnswer:
    lower = s.lower_bound()
    gap = max(s.best_score / lower - 1.0, 0.0) if lower > 0 else float("inf")
    certified = s.swept.all() and gap <= TIE_RTOL * 10
    hw_index = int(s.flat_of[s.best])
    found, row = s.best_found
    cert = Certificate(
        objective=s.objective.value, best=s.best_score, lower_bound=lower,
        gap=0.0 if certified else gap, certified=bool(certified), grid_points=s.space.size,
        points_in_budget=int(s.in_budget.sum()), layers_swept=int(s.swept.sum()),
        layers=len(s.swept), arrays_swept=s.arrays_swept, arrays_pruned=s.arrays_pruned,
        points_scored=len(s.scored), seconds=time.perf_counter() - start,
        stopped="certified" if certified else "time budget",
    )  # fmt: skip
    cost = network_cost(s.distinct, found, row, s.objective)
    return ExactAnswer(hw_index, cost, cert, found, row)
