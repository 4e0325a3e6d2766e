"""The recommended design against a hand-tuned Eyeriss-like one, at the Eyeriss-like budget.

Run: ``.venv/bin/python bench/eyeriss_compare.py``. One process, one thread.

The Eyeriss-like preset (``airchitect evaluate --preset eyeriss-like``: 12x14 PEs, row
stationary, Eyeriss's published buffer sizes) sets the budget: its own area and power. For
ResNet-50, the Nature DQN, the MLP and BERT-base, and for EDP, latency and energy, the table
compares the preset's cost with the instant answer and with the certified optimum of the grid
under that budget (the answer after ``--time-budget``/``--exact``), and says where the gain
comes from (the bottleneck analysis of the preset and of the answer). The constrained-BO
co-design line of work reports EDP 18 % lower than an Eyeriss-like design on ResNet and 40 %
lower on DQN. Writes bench/results/eyeriss_compare.json and prints markdown.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from airchitect.cost.mapper import OBJECTIVE_FIELD  # noqa: E402
from airchitect.cost.network import evaluate_network  # noqa: E402
from airchitect.designs import EYERISS_LIKE  # noqa: E402
from airchitect.search.analysis import analyse  # noqa: E402
from airchitect.search.network_exact import network_optimum  # noqa: E402
from airchitect.serve.predictor import OnnxPredictor  # noqa: E402
from airchitect.serve.recommend import RecommendService  # noqa: E402
from airchitect.space.budget import Budget, hardware_area_mm2, hardware_power_mw  # noqa: E402
from airchitect.workloads.zoo import get_network  # noqa: E402

OUT = Path("bench/results/eyeriss_compare.json")
NETWORKS = ("resnet50", "dqn", "mlp", "bert_base")
OBJECTIVES = ("edp", "latency", "energy")


def _design(hw) -> str:
    return (f"{hw.pe_rows}x{hw.pe_cols} {hw.dataflow.name.lower()}, L1 {hw.l1_bytes} B, "
            f"L2 {hw.l2_kib:g} KiB, NoC {hw.noc_words_per_cycle:g}, DRAM "
            f"{hw.dram_bytes_per_cycle:g}")  # fmt: skip


def _why(cost, space, budget) -> str:
    a = analyse(cost, space, budget)
    bound = max(a.latency_by_bound, key=a.latency_by_bound.get)
    dram = a.energy_by_level["dram"]
    return (f"{bound}-bound, {100 * a.utilization:.0f} % utilisation, DRAM "
            f"{100 * dram:.0f} % of energy")  # fmt: skip


def main() -> None:
    service = RecommendService(OnnxPredictor())
    service.warm_up()
    space = service.space
    budget = Budget(area_mm2=float(hardware_area_mm2(EYERISS_LIKE)[0]) * (1 + 1e-9),
                    power_mw=float(hardware_power_mw(EYERISS_LIKE)[0]) * (1 + 1e-9))  # fmt: skip
    rows = []
    for name in NETWORKS:
        net = get_network(name)
        for objective in OBJECTIVES:
            field = OBJECTIVE_FIELD[objective]
            preset = evaluate_network(net, EYERISS_LIKE, objective)
            start = time.perf_counter()
            instant = service.recommend(net, budget, objective)
            instant_ms = (time.perf_counter() - start) * 1e3
            exact = network_optimum(net, space, budget, objective)
            base = preset.total[field]
            rows.append({
                "network": name, "objective": objective, "preset": base,
                "instant": instant.score, "optimum": exact.certificate.best,
                "instant_change": instant.score / base - 1,
                "optimum_change": exact.certificate.best / base - 1,
                "instant_ms": instant_ms, "exact_s": exact.certificate.seconds,
                "instant_design": _design(instant.cost.hardware),
                "optimum_design": _design(exact.cost.hardware),
                "preset_why": _why(preset, space, budget),
                "optimum_why": _why(exact.cost, space, budget),
            })  # fmt: skip
            r = rows[-1]
            print(f"| {name} | {objective} | {100 * r['instant_change']:+.1f} % | "
                  f"{100 * r['optimum_change']:+.1f} % | {r['optimum_design']} | "
                  f"{r['preset_why']} -> {r['optimum_why']} |", flush=True)  # fmt: skip
    result = {"date": time.strftime("%Y-%m-%d"), "budget": budget.to_dict(),
              "preset": _design(EYERISS_LIKE), "rows": rows}  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(OUT)


if __name__ == "__main__":
    main()
