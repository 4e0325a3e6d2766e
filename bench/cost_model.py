"""Cost-model throughput (rows/s at batch 1, 1e3, 1e6) and mapper time per (hardware, layer).

Run: ``.venv/bin/python bench/cost_model.py [--quick]``. Single-threaded by construction (numpy
element-wise kernels do not spawn threads); the process is pinned to one thread anyway so BLAS
never joins in. Prints a markdown table and writes bench/results/cost_model.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from airchitect.cost.batch import LayerBatch, MappingBatch  # noqa: E402
from airchitect.cost.mapper import best_mapping, mapping_candidates  # noqa: E402
from airchitect.cost.model import evaluate  # noqa: E402
from airchitect.space import DesignSpace  # noqa: E402
from airchitect.workloads.zoo import get_network  # noqa: E402

MAESTRO_EVALS_PER_S = 2_500  # the figure for MAESTRO's layer evaluations per second


def random_rows(n: int, seed: int = 0) -> tuple[LayerBatch, object, MappingBatch]:
    """``n`` rows: ResNet-50 layers x sampled default-space hardware x random valid-range tiles."""
    rng = np.random.default_rng(seed)
    layers = LayerBatch.from_layers(list(get_network("resnet50").layers))
    lay = layers.take(rng.integers(0, len(layers), n))
    hw = DesignSpace.default().sample(n, seed=seed)

    def tile(bound):
        return np.maximum(1, (bound * rng.random(n)).astype(np.int64))

    m = MappingBatch(tile(lay.n), tile(lay.p), tile(lay.k), tile(lay.c),
                     rng.choice([1, 2, 4, 8, 16], n), rng.integers(0, 6, n))  # fmt: skip
    return lay, hw, m


def time_batch(n: int, repeats: int) -> dict:
    lay, hw, m = random_rows(n)
    evaluate(lay, hw, m)  # warm-up: first-touch page faults, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate(lay, hw, m)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"batch": n, "repeats": repeats, "median_s": median, "rows_per_s": n / median}


def time_mapper(n_hw: int) -> dict:
    """Best mapping for every ResNet-50 layer on ``n_hw`` sampled hardware points."""
    layers = list(get_network("resnet50").layers)
    space = DesignSpace.default()
    hw = space.sample(n_hw, seed=1)
    times, sizes = [], []
    for i in range(n_hw):
        config = hw.config(i)
        for layer in layers:
            start = time.perf_counter()
            best_mapping(layer, config, "edp")
            times.append(time.perf_counter() - start)
            sizes.append(len(mapping_candidates(layer)))
    times_ms = np.array(times) * 1e3
    return {
        "pairs": len(times),
        "median_ms": float(np.median(times_ms)),
        "p90_ms": float(np.percentile(times_ms, 90)),
        "max_ms": float(times_ms.max()),
        "median_candidates": int(np.median(sizes)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--out", default="bench/results/cost_model.json")
    args = parser.parse_args()
    reps = {1: 2000, 1_000: 500, 1_000_000: 5}
    if args.quick:
        reps = {1: 100, 1_000: 20, 1_000_000: 1}
    batches = [time_batch(n, r) for n, r in reps.items()]
    mapper = time_mapper(4 if args.quick else 20)
    result = {"python": platform.python_version(), "numpy": np.__version__,
              "cpu": platform.processor() or platform.machine(), "batches": batches,
              "mapper": mapper}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(out)
    print("| batch | median time | rows/s | x MAESTRO (2,500/s) |\n| ---: | ---: | ---: | ---: |")
    for b in batches:
        print(f"| {b['batch']:,} | {b['median_s'] * 1e3:.3f} ms | {b['rows_per_s']:,.0f} | "
              f"{b['rows_per_s'] / MAESTRO_EVALS_PER_S:,.0f}x |")  # fmt: skip
    print(f"\nmapper: {mapper['pairs']} (hardware, layer) pairs, median {mapper['median_ms']:.2f}"
          f" ms, p90 {mapper['p90_ms']:.2f} ms, max {mapper['max_ms']:.2f} ms, median"
          f" {mapper['median_candidates']:,} candidates")  # fmt: skip


if __name__ == "__main__":
    main()
