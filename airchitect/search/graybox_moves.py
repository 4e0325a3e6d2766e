"""The moves the gray-box optimiser weighs, and the mappings its what-if re-costs them with.

A one-knob step cannot leave a local optimum that needs several knobs to move together: a
taller, narrower array (as many PEs, another shape) on another dataflow, or a smaller L2 that
pays for a larger array. :func:`neighbourhood` therefore proposes, around a design:

- a **coordinate sweep**: every value of each knob, the others fixed;
- **paired moves**: every two knobs moved up to ``reach`` grid steps each (a resource bought
  with another one, or two resources bought together);
- **array reshapes**: every PE array with between half and twice the PEs (iso-PE and
  iso-area directions of the array), on every dataflow, with the L2 up to ``reach`` steps
  either way.

That is a few hundred points; the caller drops over-budget ones and ranks the rest with the
fixed-mapping what-if before spending an evaluation. The what-if re-costs mappings already
found on evaluated designs; :func:`mapping_variants` adds the same loop nests with smaller tiles
(an L2 tile halved along one loop group, less PE reuse), so that a move to a smaller buffer is
rated by what it costs rather than rated unmappable.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from airchitect.cost.batch import MappingBatch
from airchitect.space.hardware import HARDWARE_KNOBS
from airchitect.space.space import DesignSpace

KNOB = {name: j for j, name in enumerate(HARDWARE_KNOBS)}
DATAFLOW, ROWS, COLS, L2 = (KNOB[k] for k in ("dataflow", "pe_rows", "pe_cols", "l2_kib"))
REACH = 2  # grid steps each knob of a paired move may take


def neighbourhood(space: DesignSpace, here: np.ndarray, reach: int = REACH) -> np.ndarray:
    """Index vectors of the moves around ``here`` (``here`` itself excluded, duplicates
    removed), shape ``(m, knobs)``."""
    cards = space.cardinalities
    out = [_sweep(here, cards), _pairs(here, cards, reach), _reshapes(space, here, reach)]
    moves = np.unique(np.concatenate([o for o in out if len(o)]), axis=0)
    return moves[(moves != here).any(axis=1)]


def _steps(j: int, at: int, cards: np.ndarray, reach: int | None) -> list[int]:
    """Grid positions knob ``j`` may move to from ``at`` (any other dataflow)."""
    if j == DATAFLOW or reach is None:
        return [v for v in range(int(cards[j])) if v != at]
    return [v for v in range(at - reach, at + reach + 1) if v != at and 0 <= v < cards[j]]


def _sweep(here: np.ndarray, cards: np.ndarray) -> np.ndarray:
    rows = []
    for j in range(len(cards)):
        for v in _steps(j, int(here[j]), cards, None):
            moved = here.copy()
            moved[j] = v
            rows.append(moved)
    return np.array(rows, dtype=np.int64).reshape(-1, len(cards))


def _pairs(here: np.ndarray, cards: np.ndarray, reach: int) -> np.ndarray:
    rows = []
    for a, b in combinations(range(len(cards)), 2):
        for va in _steps(a, int(here[a]), cards, reach):
            for vb in _steps(b, int(here[b]), cards, reach):
                moved = here.copy()
                moved[a], moved[b] = va, vb
                rows.append(moved)
    return np.array(rows, dtype=np.int64).reshape(-1, len(cards))


def _reshapes(space: DesignSpace, here: np.ndarray, reach: int) -> np.ndarray:
    """Arrays with half to twice the PEs, on every dataflow, the L2 within ``reach`` steps."""
    rows_v = np.asarray(space.knobs[ROWS].values, dtype=float)
    cols_v = np.asarray(space.knobs[COLS].values, dtype=float)
    pes = rows_v[:, None] * cols_v[None, :]
    ratio = pes / pes[here[ROWS], here[COLS]]
    r, c = np.nonzero((ratio >= 0.5) & (ratio <= 2.0))
    cards = space.cardinalities
    l2 = [int(here[L2]), *_steps(L2, int(here[L2]), cards, reach)]
    grid = np.array(np.meshgrid(np.arange(len(r)), np.arange(cards[DATAFLOW]), l2,
                                indexing="ij")).reshape(3, -1)  # fmt: skip
    out = np.repeat(here[None, :], grid.shape[1], axis=0)
    out[:, ROWS], out[:, COLS] = r[grid[0]], c[grid[0]]
    out[:, DATAFLOW], out[:, L2] = grid[1], grid[2]
    return out


def moved_knobs(here: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """How many knobs each move changes, shape ``(m,)``."""
    return (moves != here).sum(axis=1)


def mapping_variants(m: MappingBatch) -> list[MappingBatch]:
    """``m`` and the same loop nests with smaller tiles: each L2 tile halved along one loop
    group (output pixels, output channels, reduction) or along all, and half or a quarter of
    the PE reuse (a smaller L1), alone and with the halved L2 tiles."""
    half = {f: np.maximum(getattr(m, f) // 2, 1) for f in ("p_l2", "k_l2", "c_l2")}
    reuse = {d: np.maximum(m.pe_reuse // d, 1) for d in (2, 4)}

    def variant(p=m.p_l2, k=m.k_l2, c=m.c_l2, r=m.pe_reuse):
        return MappingBatch(m.n_l2, p, k, c, r, m.dram_order)

    return [m, variant(p=half["p_l2"]), variant(k=half["k_l2"]), variant(c=half["c_l2"]),
            variant(r=reuse[2]), variant(r=reuse[4]),
            variant(half["p_l2"], half["k_l2"], half["c_l2"], reuse[2])]  # fmt: skip
