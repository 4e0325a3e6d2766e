"""Serving latency, side by side in one run: the ONNX model alone, a single-layer recommend,
a whole ResNet-50, and the time constrained BO needs to reach the same cost.

Run: ``.venv/bin/python bench/serve_latency.py [--bundle serve/bundles/default] [--layers 30]``.
One process, one thread everywhere (onnxruntime intra-op 1, faiss 1, numpy single-threaded).
Workloads are distinct zoo layers with a sampled area/power budget and objective. For each,
the BO labeller (the search the product replaces) runs up to ``--bo-evals`` evaluations and
its time to first match the recommendation's cost is recorded; a search that never matches
counts at its full time, so the speed-up is a lower bound. Writes
bench/results/serve_latency.json (temp file + rename) and prints markdown tables.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from airchitect.cost.mapper import Objective  # noqa: E402
from airchitect.models.features import encode_features  # noqa: E402
from airchitect.search.base import HardwareEvaluator  # noqa: E402
from airchitect.search.bo import ConstrainedBO  # noqa: E402
from airchitect.serve.bundle import DEFAULT_BUNDLE  # noqa: E402
from airchitect.serve.predictor import OnnxPredictor  # noqa: E402
from airchitect.serve.recommend import RecommendService, query_frame  # noqa: E402
from airchitect.space.budget import Budget  # noqa: E402
from airchitect.workloads.zoo import get_network, list_networks  # noqa: E402

OUT = Path("bench/results/serve_latency.json")


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "n": len(a)}  # fmt: skip


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first calls fill caches and allocate
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def workloads(n: int, seed: int) -> list[tuple]:
    """``n`` distinct zoo layers, each with a budget and an objective."""
    rng = np.random.default_rng(seed)
    seen, layers = set(), []
    for name in list_networks():
        for layer in get_network(name).layers:
            key = (layer.op, layer.n, layer.k, layer.c, layer.p, layer.q, layer.r, layer.s,
                   layer.stride, layer.groups)  # fmt: skip
            if key not in seen:
                seen.add(key)
                layers.append(layer)
    order = rng.permutation(len(layers))[:n]
    objectives = ("latency", "energy", "edp")
    cases = []
    for j, i in enumerate(order):
        area = float(np.exp(rng.uniform(np.log(5), np.log(200)))) if rng.random() < 0.7 else None
        cases.append((layers[i], Budget(area_mm2=area), objectives[j % 3]))
    return cases


def _batches(bundle: str, ids: np.ndarray, values: np.ndarray, seconds: float) -> int:
    """One process's batch-4096 runs for ``seconds`` (one thread); workloads done."""
    from airchitect.serve.predictor import onnx_session

    run = onnx_session(Path(bundle) / "model.onnx").run
    run(None, {"ids": ids, "values": values})  # warm-up
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        run(None, {"ids": ids, "values": values})
        done += len(ids)
    return done


def processes_rate(bundle: str, ids: np.ndarray, values: np.ndarray, n: int, seconds: float):
    """Workloads/s of ``n`` processes (one thread each) batching at once: how the batched
    path uses a machine's cores."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(n) as pool:
        start = time.perf_counter()
        done = sum(pool.map(_batches, [bundle] * n, [ids] * n, [values] * n, [seconds] * n))
        elapsed = time.perf_counter() - start
    return done / elapsed  # includes start-up and warm-up: a slight under-estimate


def onnx_alone(predictor: OnnxPredictor, frame: pd.DataFrame, repeats: int) -> dict:
    ids, values = encode_features(frame, predictor.feature_stats)
    run = predictor.session.run
    one = timed(lambda: run(None, {"ids": ids[:1], "values": values[:1]}), repeats)
    big_ids = np.repeat(ids, -(-4096 // len(ids)), axis=0)[:4096]
    big_values = np.repeat(values, -(-4096 // len(values)), axis=0)[:4096]
    batched = timed(lambda: run(None, {"ids": big_ids, "values": big_values}), 5)
    rate = {"workloads_per_s": 4096e3 / np.median(batched)}
    # the model's top-5 designs for one query: network, decode within budget, and the ranker's
    # order (when the bundle has one) against the decoder's own order, interleaved
    ranked, unranked = [], []
    for _ in range(repeats):
        ranked += timed(lambda: predictor.predict(frame.iloc[:1], top_k=5), 1)
        unranked += timed(lambda: predictor.predict(frame.iloc[:1], top_k=5, rerank=False), 1)
    cores = os.cpu_count() or 1
    spread = processes_rate(str(predictor.bundle_dir), big_ids, big_values, cores, 10.0)
    return {"batch1": percentiles(one), "predict_batch1": percentiles(ranked),
            "predict_batch1_decoder_order": percentiles(unranked),
            "batch4096": percentiles(batched) | rate,
            "batch4096_processes": {"processes": cores, "workloads_per_s": spread}}  # fmt: skip


class TimedEvaluator(HardwareEvaluator):
    """Records the wall time at which each new evaluation completed."""

    def start_clock(self) -> None:
        self.start, self.stamps = time.perf_counter(), []

    def scores(self, flat):
        before = self.evals
        out = super().scores(flat)
        self.stamps += [time.perf_counter() - self.start] * (self.evals - before)
        return out


def bo_time_to_match(service: RecommendService, case: tuple, target: float, evals: int) -> dict:
    """Seconds until BO's best (budget-feasible) cost first reaches ``target``."""
    layer, budget, objective = case
    evaluator = TimedEvaluator(layer, service.space, Objective(objective))
    evaluator.start_clock()
    ConstrainedBO(service.space).search(evaluator, budget, evals, seed=0)
    history = evaluator.history()
    best = np.minimum.accumulate(np.where(np.isfinite(history), history, np.inf))
    hit = np.flatnonzero(best <= target * (1 + 1e-9))
    total = time.perf_counter() - evaluator.start
    return {"matched": bool(len(hit)),
            "evals": int(hit[0]) + 1 if len(hit) else len(history),
            "seconds": float(evaluator.stamps[hit[0]]) if len(hit) else total,
            "bo_best_over_rec": float(best[-1] / target) if len(best) else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--bo-evals", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    predictor = OnnxPredictor(args.bundle)
    service = RecommendService(predictor)
    cases = workloads(args.layers, args.seed)
    frame = pd.concat([query_frame((c[0],), c[1], Objective(c[2])) for c in cases],
                      ignore_index=True)  # fmt: skip
    result = {"machine": platform.processor() or platform.machine(), "bundle": str(args.bundle),
              "space_size": service.space.size,
              "onnx": onnx_alone(predictor, frame, args.repeats)}  # fmt: skip
    layer_ms, recs = [], []
    for case in cases:
        layer_ms += timed(lambda c=case: service.recommend(*c), 3)
        recs.append(service.recommend(*case))
    result["layer_recommend"] = percentiles(layer_ms)
    resnet = get_network("resnet50")
    result["resnet50_recommend"] = percentiles(timed(lambda: service.recommend(resnet), 10))
    bo = [
        bo_time_to_match(service, c, r.score, args.bo_evals)
        for c, r in zip(cases, recs, strict=True)
    ]
    bo_s = np.array([b["seconds"] for b in bo])
    rec_s = np.median(layer_ms) / 1e3
    result["bo"] = {"per_workload": bo, "median_seconds": float(np.median(bo_s)),
                    "matched_share": float(np.mean([b["matched"] for b in bo])),
                    "median_evals": float(np.median([b["evals"] for b in bo])),
                    "speedup_median": float(np.median(bo_s) / rec_s)}  # fmt: skip
    tmp = OUT.with_suffix(".json.tmp")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(OUT)
    print(table(result))


def table(r: dict) -> str:
    o, lay, net, bo = r["onnx"], r["layer_recommend"], r["resnet50_recommend"], r["bo"]
    rows = [
        "| what | p50 | p90 | p99 | note |", "| --- | ---: | ---: | ---: | --- |",
        f"| ONNX model, 1 query | {o['batch1']['p50_ms']:.3f} ms | {o['batch1']['p90_ms']:.3f} ms "
        f"| {o['batch1']['p99_ms']:.3f} ms | |",
        f"| top-5 designs, 1 query (model, decode, ranker) | {o['predict_batch1']['p50_ms']:.3f} "
        f"ms | {o['predict_batch1']['p90_ms']:.3f} ms | {o['predict_batch1']['p99_ms']:.3f} ms "
        f"| decoder order alone: p50 {o['predict_batch1_decoder_order']['p50_ms']:.3f} ms |",
        f"| ONNX model, batch 4096 | {o['batch4096']['p50_ms']:.1f} ms | | | "
        f"{o['batch4096']['workloads_per_s']:,.0f} workloads/s |",
        f"| ONNX model, batch 4096, {o['batch4096_processes']['processes']} processes | | | | "
        f"{o['batch4096_processes']['workloads_per_s']:,.0f} workloads/s |",
        f"| recommend one layer (model + neighbours + re-ranking) | {lay['p50_ms']:.2f} ms "
        f"| {lay['p90_ms']:.2f} ms | {lay['p99_ms']:.2f} ms | {lay['n']} calls |",
        f"| recommend ResNet-50 (54 layers) | {net['p50_ms']:.1f} ms | {net['p90_ms']:.1f} ms "
        f"| {net['p99_ms']:.1f} ms | |",
        f"| BO labeller to reach the same cost | {bo['median_seconds'] * 1e3:,.0f} ms | | | "
        f"matched in {bo['matched_share']:.0%}, median {bo['median_evals']:.0f} evals; "
        f"speed-up x{bo['speedup_median']:,.0f} |",
    ]  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    main()
