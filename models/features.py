"""Workload and task features as a fixed sequence of tokens.

Every token position has its own slice of one shared vocabulary (so one embedding table serves
them all) and carries a float value next to its id:

- categorical features (``op``, ``objective``): id = position offset + vocabulary index, value 0;
- numeric features (loop-nest dims, precision, derived operand sizes, budgets): id = position
  offset + quantile bucket of the log value, value = the standardised log value.

A model can also be told what its budget buys (``capacity``): ``budget_max_pes`` is the largest
PE array of the design space that fits the row's area and power budgets, read off a small table
(each array shape's least area and least power, from the tech model) that the statistics carry.
The budgets alone leave the network to learn the tech model's area and power formulas, and an
array a step too small under a latency objective costs as much as that step.

A model can also be told part of the design (``given`` knobs, e.g. the dataflow when the
question is "the best array and buffers for this NVDLA-style layer", as in AIrchitect v2): each
given knob adds a categorical token read from the knob's column, after the tokens above.

A model can also see divisibility (``divisibility``, a tuple of moduli; off by default, and
then tokens, vocabulary and bundles are exactly as before): for each of the dims ``k c p q``
and each modulus ``m``, a token ``<dim>_mod_<m>`` whose id is the exact residue ``dim mod m``
and whose value is the lane utilisation ``dim / (m * ceil(dim / m))``. Log buckets put 96 and
100 in one bucket; whether a loop fills an array of ``m`` lanes evenly decides its cycles
(``ceil(K / pe_cols)`` and friends), and only the residue shows it
(:mod:`airchitect.models.divisibility`).

Local id 0 of every position is reserved: "unknown" for a category never seen in training and
"missing" for a null number; for the budgets it means "unconstrained". Nothing the model can be
asked about at inference crashes the encoder: unknown categories and nulls map to id 0.
The statistics are fitted on the training split and travel with the model (:meth:`to_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

FEATURES_VERSION = 1
CATEGORICAL_FEATURES: tuple[str, ...] = ("op", "objective")
DIM_FEATURES: tuple[str, ...] = (
    "n", "k", "c", "p", "q", "r", "s", "stride", "dilation", "groups", "precision_bytes", "macs",
)  # fmt: skip
#: Operand sizes in bytes and arithmetic intensity, computed from the dims (see ``Layer``).
DERIVED_FEATURES: tuple[str, ...] = ("weight_bytes", "input_bytes", "output_bytes", "intensity")
BUDGET_FEATURES: tuple[str, ...] = ("area_budget_mm2", "power_budget_mw")
NUMERIC_FEATURES: tuple[str, ...] = DIM_FEATURES + DERIVED_FEATURES + BUDGET_FEATURES
TOKENS: tuple[str, ...] = CATEGORICAL_FEATURES + NUMERIC_FEATURES
#: Budget-capacity tokens, present when the statistics carry a capacity table.
CAPACITY_FEATURES: tuple[str, ...] = ("budget_max_pes",)
#: Dims that get residue tokens when a model asks for ``divisibility``.
DIVISIBILITY_DIMS: tuple[str, ...] = ("k", "c", "p", "q")
#: Columns a frame must have to be encoded (the derived features are computed from them).
INPUT_COLUMNS: tuple[str, ...] = CATEGORICAL_FEATURES + DIM_FEATURES + BUDGET_FEATURES
RESERVED = 0  # local id of "unknown" / "missing" / "unconstrained" at every position
VALUE_CLIP = 8.0  # standardised values beyond this are clipped: far-off inputs stay finite
#: Rows to encode: a DataFrame, or (serving's fast path, no pandas per query) a mapping of
#: column name -> 1-D array, all of one length.
Columns: TypeAlias = pd.DataFrame | Mapping[str, Any]


@dataclass
class NumericStats:
    """Normalisation of one numeric feature: mean/std of its log and quantile bucket edges."""

    mean: float
    std: float
    edges: list[float]

    @property
    def size(self) -> int:
        """Local ids used: the reserved one plus ``len(edges) + 1`` buckets."""
        return len(self.edges) + 2


@dataclass
class FeatureStats:
    """Everything needed to turn a frame into tokens, fitted on training rows only."""

    numeric: dict[str, NumericStats]
    categorical: dict[str, list[str]]
    n_buckets: int = 16
    version: int = FEATURES_VERSION
    given: tuple[str, ...] = ()  # knobs whose values are inputs (their column names)
    # per PE-array shape: "pes", least "area_mm2" and least "power_mw" (see budget_capacity)
    capacity: dict[str, list[float]] | None = None
    divisibility: tuple[int, ...] = ()  # moduli of the residue tokens; () = none (the default)
    _offsets: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.given = tuple(self.given)
        self.divisibility = tuple(int(m) for m in self.divisibility)
        if any(m < 2 for m in self.divisibility) or len(set(self.divisibility)) < len(
            self.divisibility
        ):
            raise ValueError(f"divisibility moduli must be distinct integers >= 2, got "
                             f"{list(self.divisibility)}")  # fmt: skip
        offset = 0
        for name in self.tokens:
            self._offsets[name] = offset
            offset += self.size(name)

    @property
    def tokens(self) -> tuple[str, ...]:
        """Token names in position order: the fixed ones, then one per given knob, then the
        residue tokens."""
        return TOKENS + self.capacity_tokens + self.given + self.divisibility_tokens

    @property
    def divisibility_tokens(self) -> tuple[str, ...]:
        return divisibility_tokens(self.divisibility)

    @property
    def capacity_tokens(self) -> tuple[str, ...]:
        return CAPACITY_FEATURES if self.capacity else ()

    @property
    def categorical_tokens(self) -> tuple[str, ...]:
        return CATEGORICAL_FEATURES + self.given

    def size(self, name: str) -> int:
        """Vocabulary slice length of token ``name`` (reserved id included)."""
        if name in self.categorical:
            return len(self.categorical[name]) + 1
        if name in self._moduli:
            return self._moduli[name] + 1
        return self.numeric[name].size

    @property
    def _moduli(self) -> dict[str, int]:
        return {f"{d}_mod_{m}": m for d in DIVISIBILITY_DIMS for m in self.divisibility}

    def offset(self, name: str) -> int:
        return self._offsets[name]

    @property
    def vocab_size(self) -> int:
        return sum(self.size(name) for name in self.tokens)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (floats, strings, lists)."""
        return (
            {
                "version": self.version,
                "n_buckets": self.n_buckets,
                "tokens": list(self.tokens),
                "given": list(self.given),
                "numeric": {
                    k: {"mean": v.mean, "std": v.std, "edges": list(v.edges)}
                    for k, v in self.numeric.items()
                },
                "categorical": {k: list(v) for k, v in self.categorical.items()},
            }
            | ({"capacity": self.capacity} if self.capacity else {})
            | ({"divisibility": list(self.divisibility)} if self.divisibility else {})
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureStats:
        given = tuple(str(k) for k in data.get("given", ()))
        capacity = data.get("capacity")
        moduli = tuple(int(m) for m in data.get("divisibility", ()))
        tokens = list(TOKENS + (CAPACITY_FEATURES if capacity else ()) + given
                      + divisibility_tokens(moduli))  # fmt: skip
        if data.get("version") != FEATURES_VERSION or list(data.get("tokens", [])) != tokens:
            raise ValueError(
                f"feature stats version {data.get('version')!r} with tokens "
                f"{data.get('tokens')!r} do not match this code (version {FEATURES_VERSION})"
            )
        numeric = {
            k: NumericStats(float(v["mean"]), float(v["std"]), [float(e) for e in v["edges"]])
            for k, v in data["numeric"].items()
        }
        categorical = {k: [str(x) for x in v] for k, v in data["categorical"].items()}
        return cls(numeric, categorical, int(data["n_buckets"]), int(data["version"]), given,
                   capacity, moduli)  # fmt: skip


def divisibility_tokens(moduli: tuple[int, ...]) -> tuple[str, ...]:
    """Names of the residue tokens of ``moduli``: every dim's, modulus by modulus."""
    return tuple(f"{d}_mod_{m}" for d in DIVISIBILITY_DIMS for m in moduli)


# ---- raw columns -> log values / category strings ------------------------------------------------
def n_rows(frame: Columns) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(next(iter(frame.values()))) if len(frame) else 0


def _raw(frame: Columns, name: str) -> Any:
    if name not in frame:  # a DataFrame's ``in`` looks at its columns
        raise KeyError(f"feature column {name!r} is missing; a frame needs {list(INPUT_COLUMNS)}")
    return frame[name]


def _column(frame: Columns, name: str) -> np.ndarray:
    """Floats of a column; anything not a number (text, None) becomes NaN."""
    raw = _raw(frame, name)
    if getattr(raw, "dtype", None) is not None and raw.dtype.kind in "fiub":
        return np.asarray(raw, dtype=np.float64)  # already numeric: skip the coercion
    return pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=np.float64)


def _derived(frame: Columns) -> dict[str, np.ndarray]:
    """Operand bytes and MACs per byte, following ``Layer``'s definitions (NaN propagates)."""
    d = {name: _column(frame, name) for name in DIM_FEATURES}
    with np.errstate(all="ignore"):
        in_h = (d["p"] - 1) * d["stride"] + (d["r"] - 1) * d["dilation"] + 1
        in_w = (d["q"] - 1) * d["stride"] + (d["s"] - 1) * d["dilation"] + 1
        weight = d["k"] * d["c"] / d["groups"] * d["r"] * d["s"] * d["precision_bytes"]
        inputs = d["n"] * d["c"] * in_h * in_w * d["precision_bytes"]
        outputs = d["n"] * d["k"] * d["p"] * d["q"] * d["precision_bytes"]
        intensity = d["macs"] / (weight + inputs + outputs)
    out = {"weight_bytes": weight, "input_bytes": inputs, "output_bytes": outputs}
    return out | {"intensity": intensity}


def log_numeric(frame: Columns) -> dict[str, np.ndarray]:
    """Natural log of every numeric feature, ``(B,)`` each; NaN where null or non-positive."""
    raw = {name: _column(frame, name) for name in DIM_FEATURES + BUDGET_FEATURES}
    raw |= _derived(frame)
    out = {}
    for name in NUMERIC_FEATURES:
        x = raw[name]
        ok = np.isfinite(x) & (x > 0)
        out[name] = np.where(ok, np.log(np.where(ok, x, 1.0)), np.nan)
    return out


def _categories(frame: Columns, name: str) -> np.ndarray:
    col = _raw(frame, name)
    return np.array([None if pd.isna(v) else str(v) for v in col], dtype=object)


def capacity_table(space) -> dict[str, list[float]]:
    """Per PE-array shape of ``space`` (a ``DesignSpace``): its PE count and the least area
    (mm2) and least power (mW) of any design with that array, under the default tech model."""
    from airchitect.space.budget import hardware_area_mm2, hardware_power_mw

    hw = space.enumerate()
    pes = hw.pe_rows.astype(np.int64) * hw.pe_cols.astype(np.int64)
    shape = hw.pe_rows.astype(np.int64) * 1_000_003 + hw.pe_cols.astype(np.int64)
    frame = pd.DataFrame({"shape": shape, "pes": pes, "area_mm2": hardware_area_mm2(hw),
                          "power_mw": hardware_power_mw(hw)})  # fmt: skip
    least = frame.groupby("shape").agg(pes=("pes", "first"), area_mm2=("area_mm2", "min"),
                                       power_mw=("power_mw", "min"))  # fmt: skip
    return {k: [float(v) for v in least[k]] for k in ("pes", "area_mm2", "power_mw")}


def budget_max_pes(frame: Columns, capacity: dict[str, list[float]]) -> np.ndarray:
    """The largest PE count whose array fits each row's budgets `(B,)`; NaN where none does.
    A missing budget constrains nothing."""
    area, power = (_column(frame, name) for name in BUDGET_FEATURES)
    area, power = np.where(np.isnan(area), np.inf, area), np.where(np.isnan(power), np.inf, power)
    fits = (np.asarray(capacity["area_mm2"])[None, :] <= area[:, None]) & (
        np.asarray(capacity["power_mw"])[None, :] <= power[:, None]
    )  # (B, shapes)
    best = np.where(fits, np.asarray(capacity["pes"])[None, :], 0.0).max(axis=1, initial=0.0)
    return np.where(best > 0, best, np.nan)


def _log_capacity(frame: Columns, capacity: dict[str, list[float]]) -> dict[str, np.ndarray]:
    pes = budget_max_pes(frame, capacity)
    return {"budget_max_pes": np.log(pes)}  # NaN stays NaN: nothing fits


# ---- fitting and encoding ------------------------------------------------------------------------
def _fit_numeric(logs: np.ndarray, n_buckets: int) -> NumericStats:
    x = logs[np.isfinite(logs)]
    if x.size == 0:  # a feature never present in training: every value lands in one bucket
        return NumericStats(0.0, 1.0, [])
    std = float(x.std())
    quantiles = np.quantile(x, np.arange(1, n_buckets) / n_buckets)
    edges = np.unique(np.round(quantiles, 9))
    return NumericStats(float(x.mean()), std if std > 1e-6 else 1.0, [float(e) for e in edges])


def fit_feature_stats(
    frame: pd.DataFrame,
    n_buckets: int = 16,
    given: tuple[str, ...] = (),
    space=None,
    divisibility: tuple[int, ...] = (),
) -> FeatureStats:
    """Fit normalisation, bucket edges and vocabularies on ``frame`` (the training rows);
    ``given``: knob columns that become input tokens; ``space`` (a ``DesignSpace``): add the
    budget-capacity tokens of that space; ``divisibility``: moduli of residue tokens."""
    logs = log_numeric(frame)
    capacity = capacity_table(space) if space is not None else None
    if capacity:
        logs |= _log_capacity(frame, capacity)
    numeric = {name: _fit_numeric(logs[name], n_buckets)
               for name in NUMERIC_FEATURES + (CAPACITY_FEATURES if capacity else ())}  # fmt: skip
    categorical = {}
    for name in CATEGORICAL_FEATURES + tuple(given):
        values = _categories(frame, name)
        categorical[name] = sorted({v for v in values if v is not None})
    return FeatureStats(numeric, categorical, n_buckets, given=tuple(given), capacity=capacity,
                        divisibility=tuple(divisibility))  # fmt: skip


def encode_features(frame: Columns, stats: FeatureStats) -> tuple[np.ndarray, np.ndarray]:
    """Token ids ``int64 (B, T)`` and values ``float32 (B, T)`` of every row of ``frame``."""
    n = n_rows(frame)
    ids = np.zeros((n, stats.n_tokens), dtype=np.int64)
    values = np.zeros((n, stats.n_tokens), dtype=np.float32)
    for name in stats.categorical_tokens:
        lookup = {v: i + 1 for i, v in enumerate(stats.categorical[name])}
        local = [lookup.get(v, RESERVED) for v in _categories(frame, name)]
        ids[:, stats.tokens.index(name)] = stats.offset(name) + np.asarray(local, dtype=np.int64)
    logs = log_numeric(frame)
    if stats.capacity:
        logs |= _log_capacity(frame, stats.capacity)
    for name in NUMERIC_FEATURES + stats.capacity_tokens:
        t = stats.tokens.index(name)
        st, x = stats.numeric[name], logs[name]
        present = np.isfinite(x)
        bucket = np.searchsorted(np.asarray(st.edges), np.where(present, x, 0.0), side="right")
        ids[:, t] = stats.offset(name) + np.where(present, bucket + 1, RESERVED)
        z = np.clip((np.where(present, x, st.mean) - st.mean) / st.std, -VALUE_CLIP, VALUE_CLIP)
        values[:, t] = z.astype(np.float32)
    if stats.divisibility:
        _encode_residues(frame, stats, ids, values)
    return ids, values


def _encode_residues(frame: Columns, stats: FeatureStats, ids: np.ndarray, values: np.ndarray):
    """Fill the residue tokens in place: id = exact residue (reserved where the dim is missing
    or not a positive integer), value = lane utilisation."""
    for dim in DIVISIBILITY_DIMS:
        x = _column(frame, dim)
        ok = np.isfinite(x) & (x >= 1) & (x == np.floor(np.where(np.isfinite(x), x, 0)))
        x = np.where(ok, x, 1.0)
        for m in stats.divisibility:
            name = f"{dim}_mod_{m}"
            t = stats.tokens.index(name)
            residue = np.mod(x, m).astype(np.int64)
            ids[:, t] = stats.offset(name) + np.where(ok, residue + 1, RESERVED)
            values[:, t] = np.where(ok, x / (m * np.ceil(x / m)), 0.0).astype(np.float32)


# ---- cost target ---------------------------------------------------------------------------------
def fit_cost_stats(frame: pd.DataFrame) -> dict[str, Any]:
    """Mean/std of ``log(score)`` per objective (scores of different objectives differ in
    units by orders of magnitude) and over all rows (the fallback for an unknown objective)."""
    logs = np.log(np.clip(_column(frame, "score"), 1e-30, None))
    objectives = _categories(frame, "objective")

    def moments(x: np.ndarray) -> dict[str, float]:
        x = x[np.isfinite(x)]
        if x.size == 0:
            return {"mean": 0.0, "std": 1.0}
        std = float(x.std())
        return {"mean": float(x.mean()), "std": std if std > 1e-6 else 1.0}

    names = sorted({o for o in objectives if o is not None})
    per = {name: moments(logs[objectives == name]) for name in names}
    return {"objective": per, "all": moments(logs)}


def _cost_moments(objectives: np.ndarray, stats: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    chosen = [stats["objective"].get(o, stats["all"]) for o in objectives]
    return np.array([c["mean"] for c in chosen]), np.array([c["std"] for c in chosen])


def normalise_cost(frame: pd.DataFrame, stats: dict[str, Any]) -> np.ndarray:
    """Standardised ``log(score)`` `float32 (B,)` per the row's objective."""
    logs = np.log(np.clip(_column(frame, "score"), 1e-30, None))
    mean, std = _cost_moments(_categories(frame, "objective"), stats)
    return ((logs - mean) / std).astype(np.float32)


def denormalise_cost(z: np.ndarray, objectives: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Scores (objective units) `(B,)` from standardised log costs `(B,)`."""
    mean, std = _cost_moments(np.asarray(objectives, dtype=object), stats)
    return np.exp(np.asarray(z, dtype=np.float64) * std + mean)
