"""Whole networks: the instant answer against the certified optimum of the grid.

Run: ``.venv/bin/python bench/whole_network.py [--part all|validation|held-out]
[--networks a,b] [--repeats 5]``. One process, one thread everywhere.

For every network, two budgets (area <= 40 mm2, power <= 2 W) and the three objectives:

- the **certified optimum** of the default grid, by
  :func:`airchitect.search.network_exact.network_optimum` (branch and bound over exact
  per-layer sweeps),
  and its wall time;
- the **instant answer** of the shipped model (``RecommendService.recommend``, default
  settings), its regret against that optimum and its wall time;
- ablations of how the instant answer proposes PE arrays (:class:`airchitect.serve.network_answer.
  ArrayChoice`).

Times are wall clock and process CPU time (one thread: equal on an idle machine, and the CPU
time is what to read when other work shares the cores).

Networks come in two parts. *Validation*: the zoo networks, whose layers the training data
holds; the instant answer's settings were chosen on these. *Held out*: networks no training
row, and no settings choice, has seen (EfficientNet, ViT, MobileNetV2 at other widths, deeper
ResNets, BERT-large; Phi-3-mini and Qwen1.5-MoE generations from ``bench/networks``).
Writes bench/results/whole_network.json and .png (temp file + rename) and prints markdown. Each
finished setting is appended to ``whole_network.partial.jsonl`` first: a stopped run resumes
where it stopped (``--fresh`` starts over).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from airchitect.search.network_exact import network_optimum  # noqa: E402
from airchitect.serve.network_answer import ArrayChoice  # noqa: E402
from airchitect.serve.predictor import OnnxPredictor  # noqa: E402
from airchitect.serve.recommend import RecommendService, Settings  # noqa: E402
from airchitect.space.budget import Budget  # noqa: E402
from airchitect.workloads.families import build_variant  # noqa: E402
from airchitect.workloads.llm import build_llm_generation, load_llm_config  # noqa: E402
from airchitect.workloads.zoo import get_network, list_networks  # noqa: E402

OUT = Path("bench/results/whole_network.json")
NETS = Path(__file__).parent / "networks"
BUDGETS = {"area<=40mm2": Budget(area_mm2=40.0), "power<=2W": Budget(power_mw=2000.0)}
OBJECTIVES = ("latency", "energy", "edp")
HELD_OUT = {
    "efficientnet-b0": lambda: build_variant("efficientnet", "b0"),
    "efficientnet-b3": lambda: build_variant("efficientnet", "b3"),
    "vit-b16": lambda: build_variant("vit", "b16"),
    "vit-s16": lambda: build_variant("vit", "s16"),
    "mobilenet_v2-0.5-160": lambda: build_variant("mobilenet_v2", "0.5_160"),
    "resnet101": lambda: build_variant("resnet", "101"),
    "bert-large": lambda: build_variant("bert", "large"),
    "phi-3-mini-p512-d128": lambda: _llm("phi-3-mini.json"),
    "qwen1.5-moe-p512-d128": lambda: _llm("qwen1.5-moe-a2.7b.json"),
}
#: Ablations: how many PE arrays the model proposes, and from where.
ABLATIONS = {
    "pooled only": ArrayChoice(pooled=4, per_layer=0, shapes_all_dataflows=0),
    "no per-layer arrays": ArrayChoice(per_layer=0),
    "no dataflow sweep": ArrayChoice(shapes_all_dataflows=0),
    "no neighbour shapes": ArrayChoice(neighbour_rounds=0),
    "one neighbour round": ArrayChoice(neighbour_rounds=1),
    "wider (8, 2, 3)": ArrayChoice(pooled=8, per_layer=2),
}


def _llm(file: str):
    return build_llm_generation(load_llm_config(NETS / file), prefill=512, decode=128)


def networks(part: str, names: list[str] | None) -> dict[str, tuple[str, callable]]:
    out = {}
    if part in ("all", "validation"):
        out |= {n: ("validation", lambda n=n: get_network(n)) for n in list_networks()}
    if part in ("all", "held-out"):
        out |= {n: ("held-out", build) for n, build in HELD_OUT.items()}
    if names:
        unknown = sorted(set(names) - set(out))
        if unknown:
            sys.exit(f"error: unknown network(s) {unknown}; choose from {sorted(out)}")
        out = {n: out[n] for n in names}
    return out


def design(hw) -> str:
    return (f"{hw.pe_rows}x{hw.pe_cols} {hw.dataflow.name.lower()}, L1 {hw.l1_bytes} B, "
            f"L2 {hw.l2_kib:g} KiB, NoC {hw.noc_words_per_cycle:g}, DRAM "
            f"{hw.dram_bytes_per_cycle:g}")  # fmt: skip


def run_setting(service, net, budget, objective, repeats: int, refine: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    exact = network_optimum(net, service.space, budget, objective, service.tech)
    exact_s, exact_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rec = service.recommend(net, budget, objective)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    row = {
        "optimum": exact.certificate.best, "optimum_design": design(exact.cost.hardware),
        "optimum_area_mm2": exact.cost.total["area_mm2"], "exact_s": exact_s,
        "exact_cpu_s": exact_cpu_s, "instant_cpu_ms": float(np.median(cpu) * 1e3),
        "certificate": exact.certificate.to_dict(),
        "instant": rec.score, "instant_design": design(rec.cost.hardware),
        "instant_area_mm2": rec.cost.total["area_mm2"],
        "regret": rec.score / exact.certificate.best,
        "instant_ms": float(np.median(times) * 1e3),
    }  # fmt: skip
    if refine:
        t0 = time.perf_counter()
        refined = service.recommend(net, budget, objective, Settings(refine=refine))
        row |= {"refined": refined.score / exact.certificate.best,
                "refine_s": time.perf_counter() - t0,
                "refine_gap_bound": refined.certificate["gap"]}  # fmt: skip
    for name, choice in ABLATIONS.items():
        alt = service.recommend(net, budget, objective, Settings(arrays=choice))
        row[f"ablation:{name}"] = alt.score / exact.certificate.best
    return row


def summary(rows: list[dict], key: str = "regret") -> dict:
    r = np.array([x[key] for x in rows])
    return {"settings": len(r), "geomean": float(np.exp(np.log(r).mean())),
            "p90": float(np.percentile(r, 90)), "worst": float(r.max()),
            "within_1pct": float(np.mean(r <= 1.01))}  # fmt: skip


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["network"] for r in rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.32 * len(names) + 1.5), sharey=True)
    marks = {"latency": "o", "energy": "s", "edp": "^"}
    for r in rows:
        y = names.index(r["network"]) + (0.15 if r["budget"].startswith("power") else -0.15)
        ax1.scatter(r["regret"], y, marker=marks[r["objective"]], s=24,
                    color="tab:red" if r["part"] == "held-out" else "tab:blue")  # fmt: skip
        ax2.scatter(r["exact_s"], y, marker=marks[r["objective"]], s=24, color="tab:gray")
    ax1.axvline(1.02, ls=":", color="k")
    ax1.set_yticks(range(len(names)), names)
    ax1.set_xlabel("instant answer / certified optimum (blue validation, red held out)")
    ax2.set_xlabel("certified optimum: seconds (o latency, s energy, ^ EDP)")
    ax2.set_xscale("log")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", default=None)
    p.add_argument("--part", choices=("all", "validation", "held-out"), default="all")
    p.add_argument("--networks", default="", help="comma-separated names (default: the part)")
    p.add_argument("--repeats", type=int, default=3, help="instant answers timed per setting")
    p.add_argument("--refine", type=int, default=10, help="BO evaluations of --refine rows")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--fresh", action="store_true", help="ignore a previous run's partial rows")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("error: stopped by SIGTERM; nothing written"))
    predictor = OnnxPredictor(args.bundle) if args.bundle else OnnxPredictor()
    service = RecommendService(predictor)
    service.warm_up()
    partial = args.out.with_suffix(".partial.jsonl")
    if args.fresh:
        partial.unlink(missing_ok=True)
    done = {}
    if partial.is_file():
        for line in partial.read_text().splitlines():
            row = json.loads(line)
            done[(row["network"], row["budget"], row["objective"])] = row
    rows = []
    chosen = networks(args.part, [n for n in args.networks.split(",") if n])
    for name, (part, build) in chosen.items():
        net = build()
        for budget_name, budget in BUDGETS.items():
            for objective in OBJECTIVES:
                if (name, budget_name, objective) in done:
                    rows.append(done[(name, budget_name, objective)])
                    continue
                row = {"network": name, "part": part, "budget": budget_name,
                       "objective": objective, "layers": len(net.layers)}  # fmt: skip
                row |= run_setting(service, net, budget, objective, args.repeats, args.refine)
                rows.append(row)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                with partial.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{name:24s} {budget_name:12s} {objective:8s} regret {row['regret']:.4f} "
                      f"instant {row['instant_ms']:6.0f} ms  exact {row['exact_s']:6.2f} s",
                      flush=True)  # fmt: skip
    result = {"date": time.strftime("%Y-%m-%d"), "rows": rows, "summary": {}}
    for part in ("validation", "held-out"):
        part_rows = [r for r in rows if r["part"] == part]
        if part_rows:
            result["summary"][part] = {"instant": summary(part_rows)} | {
                name: summary(part_rows, f"ablation:{name}") for name in ABLATIONS
            }
            if args.refine:
                result["summary"][part][f"refine {args.refine}"] = summary(part_rows, "refined")
            for key in ("instant_ms", "instant_cpu_ms", "exact_s", "exact_cpu_s"):
                values = [r[key] for r in part_rows]
                result["summary"][part][key] = {"p50": float(np.median(values)),
                                                "max": float(np.max(values))}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(args.out)
    plot(rows, args.out.with_suffix(".png"))
    partial.unlink(missing_ok=True)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
