"""Co-search: the Pareto front of accuracy vs cost over (network variant, hardware design) pairs.

Every variant of a network family is a candidate network; for each variant and each budget
the instant recommender (:class:`airchitect.serve.recommend.RecommendService`) answers the best
design,
a valid one with a mapping per layer, in well under a second. That turns the inner loop of a
joint network x accelerator search into a lookup, so the whole joint space of a family is
covered, not sampled. Then:

1. each pair is scored on latency (ms), energy (mJ) and EDP (mJ x ms) and checked against the
   targets (upper limits on any of them); a variant that no design in a budget can run is
   reported as infeasible there, never returned as a design;
2. pairs with an accuracy (the shipped table of published figures,
   ``airchitect/workloads/data/accuracy.csv``; the user's own ``variant,accuracy`` CSV; or a
   callable, such as a supernet's predictor) and within the targets form the front: no
   other such pair is at least as accurate and at most as costly on the objective, and
   strictly better on one of them. Variants without an accuracy are searched for cost only,
   and say so;
3. ``refine``/``time_budget_s`` polish the front's members (constrained BO, or the exact search
   from the answer), and the front is recomputed with the polished costs.

The chosen pair is the most accurate member of the front (the cheapest among ties).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from airchitect.cost.mapper import Objective
from airchitect.cost.network import NoValidMapping
from airchitect.serve.cosearch_batch import BatchRecommender
from airchitect.serve.recommend import NoFeasibleDesign, RecommendService, Settings
from airchitect.space.budget import Budget
from airchitect.workloads.families import build_variant, family_variants
from airchitect.workloads.network import Network

#: The figure each objective is judged by, in display units (the targets use the same).
METRICS = {"latency": "latency_ms", "energy": "energy_mj", "edp": "edp_mj_ms"}
#: ``Objective`` -> the recommender objective that minimises that metric.
_OBJECTIVE_OF_METRIC = {v: k for k, v in METRICS.items()}
_UNITS = {"latency_ms": "ms", "energy_mj": "mJ", "edp_mj_ms": "mJ x ms"}

#: ``accuracy(variant)`` -> accuracy (any scale, higher is better) or ``None`` (unknown).
AccuracyFn = Callable[[str], float | None]
Progress = Callable[[int, int], None]


# -- accuracy ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accuracy:
    """One variant's quality figure and where it comes from."""

    value: float
    metric: str  # "imagenet_top1", "glue_score", or "user"
    source: str


def published_accuracy(family: str) -> dict[str, Accuracy]:
    """The shipped published figures of ``family``'s variants (``accuracy.csv``), by variant."""
    path = resources.files("airchitect.workloads") / "data" / "accuracy.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["variant"]: Accuracy(float(r["accuracy"]), r["metric"], r["source"])
            for r in rows if r["family"] == family}  # fmt: skip


def load_accuracy_csv(path: str | Path, known: Sequence[str] | None = None) -> dict[str, float]:
    """A user's ``variant,accuracy`` CSV (other columns are ignored). Every problem is one
    ``ValueError`` line naming the file, the row (1 = the header) and the field."""
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("variant", "accuracy") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"accuracy CSV {path}: row 1: missing column {missing[0]!r} "
                             f"(the header must name 'variant' and 'accuracy')")  # fmt: skip
        out: dict[str, float] = {}
        for row_number, row in enumerate(reader, start=2):
            where = f"accuracy CSV {path}: row {row_number}"
            variant = (row.get("variant") or "").strip()
            if not variant:
                raise ValueError(f"{where}, field 'variant': empty")
            if known is not None and variant not in known:
                raise ValueError(f"{where}, field 'variant': {variant!r} is not a candidate; "
                                 f"allowed: {', '.join(known)}")  # fmt: skip
            if variant in out:
                raise ValueError(f"{where}, field 'variant': {variant!r} appears twice")
            text = (row.get("accuracy") or "").strip()
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{where}, field 'accuracy': {text!r} is not a number") from None
            if not (math.isfinite(value) and 0 <= value <= 100):
                raise ValueError(f"{where}, field 'accuracy': must be in 0..100, got {text}")
            out[variant] = value
    if not out:
        raise ValueError(f"accuracy CSV {path}: no rows after the header")
    return out


def resolve_accuracy(
    names: Sequence[str], published: Mapping[str, Accuracy],
    user: Mapping[str, float] | AccuracyFn | None = None, user_source: str = "user",
) -> dict[str, Accuracy | None]:  # fmt: skip
    """Each name's accuracy: the user's figure where given, else the published one, else
    ``None`` (searched for cost only)."""
    out: dict[str, Accuracy | None] = {}
    for name in names:
        value = None
        if callable(user):
            value = user(name)
        elif user is not None:
            value = user.get(name)
        if value is not None:
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"accuracy of {name!r} must be a finite number, got {value!r}")
            out[name] = Accuracy(float(value), "user", user_source)
        else:
            out[name] = published.get(name)
    return out


# -- the search ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Targets:
    """Upper limits a pair must meet to be on the front; ``None``: no limit."""

    latency_ms: float | None = None
    energy_mj: float | None = None
    edp_mj_ms: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            if value is not None and not (isinstance(value, int | float) and value > 0
                                          and math.isfinite(value)):  # fmt: skip
                raise ValueError(f"target field {name!r} must be a positive number, got {value!r}")

    def to_dict(self) -> dict[str, float | None]:
        return {"latency_ms": self.latency_ms, "energy_mj": self.energy_mj,
                "edp_mj_ms": self.edp_mj_ms}  # fmt: skip

    def given(self) -> dict[str, float]:
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def misses(self, metrics: Mapping[str, float]) -> list[str]:
        return [f"{k.rsplit('_', 1)[0]} {metrics[k]:.4g} > {v:g} {_UNITS[k]}"
                for k, v in self.given().items() if metrics[k] > v]  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """A network to co-search: its name (the accuracy key) and its layers."""

    name: str
    network: Network


def family_candidates(family: str, variants: Sequence[str] | None = None, **kwargs) -> list:
    """The candidates of a family (all its variants, or the named ones)."""
    names = list(variants) if variants else family_variants(family)
    return [Candidate(v, build_variant(family, v, **kwargs)) for v in names]


@dataclass
class Pair:
    """One (variant, design) point: its costs, accuracy and verdict."""

    variant: str
    budget: Budget
    designed_for: str  # the objective the design was recommended for
    accuracy: Accuracy | None
    metrics: dict[str, float] = field(default_factory=dict)
    recommendation: Any = None  # airchitect.serve.recommend.Recommendation; None when infeasible
    status: str = (
        ""  # "front", "dominated", "misses target (...)", "cost only: ...", "infeasible: ..."
    )

    @property
    def feasible(self) -> bool:
        return self.recommendation is not None

    def to_dict(self, layers: bool) -> dict[str, Any]:
        acc = self.accuracy
        out = {"variant": self.variant, "budget": self.budget.to_dict(),
               "designed_for": self.designed_for, "status": self.status,
               "accuracy": None if acc is None else acc.value,
               "accuracy_metric": None if acc is None else acc.metric,
               "accuracy_source": None if acc is None else acc.source} | self.metrics  # fmt: skip
        if self.recommendation is not None:
            out["recommendation"] = self.recommendation.to_dict(layers=layers)
        return out


@dataclass
class CoSearchResult:
    objective: Objective
    targets: Targets
    budgets: list[Budget]
    pairs: list[Pair]
    front: list[int]  # indices into pairs, by increasing cost
    chosen: int | None
    seconds: float

    @property
    def metric(self) -> str:
        return METRICS[self.objective.value]

    def to_dict(self, layers: str = "front") -> dict[str, Any]:
        """JSON-ready; ``layers`` ("all", "front", "none"): whose per-layer mappings to keep."""
        on = set(self.front) if layers == "front" else set()
        return {
            "objective": self.objective.value, "metric": self.metric,
            "targets": self.targets.to_dict(), "budgets": [b.to_dict() for b in self.budgets],
            "front": self.front, "chosen": self.chosen, "seconds": self.seconds,
            "pairs": [p.to_dict(layers == "all" or i in on) for i, p in enumerate(self.pairs)],
            "cost_only": sorted({p.variant for p in self.pairs if p.accuracy is None}),
            "infeasible": [{"variant": p.variant, "budget": p.budget.to_dict(),
                            "reason": p.status} for p in self.pairs if not p.feasible],
        }  # fmt: skip


def pareto_front(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (higher accuracy, lower cost), by increasing cost:
    a point is dominated when another is at least as accurate and at most as costly, and
    strictly better on one. Equal points are all kept. Shapes `(n,)` -> `(m,)`."""
    accuracy, cost = np.asarray(accuracy, dtype=float), np.asarray(cost, dtype=float)
    order = np.lexsort((-accuracy, cost))  # by cost, then most accurate first
    keep, best, best_cost = [], -np.inf, None
    for i in order:
        if accuracy[i] > best or (accuracy[i] == best and cost[i] == best_cost):
            keep.append(int(i))
            best, best_cost = accuracy[i], cost[i]
    return np.array(keep, dtype=np.int64)


def pair_metrics(rec) -> dict[str, float]:
    """Latency (ms), energy (mJ), EDP (mJ x ms), area and power of a recommendation."""
    total = rec.cost.total
    latency_ms, energy_mj = total["seconds"] * 1e3, total["energy_pj"] * 1e-9
    return {"latency_ms": latency_ms, "energy_mj": energy_mj, "edp_mj_ms": latency_ms * energy_mj,
            "area_mm2": float(total["area_mm2"]), "power_mw": float(total["power_mw"])}  # fmt: skip


def cosearch(
    service: RecommendService | BatchRecommender, candidates: Sequence[Candidate],
    budgets: Sequence[Budget], objective: Objective | str, accuracy: Mapping[str, Accuracy | None],
    targets: Targets = Targets(), settings: Settings | None = None, polish: Settings | None = None,
    progress: Progress | None = None,
) -> CoSearchResult:  # fmt: skip
    """The front of ``candidates`` x ``budgets`` (module doc). ``polish`` (settings with
    ``refine`` or ``time_budget_s``) re-runs the front's members; ``progress(done, total)``
    is called after every recommendation."""
    start = time.perf_counter()
    objective, settings = Objective.parse(objective), settings or Settings()
    if not candidates or not budgets:
        raise ValueError("co-search needs at least one candidate network and one budget")
    # a target on another metric gets a design recommended for that metric too, so a
    # variant that can meet it is not judged only by a design tuned for something else
    goals = [objective] + [Objective.parse(_OBJECTIVE_OF_METRIC[m]) for m in targets.given()
                           if _OBJECTIVE_OF_METRIC[m] != objective.value]  # fmt: skip
    goals = list(dict.fromkeys(goals))
    # the same answers as service.recommend, with the per-layer sweeps shared between calls
    engine = service if isinstance(service, BatchRecommender) else BatchRecommender(service)
    total, pairs = len(candidates) * len(budgets) * len(goals), []
    for cand in candidates:
        for budget in budgets:
            for goal in goals:
                pairs.append(_pair(engine, cand, budget, goal, accuracy.get(cand.name),
                                   settings))  # fmt: skip
                if progress is not None:
                    progress(len(pairs), total)
    front = _judge(pairs, objective, targets)
    if polish is not None and front:
        for i in front:
            p = pairs[i]
            cand = next(c for c in candidates if c.name == p.variant)
            better = _pair(engine, cand, p.budget, Objective.parse(p.designed_for), p.accuracy,
                           polish)  # fmt: skip
            if better.feasible and better.metrics[METRICS[p.designed_for]] < p.metrics[
                    METRICS[p.designed_for]]:  # fmt: skip
                pairs[i] = better
        front = _judge(pairs, objective, targets)
    chosen = max(front, key=lambda i: (pairs[i].accuracy.value, -_cost(pairs[i], objective)),
                 default=None)  # fmt: skip
    return CoSearchResult(objective, targets, list(budgets), pairs, front, chosen,
                          time.perf_counter() - start)  # fmt: skip


def _pair(service, cand: Candidate, budget, goal: Objective, acc, settings) -> Pair:
    pair = Pair(cand.name, budget, goal.value, acc)
    try:
        pair.recommendation = service.recommend(cand.network, budget, goal, settings)
    except (NoFeasibleDesign, NoValidMapping) as exc:
        pair.status = f"infeasible: {' '.join(str(exc).split())}"
        return pair
    pair.metrics = pair_metrics(pair.recommendation)
    return pair


def _cost(pair: Pair, objective: Objective) -> float:
    return pair.metrics[METRICS[objective.value]]


def _judge(pairs: list[Pair], objective: Objective, targets: Targets) -> list[int]:
    """Set every feasible pair's status; the front's indices by increasing cost."""
    eligible = []
    for i, p in enumerate(pairs):
        if not p.feasible:
            continue
        missed = targets.misses(p.metrics)
        if missed:
            p.status = f"misses target ({', '.join(missed)})"
        elif p.accuracy is None:
            p.status = "cost only: no accuracy figure for this variant"
        else:
            p.status = "dominated"
            eligible.append(i)
    if not eligible:
        return []
    acc = np.array([pairs[i].accuracy.value for i in eligible])
    cost = np.array([_cost(pairs[i], objective) for i in eligible])
    front = [eligible[j] for j in pareto_front(acc, cost)]
    for i in front:
        pairs[i].status = "front"
    return front


def polish_settings(refine: int = 0, time_budget_s: float | None = None) -> Settings | None:
    """Settings that polish the front's members, or ``None`` when neither is asked for."""
    if not refine and time_budget_s is None:
        return None
    return replace(Settings(), refine=refine, time_budget_s=time_budget_s)


# -- the plot --------------------------------------------------------------------------------------
_LABELS = {"latency_ms": "latency (ms)", "energy_mj": "energy (mJ)", "edp_mj_ms": "EDP (mJ x ms)"}


def plot_front(result: CoSearchResult, path: str | Path, name: str = "") -> Path:
    """Accuracy vs the objective, one marker per pair (a marker shape per budget), the front
    as a step line, the chosen pair starred, the target as a dashed line; ``name`` (the
    family) heads the title. PNG (or any format matplotlib infers from the suffix), written
    to a temporary file and renamed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path, metric = Path(path), result.metric
    fig, ax = plt.subplots(figsize=(7.5, 5))
    markers = "osD^vP*X"
    for b, budget in enumerate(result.budgets):
        pts = [p for p in result.pairs if p.feasible and p.accuracy is not None
               and p.budget == budget]  # fmt: skip
        for hits, style in ((True, {"alpha": 0.7}), (False, {"alpha": 0.25})):
            sel = [p for p in pts if p.status.startswith("misses") != hits]
            if sel:  # pairs missing a target are drawn faint
                ax.scatter([p.metrics[metric] for p in sel], [p.accuracy.value for p in sel],
                           marker=markers[b % len(markers)], s=30, color=f"C{b}",
                           label=_budget_text(budget) + ("" if hits else ", misses target"),
                           **style)  # fmt: skip
    if result.front:
        xs = [result.pairs[i].metrics[metric] for i in result.front]
        ys = [result.pairs[i].accuracy.value for i in result.front]
        ax.step(xs, ys, where="post", color="k", lw=1, label="Pareto front")
        for i in result.front:
            p = result.pairs[i]
            ax.annotate(p.variant, (p.metrics[metric], p.accuracy.value), fontsize=7,
                        xytext=(3, -9), textcoords="offset points")  # fmt: skip
    if result.chosen is not None:
        c = result.pairs[result.chosen]
        ax.scatter([c.metrics[metric]], [c.accuracy.value], marker="*", s=260, c="gold",
                   edgecolors="k", zorder=5, label=f"chosen: {c.variant}")  # fmt: skip
    limit = result.targets.to_dict().get(metric)
    if limit is not None:
        ax.axvline(limit, ls="--", c="r", lw=1, label=f"target {_LABELS[metric]} <= {limit:g}")
    ax.set_xscale("log")
    ax.set_xlabel(_LABELS[metric])
    ax.set_ylabel(_accuracy_label(result))
    ax.set_title(f"{name or 'co-search'}: accuracy vs {_LABELS[metric]}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    tmp.replace(path)
    return path


def _budget_text(budget: Budget) -> str:
    parts = [f"{budget.area_mm2:g} mm2" if budget.area_mm2 is not None else "",
             f"{budget.power_mw:g} mW" if budget.power_mw is not None else ""]  # fmt: skip
    return "budget " + (", ".join(p for p in parts if p) or "unconstrained")


def _accuracy_label(result: CoSearchResult) -> str:
    metrics = {p.accuracy.metric for p in result.pairs if p.accuracy is not None}
    return {"imagenet_top1": "ImageNet top-1 (%)", "glue_score": "GLUE score"}.get(
        next(iter(metrics)) if len(metrics) == 1 else "", "accuracy"
    )


# -- one request (the HTTP API) --------------------------------------------------------------------
class RequestError(ValueError):
    """Bad input of :func:`cosearch_request`: HTTP status, kind, the field, a one-line message."""

    def __init__(self, status: int, error: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status, self.error, self.field, self.message = status, error, field, message


def cosearch_request(service: RecommendService, req: Mapping[str, Any], max_pairs: int) -> dict:
    """A validated request (``family``, ``variants``, ``budgets``, ``objective``, ``targets``,
    ``accuracy``, ``refine``, ``time_budget_s``, ``include_layers``) -> the result's JSON."""
    family = req["family"]
    known = family_variants(family)
    names = list(dict.fromkeys(req.get("variants") or known))
    for i, name in enumerate(names):
        if name not in known:
            raise RequestError(422, "invalid_request", f"variants.{i}",
                               f"unknown variant {name!r} of {family!r}; "
                               f"allowed: {', '.join(known)}")  # fmt: skip
    for name in req.get("accuracy") or {}:
        if name not in names:
            raise RequestError(422, "invalid_request", "accuracy",
                               f"{name!r} is not a searched variant; allowed: "
                               f"{', '.join(names)}")  # fmt: skip
    budgets = [Budget(b.get("area_mm2"), b.get("power_mw")) for b in req["budgets"]]
    if len(names) * len(budgets) > max_pairs:
        raise RequestError(413, "too_large", "variants",
                           f"{len(names)} variants x {len(budgets)} budgets is more than "
                           f"{max_pairs} pairs; use the CLI for larger fronts")  # fmt: skip
    targets = Targets(**req.get("targets") or {})
    accuracy = resolve_accuracy(names, published_accuracy(family), req.get("accuracy"),
                                "request")  # fmt: skip
    polish = polish_settings(req.get("refine", 0), req.get("time_budget_s"))
    settings = Settings(exact=True) if req.get("exact") else None
    result = cosearch(service, family_candidates(family, names), budgets, req["objective"],
                      accuracy, targets, settings, polish=polish)  # fmt: skip
    return result.to_dict(req.get("include_layers", "front")) | {"family": family}
