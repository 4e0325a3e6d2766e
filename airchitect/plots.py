"""Plots of one design on one workload: per-layer roofline, latency and energy split, what-if.

``plot_design(cost, analysis, path)`` writes one figure (PNG or SVG by the file's suffix):

- **roofline**: each layer's achieved MACs per cycle against its operational intensity (MACs
  per DRAM byte), under the design's compute roof (PEs) and DRAM roof (bandwidth x intensity);
  marker area is the layer's share of the latency;
- **latency split**: the slowest layers' cycles, compute against stalls on bandwidth;
- **energy split**: the same layers' energy by level (MAC, L1, NoC, L2, DRAM);
- **what-if tornado**: each knob one step up and down, the objective's change, hatched where the
  moved design does not fit the budget.

Matplotlib with the Agg backend, so it runs on machines without a display.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from airchitect.cost.network import NetworkCost  # noqa: E402
from airchitect.plot_paths import check_plot_path  # noqa: E402
from airchitect.search.analysis import LEVELS, Analysis  # noqa: E402

TOP_LAYERS = 12  # layers shown in the split panels: the slowest ones


def plot_design(cost: NetworkCost, analysis: Analysis, path: Path) -> Path:
    """Write :func:`design_figure` to ``path`` (temp file, then rename)."""
    path = check_plot_path(path)
    fig = design_figure(cost, analysis)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def design_figure(cost: NetworkCost, analysis: Analysis) -> plt.Figure:
    """The four panels for ``cost`` (one design, one workload)."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    _roofline(axes[0, 0], cost)
    slowest = sorted(cost.layers, key=lambda r: -r.repeat * r.cost["cycles"])[:TOP_LAYERS]
    _latency_split(axes[0, 1], slowest)
    _energy_split(axes[1, 0], slowest)
    _tornado(axes[1, 1], analysis)
    hw = cost.hardware
    fig.suptitle(f"{cost.network} on {hw.pe_rows}x{hw.pe_cols} {hw.dataflow.name.lower()}, "
                 f"L1 {hw.l1_bytes} B, L2 {hw.l2_kib:g} KiB: {analysis.summary}",
                 fontsize=9, wrap=True)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _roofline(ax, cost: NetworkCost) -> None:
    hw = cost.hardware
    rows = [r for r in cost.layers if r.cost["cycles"] > 0 and r.cost["dram_bytes"] > 0]
    intensity = np.array([r.cost["macs"] / r.cost["dram_bytes"] for r in rows])
    achieved = np.array([r.cost["macs"] / r.cost["cycles"] for r in rows])
    share = np.array([r.repeat * r.cost["cycles"] for r in rows])
    share = share / share.sum() if len(share) else share
    x = np.logspace(np.log10(max(intensity.min() / 4, 1e-3)), np.log10(intensity.max() * 4), 100) \
        if len(rows) else np.logspace(-2, 3, 100)  # fmt: skip
    ax.plot(x, np.minimum(hw.num_pes, x * hw.dram_bytes_per_cycle), color="k", lw=1.5,
            label=f"roof: {hw.num_pes} PEs, DRAM {hw.dram_bytes_per_cycle:g} B/cycle")  # fmt: skip
    colors = {"compute": "tab:blue", "noc": "tab:orange", "dram": "tab:red"}
    for bound, color in colors.items():
        pick = [i for i, r in enumerate(rows) if r.cost["bound"] == bound]
        if pick:
            ax.scatter(intensity[pick], achieved[pick], s=20 + 600 * share[pick], alpha=0.6,
                       color=color, label=f"{bound}-bound layers")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (MACs per DRAM byte)")
    ax.set_ylabel("achieved MACs per cycle")
    ax.set_title("per-layer roofline (marker area: share of latency)")
    ax.legend(fontsize=7, loc="lower right")


def _latency_split(ax, rows) -> None:
    names = [r.layer.name[-28:] for r in rows][::-1]
    compute = np.array([r.repeat * min(r.cost["compute_cycles"], r.cost["cycles"])
                        for r in rows][::-1]) / 1e3  # fmt: skip
    total = np.array([r.repeat * r.cost["cycles"] for r in rows][::-1]) / 1e3
    ax.barh(names, compute, color="tab:blue", label="compute")
    ax.barh(names, total - compute, left=compute, color="tab:red", label="stalled on bandwidth")
    ax.set_xlabel("thousand cycles per inference (runs included)")
    ax.set_title(f"latency of the {len(rows)} slowest layers")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, loc="lower right")


def _energy_split(ax, rows) -> None:
    names = [r.layer.name[-28:] for r in rows][::-1]
    left = np.zeros(len(rows))
    for level, color in zip(LEVELS, ("tab:gray", "tab:olive", "tab:orange", "tab:purple",
                                     "tab:red"), strict=True):  # fmt: skip
        values = np.array([r.repeat * r.cost[f"energy_{level}_pj"] for r in rows][::-1]) / 1e6
        ax.barh(names, values, left=left, color=color, label=level.upper())
        left += values
    ax.set_xlabel("energy per inference (µJ)")
    ax.set_title("energy of the same layers by level")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, ncols=5)


def _tornado(ax, analysis: Analysis) -> None:
    moves = [w for w in analysis.what_if if w.objective_ratio is not None]
    moves.sort(key=lambda w: abs(np.log(w.objective_ratio)))
    labels = [f"{w.knob} {w.move} ({w.value})" for w in moves]
    change = np.array([100 * (w.objective_ratio - 1) for w in moves])
    colors = ["tab:green" if c < 0 else "tab:red" for c in change]
    bars = ax.barh(labels, change, color=colors)
    for bar, w in zip(bars, moves, strict=True):
        if not w.fits:
            bar.set_hatch("///")
            bar.set_alpha(0.5)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel(f"{analysis.objective} change (%); hatched: over the budget")
    ax.set_title("what if each knob moves one step")
    ax.tick_params(axis="y", labelsize=7)


def plot_front(front, path: Path, marked=None, limit: float | None = None) -> Path:
    """The resource vs objective front (a :class:`airchitect.search.pareto.ParetoFront`),
    with ``marked`` = (resource value, objective value, label) drawn as a star and the budget
    ``limit`` as a vertical line."""
    path = check_plot_path(path)
    units = {"area": "area (mm²)", "power": "power (mW)"}
    objective_units = {"latency": "latency (cycles)", "energy": "energy (pJ)", "edp": "EDP (pJ·s)"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.step(front.resource_values, front.objective_values, where="post", color="tab:blue",
            marker="o", ms=3, label=f"Pareto front ({len(front.hw_index)} designs)")  # fmt: skip
    if limit is not None:
        ax.axvline(limit, color="k", ls=":", label=f"budget {limit:g}")
    if marked is not None:
        ax.scatter([marked[0]], [marked[1]], marker="*", s=250, color="tab:red", zorder=3,
                   label=marked[2])  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(units[front.resource])
    ax.set_ylabel(objective_units[front.objective])
    ax.set_title(f"{front.resource} vs {front.objective} over the grid "
                 f"({front.points_scored:,} designs with a valid mapping)")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
