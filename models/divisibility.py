"""Loop-nest dimensions in forms that show whether they divide evenly.

On a spatial array the cycles of a loop of extent ``D`` spread over ``m`` lanes are
``ceil(D / m)``, so utilisation, and with it which array size or buffer tile wins, jumps with
``D mod m``. Log-scaled buckets of ``D`` (the recommender's numeric tokens) cannot see that: 96
and 100 land in one bucket, but 96 fills 48 lanes twice and 100 does not. The encodings here
give a network the residues directly. Measured on AIrchitect v2 validation rows in
BENCHMARKS.md ("AIrchitect v2").

Encodings of a ``(n, d)`` array of non-negative integer dims, each a ``(n, F)`` float array:

- ``"log"``: ``log2(1 + D)`` per dim only (what log buckets carry; the baseline);
- ``"residue"``: ``log`` plus ``(D mod m) / m`` for every modulus ``m``;
- ``"util"``: ``log`` plus the lane utilisation ``D / (m * ceil(D / m))`` for every ``m``
  (1 where ``m`` divides ``D``; 0 where ``D`` = 0). It saturates towards 1 once ``D`` is many
  times ``m`` (a GEMM's N of 50,000 on 64 lanes), where ``residue`` still separates;
- ``"both"``: ``log``, then ``residue``'s and ``util``'s columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ENCODINGS: tuple[str, ...] = ("log", "residue", "util", "both")
#: Every PE count of the AIrchitect v2 space (1..64): its candidate lane counts.
DEFAULT_MODULI: tuple[int, ...] = tuple(range(2, 65))


def divisibility_features(
    dims: np.ndarray, encoding: str = "util", moduli: Sequence[int] = DEFAULT_MODULI
) -> np.ndarray:
    """Features of integer dims ``(n, d)``: per dim its log, then one column per modulus
    (``"residue"``, ``"util"``) or two (``"both"``: residues, then utilisations)."""
    if encoding not in ENCODINGS:
        raise ValueError(
            f"field 'encoding' must be one of {', '.join(ENCODINGS)}, got {encoding!r}"
        )
    m = np.asarray(moduli, dtype=np.float64)
    if m.ndim != 1 or (m < 1).any() or (m != np.round(m)).any():
        raise ValueError(f"field 'moduli' must be positive integers, got {list(moduli)!r}")
    d = np.asarray(dims, dtype=np.float64)
    if d.ndim != 2 or not np.isfinite(d).all() or (d < 0).any():
        raise ValueError("dims must be a (n, d) array of finite non-negative numbers")
    d = np.floor(d)
    parts = []
    for j in range(d.shape[1]):
        x = d[:, j : j + 1]  # (n, 1)
        parts.append(np.log2(1.0 + x))
        if encoding in ("residue", "both"):
            parts.append(np.mod(x, m) / m)
        if encoding in ("util", "both"):
            lanes = m * np.ceil(x / m)  # (n, len(m))
            parts.append(np.divide(x, lanes, out=np.zeros_like(lanes), where=lanes > 0))
    return np.concatenate(parts, axis=1).astype(np.float32)
