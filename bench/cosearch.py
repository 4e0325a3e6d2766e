"""Co-search: joint network x accelerator search against sequential baselines, and its speed.

Run: ``.venv/bin/python bench/cosearch.py [--part all|compare|speed] [--bo-pairs 6]
[--bo-evals 100] [--service-loop]``. One process, one thread everywhere. Writes
bench/results/cosearch.json (temp file + rename) and prints markdown.

**compare** (issue 18, part 4): per family (EfficientNet B0-B7, MobileNetV2's 22 published
checkpoints, ViT Ti/S/B/L-16) and budget, four ways to pick a (network, accelerator) pair:

- *joint*: every variant on its own best design within the budget (the co-search's pairs);
- *HW for default* / *HW for largest*: the best design for the family's default (or largest)
  network, then every variant mapped on that one design (each layer at its best mapping);
- *Eyeriss-like*: the fixed ``eyeriss-like`` preset (12x14 row-stationary), every variant
  mapped on it.

Designs come from the shipped recommender (its instant answer: what ``airchitect cosearch``
returns). Accuracy at iso-latency: for each latency target (the joint pairs' latencies), the
best published accuracy among the variants each method runs within it. Energy at iso-accuracy:
for each accuracy level (each variant's), the least energy of a pair at least that accurate.

**speed** (part 5): a front over 100 MobileNetV2 variants (width 0.35-1.4 x resolution 96-224 x
depth 0.5-1.25, :func:`mobilenet_v2_scaled`) x 3 budgets, timed end to end, against what a
per-pair search costs to reach the same designs: constrained BO over the network
(:class:`ConstrainedBO` on a :class:`HardwareEvaluator`) until it matches the co-search's cost
(or runs out of evaluations), and the certified optimum (``network_optimum``), on a seeded
sample of pairs, measured in the same process.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from airchitect.cost.network import NoValidMapping, evaluate_network  # noqa: E402
from airchitect.designs import PRESETS  # noqa: E402
from airchitect.search.base import HardwareEvaluator  # noqa: E402
from airchitect.search.bo import ConstrainedBO  # noqa: E402
from airchitect.search.network_exact import network_optimum  # noqa: E402
from airchitect.serve.cosearch import (  # noqa: E402
    Candidate,
    cosearch,
    family_candidates,
    pair_metrics,
    published_accuracy,
    resolve_accuracy,
)
from airchitect.serve.predictor import OnnxPredictor  # noqa: E402
from airchitect.serve.recommend import RecommendService, Settings  # noqa: E402
from airchitect.space.budget import Budget, hardware_area_mm2, hardware_power_mw  # noqa: E402
from airchitect.space.hardware import HardwareBatch  # noqa: E402
from airchitect.workloads.families import mobilenet_v2_scaled  # noqa: E402

OUT = Path("bench/results/cosearch.json")
EYERISS = PRESETS["eyeriss-like"]
#: (default network, largest network) per family
ANCHORS = {"efficientnet": ("b0", "b7"), "mobilenet_v2": ("1.0_224", "1.4_224"),
           "vit": ("b16", "l16")}  # fmt: skip
WIDTHS, RESOLUTIONS, DEPTHS = (0.35, 0.5, 0.75, 1.0, 1.4), (96, 128, 160, 192, 224), (
    0.5, 0.75, 1.0, 1.25)  # fmt: skip
SPEED_BUDGETS = (Budget(area_mm2=10.0), Budget(area_mm2=40.0), Budget(power_mw=800.0))


def eyeriss_budget() -> Budget:
    """The Eyeriss-like preset's own area and power: the iso-budget comparison."""
    hw = HardwareBatch.from_configs(EYERISS)
    return Budget(float(hardware_area_mm2(hw)[0]) * (1 + 1e-9),
                  float(hardware_power_mw(hw)[0]) * (1 + 1e-9))  # fmt: skip


# -- compare ---------------------------------------------------------------------------------------
def _fixed(cands, hw, objective: str) -> dict[str, dict]:
    """Every candidate mapped on one design (None where a layer fits no mapping)."""
    out = {}
    for c in cands:
        try:
            cost = evaluate_network(c.network, hw, objective)
        except NoValidMapping:
            continue
        t = cost.total
        ms, mj = t["seconds"] * 1e3, t["energy_pj"] * 1e-9
        out[c.name] = {"latency_ms": ms, "energy_mj": mj, "edp_mj_ms": ms * mj}
    return out


def _methods(engine, cands, budget: Budget, family: str, objective: str) -> dict[str, dict]:
    """method -> variant -> metrics, for designs chosen for ``objective``."""
    joint = {c.name: pair_metrics(engine.recommend(c.network, budget, objective)) for c in cands}
    by_name = {c.name: c for c in cands}
    out = {"joint": joint}
    for label, anchor in zip(("HW for default", "HW for largest"), ANCHORS[family], strict=True):
        hw = engine.recommend(by_name[anchor].network, budget, objective).cost.hardware
        out[f"{label} ({anchor})"] = _fixed(cands, hw, objective)
    if budget == eyeriss_budget():
        out["Eyeriss-like"] = _fixed(cands, EYERISS, objective)
    return out


def _best_acc_within(pairs: dict[str, dict], acc: dict, limit: float) -> float | None:
    ok = [acc[v] for v, m in pairs.items() if m["latency_ms"] <= limit * (1 + 1e-12)]
    return max(ok) if ok else None


def _least_at(pairs: dict[str, dict], acc: dict, level: float, metric: str) -> float | None:
    ok = [m[metric] for v, m in pairs.items() if acc[v] >= level]
    return min(ok) if ok else None


def compare_family(engine, family: str, budget: Budget) -> dict:
    published = published_accuracy(family)
    cands = [c for c in family_candidates(family) if c.name in published]
    acc = {c.name: published[c.name].value for c in cands}
    lat = _methods(engine, cands, budget, family, "latency")
    energy = _methods(engine, cands, budget, family, "energy")
    targets = sorted({round(m["latency_ms"], 6) for m in lat["joint"].values()})
    iso_latency = [{"latency_ms": t} | {k: _best_acc_within(v, acc, t) for k, v in lat.items()}
                   for t in targets]  # fmt: skip
    levels = sorted(set(acc.values()))
    edp = _methods(engine, cands, budget, family, "edp")

    def at_levels(designs: dict, metric: str) -> list[dict]:
        return [{"accuracy": a} | {k: _least_at(v, acc, a, metric) for k, v in designs.items()}
                for a in levels]  # fmt: skip

    iso_accuracy = at_levels(energy, "energy_mj")
    # the second seed's figures: latency and EDP at equal accuracy, each on designs for it
    iso_accuracy_latency, iso_accuracy_edp = (
        at_levels(lat, "latency_ms"),
        at_levels(edp, "edp_mj_ms"),
    )
    summary = _summary(iso_latency, iso_accuracy)
    for name, rows in (("latency", iso_accuracy_latency), ("edp", iso_accuracy_edp)):
        for method, ratio in _ratios(rows).items():
            summary[method][f"geomean_{name}_ratio_at_iso_accuracy"] = ratio
    return {"family": family, "budget": budget.to_dict(), "accuracy": acc,
            "latency_designs": lat, "energy_designs": energy, "iso_latency": iso_latency,
            "iso_accuracy": iso_accuracy, "iso_accuracy_latency": iso_accuracy_latency,
            "iso_accuracy_edp": iso_accuracy_edp, "summary": summary}  # fmt: skip


def _ratios(rows: list[dict]) -> dict[str, float | None]:
    """Geomean over accuracy levels of each baseline's least cost over joint's."""
    out = {}
    for method in [k for k in rows[0] if k not in ("accuracy", "joint")]:
        r = [x[method] / x["joint"] for x in rows if x[method] is not None and x["joint"]]
        out[method] = float(np.exp(np.mean(np.log(r)))) if r else None
    return out


def _summary(iso_latency: list[dict], iso_accuracy: list[dict]) -> dict:
    """Per baseline: mean top-1 gained by joint at iso-latency (targets both meet, and targets
    only joint meets), the geomean and max energy ratio at iso-accuracy."""
    out = {}
    for method in [k for k in iso_latency[0] if k not in ("latency_ms", "joint")]:
        both = [(r["joint"], r[method]) for r in iso_latency if r[method] is not None]
        only = sum(1 for r in iso_latency if r[method] is None and r["joint"] is not None)
        ratios = [r[method] / r["joint"] for r in iso_accuracy
                  if r[method] is not None and r["joint"] is not None]  # fmt: skip
        out[method] = {
            "mean_top1_gain_at_iso_latency": float(np.mean([j - b for j, b in both])) if both
            else None,
            "max_top1_gain_at_iso_latency": float(max(j - b for j, b in both)) if both else None,
            "latency_targets_only_joint_meets": only, "latency_targets": len(iso_latency),
            "geomean_energy_ratio_at_iso_accuracy": float(np.exp(np.mean(np.log(ratios))))
            if ratios else None,
            "max_energy_ratio_at_iso_accuracy": float(max(ratios)) if ratios else None,
        }  # fmt: skip
    return out


class _Exact:
    """Every design the certified optimum of the grid (``recommend --exact``)."""

    def __init__(self, service) -> None:
        self.service = service

    def recommend(self, network, budget, objective):
        return self.service.recommend(network, budget, objective, Settings(exact=True))


def part_compare(service, exact: bool = False) -> list[dict]:
    # one call per answer (BatchRecommender's are the same, only faster); or certified optima,
    # so that joint and sequential differ by the method alone, not by the recommender's regret
    engine = _Exact(service) if exact else service
    out = []
    for family in ANCHORS:
        for budget in (eyeriss_budget(), Budget(area_mm2=40.0)):
            start = time.perf_counter()
            row = compare_family(engine, family, budget) | {"seconds": 0.0, "exact": exact}
            row["seconds"] = time.perf_counter() - start
            out.append(row)
            print(f"compare {family} {budget}: {row['seconds']:.1f} s", flush=True)
    return out


# -- speed -----------------------------------------------------------------------------------------
def speed_candidates() -> list[Candidate]:
    return [Candidate(f"{w}_{r}_d{d}", mobilenet_v2_scaled(w, r, d))
            for w in WIDTHS for r in RESOLUTIONS for d in DEPTHS]  # fmt: skip


def _bo_to_reach(service, cand, budget, objective, target, evals: int, seed: int) -> dict:
    """Constrained BO over the network until its best cost is within 1e-9 of ``target``."""
    evaluator = HardwareEvaluator(cand.network, service.space, objective, service.tech)
    bo = ConstrainedBO(service.space, tech=service.tech)
    start, reached = time.perf_counter(), {}
    score = evaluator.scores

    def watched(flat):  # record when the best seen first reaches the co-search's cost
        out = score(flat)
        best = evaluator.best_seen(1)
        if best and best[0][1] <= target * (1 + 1e-9) and "seconds" not in reached:
            reached.update(seconds=time.perf_counter() - start, evals=evaluator.evals)
        return out

    evaluator.scores = watched
    bo.search(evaluator, budget, evals, seed)
    best = evaluator.best_seen(1)
    return {"reached": bool(reached), "seconds_to_reach": reached.get("seconds"),
            "evals_to_reach": reached.get("evals"), "seconds_total": time.perf_counter() - start,
            "evals": evaluator.evals,
            "best_over_cosearch": best[0][1] / target if best else None}  # fmt: skip


def part_speed(service, bo_pairs: int, bo_evals: int, service_loop: bool) -> dict:
    cands = speed_candidates()
    names = [c.name for c in cands]
    published = {f"{k}_d1.0": v for k, v in published_accuracy("mobilenet_v2").items()}
    accuracy = resolve_accuracy(names, published)
    start = time.perf_counter()
    result = cosearch(service, cands, list(SPEED_BUDGETS), "latency", accuracy)
    front_s = time.perf_counter() - start
    out = {"variants": len(cands), "budgets": len(SPEED_BUDGETS), "pairs": len(result.pairs),
           "front_seconds": front_s, "front_size": len(result.front),
           "infeasible": sum(not p.feasible for p in result.pairs)}  # fmt: skip
    print(f"speed: front over {len(result.pairs)} pairs in {front_s:.1f} s", flush=True)
    if service_loop:  # the same 300 answers from the service, one call each, no sharing
        start = time.perf_counter()
        same = 0
        for p, (c, b) in zip(result.pairs, [(c, b) for c in cands for b in SPEED_BUDGETS],
                             strict=True):  # fmt: skip
            same += service.recommend(c.network, b, "latency").hw_index == (
                p.recommendation.hw_index)  # fmt: skip
        out |= {"service_loop_seconds": time.perf_counter() - start, "service_same": same}
        print(f"speed: service loop {out['service_loop_seconds']:.1f} s", flush=True)
    rng = np.random.default_rng(0)
    sample = rng.choice(len(result.pairs), size=bo_pairs, replace=False)
    per_pair = []
    for i in sample.tolist():
        p = result.pairs[i]
        cand = cands[i // len(SPEED_BUDGETS)]
        target = p.recommendation.score
        t0 = time.perf_counter()
        exact = network_optimum(cand.network, service.space, p.budget, "latency", service.tech)
        exact_s = time.perf_counter() - t0
        bo = _bo_to_reach(service, cand, p.budget, "latency", target, bo_evals, seed=i)
        per_pair.append({"pair": p.variant, "budget": p.budget.to_dict(),
                         "cosearch_over_optimum": target / exact.certificate.best,
                         "exact_seconds": exact_s} | bo)  # fmt: skip
        print(
            f"  {p.variant} {p.budget}: exact {exact_s:.2f} s, BO reached={bo['reached']} "
            f"in {bo['seconds_to_reach']} s",
            flush=True,
        )
    out["per_pair"] = per_pair
    out["cosearch_seconds_per_pair"] = front_s / len(result.pairs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "compare", "speed"), default="all")
    parser.add_argument("--exact", action="store_true",
                        help="compare on certified optima (under compare_exact)")  # fmt: skip
    parser.add_argument("--bo-pairs", type=int, default=6)
    parser.add_argument("--bo-evals", type=int, default=100)
    parser.add_argument("--service-loop", action="store_true",
                        help="also time the 300 answers one service call each")  # fmt: skip
    args = parser.parse_args()
    t0 = time.perf_counter()
    service = RecommendService(OnnxPredictor(threads=1))
    service.warm_up()
    load_s = time.perf_counter() - t0
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    out = old | {"date": datetime.date.today().isoformat(), "service_load_seconds": load_s}
    if args.part in ("all", "compare"):
        out["compare_exact" if args.exact else "compare"] = part_compare(service, args.exact)
    if args.part in ("all", "speed"):
        out["speed"] = part_speed(service, args.bo_pairs, args.bo_evals, args.service_loop)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1, default=float))
    tmp.replace(OUT)
    print(markdown(out))


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def markdown(out: dict) -> str:
    lines = []
    for row in out.get("compare", []) + out.get("compare_exact", []):
        b = row["budget"]
        lines.append(f"\n{row['family']}, budget area <= {b['area_mm2']:.2f} mm2"
                     + (f", power <= {b['power_mw']:.0f} mW" if b["power_mw"] else "")
                     + (", certified designs" if row.get("exact") else ""))  # fmt: skip
        lines.append("| baseline | top-1 gain at iso-latency (mean / max) | targets only joint "
                     "meets | energy ratio at iso-accuracy (geomean / max) | latency ratio | "
                     "EDP ratio |")  # fmt: skip
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for method, s in row["summary"].items():
            lines.append(f"| {method} | {_fmt(s['mean_top1_gain_at_iso_latency'], '+.2f')} / "
                         f"{_fmt(s['max_top1_gain_at_iso_latency'], '+.2f')} | "
                         f"{s['latency_targets_only_joint_meets']} of {s['latency_targets']} | "
                         f"{_fmt(s['geomean_energy_ratio_at_iso_accuracy'], '.2f')}x / "
                         f"{_fmt(s['max_energy_ratio_at_iso_accuracy'], '.2f')}x | "
                         f"{_fmt(s['geomean_latency_ratio_at_iso_accuracy'], '.2f')}x | "
                         f"{_fmt(s['geomean_edp_ratio_at_iso_accuracy'], '.2f')}x |")  # fmt: skip
    s = out.get("speed")
    if s:
        lines.append(f"\nspeed: {s['pairs']} pairs in {s['front_seconds']:.1f} s "
                     f"({s['cosearch_seconds_per_pair'] * 1e3:.0f} ms per pair)")  # fmt: skip
        if "service_loop_seconds" in s:
            lines.append(f"service loop: {s['service_loop_seconds']:.1f} s, same design "
                         f"{s['service_same']}/{s['pairs']}")  # fmt: skip
        for p in s["per_pair"]:
            bo = f"reached in {p['seconds_to_reach']:.1f} s" if p["reached"] else "not reached"
            lines.append(f"  {p['pair']} {p['budget']}: cosearch/optimum "
                         f"{p['cosearch_over_optimum']:.3f}, exact {p['exact_seconds']:.2f} s, "
                         f"BO {bo} ({p['evals']} evals, {p['seconds_total']:.1f} s, "
                         f"best/cosearch {_fmt(p['best_over_cosearch'], '.3f')})")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
