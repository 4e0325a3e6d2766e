"""Gray-box search: moves chosen by reading the cost model's bottleneck analysis.

A black-box search learns the cost surface from scores alone. This one reads what the cost
model says about the current design (the incumbent) and moves the knobs that matter:

1. **Diagnose** the incumbent from its per-layer breakdown (the same quantities as
   :func:`airchitect.search.analysis.analyse`): the level that bounds most of the cycles
   (compute, NoC or DRAM), where utilisation is lost (an under-filled array points at the
   dataflow and the array's shape), the level that spends most of the energy, and which budget
   binds (a one-step larger resource would not fit).
2. **Propose** one-step moves: those that relieve the diagnosis (compute-bound: more PEs or
   another dataflow; NoC-bound: NoC bandwidth, a larger L1 for more PE reuse; DRAM-bound: DRAM
   bandwidth, a larger L2; energy in L2/DRAM: reuse or cheaper buffers) alone and *paid for*
   by one step down on any other knob, plus every plain one-step move. Every move is checked
   against the area and power budgets before anything else: an over-budget design is never
   evaluated.
3. **Rank** the moves by a what-if at fixed mappings: every layer's mappings from the best
   designs evaluated so far are re-costed on the moved design (one cost-model row per layer and
   mapping, not a mapping search, and not counted as an evaluation). That says which paying
   step costs little (a bandwidth with slack, a buffer the tiles do not fill). Relief moves
   come first; the ranking only orders the moves, the evaluation decides.
4. **Evaluate** the best-ranked untried move (one evaluation: the exact mapper over the point's
   whole mapping space). Better: it becomes the incumbent. Not better: the move is recorded
   (tabu) and never tried again, and the next one is tried.
5. **Restart** from the next-best design seen, when no move of the incumbent is left or a run
   of moves failed; from a fresh random budget-feasible point when every seen design has been
   a starting point.

Evaluations are counted by :class:`HardwareEvaluator` (one per distinct point), like every
other labeller. Works on one layer or a whole network (one design, costs summed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from airchitect.cost.batch import LayerBatch, MappingBatch
from airchitect.cost.mapper import Objective
from airchitect.cost.model import Bound, evaluate
from airchitect.cost.network import distinct_layers, network_best_mappings
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import DEFAULT_TOP_K, HardwareEvaluator
from airchitect.search.random_search import FeasibleSampler, SearchLabeller
from airchitect.space.budget import Budget, hardware_area_mm2, hardware_power_mw
from airchitect.space.hardware import HARDWARE_KNOBS, HardwareBatch
from airchitect.space.space import DesignSpace

KNOB = {name: j for j, name in enumerate(HARDWARE_KNOBS)}
DATAFLOW = KNOB["dataflow"]
ANY = 0  # a dataflow "direction": any other dataflow

#: What relieves each latency bound: (knob, +1 up / -1 down / ANY).
LATENCY_RELIEF: dict[str, tuple[tuple[str, int], ...]] = {
    "compute": (("pe_rows", 1), ("pe_cols", 1), ("dataflow", ANY)),
    "noc": (("noc_words_per_cycle", 1), ("l1_bytes", 1), ("dataflow", ANY)),
    "dram": (("dram_bytes_per_cycle", 1), ("l2_kib", 1), ("dataflow", ANY)),
}
#: What cuts the energy of each level (per-access energies grow with the buffer's size).
ENERGY_RELIEF: dict[str, tuple[tuple[str, int], ...]] = {
    "mac": (("dataflow", ANY),),
    "l1": (("l1_bytes", -1), ("dataflow", ANY)),
    "noc": (("l1_bytes", 1), ("dataflow", ANY), ("pe_rows", 1), ("pe_cols", 1)),
    "l2": (("l2_kib", -1), ("l1_bytes", 1), ("dataflow", ANY)),
    "dram": (("l2_kib", 1), ("dataflow", ANY)),
}
ENERGY_LEVELS = ("mac", "l1", "noc", "l2", "dram")
#: Relief moves are tried before plain moves the what-if rates up to this factor better.
RELIEF_PRIORITY = 1.1
POOL = 4  # designs whose mappings the what-if re-costs
PATIENCE = 8  # failed moves in a row before a restart
TABU_TENURE = 3  # accepted moves for which a failed kind of move waits ...
TABU_PENALTY = 1.5  # ... ranked as if the what-if rated it this much worse

Progress = Callable[[int, int, float], None]  # (evaluations, budget, best score so far)


@dataclass(frozen=True)
class Diagnosis:
    """What bounds a design, read from its per-layer breakdown."""

    bound: str  # compute, noc or dram: the level bounding most of the cycles
    energy_level: str  # the level spending most of the energy
    underfilled: bool  # the array's shape loses more PE-cycles than stalls do
    binds: tuple[str, ...]  # budgets a one-step larger resource would exceed

    def relief(self, objective: Objective) -> tuple[tuple[str, int], ...]:
        """The moves that relieve the diagnosis, most direct first."""
        latency = LATENCY_RELIEF[self.bound]
        if self.underfilled and self.bound == "compute":  # shape, not size, is what is lost
            latency = (("dataflow", ANY), ("pe_rows", -1), ("pe_cols", -1), *latency)
        energy = ENERGY_RELIEF[self.energy_level]
        moves = {
            Objective.LATENCY: latency,
            Objective.ENERGY: energy,
            Objective.EDP: latency + energy,
        }[objective]
        return tuple(dict.fromkeys(moves))


class GrayBoxSearch(SearchLabeller):
    """Bottleneck-guided local search with tabu moves and restarts (see the module doc)."""

    name = "graybox"

    def __init__(
        self,
        space: DesignSpace,
        top_k: int = DEFAULT_TOP_K,
        tech: TechTable = DEFAULT_TECH,
        pool: int = POOL,
        patience: int = PATIENCE,
    ) -> None:
        super().__init__(space, top_k, tech)
        self.pool, self.patience = pool, patience
        self.interrupted = False

    def search(
        self, evaluator: HardwareEvaluator, budget: Budget, budget_evals: int, seed: int,
        warm_start: Sequence[int] = (), progress: Progress | None = None,
    ) -> None:  # fmt: skip
        """Score at most ``budget_evals`` budget-feasible points; ``warm_start`` points (flat
        indices, e.g. a model's answer) are scored first. ``progress`` is called after each
        evaluation. Ctrl-C stops the search with everything scored so far kept
        (``self.interrupted`` says so)."""
        self.interrupted = False
        run = _Run(self, evaluator, budget, budget_evals, seed, progress)
        try:
            run.go(warm_start)
        except KeyboardInterrupt:
            self.interrupted = True


class _Run:
    """The state of one search: incumbent, its diagnosis, tabu moves, restart bases."""

    def __init__(self, owner: GrayBoxSearch, evaluator, budget, budget_evals, seed, progress):
        self.space, self.tech = owner.space, owner.tech
        self.evaluator, self.budget, self.budget_evals = evaluator, budget, budget_evals
        self.objective = Objective.parse(evaluator.objective)
        self.pool_size, self.patience, self.progress = owner.pool, owner.patience, progress
        self.sampler = FeasibleSampler(self.space, budget, np.random.default_rng(seed), self.tech)
        self.distinct = distinct_layers(evaluator.layer)
        self.counts = self.distinct.counts
        self.batches = [LayerBatch.from_layers(layer) for layer in self.distinct.layers]
        self.cards = self.space.cardinalities
        self.tried: set[int] = set()  # evaluated (or budget-refused) points: never again
        self.bases: set[int] = set()  # points a search has started from
        self.mappings: dict[int, list[MappingBatch]] = {}  # per-layer best mappings of designs
        self.tabu: dict[tuple, int] = {}  # kind of a failed move -> step until which it waits
        self.steps = 0  # accepted moves so far

    # -- the loop --------------------------------------------------------------------------------
    def go(self, warm_start: Sequence[int]) -> None:
        start = self._start(warm_start)
        while start is not None and self._left() > 0:
            start = self._climb(start)
            if self._left() > 0:
                start = self._restart()

    def _left(self) -> int:
        return self.budget_evals - self.evaluator.evals

    def _score(self, flat: int) -> float:
        self.tried.add(int(flat))
        self.sampler.take([int(flat)])
        score = float(self.evaluator.scores([int(flat)])[0])
        if self.progress is not None:
            best = self.evaluator.best_seen(1)
            self.progress(self.evaluator.evals, self.budget_evals, best[0][1] if best else np.inf)
        return score

    def _start(self, warm_start: Sequence[int]) -> int | None:
        """The best warm-start point, else a design sized to the budget."""
        warm = [int(i) for i in dict.fromkeys(warm_start)]
        warm = [i for i, ok in zip(warm, self.sampler.feasible(warm), strict=True) if ok]
        for flat in warm[: self._left()]:
            self._score(flat)
        seen = self.evaluator.best_seen(1)
        if seen:
            return seen[0][0]
        flat = self._sized_to_budget()
        if flat is None or self._left() <= 0:
            return None
        self._score(flat)
        return flat if np.isfinite(self.evaluator.scores([flat])[0]) else self._restart()

    def _sized_to_budget(self) -> int | None:
        """The feasible design with the most PEs whose other resources sit near the middle of
        their grids: compute first, with room to trade buffers and bandwidth either way."""
        flat = self._feasible_pool()
        if len(flat) == 0:
            return None
        idx = self.space.unflat_index(flat)
        hw = self.space.decode_batch(idx)
        pes = np.log2(hw.pe_rows * hw.pe_cols)
        middle = np.zeros(len(flat))
        for name in ("l1_bytes", "l2_kib", "noc_words_per_cycle", "dram_bytes_per_cycle"):
            j, top = KNOB[name], max(int(self.cards[KNOB[name]]) - 1, 1)
            middle -= np.abs(idx[:, j] / top - 0.5)
        return int(flat[np.argmax(pes + 2.0 * middle)])

    def _feasible_pool(self, n: int = 4096) -> np.ndarray:
        """Budget-feasible points: every one on a small grid, else a uniform sample."""
        if self.space.size <= 1 << 16:
            flat = np.arange(self.space.size, dtype=np.int64)
            return flat[self.sampler.feasible(flat)]
        rng = np.random.default_rng(0)
        flat = rng.choice(self.space.size, size=min(4 * n, self.space.size), replace=False)
        return flat[self.sampler.feasible(flat)][:n].astype(np.int64)

    def _restart(self) -> int | None:
        """The best seen design not yet started from, else a fresh random feasible point."""
        for flat, _ in self.evaluator.best_seen(self.evaluator.evals):
            if flat not in self.bases:
                return flat
        while self._left() > 0:
            fresh = self.sampler.draw(1)
            if len(fresh) == 0:
                return None
            if np.isfinite(self._score(int(fresh[0]))):
                return int(fresh[0])
        return None

    def _climb(self, flat: int) -> int:
        """First-improvement descent from ``flat``; returns where it stopped."""
        self.bases.add(flat)
        here, best = flat, float(self.evaluator.scores([flat])[0])
        failed = 0
        while self._left() > 0 and failed < self.patience:
            moves = self._ranked_moves(here, best)
            if not moves:
                break
            improved = False
            for move in moves:
                if self._left() <= 0 or failed >= self.patience:
                    break
                score = self._score(move)
                if score < best * (1 - 1e-9):
                    here, best, improved, failed = move, score, True, 0
                    self.steps += 1
                    self.bases.add(move)
                    break
                failed += 1  # recorded in self.tried: this move is never tried again
                self.tabu[_kind(self.space.unflat_index(here), self.space.unflat_index(move))] = (
                    self.steps + TABU_TENURE
                )
            if not improved:
                break
        return here

    # -- diagnosis and moves ---------------------------------------------------------------------
    def _breakdown(self, flat: int) -> list[MappingBatch] | None:
        """Each distinct layer's best mapping on ``flat`` (re-derived for a point already
        evaluated, so not a new evaluation); ``None`` where some layer has no mapping."""
        if flat not in self.mappings:
            hw = self.space.decode_batch(self.space.unflat_index(np.array([flat])))
            found = network_best_mappings(self.distinct, hw, self.objective, self.tech,
                                          self.space.mapping_options)  # fmt: skip
            if not found.found[0]:
                return None
            self.mappings[flat] = [m.mappings for m in found.per_layer]
        return self.mappings[flat]

    def diagnose(self, flat: int) -> Diagnosis | None:
        """The incumbent's bottlenecks from its per-layer costs."""
        maps = self._breakdown(flat)
        if maps is None:
            return None
        hw = self.space.decode_batch(self.space.unflat_index(np.array([flat])))
        costs = [evaluate(b, hw, m, self.tech) for b, m in zip(self.batches, maps, strict=True)]
        w = self.counts
        cycles = np.array([c.cycles[0] for c in costs]) * w
        bounds = np.array([c.bound[0] for c in costs])
        by_bound = {b.name.lower(): float(cycles[bounds == b].sum()) for b in Bound}
        pairs = list(zip(w, costs, strict=True))
        energy = {lv: sum(wi * float(getattr(c, f"energy_{lv}_pj")[0]) for wi, c in pairs)
                  for lv in ENERGY_LEVELS}  # fmt: skip
        macs = sum(wi * float(c.macs[0]) for wi, c in zip(w, costs, strict=True))
        filled = sum(wi * float(c.macs[0]) / max(float(c.pes_used[0]), 1.0)
                     for wi, c in zip(w, costs, strict=True))  # fmt: skip
        compute = sum(wi * float(c.compute_cycles[0]) for wi, c in zip(w, costs, strict=True))
        ideal = macs / float(hw.pe_rows[0] * hw.pe_cols[0])
        underfilled = (filled - ideal) > max(float(cycles.sum()) - compute, 0.0)
        return Diagnosis(max(by_bound, key=by_bound.get), max(energy, key=energy.get),
                         bool(underfilled), self._binding(flat))  # fmt: skip

    def _binding(self, flat: int) -> tuple[str, ...]:
        """Budgets that some one-step larger resource would exceed."""
        ups = [v for v in (_step(self.space.unflat_index(flat), KNOB[k], 1, self.cards)
                           for k in HARDWARE_KNOBS[:-1]) if v is not None]  # fmt: skip
        if not ups:
            return ()
        hw = self.space.decode_batch(np.array(ups))
        out = []
        for field, fn in (("area_mm2", hardware_area_mm2), ("power_mw", hardware_power_mw)):
            limit = getattr(self.budget, field)
            if limit is not None and (fn(hw, self.tech) > limit).any():
                out.append(field)
        return tuple(out)

    def _ranked_moves(self, flat: int, score: float) -> list[int]:
        """Untried, budget-feasible neighbours of ``flat``, relief moves first, each group
        ordered by the fixed-mapping what-if."""
        diagnosis = self.diagnose(flat)
        here = self.space.unflat_index(flat)
        relief = diagnosis.relief(self.objective) if diagnosis is not None else ()
        singles = _single_moves(here, self.cards)
        relief_moves = [v for r in relief for v in _relief_steps(here, r, self.cards)]
        paid = [_combine(here, r, s) for r in relief_moves for s in singles]
        vectors = relief_moves + [p for p in paid if p is not None] + singles
        is_relief = [True] * len(relief_moves) + [True] * sum(p is not None for p in paid)
        is_relief += [False] * len(singles)
        flats = [int(self.space.flat_index(v)) for v in vectors]
        keep, seen = [], set()
        for i, f in enumerate(flats):
            if f not in self.tried and f not in seen:
                keep.append(i)
                seen.add(f)
        if not keep:
            return []
        flats = np.array([flats[i] for i in keep], dtype=np.int64)
        relief_flag = np.array([is_relief[i] for i in keep])
        ok = self.sampler.feasible(flats)  # budgets before anything else
        flats, relief_flag = flats[ok], relief_flag[ok]
        if len(flats) == 0:
            return []
        predicted = self.what_if(flats) / score
        key = np.where(relief_flag, predicted / RELIEF_PRIORITY, predicted)
        # a kind of move that just failed (say, another dataflow) waits a few steps
        vectors = self.space.unflat_index(flats)
        waiting = np.array([self.tabu.get(_kind(here, v), -1) >= self.steps for v in vectors])
        key = np.where(waiting, key * TABU_PENALTY, key)
        # a move the fixed mappings cannot map may still map with new tiles: last, relief first
        key = np.where(np.isfinite(key), key, np.where(relief_flag, 1e6, 1e7))
        return flats[np.argsort(key, kind="stable")].tolist()

    def what_if(self, flats: np.ndarray) -> np.ndarray:
        """Objective of each point with every layer on the best of the pool's mappings (the
        best designs seen so far); ``inf`` where some layer has none that fits."""
        pool = [m for f, _ in self.evaluator.best_seen(self.pool_size)
                if (m := self._breakdown(f)) is not None]  # fmt: skip
        # the same tiles with less PE reuse need less L1: a smaller L1 is then rated too
        pool += [[_less_reuse(m) for m in maps] for maps in pool]
        n = len(flats)
        if not pool:
            return np.full(n, np.inf)
        hw = self.space.decode_batch(self.space.unflat_index(flats))
        rep = HardwareBatch(*(np.tile(getattr(hw, k), len(pool)) for k in HARDWARE_KNOBS))
        cycles = np.zeros(n)
        energy = np.zeros(n)
        ok = np.ones(n, dtype=bool)
        for j, layer in enumerate(self.batches):
            maps = _stack([p[j] for p in pool], n)
            c = evaluate(layer, rep, maps, self.tech)
            value = {Objective.LATENCY: c.cycles, Objective.ENERGY: c.energy_pj,
                     Objective.EDP: c.edp}[self.objective]  # fmt: skip
            value = np.where(c.valid, value, np.inf).reshape(len(pool), n)
            pick = value.argmin(axis=0)
            rows = pick * n + np.arange(n)
            ok &= np.isfinite(value.min(axis=0))
            cycles += self.counts[j] * c.cycles[rows]
            energy += self.counts[j] * c.energy_pj[rows]
        seconds = cycles / (self.tech.clock_ghz * 1e9)
        total = {Objective.LATENCY: cycles, Objective.ENERGY: energy,
                 Objective.EDP: energy * seconds}[self.objective]  # fmt: skip
        return np.where(ok, total, np.inf)


def _less_reuse(m: MappingBatch) -> MappingBatch:
    """The same tiles with a quarter of the PE reuse (at least 1)."""
    return MappingBatch(m.n_l2, m.p_l2, m.k_l2, m.c_l2, np.maximum(m.pe_reuse // 4, 1),
                        m.dram_order)  # fmt: skip


def _stack(maps: list[MappingBatch], n: int) -> MappingBatch:
    """One layer's mappings from each pool design, each repeated ``n`` times."""
    fields = ("n_l2", "p_l2", "k_l2", "c_l2", "pe_reuse", "dram_order")
    return MappingBatch(*(np.repeat(np.concatenate([getattr(m, f) for m in maps]), n)
                          for f in fields))  # fmt: skip


def _kind(here: np.ndarray, moved: np.ndarray) -> tuple:
    """A move's kind: which knobs it moves, and which way (any way for the dataflow)."""
    return tuple((j, 0 if j == DATAFLOW else int(np.sign(moved[j] - here[j])))
                 for j in np.flatnonzero(moved != here))  # fmt: skip


def _step(vector: np.ndarray, j: int, delta: int, cards: np.ndarray) -> np.ndarray | None:
    """``vector`` with knob ``j`` moved ``delta`` grid steps; ``None`` off the grid."""
    new = int(vector[j]) + delta
    if not 0 <= new < cards[j]:
        return None
    out = vector.copy()
    out[j] = new
    return out


def _dataflows(vector: np.ndarray, cards: np.ndarray) -> list[np.ndarray]:
    out = []
    for d in range(int(cards[DATAFLOW])):
        if d != vector[DATAFLOW]:
            v = vector.copy()
            v[DATAFLOW] = d
            out.append(v)
    return out


def _single_moves(vector: np.ndarray, cards: np.ndarray) -> list[np.ndarray]:
    """Every one-step move: each ordinal knob up and down, every other dataflow."""
    out = [v for j in range(len(cards)) if j != DATAFLOW for d in (1, -1)
           if (v := _step(vector, j, d, cards)) is not None]  # fmt: skip
    return out + _dataflows(vector, cards)


def _relief_steps(vector: np.ndarray, relief: tuple[str, int], cards: np.ndarray):
    knob, direction = relief
    if knob == "dataflow":
        return _dataflows(vector, cards)
    moved = _step(vector, KNOB[knob], direction, cards)
    return [] if moved is None else [moved]


def _combine(here: np.ndarray, relief: np.ndarray, single: np.ndarray) -> np.ndarray | None:
    """A relief move plus a one-step move on another knob (most often a step down that pays
    for it); ``None`` when both move the same knob."""
    moved = np.flatnonzero(single != here)
    if len(moved) != 1 or relief[moved[0]] != here[moved[0]]:
        return None
    out = relief.copy()
    out[moved[0]] = single[moved[0]]
    return out
