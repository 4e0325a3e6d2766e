"""Gray-box search: moves chosen by reading the cost model's bottleneck analysis.

A black-box search learns the cost surface from scores alone. This one reads what the cost
model says about the current design (the incumbent) and moves the knobs that matter:

1. **Diagnose** the incumbent from its per-layer breakdown (the same quantities as
   :func:`airchitect.search.analysis.analyse`): the level that bounds most of the cycles
   (compute, NoC or DRAM), where utilisation is lost (an under-filled array points at the
   dataflow and the array's shape), the level that spends most of the energy, and which budget
   binds (a one-step larger resource would not fit).
2. **Propose** the moves around the incumbent (:func:`airchitect.search.graybox_moves.
   neighbourhood`): a coordinate sweep over every value of each knob, every two knobs moved up
   to two grid steps each (a resource paid for with one that does not bind), and every PE array
   with half to twice the PEs (iso-PE and iso-area reshapes) on every dataflow with the L2 up
   to two steps either way. Every move is checked against the area and power budgets before
   anything else: an over-budget design is never evaluated.
3. **Rank** the moves by a what-if at fixed mappings: every layer's mappings from the best
   designs evaluated so far, and the incumbent's with smaller tiles (so a smaller buffer is
   rated by what it costs, not rated unmappable), are re-costed on each moved design (one
   cost-model row per layer and mapping, not a mapping search, and not counted as an
   evaluation; only the heaviest layers holding 95 % of the incumbent's cycles and energy are
   re-costed, the others kept as they are). Moves that relieve the diagnosis go first among
   near ties; the ranking only orders the moves, the evaluation decides.
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
from airchitect.search.graybox_moves import mapping_variants, moved_knobs, neighbourhood
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
#: Moves that relieve the diagnosis go before others the what-if rates up to 2 % better.
RELIEF_PRIORITY = 1.02
COVER = 0.95  # share of the incumbent's cycles and energy in the layers the what-if re-costs
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
        evaluator.keep_mappings = True  # what the what-if re-costs, without mapping twice
        self.objective = Objective.parse(evaluator.objective)
        self.pool_size, self.patience, self.progress = owner.pool, owner.patience, progress
        self.sampler = FeasibleSampler(self.space, budget, np.random.default_rng(seed), self.tech)
        self.distinct = distinct_layers(evaluator.layer)
        self.counts = self.distinct.counts
        self.all_layers = LayerBatch.from_layers(list(self.distinct.layers))
        self.cards = self.space.cardinalities
        self.tried: set[int] = set()  # evaluated (or budget-refused) points: never again
        self.bases: set[int] = set()  # points a search has started from
        self.mappings: dict[int, list[MappingBatch]] = {}  # per-layer best mappings of designs
        self.layer_costs: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # cycles, pJ per layer
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
        """Each distinct layer's best mapping on ``flat`` (kept by the evaluator, or re-derived
        for a point already evaluated, so not a new evaluation); ``None`` where some layer has
        no mapping."""
        if flat not in self.mappings and (kept := self.evaluator.mappings_of(flat)) is not None:
            self.mappings[flat] = kept
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
        c = evaluate(self.all_layers, hw, _concat(maps), self.tech)  # one row per layer
        w = self.counts
        cycles = c.cycles * w
        self.layer_costs[flat] = (cycles, c.energy_pj * w)
        by_bound = {b.name.lower(): float(cycles[c.bound == b].sum()) for b in Bound}
        energy = {lv: float((w * getattr(c, f"energy_{lv}_pj")).sum()) for lv in ENERGY_LEVELS}
        macs = float((w * c.macs).sum())
        filled = float((w * c.macs / np.maximum(c.pes_used, 1.0)).sum())
        compute = float((w * c.compute_cycles).sum())
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
        """Untried, budget-feasible moves around ``flat`` (:func:`neighbourhood`), ordered by
        the fixed-mapping what-if, relief moves favoured, fewer knobs first on ties."""
        diagnosis = self.diagnose(flat)
        here = self.space.unflat_index(flat)
        relief = diagnosis.relief(self.objective) if diagnosis is not None else ()
        vectors = neighbourhood(self.space, here)
        flats = self.space.flat_index(vectors)
        fresh = np.array([f not in self.tried for f in flats.tolist()], dtype=bool)
        vectors, flats = vectors[fresh], flats[fresh]
        ok = self.sampler.feasible(flats)  # budgets before anything else
        vectors, flats = vectors[ok], flats[ok]
        if len(flats) == 0:
            return []
        knobs = moved_knobs(here, vectors)
        relief_flag = np.zeros(len(flats), dtype=bool)
        for knob, direction in relief:
            j = KNOB[knob]
            step = np.sign(vectors[:, j] - here[j])
            relief_flag |= (step != 0) if direction == ANY else (step == direction)
        predicted = self.what_if(flats, around=flat) / score
        key = np.where(relief_flag, predicted / RELIEF_PRIORITY, predicted)
        # a kind of move that just failed (say, another dataflow) waits a few steps
        waiting = [k for k, until in self.tabu.items() if until >= self.steps]
        if waiting:
            kinds = [_kind(here, v) for v in vectors]
            key = np.where([k in waiting for k in kinds], key * TABU_PENALTY, key)
        # a move the fixed mappings cannot map may still map with new tiles: last, relief and
        # fewer knobs first
        key = np.where(np.isfinite(key), key, np.where(relief_flag, 1e6, 1e7) * (1 + knobs))
        order = np.lexsort((knobs, key))
        return flats[order].tolist()

    def _heavy_layers(self, around: int | None) -> tuple[list[int], float, float]:
        """The layers the what-if re-costs: the fewest, heaviest first, that hold
        :data:`COVER` of ``around``'s cycles and of its energy (every layer when ``around``
        has no breakdown); and the cycles and energy of the others, taken as they are."""
        if around is None or around not in self.layer_costs:
            return list(range(len(self.distinct.layers))), 0.0, 0.0
        cycles, energy = self.layer_costs[around]
        share = np.maximum(cycles / cycles.sum(), energy / energy.sum())
        order = np.argsort(-share, kind="stable")
        held_c, held_e = np.cumsum(cycles[order]), np.cumsum(energy[order])
        need = COVER * cycles.sum(), COVER * energy.sum()
        last = int(np.argmax((held_c >= need[0]) & (held_e >= need[1])))
        heavy = sorted(order[: last + 1].tolist())
        rest = np.setdiff1d(np.arange(len(cycles)), heavy)
        return heavy, float(cycles[rest].sum()), float(energy[rest].sum())

    def what_if(self, flats: np.ndarray, around: int | None = None) -> np.ndarray:
        """Objective of each point with every layer on the best of the pool's mappings (the
        best designs seen so far, and ``around``'s with smaller tiles and less PE reuse:
        :func:`mapping_variants`); ``inf`` where some layer has none that fits."""
        seen = [f for f, _ in self.evaluator.best_seen(self.pool_size)]
        pool = []
        for f in dict.fromkeys([*([] if around is None else [around]), *seen]):
            if (maps := self._breakdown(f)) is None:
                continue
            if f == around:  # its smaller-tile variants rate smaller buffers
                pool += [list(v) for v in zip(*map(mapping_variants, maps), strict=True)]
            else:
                pool.append(maps)
        n = len(flats)
        if not pool:
            return np.full(n, np.inf)
        heavy, rest_cycles, rest_energy = self._heavy_layers(around)
        s, h = len(pool), len(heavy)
        hw = self.space.decode_batch(self.space.unflat_index(flats))
        rep = HardwareBatch(*(np.tile(getattr(hw, k), s * h) for k in HARDWARE_KNOBS))
        layers = self.all_layers.take(np.repeat(heavy, s * n))
        maps = _concat([_stack([p[j] for p in pool], n) for j in heavy])
        c = evaluate(layers, rep, maps, self.tech)  # rows: heavy layer, pool mapping, point
        value = {Objective.LATENCY: c.cycles, Objective.ENERGY: c.energy_pj,
                 Objective.EDP: c.edp}[self.objective]  # fmt: skip
        value = np.where(c.valid, value, np.inf).reshape(h, s, n)
        pick = value.argmin(axis=1)  # per layer and point, the pool mapping that does best
        rows = (np.arange(h)[:, None] * s + pick) * n + np.arange(n)[None, :]
        ok = np.isfinite(value.min(axis=1)).all(axis=0)
        w = self.counts[heavy][:, None]
        cycles = rest_cycles + (w * c.cycles[rows]).sum(axis=0)
        energy = rest_energy + (w * c.energy_pj[rows]).sum(axis=0)
        seconds = cycles / (self.tech.clock_ghz * 1e9)
        total = {Objective.LATENCY: cycles, Objective.ENERGY: energy,
                 Objective.EDP: energy * seconds}[self.objective]  # fmt: skip
        return np.where(ok, total, np.inf)


def _concat(maps: list[MappingBatch]) -> MappingBatch:
    """Mappings one after another (here: one per layer, in layer order)."""
    fields = ("n_l2", "p_l2", "k_l2", "c_l2", "pe_reuse", "dram_order")
    return MappingBatch(*(np.concatenate([getattr(m, f) for m in maps]) for f in fields))


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
