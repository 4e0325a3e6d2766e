"""Labeller quality: best found / exact optimum for BO, GA and random search at 25-200 evals.

Run: ``.venv/bin/python bench/labellers.py [--workloads 60] [--workers 2]``. Uses the reduced
space (3,456 points, small enough for the exhaustive labeller to give the exact optimum).
Workloads are distinct zoo and synthetic layers, each with one task: a sampled area/power budget
and an objective cycling through latency, energy and EDP. Each search runs once with 200
evaluations; its best-so-far after 25, 50, 100 and 200 evaluations is its anytime result.
Writes bench/results/labellers.json and .png (regret against evaluations) and prints a
markdown table; ``--plot-only`` redraws both from the JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from airchitect.cost.mapper import Objective  # noqa: E402
from airchitect.data_gen.generate import sample_budget  # noqa: E402
from airchitect.data_gen.workloads import workload_pool  # noqa: E402
from airchitect.search.base import HardwareEvaluator, Task  # noqa: E402
from airchitect.search.bo import ConstrainedBO  # noqa: E402
from airchitect.search.exhaustive import ExhaustiveLabeller  # noqa: E402
from airchitect.search.genetic import GeneticSearch  # noqa: E402
from airchitect.search.random_search import RandomSearch  # noqa: E402
from airchitect.space import DesignSpace  # noqa: E402

SPACE = "reduced"
CHECKPOINTS = (25, 50, 100, 200)
METHODS = {"bo": ConstrainedBO, "ga": GeneticSearch, "random": RandomSearch}


def cases(n: int, seed: int = 0) -> list[tuple]:
    """``n`` (layer, task, exact optimum) with a budget some design satisfies."""
    rng = np.random.default_rng(seed)
    pool = workload_pool(("zoo", "synthetic"), 4 * n, seed)
    order = rng.permutation(len(pool))
    exact = ExhaustiveLabeller(DesignSpace.named(SPACE))
    out = []
    for i in order:
        objective = list(Objective)[len(out) % 3]
        task = Task(sample_budget(rng, SPACE), objective)
        (label,) = exact.label(pool[i].layer, [task])
        if label.best is not None:
            out.append((pool[i].layer, task, label.best.score))
        if len(out) == n:
            return out
    raise RuntimeError("not enough workloads with a feasible budget")


def run_case(case: tuple, seed: int = 0) -> dict:
    layer, task, optimum = case
    space = DesignSpace.named(SPACE)
    result = {"layer": layer.name, "objective": task.objective.value}
    for name, cls in METHODS.items():
        method = cls(space)
        evaluator = HardwareEvaluator(layer, space, task.objective)
        start = time.perf_counter()
        method.search(evaluator, task.budget, CHECKPOINTS[-1], seed)
        seconds = time.perf_counter() - start
        history = evaluator.history()
        for e in CHECKPOINTS:
            finite = history[:e][np.isfinite(history[:e])]
            result[f"{name}@{e}"] = float(finite.min() / optimum) if len(finite) else float("inf")
        result[f"{name}_seconds"] = seconds
    return result


def summarise(results: list[dict]) -> str:
    lines = ["| evals | " + " | ".join(f"{m} median / p90 / within 1%" for m in METHODS) + " |",
             "| ---: | " + " | ".join("---:" for _ in METHODS) + " |"]  # fmt: skip
    for e in CHECKPOINTS:
        cells = []
        for m in METHODS:
            r = np.array([x[f"{m}@{e}"] for x in results])
            cells.append(f"{np.median(r):.4f} / {np.percentile(r, 90):.3f} / "
                         f"{np.mean(r <= 1.01):.0%}")  # fmt: skip
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    secs = {m: np.median([x[f"{m}_seconds"] for x in results]) for m in METHODS}
    lines.append("\nmedian seconds per 200-evaluation search: "
                 + ", ".join(f"{m} {s:.1f} s" for m, s in secs.items()))  # fmt: skip
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """Best found / optimum against evaluations: median (line) and 90th percentile (dashed)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, color in zip(METHODS, ("tab:blue", "tab:orange", "tab:gray"), strict=True):
        r = np.array([[x[f"{name}@{e}"] for e in CHECKPOINTS] for x in results])
        ax.plot(CHECKPOINTS, np.median(r, axis=0), "o-", color=color, label=f"{name} median")
        ax.plot(CHECKPOINTS, np.percentile(r, 90, axis=0), "s--", color=color, alpha=0.6,
                label=f"{name} p90")  # fmt: skip
    ax.axhline(1.01, color="k", lw=0.8, ls=":", label="within 1 %")
    ax.set(xscale="log", yscale="log", xlabel="evaluations", ylabel="best found / exact optimum",
           title=f"Labeller quality, {len(results)} workloads ({SPACE} space)")  # fmt: skip
    ax.minorticks_off()
    ax.set_xticks(CHECKPOINTS, [str(e) for e in CHECKPOINTS])
    ax.set_yticks([1, 1.1, 1.5, 2, 3, 4], ["1", "1.1", "1.5", "2", "3", "4"])
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)


def load_partial(partial: Path, todo: list[tuple]) -> list[dict]:
    """Finished results of an interrupted run, kept only while they match ``todo``'s order."""
    if not partial.exists():
        return []
    done = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
    for i, result in enumerate(done):
        if i >= len(todo) or result["layer"] != todo[i][0].name:
            raise SystemExit(f"{partial} does not match this run's workloads; delete it to restart")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="bench/results/labellers.json")
    parser.add_argument("--plot-only", action="store_true", help="re-plot an existing --out")
    args = parser.parse_args()
    if args.plot_only:
        results = json.loads(Path(args.out).read_text())
        plot(results, Path(args.out).with_suffix(".png"))
        print(summarise(results))
        return
    todo = cases(args.workloads)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(args.out).with_suffix(".partial.jsonl")  # progress survives an interrupt
    results = load_partial(partial, todo)
    if results:
        print(f"resuming: {len(results)}/{len(todo)} workloads already in {partial}", flush=True)
    with ProcessPoolExecutor(args.workers) as pool, partial.open("a") as log:
        for result in pool.map(run_case, todo[len(results) :]):
            results.append(result)
            log.write(json.dumps(result) + "\n")
            log.flush()
            print(f"{len(results)}/{len(todo)} {result['layer']} {result['objective']}",
                  flush=True)  # fmt: skip
    Path(args.out).write_text(json.dumps(results, indent=1))
    partial.unlink()
    plot(results, Path(args.out).with_suffix(".png"))
    print(f"{len(results)} workloads, space {SPACE!r}: best found / exact optimum\n")
    print(summarise(results))


if __name__ == "__main__":
    main()
