"""The instant whole-network answer: the model picks PE arrays, the cost model does the rest.

A network's best design is rarely any one layer's: a depthwise layer with 8 % of the MACs can
carry half the latency, and pooling per-layer preferences by MACs hides it. What the learned
decoder does predict well is which *arrays* (PE rows, columns, dataflow) suit each layer. So:

1. **Arrays from the model**: the best few arrays of the MAC-pooled decoder distribution, each
   distinct layer's favourite, and every dataflow of the pooled favourite array shapes (the
   dataflow decides depthwise layers), keeping only arrays with a point in the budget.
2. **Screen**: every point of those arrays (all buffer sizes and bandwidths, 960 per array in
   the default space) is scored for the whole network with the cell sweep over a coarse
   mapping space (:func:`airchitect.search.network_screen.screen_arrays`).
3. **Climb**: around the best array of each of the two best dataflows, the shapes one step
   away and every aspect of about as many PEs are screened, again while the best moves (the
   model's arrays are often a little small for the whole network).
4. **Settle**: the best screened arrays (by their best point) and the model's own best are
   searched exactly, every layer at its best mapping
   (:func:`airchitect.search.network_exact.network_optimum` restricted to them), so the
   answer is the exact best design of those arrays; among ties, the smallest chip.

Settings were chosen on the zoo networks at three budgets (BENCHMARKS.md, whole networks)
and, for the climb, on MobileNetV2 width and resolution variants; the networks the benchmark
holds out were not used to choose them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from airchitect.cost.mapper import MappingOptions, Objective
from airchitect.cost.tech import TechTable
from airchitect.search.cells import SweepCache, grid_axes
from airchitect.search.network_exact import ExactAnswer, NoDesignInBudget, network_optimum
from airchitect.search.network_screen import array_of_designs, arrays_in_budget, screen_arrays
from airchitect.space.budget import Budget
from airchitect.space.hardware import HARDWARE_KNOBS
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network

_ROWS, _COLS, _FLOW = (HARDWARE_KNOBS.index(k) for k in ("pe_rows", "pe_cols", "dataflow"))


@dataclass(frozen=True)
class ArrayChoice:
    """How many arrays the model proposes (defaults chosen on the zoo networks)."""

    pooled: int = 4  # best arrays of the MAC-pooled distribution
    per_layer: int = 1  # each distinct layer's own best arrays
    shapes_all_dataflows: int = 3  # pooled best (rows, cols) shapes tried under every dataflow
    screened_arrays: int = 4  # best screened arrays (by their best point) searched exactly
    # then the array shapes near the best screened one (one step in rows and/or columns, or
    # another aspect of about as many PEs; same dataflow) are screened, and again around the
    # new best while it moves, at most this many rounds (0: none)
    neighbour_rounds: int = 4
    climb_dataflows: int = 2  # ... around the best array of each of this many dataflows

    def __post_init__(self) -> None:
        for name in ("pooled", "per_layer", "shapes_all_dataflows", "screened_arrays",
                     "neighbour_rounds", "climb_dataflows"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"field {name!r} must be an integer >= 0, got {value!r}")
        if self.screened_arrays < 1:
            raise ValueError(f"field 'screened_arrays' must be >= 1, got {self.screened_arrays}")


def candidate_arrays(
    log_probs: Sequence[np.ndarray], weights: np.ndarray, fits: np.ndarray, choice: ArrayChoice
) -> np.ndarray:
    """Arrays (indices of :meth:`airchitect.search.cells.GridAxes.arrays`) to screen, most
    likely first, from the decoder's per-layer log-probabilities `(L, K_j)` per knob, the
    layers' MAC ``weights`` `(L,)` and which arrays ``fits`` the budget `(A,)`."""
    rows, cols, flows = log_probs[_ROWS], log_probs[_COLS], log_probs[_FLOW]
    n_flows = flows.shape[1]
    joint = rows[:, :, None, None] + cols[:, None, :, None] + flows[:, None, None, :]
    joint = np.where(fits[None, :], joint.reshape(len(rows), -1), -np.inf)  # (L, A)
    pooled = np.where(fits, (weights[:, None] * np.maximum(joint, -1e9)).sum(0), -np.inf)
    ranked = np.argsort(-pooled, kind="stable")
    chosen = list(ranked[: choice.pooled])
    for layer in joint:
        chosen += list(np.argsort(-layer, kind="stable")[: choice.per_layer])
    shapes: list[int] = []
    for a in ranked:
        if len(shapes) >= choice.shapes_all_dataflows:
            break
        if a // n_flows not in shapes:
            shapes.append(int(a // n_flows))
    chosen += [shape * n_flows + f for shape in shapes for f in range(n_flows)]
    unique = dict.fromkeys(int(a) for a in chosen)
    return np.array([a for a in unique if fits[a]], dtype=np.int64)


def shape_neighbours(space: DesignSpace, array: int, iso_pe_tolerance: float = 0.25) -> np.ndarray:
    """Arrays near ``array``, with its dataflow: one step in PE rows and/or columns, and every
    other aspect ratio of about the same number of PEs (within ``iso_pe_tolerance``): a
    32x8 array and a 16x16 one cost nearly the same and suit different layer shapes."""
    axes = grid_axes(space)
    rows_v, cols_v = axes.values["pe_rows"], axes.values["pe_cols"]
    n_cols, n_flows = len(cols_v), len(axes.values["dataflow"])
    rows, rest = divmod(array, n_cols * n_flows)
    cols, flow = divmod(rest, n_flows)
    steps = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))
    near = {(rows + dr, cols + dc) for dr, dc in steps
            if 0 <= rows + dr < len(rows_v) and 0 <= cols + dc < n_cols}  # fmt: skip
    pes = rows_v[rows] * cols_v[cols]
    ratio = np.outer(rows_v, cols_v) / pes
    near |= {(int(r), int(c)) for r, c in zip(*np.nonzero(np.abs(np.log(ratio)) <= np.log1p(
        iso_pe_tolerance)), strict=True)}  # fmt: skip
    near.discard((rows, cols))
    return np.array(sorted((r * n_cols + c) * n_flows + flow for r, c in near), dtype=np.int64)


def _best_per_dataflow(arrays_best_first: np.ndarray, n_flows: int, n: int) -> np.ndarray:
    """The best array of each of the ``n`` best dataflows (arrays ranked best first)."""
    seen: dict[int, int] = {}
    for a in arrays_best_first.tolist():
        seen.setdefault(a % n_flows, a)
        if len(seen) == n:
            break
    return np.array(list(seen.values()), dtype=np.int64)


def _best_of(flat: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(scores, kind="stable")[:k]
    return flat[order], scores[order]


@dataclass(frozen=True)
class NetworkAnswer:
    answer: ExactAnswer  # exact within ``settled`` arrays
    arrays: np.ndarray  # screened
    screened: np.ndarray  # best screened points (flat indices), best first
    screened_scores: np.ndarray
    settled: np.ndarray  # arrays searched exactly


def instant_network_answer(
    workload: Network | Layer, space: DesignSpace, budget: Budget, objective: Objective,
    log_probs: Sequence[np.ndarray], weights: np.ndarray, tech: TechTable,
    screen_options: MappingOptions, choice: ArrayChoice = ArrayChoice(),
    cache: SweepCache | None = None,
) -> NetworkAnswer | None:  # fmt: skip
    """Steps 1-3 of the module doc. ``None`` when no proposed array has a point within the
    budget or a valid mapping for every layer (the caller falls back to a search).

    Raises :class:`airchitect.search.network_exact.NoDesignInBudget` never: a restricted
    search that finds nothing is reported as ``None``."""
    fits = arrays_in_budget(space, budget, tech)
    arrays = candidate_arrays(log_probs, weights, fits, choice)
    if len(arrays) == 0:
        return None
    k = choice.screened_arrays

    def screen(arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # each array's best point
        return screen_arrays(workload, space, budget, objective, arrays, len(arrays), tech,
                             screen_options, per_array=True, cache=cache)  # fmt: skip

    flat, scores = screen(arrays)
    if len(flat) == 0:
        return None
    n_flows = len(grid_axes(space).values["dataflow"])
    first = flat[:1]  # the model's own best array is settled too: the climb follows the screen
    for _ in range(choice.neighbour_rounds):  # climb the array lattice while the best move
        tops = _best_per_dataflow(array_of_designs(space, flat), n_flows, choice.climb_dataflows)
        near = np.unique(np.concatenate([shape_neighbours(space, int(a)) for a in tops]))
        near = near[fits[near] & ~np.isin(near, arrays)]
        if len(near) == 0:
            break
        arrays = np.concatenate([arrays, near])
        more, more_scores = screen(near)
        flat, scores = _best_of(np.r_[flat, more], np.r_[scores, more_scores], len(arrays))
        moved = _best_per_dataflow(array_of_designs(space, flat), n_flows, choice.climb_dataflows)
        if np.array_equal(moved, tops):
            break
    flat, scores = flat[:k], scores[:k]
    if not np.isin(first, flat).all():
        flat, scores = np.r_[flat, first], np.r_[scores, np.inf]
    settled = np.unique(array_of_designs(space, flat))
    try:
        answer = network_optimum(workload, space, budget, objective, tech, arrays=settled,
                                 probes=False, cache=cache)  # fmt: skip
    except NoDesignInBudget:
        return None
    return NetworkAnswer(answer, arrays, flat, scores, settled)
