"""Gray-box optimiser against BO, GA and random search, side by side in one run.

Run: ``.venv/bin/python bench/graybox.py [--part layers|networks|all] [--bo-workloads 20]
[--bo-evals 100] [--bo-network-evals 50]``. One process, one thread.

- **layers**: the 50 workloads of the labeller benchmark (``bench/labellers.py``: reduced
  space, one sampled budget and objective each, exact optimum by exhaustive search). Every
  method runs once per workload with 100 evaluations; its best-so-far after 5, 10, 20, 50 and
  100 evaluations over the exact optimum, and its wall time. BO costs about 0.6 s per
  evaluation, so it runs on the first ``--bo-workloads`` workloads only (the others on all).
- **networks**: every zoo CNN and two LLM generations (Phi-3-mini and Qwen1.5-MoE, prefill
  512 + decode 128) on the default space, under area <= 40 mm2 and power <= 2 W, for EDP. The
  reference is the certified optimum of the grid (``network_optimum``). Each method's best cost
  against evaluations and wall time (seconds since the search started, after each evaluation).
- **heldout**: the same on networks never used to choose the gray-box optimiser's settings
  (EfficientNet-B0, ViT-S/16, ResNet-101, BERT-small), reported apart.

Resumable: finished (part, method, case) results are appended to
``bench/results/graybox.<part>[.<methods>].partial.jsonl`` and skipped on a rerun (parts, or
``--methods`` subsets such as ``--methods bo``, can run in several processes at once). Writes
``bench/results/graybox.json`` and ``.png`` (convergence) and prints markdown tables.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from labellers import cases as layer_cases  # noqa: E402

from airchitect.search.base import HardwareEvaluator  # noqa: E402
from airchitect.search.bo import ConstrainedBO  # noqa: E402
from airchitect.search.genetic import GeneticSearch  # noqa: E402
from airchitect.search.graybox import GrayBoxSearch  # noqa: E402
from airchitect.search.network_exact import network_optimum  # noqa: E402
from airchitect.search.random_search import RandomSearch  # noqa: E402
from airchitect.space import Budget, DesignSpace  # noqa: E402
from airchitect.workloads.families import build_variant  # noqa: E402
from airchitect.workloads.llm import build_llm_generation, load_llm_config  # noqa: E402
from airchitect.workloads.zoo import get_network  # noqa: E402

OUT = Path("bench/results/graybox.json")
METHODS = {"graybox": GrayBoxSearch, "bo": ConstrainedBO, "ga": GeneticSearch,
           "random": RandomSearch}  # fmt: skip
CHECKPOINTS = (5, 10, 20, 50, 100)
LAYER_EVALS = 100
CNNS = ("alexnet", "alexnet_grouped", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "dqn")
LLMS = {
    "phi-3-mini-p512-d128": "phi-3-mini.json",
    "qwen1.5-moe-p512-d128": "qwen1.5-moe-a2.7b.json",
}
#: Held out: never used to choose the optimiser's settings; reported apart from the zoo.
HELD_OUT = {"efficientnet_b0": ("efficientnet", "b0"), "vit_s16": ("vit", "s16"),
            "resnet101": ("resnet", "101"), "bert_small": ("bert", "small")}  # fmt: skip
BUDGETS = {"area<=40mm2": Budget(area_mm2=40.0), "power<=2W": Budget(power_mw=2000.0)}
OBJECTIVE = "edp"


class TimedEvaluator(HardwareEvaluator):
    """Records the wall and CPU time (since ``start``, ``cpu_start``) at which each new point
    was scored: the cores are shared, so wall time alone overstates what a search costs."""

    def scores(self, flat):
        before, out = self.evals, super().scores(flat)
        self.seconds += [time.perf_counter() - self.start] * (self.evals - before)
        self.cpu_seconds += [time.process_time() - self.cpu_start] * (self.evals - before)
        return out


def run_search(method: str, workload, space, budget, objective, evals: int) -> dict:
    evaluator = TimedEvaluator(workload, space, objective)
    evaluator.seconds, evaluator.cpu_seconds = [], []
    evaluator.start, evaluator.cpu_start = time.perf_counter(), time.process_time()
    METHODS[method](space).search(evaluator, budget, evals, 0)
    wall = time.perf_counter() - evaluator.start
    cpu = time.process_time() - evaluator.cpu_start
    best = np.minimum.accumulate(evaluator.history()).tolist()
    return {"best": best, "seconds": evaluator.seconds, "wall_s": wall,
            "cpu_seconds": evaluator.cpu_seconds, "cpu_s": cpu}  # fmt: skip


def _network(name: str):
    if name in HELD_OUT:
        return build_variant(*HELD_OUT[name])
    if name in LLMS:
        config = load_llm_config(Path(__file__).parent / "networks" / LLMS[name])
        return build_llm_generation(config, prefill=512, decode=128)
    return get_network(name)


def jobs(args) -> list[tuple]:
    """(key, thunk) per result, in run order."""
    out = []
    if args.part in ("layers", "all"):
        todo = layer_cases(50)
        space = DesignSpace.named("reduced")
        for method in args.methods:
            n = args.bo_workloads if method == "bo" else len(todo)
            evals = args.bo_evals if method == "bo" else LAYER_EVALS
            for i, (layer, task, optimum) in enumerate(todo[:n]):

                def thunk(layer=layer, task=task, optimum=optimum, method=method, evals=evals):
                    r = run_search(method, layer, space, task.budget, task.objective, evals)
                    return r | {"optimum": optimum, "objective": task.objective.value}

                out.append((f"layers/{method}/{i}/{layer.name}", thunk))
    default = DesignSpace.default()
    for part, names in (("networks", (*CNNS, *LLMS)), ("heldout", tuple(HELD_OUT))):
        if args.part not in (part, "all"):
            continue
        for name in names:
            for bname, budget in BUDGETS.items():

                def ref(name=name, budget=budget):
                    t0 = time.perf_counter()
                    best = network_optimum(_network(name), default, budget, OBJECTIVE)
                    return {"optimum": best.certificate.best, "exact_s": time.perf_counter() - t0,
                            "certified": best.certificate.certified}  # fmt: skip

                out.append((f"{part}/optimum/{name}/{bname}", ref))
                for method in args.methods:
                    evals = args.bo_network_evals if method == "bo" else args.network_evals

                    def thunk(name=name, budget=budget, method=method, evals=evals):
                        return run_search(method, _network(name), default, budget, OBJECTIVE,
                                          evals)  # fmt: skip

                    out.append((f"{part}/{method}/{name}/{bname}", thunk))
    return out


def at(best: list[float], e: int) -> float:
    """Best-so-far after ``e`` evaluations (the last one if the search stopped earlier)."""
    return best[min(e, len(best)) - 1] if best else float("inf")


def layer_table(results: dict) -> str:
    lines = ["| method | workloads | " + " | ".join(f"@{e}" for e in CHECKPOINTS)
             + " | within 1 % @20 | wall s / search (median) |",
             "| --- | ---: | " + " | ".join("---:" for _ in CHECKPOINTS)
             + " | ---: | ---: |"]  # fmt: skip
    for method in METHODS:
        rows = [r for k, r in results.items() if k.startswith(f"layers/{method}/")]
        if not rows:
            continue
        cells = []
        for e in CHECKPOINTS:
            ratio = np.array([at(r["best"], e) / r["optimum"] for r in rows])
            cells.append(f"{np.median(ratio):.4f} / {np.percentile(ratio, 90):.3f}")
        within = np.mean([at(r["best"], 20) / r["optimum"] <= 1.01 for r in rows])
        wall = np.median([r["wall_s"] for r in rows])
        lines.append(f"| {method} | {len(rows)} | " + " | ".join(cells)
                     + f" | {within:.0%} | {wall:.2f} |")  # fmt: skip
    return "\n".join(lines)


def reach(run: dict, target: float) -> tuple[int | None, float | None]:
    """Evaluations and seconds a search needed to get within ``target``; None if never."""
    hit = [i for i, b in enumerate(run["best"]) if b <= target]
    return (hit[0] + 1, run["seconds"][hit[0]]) if hit else (None, None)


def reach_cpu(run: dict, target: float) -> str:
    """`` (CPU s)`` a search needed to get within ``target``, where recorded."""
    hit = [i for i, b in enumerate(run["best"]) if b <= target]
    return f" ({run['cpu_seconds'][hit[0]]:.2f} CPU s)" if hit and "cpu_seconds" in run else ""


def network_table(results: dict, part: str = "networks") -> str:
    head = ["| network | budget | optimum s |"]
    for m in METHODS:
        head[0] += f" {m} @10 / @30 / last | {m} evals, s to 1 % |"
    head.append("| --- | --- | ---: |" + " ---: | ---: |" * len(METHODS))
    lines = head
    for key, ref in results.items():
        if not key.startswith(f"{part}/optimum/"):
            continue
        _, _, name, bname = key.split("/")
        cells = [name, bname, f"{ref['exact_s']:.2f}"]
        for m in METHODS:
            run = results.get(f"{part}/{m}/{name}/{bname}")
            if run is None:
                cells += ["-", "-"]
                continue
            opt = ref["optimum"]
            cells.append(f"{at(run['best'], 10) / opt:.3f} / {at(run['best'], 30) / opt:.3f} / "
                         f"{run['best'][-1] / opt:.3f} ({len(run['best'])})")  # fmt: skip
            e, s = reach(run, 1.01 * opt)
            cells.append("not reached" if e is None
                         else f"{e}, {s:.2f} s{reach_cpu(run, 1.01 * opt)}")  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + network_summary(results, part)


def network_summary(results: dict, part: str = "networks") -> str:
    refs = {k.split("/", 2)[2]: v for k, v in results.items() if k.startswith(f"{part}/optimum/")}
    out = []
    for m in METHODS:
        runs = [(results.get(f"{part}/{m}/{k}"), r) for k, r in refs.items()]
        runs = [(run, r) for run, r in runs if run is not None]
        if not runs:
            continue
        hits = [reach(run, 1.01 * r["optimum"]) for run, r in runs]
        within30 = sum(1 for e, _ in hits if e is not None and e <= 30)
        gm = np.exp(np.mean([np.log(at(run["best"], 30) / r["optimum"]) for run, r in runs]))
        out.append(f"- {m}: within 1 % of the optimum by 30 evaluations in {within30}/{len(runs)}"
                   f" settings; geomean best/optimum at 30 evaluations {gm:.4f}")  # fmt: skip
    return "\n".join(out)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"graybox": "tab:green", "bo": "tab:blue", "ga": "tab:orange", "random": "tab:gray"}
    evals = np.arange(1, LAYER_EVALS + 1)
    for m in METHODS:
        rows = [r for k, r in results.items() if k.startswith(f"layers/{m}/")]
        if rows:
            ratio = np.array([[at(r["best"], e) / r["optimum"] for e in evals] for r in rows])
            a.plot(evals, np.median(ratio, axis=0), color=colors[m], label=f"{m} median")
            a.plot(evals, np.percentile(ratio, 90, axis=0), "--", color=colors[m], alpha=0.6,
                   label=f"{m} p90 ({len(rows)} workloads)")  # fmt: skip
        runs = [(r, results[f"networks/optimum/{k.split('/', 2)[2]}"]["optimum"])
                for k, r in results.items() if k.startswith(f"networks/{m}/")]  # fmt: skip
        if runs:
            n = max(len(r["best"]) for r, _ in runs)
            e = np.arange(1, n + 1)
            ratio = np.array([[at(r["best"], i) / opt for i in e] for r, opt in runs])
            b.plot(e, np.exp(np.log(ratio).mean(axis=0)), color=colors[m],
                   label=f"{m} geomean ({len(runs)} settings)")  # fmt: skip
    for ax, title in ((a, "Single layers (reduced space)"), (b, "Whole networks (default space)")):
        ax.axhline(1.01, color="k", lw=0.8, ls=":", label="within 1 %")
        ax.set(xscale="log", yscale="log", xlabel="evaluations", title=title,
               ylabel="best found / exact optimum")  # fmt: skip
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("layers", "networks", "heldout", "all"), default="all")
    parser.add_argument("--bo-workloads", type=int, default=20)
    parser.add_argument("--bo-evals", type=int, default=LAYER_EVALS)
    parser.add_argument("--network-evals", type=int, default=50)
    parser.add_argument("--bo-network-evals", type=int, default=50)
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of " + ", ".join(METHODS))  # fmt: skip
    parser.add_argument("--report-only", action="store_true", help="tables and plot from JSON")
    args = parser.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    if unknown := set(args.methods) - set(METHODS):
        parser.error(f"unknown methods {sorted(unknown)}; allowed: {', '.join(METHODS)}")
    # one log per part (and method subset), so runs can go side by side in several processes
    tag = "" if args.methods == list(METHODS) else "." + "+".join(args.methods)
    partial = OUT.with_name(f"graybox.{args.part}{tag}.partial.jsonl")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    results = {}
    for log in sorted(OUT.parent.glob("graybox.*.partial.jsonl")):
        for line in log.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                results[row["key"]] = row["result"]
    if not results and OUT.exists():  # a finished run whose logs were cleared
        results = json.loads(OUT.read_text())
    if not args.report_only:
        todo = [(k, f) for k, f in jobs(args) if k not in results]
        print(f"{len(results)} results kept, {len(todo)} to run", flush=True)
        with partial.open("a") as log:
            for i, (key, thunk) in enumerate(todo):
                results[key] = thunk()
                log.write(json.dumps({"key": key, "result": results[key]}) + "\n")
                log.flush()
                print(f"{i + 1}/{len(todo)} {key}", flush=True)
    tmp = OUT.with_suffix(f".{os.getpid()}.tmp.json")
    tmp.write_text(json.dumps(results))
    tmp.replace(OUT)
    plot(results, OUT.with_suffix(".png"))
    print("\n## single layers: best found / exact optimum, median / p90\n")
    print(layer_table(results))
    print("\n## whole networks (EDP): best found / certified optimum\n")
    print(network_table(results))
    print("\n## held-out networks (EDP): best found / certified optimum\n")
    print(network_table(results, "heldout"))


if __name__ == "__main__":
    main()
