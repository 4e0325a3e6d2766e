"""From the network's raw outputs to ranked designs, in numpy.

Shared by the torch :class:`airchitect.models.predict.Predictor` and the onnxruntime predictor in
``serve/``, so both decode identically. The decoder gives one distribution per knob (ordinal
heads via their class probabilities). The top-k joint designs by summed log-probability are
found by a beam over the knobs, which is exact here because the knobs' scores add up
independently: the best k extensions of a prefix always come from the best k prefixes. Ties
are broken by grid position, so results are deterministic.

Area and power depend on the hardware point alone, so a row's budget is applied *inside* the
decode (:func:`top_k_within_budget`): the answer is the model's most likely designs among those
that fit, not its most likely designs with the unaffordable ones thrown away afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.budget import hardware_area_mm2, hardware_power_mw
from airchitect.space.space import DesignSpace

LOG_PROB_FLOOR = 1e-9  # a class probability of exactly 0 would make every beam -inf
BUDGET_BEAM = 256  # designs tried by beam before a row's budget sends it to the whole grid
#: The knobs that move a design's cost the most. Ranked candidates are spread over them (see
#: :func:`spread`): designs that differ only in L1 size or NoC/DRAM bandwidth mostly cost the
#: same, so listing them wastes the slots a user, or serving's re-ranking, looks at. On held-out
#: validation rows the best of the first five went from 1.036 to 1.033 times the optimum.
SPREAD_KNOBS = ("pe_rows", "pe_cols", "l2_kib", "dataflow")


@dataclass(frozen=True)
class Candidate:
    """One recommended design: index vector, flat hw index, joint log-probability, values."""

    index_vector: tuple[int, ...]
    hw_index: int
    log_prob: float
    hardware: dict[str, Any]


def ordinal_log_probs(logits: np.ndarray) -> np.ndarray:
    """Log class probabilities `(B, K)` of an ordinal head's `(B, K-1)` threshold logits.

    ``P(y > j)`` is made non-increasing in ``j`` by a running minimum, then differenced; the
    same rule as :func:`airchitect.models.ordinal.ordinal_decode`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    p = np.minimum.accumulate(p, axis=-1) if p.shape[-1] else p
    edge = p.shape[:-1] + (1,)  # a one-value knob has no thresholds: P(its value) = 1
    ones, zeros = np.ones(edge), np.zeros(edge)
    probs = np.clip(np.concatenate([ones, p], -1) - np.concatenate([p, zeros], -1), 0.0, None)
    return np.log(np.maximum(probs, LOG_PROB_FLOOR))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def knob_log_probs(knob_logits: Sequence[np.ndarray], kinds: Sequence[str]) -> list[np.ndarray]:
    """One `(B, K_j)` log-probability array per knob from the heads' logits."""
    return [
        ordinal_log_probs(x) if kind == "ordinal" else log_softmax(x)
        for x, kind in zip(knob_logits, kinds, strict=True)
    ]


def top_k_joint(log_probs: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` joint index vectors `int64 (B, k, J)` and their summed scores `(B, k)`.

    ``log_probs``: one `(B, K_j)` array per knob. Fewer than ``k`` come back when the grid is
    smaller than ``k``.
    """
    b = np.asarray(log_probs[0]).shape[0]
    scores = np.zeros((b, 1))  # (B, beam)
    idx = np.zeros((b, 1, 0), dtype=np.int64)  # (B, beam, j)
    for lp in log_probs:
        lp = np.asarray(lp, dtype=np.float64)
        n_classes = lp.shape[1]
        total = (scores[:, :, None] + lp[:, None, :]).reshape(b, scores.shape[1] * n_classes)
        # stable sort: equal scores keep the lower (beam, class) position first
        order = np.argsort(-total, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(total, order, axis=1)
        beam, choice = order // n_classes, order % n_classes
        prefix = np.take_along_axis(idx, beam[:, :, None], axis=1)
        idx = np.concatenate([prefix, choice[:, :, None]], axis=-1)
    return idx, scores


@dataclass(frozen=True)
class BudgetGrid:
    """Area (mm2) and power (mW) of every design of a space, in flat-index order."""

    cardinalities: tuple[int, ...]
    area_mm2: np.ndarray
    power_mw: np.ndarray

    @classmethod
    def of(cls, space: DesignSpace, tech: TechTable = DEFAULT_TECH) -> BudgetGrid:
        hw = space.enumerate()
        return cls(tuple(int(c) for c in space.cardinalities), hardware_area_mm2(hw, tech),
                   hardware_power_mw(hw, tech))  # fmt: skip

    def fits(self, flat: np.ndarray, area_mm2: np.ndarray, power_mw: np.ndarray) -> np.ndarray:
        """Whether designs ``flat`` `(B, n)` fit each row's budget `(B,)` (NaN: no limit);
        a design exactly at the budget fits, as in :func:`check_budget`."""
        area = np.asarray(area_mm2, dtype=np.float64)[:, None]
        power = np.asarray(power_mw, dtype=np.float64)[:, None]
        ok_area = np.isnan(area) | (self.area_mm2[flat] <= area)
        return ok_area & (np.isnan(power) | (self.power_mw[flat] <= power))


def spread(vectors: np.ndarray, k: int, knobs: Sequence[int]) -> np.ndarray:
    """Positions of ``k`` of the ranked index vectors ``vectors`` `(n, J)`, in rank order: each
    next one the best that differs from every one already taken in some knob of ``knobs``;
    when too few do, the best of the rest fill up. No ``knobs``: the first ``k``."""
    if not len(knobs) or len(vectors) <= k:
        return np.arange(min(k, len(vectors)))
    keys = [tuple(v) for v in np.asarray(vectors)[:, list(knobs)].tolist()]
    taken, seen = [], set()
    for pos, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            taken.append(pos)
            if len(taken) == k:
                return np.array(taken)
    chosen = set(taken)
    rest = [pos for pos in range(len(keys)) if pos not in chosen]
    return np.sort(np.array(taken + rest[: k - len(taken)], dtype=np.int64))


def top_k_within_budget(
    log_probs: Sequence[np.ndarray], k: int, grid: BudgetGrid,
    area_mm2: np.ndarray, power_mw: np.ndarray, spread_knobs: Sequence[int] = (),
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Best ``k`` designs per row among those within the row's budget: flat indices `(B, k)`
    and scores `(B, k)`, padded with -1 / -inf where fewer than ``k`` fit.

    Exact: the beam's top designs are the true top of the grid, so when ``k`` of them fit
    they are the best that fit; rows with fewer are scored over the whole grid. With
    ``spread_knobs`` (knob positions) the ``k`` are :func:`spread` over the fitting designs
    of the beam instead: the first is still the best.
    """
    b = np.asarray(log_probs[0]).shape[0]
    idx, scores = top_k_joint(log_probs, max(BUDGET_BEAM, k))
    flat = np.ravel_multi_index(tuple(np.moveaxis(idx, -1, 0)), grid.cardinalities)
    fits = grid.fits(flat, area_mm2, power_mw)
    out_flat, out_score = np.full((b, k), -1, dtype=np.int64), np.full((b, k), -np.inf)
    beam_is_grid = fits.shape[1] >= int(np.prod(grid.cardinalities))
    for i in range(b):
        fitting = np.flatnonzero(fits[i])
        if len(fitting) < k and not beam_is_grid:  # the beam ran out of fitting designs
            chosen_flat, chosen_score = _grid_top_k(log_probs, i, k, grid, area_mm2, power_mw)
        else:
            chosen = fitting[spread(idx[i, fitting], k, spread_knobs)]
            chosen_flat, chosen_score = flat[i, chosen], scores[i, chosen]
        out_flat[i, : len(chosen_flat)], out_score[i, : len(chosen_flat)] = (
            chosen_flat,
            chosen_score,
        )
    return out_flat, out_score


def _unlimited(space: DesignSpace, rows: int) -> tuple[BudgetGrid, np.ndarray, np.ndarray]:
    """A ``budget`` argument under which every design fits (no area or power computed)."""
    size = int(np.prod(space.cardinalities))
    grid = BudgetGrid(tuple(int(c) for c in space.cardinalities), np.zeros(size), np.zeros(size))
    return grid, np.full(rows, np.nan), np.full(rows, np.nan)


def spread_knob_positions(space: DesignSpace) -> tuple[int, ...]:
    """Positions of :data:`SPREAD_KNOBS` in ``space``; none (no spreading) unless it has all."""
    names = [knob.name for knob in space.knobs]
    if not set(SPREAD_KNOBS) <= set(names):
        return ()
    return tuple(names.index(n) for n in SPREAD_KNOBS)


def _grid_top_k(log_probs, i: int, k: int, grid: BudgetGrid, area_mm2, power_mw):
    """Row ``i``'s best ``k`` fitting designs, scoring every design of the grid."""
    total = np.zeros(())
    for lp in log_probs:  # broadcasting builds the joint score in flat-index (C) order
        total = np.add.outer(total, np.asarray(lp[i], dtype=np.float64))
    total = total.reshape(-1)
    every = np.arange(total.size)[None, :]
    fits = grid.fits(every, np.asarray(area_mm2)[i : i + 1], np.asarray(power_mw)[i : i + 1])[0]
    feasible = np.flatnonzero(fits)
    order = feasible[np.argsort(-total[feasible], kind="stable")[:k]]
    return order, total[order]


def fix_knobs(log_probs: list[np.ndarray], fixed: dict[int, np.ndarray]) -> list[np.ndarray]:
    """Knob ``j`` of row ``i`` held at class ``fixed[j][i]``: every other class gets -inf."""
    out = list(log_probs)
    for j, index in fixed.items():
        classes = np.arange(out[j].shape[1])[None, :]
        out[j] = np.where(classes == np.asarray(index)[:, None], out[j], -np.inf)
    return out


def given_knob_indices(
    space: DesignSpace, frame: Any, names: Sequence[str]
) -> dict[int, np.ndarray]:
    """Grid positions of the knob values a frame gives (the ``given`` knobs of a model)."""
    fixed = {}
    for name in names:
        j = [k.name for k in space.knobs].index(name)
        allowed = [str(v) for v in space.knobs[j].json_values()]
        lookup = {v: i for i, v in enumerate(allowed)}
        if name not in frame:
            raise ValueError(f"this model takes {name!r} as an input; give one of {allowed}")
        values = [str(v) for v in frame[name]]
        bad = sorted({v for v in values if v not in lookup})
        if bad:
            raise ValueError(f"{name} {bad} not in the model's space; allowed: {allowed}")
        fixed[j] = np.array([lookup[v] for v in values], dtype=np.int64)
    return fixed


def decode_flat(
    space: DesignSpace, log_probs: Sequence[np.ndarray], k: int,
    budget: tuple[BudgetGrid, np.ndarray, np.ndarray] | None = None, spread_designs: bool = True,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Top-``k`` designs per row as flat hw indices `(B, k)` and joint log-probabilities
    `(B, k)`, best first, padded with -1 / -inf; the arguments as in :func:`decode_candidates`
    (``log_probs`` from :func:`knob_log_probs`, given knobs already fixed)."""
    knobs = spread_knob_positions(space) if spread_designs else ()
    if budget is None and not knobs:
        idx, scores = top_k_joint(log_probs, k)
        rows, width = idx.shape[0], idx.shape[1]
        return space.flat_index(idx.reshape(-1, idx.shape[-1])).reshape(rows, width), scores
    grid, area, power = budget or _unlimited(space, len(log_probs[0]))
    return top_k_within_budget(log_probs, k, grid, area, power, knobs)


def candidates_of(
    space: DesignSpace, flat: np.ndarray, scores: np.ndarray
) -> list[list[Candidate]]:
    """:class:`Candidate` lists of ranked flat indices `(B, k)` with their joint
    log-probabilities; padding (-1 or a non-finite score) is left out."""
    idx = space.unflat_index(np.maximum(flat, 0)) if flat.size else None
    values = [knob.json_values() for knob in space.knobs]
    names = [knob.name for knob in space.knobs]

    def candidate(vector: np.ndarray, hw_index: int, log_prob: float) -> Candidate:
        hardware = {n: v[int(i)] for n, v, i in zip(names, values, vector, strict=True)}
        return Candidate(tuple(int(i) for i in vector), hw_index, log_prob, hardware)

    rows, width = flat.shape
    return [
        [candidate(idx[i, r], int(flat[i, r]), float(scores[i, r]))
         for r in range(width) if flat[i, r] >= 0 and np.isfinite(scores[i, r])]
        for i in range(rows)
    ]  # fmt: skip


def decode_candidates(
    space: DesignSpace, knob_logits: Sequence[np.ndarray], kinds: Sequence[str], k: int,
    budget: tuple[BudgetGrid, np.ndarray, np.ndarray] | None = None,
    fixed: dict[int, np.ndarray] | None = None, spread_designs: bool = True,
) -> list[list[Candidate]]:  # fmt: skip
    """Top-``k`` designs of ``space`` per row, best first; with ``budget`` = (grid, area_mm2
    `(B,)`, power_mw `(B,)`) only designs within each row's budget (possibly fewer than k);
    ``fixed`` (knob -> class per row) holds given knobs at their values; ``spread_designs``
    spreads the ``k`` over the costliest knobs (:data:`SPREAD_KNOBS`), else the exact top."""
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    log_probs = fix_knobs(knob_log_probs(knob_logits, kinds), fixed or {})
    flat, scores = decode_flat(space, log_probs, k, budget, spread_designs)
    return candidates_of(space, flat, scores)
