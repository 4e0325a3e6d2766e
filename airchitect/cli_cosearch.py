"""``airchitect cosearch``: the accuracy vs cost front of a network family on its best designs.

Registered on the main app by :mod:`airchitect.cli`; flags in, :mod:`airchitect.serve.cosearch`
calls,
a table (or JSON) out, progress on stderr.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from airchitect import designs
from airchitect.cli import AreaMm2, JsonOut, PowerMw, _console, _print_json, _user_errors, app
from airchitect.cli_serve import BundleOpt, TimeBudgetOpt, _load_service
from airchitect.designs import flag
from airchitect.space import Budget
from airchitect.workloads import build_llm_generation, load_llm_config
from airchitect.workloads.families import family_variants, list_families

_BUDGET_KEYS = {"area": "area_mm2", "area_mm2": "area_mm2", "power": "power_mw",
                "power_mw": "power_mw"}  # fmt: skip


def parse_budget(text: str) -> Budget:
    """``"area=40,power=800"`` (or ``area_mm2=``/``power_mw=``) -> a Budget."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key.strip() not in _BUDGET_KEYS:
            raise ValueError(f"--budget: unknown field {key.strip()!r}; use area=MM2, power=MW")
        try:
            values[_BUDGET_KEYS[key.strip()]] = float(value)
        except ValueError:
            raise ValueError(f"--budget: {key.strip()}={value!r} is not a number") from None
    with flag("--budget"):
        return Budget(**values)


def _objective(objective: str | None, targets) -> str:
    if objective is not None:
        return designs.parse_objective(objective).value
    given = list(targets.given())
    metric_of = {"latency_ms": "latency", "energy_mj": "energy", "edp_mj_ms": "edp"}
    return metric_of[given[0]] if len(given) == 1 else "edp"


def _progress(enabled: bool):
    """``progress(done, total)`` writing the rate and ETA to stderr at most every 2 s (a live
    line on a terminal), or ``None``."""
    if not enabled:
        return None
    start = time.perf_counter()
    last, tty = [start], sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] < (0.2 if tty else 2.0) and (done < total or now - start < 2.0):
            return  # a short run stays quiet
        last[0] = now
        rate = done / max(now - start, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("inf")
        line = f"cosearch: {done}/{total} pairs, {rate:.1f} pairs/s, ETA {eta:.0f} s"
        end = "\n" if not tty or done >= total else ""
        sys.stderr.write(("\r" if tty else "") + line + end)
        sys.stderr.flush()

    return report


@app.command()
@_user_errors
def cosearch(
    family: Annotated[
        str | None, typer.Option(help=f"Network family: {', '.join(list_families())}.")
    ] = None,
    network: Annotated[
        list[Path] | None,
        typer.Option(
            help="Instead of --family: a network file (ONNX, CSV/YAML layer list, or an "
            "LLM config JSON run as a --prefill/--decode generation); repeat for "
            "several. Its accuracy key is the file name without its suffix."
        ),
    ] = None,  # fmt: skip
    prefill: Annotated[int, typer.Option(min=1, help="LLM configs: prompt tokens.")] = 512,
    decode: Annotated[int, typer.Option(min=1, help="LLM configs: generated tokens.")] = 128,
    variants: Annotated[
        str | None, typer.Option(help='Comma-separated variants (default: all), e.g. "b0,b1".')
    ] = None,
    area_mm2: AreaMm2 = None,
    power_mw: PowerMw = None,
    budget: Annotated[
        list[str] | None,
        typer.Option(
            help='A budget "area=MM2,power=MW"; repeat for several (replaces '
            "--area-mm2/--power-mw)."
        ),
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Latency limit (ms).")] = None,
    energy_mj: Annotated[float | None, typer.Option(help="Energy limit (mJ).")] = None,
    edp_mj_ms: Annotated[float | None, typer.Option(help="EDP limit (mJ x ms).")] = None,
    objective: Annotated[
        str | None,
        typer.Option(help="latency, energy or edp (default: the one target's metric, or edp)."),
    ] = None,
    accuracy_csv: Annotated[
        Path | None,
        typer.Option("--accuracy", help="Your own accuracies: a CSV, columns variant,accuracy."),
    ] = None,
    refine: Annotated[
        int, typer.Option(min=0, max=1000, help="Constrained-BO evaluations per front member.")
    ] = 0,
    time_budget: TimeBudgetOpt = None,  # per front member
    exact: Annotated[
        bool, typer.Option("--exact", help="Every pair on the certified optimum of the grid.")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="Write the Pareto plot here (PNG).")] = None,
    layers: Annotated[
        str, typer.Option(help="JSON: per-layer mappings of front, all or none of the pairs.")
    ] = "front",
    bundle: BundleOpt = None,
    json_out: JsonOut = False,
) -> None:
    """Co-design the network with the accelerator: the Pareto front of accuracy vs the
    objective over (variant, design) pairs, each design the recommender's best within the
    budget. Variants without a published (or given) accuracy are searched for cost only."""
    from airchitect.serve.cosearch import (
        Targets,
        family_candidates,
        load_accuracy_csv,
        plot_front,
        polish_settings,
        published_accuracy,
        resolve_accuracy,
    )
    from airchitect.serve.cosearch import (
        cosearch as run_cosearch,
    )
    from airchitect.serve.recommend import Settings

    if layers not in ("front", "all", "none"):
        raise ValueError(f"--layers: must be front, all or none, got {layers!r}")
    if (family is None) == (not network):
        raise ValueError("give exactly one of --family or --network (repeatable)")
    if network:
        candidates = _file_candidates(network, prefill, decode)
        known = [c.name for c in candidates]
        names, published, label = known, {}, "networks"
    else:
        with flag("--family"):
            known = family_variants(family)
        names = [v.strip() for v in variants.split(",") if v.strip()] if variants else known
        for name in names:
            if name not in known:
                raise ValueError(f"--variants: unknown variant {name!r} of {family!r}; "
                                 f"allowed: {', '.join(known)}")  # fmt: skip
        candidates, published, label = None, published_accuracy(family), family
    if budget and (area_mm2 is not None or power_mw is not None):
        raise ValueError("--budget replaces --area-mm2/--power-mw; give one or the other")
    budgets = [parse_budget(b) for b in budget] if budget else [
        designs.make_budget(area_mm2, power_mw)]  # fmt: skip
    with flag("--latency-ms/--energy-mj/--edp-mj-ms"):
        targets = Targets(latency_ms, energy_mj, edp_mj_ms)
    goal = _objective(objective, targets)
    user = load_accuracy_csv(accuracy_csv, known) if accuracy_csv is not None else None
    accuracy = resolve_accuracy(names, published, user, str(accuracy_csv))
    service = _load_service(bundle)
    candidates = candidates or family_candidates(family, names)
    result = run_cosearch(service, candidates, budgets, goal, accuracy, targets,
                          Settings(exact=True) if exact else None,
                          polish=polish_settings(refine, time_budget),
                          progress=_progress(True))  # fmt: skip
    if plot is not None:
        with flag("--plot"):
            plot_front(result, plot, label)
    if json_out:
        _print_json(result.to_dict(layers) | {"family": family, "plot": plot and str(plot)})
        return
    _print_result(result, label, plot)


def _file_candidates(paths: list[Path], prefill: int, decode: int) -> list:
    """A co-search candidate per network file; names (the accuracy keys) must differ."""
    from airchitect.serve.cosearch import Candidate

    out = []
    for path in paths:
        if path.suffix.lower() == ".json":  # an LLM config: one generation
            with flag("--network"):
                config = load_llm_config(path)
                network = build_llm_generation(config, prefill, decode)
        else:
            with flag("--network"):
                network = designs.load_workload(onnx=path) if path.suffix.lower() == ".onnx" \
                    else designs.load_workload(layers=path)  # fmt: skip
        out.append(Candidate(path.stem, network))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f"--network: two files share a name ({', '.join(names)}); the name "
                         "is the accuracy key, so rename one")  # fmt: skip
    return out


def _print_result(result, family: str, plot: Path | None) -> None:
    console = _console()
    metric = result.metric
    table = Table(title=f"{family}: accuracy vs {metric} (front first)")
    for header in ("", "variant", "budget", "accuracy", "latency ms", "energy mJ",
                   "EDP mJ·ms", "area mm²", "design", "status"):  # fmt: skip
        table.add_column(header, justify="left" if header in ("variant", "design", "status",
                                                              "budget") else "right")  # fmt: skip
    order = list(result.front) + [i for i in range(len(result.pairs)) if i not in result.front]
    for i in order:
        p = result.pairs[i]
        mark = "*" if i == result.chosen else ("F" if i in result.front else "")
        acc = "-" if p.accuracy is None else f"{p.accuracy.value:.1f}"
        budget = _budget_cell(p.budget)
        if not p.feasible:
            table.add_row(mark, p.variant, budget, acc, "", "", "", "", "", p.status)
            continue
        m, hw = p.metrics, p.recommendation.cost.hardware
        design = f"{hw.pe_rows}x{hw.pe_cols} {hw.dataflow.name.lower()} L2 {hw.l2_kib:g}K"
        table.add_row(mark, p.variant, budget, acc, f"{m['latency_ms']:.3f}",
                      f"{m['energy_mj']:.3f}", f"{m['edp_mj_ms']:.4g}", f"{m['area_mm2']:.1f}",
                      design, p.status)  # fmt: skip
    console.print(table)
    lines = [f"{len(result.front)} pairs on the front of {len(result.pairs)} "
             f"({result.seconds:.1f} s)"]  # fmt: skip
    if result.chosen is not None:
        c = result.pairs[result.chosen]
        lines.append(f"chosen (*): {c.variant} at {c.metrics[metric]:.4g} {metric}, accuracy "
                     f"{c.accuracy.value:g} ({c.accuracy.source})")  # fmt: skip
    else:
        lines.append("no pair meets the targets with a known accuracy: nothing chosen")
    cost_only = sorted({p.variant for p in result.pairs if p.accuracy is None})
    if cost_only:
        lines.append(f"cost only (no accuracy figure): {', '.join(cost_only)}")
    if plot is not None:
        lines.append(f"plot written to {plot}")
    console.print("\n".join(lines))


def _budget_cell(budget: Budget) -> str:
    parts = [f"{budget.area_mm2:g} mm²" if budget.area_mm2 is not None else "",
             f"{budget.power_mw:g} mW" if budget.power_mw is not None else ""]  # fmt: skip
    return ", ".join(p for p in parts if p) or "none"
