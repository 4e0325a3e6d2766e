"""``airchitect recommend``, ``export`` and ``serve``: answers from a serving bundle.

Registered on the main app by :mod:`airchitect.cli`; flags in, :mod:`serve` calls, tables out.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from airchitect import designs, limits
from airchitect.cli import (
    AreaMm2,
    Batch,
    ContextLen,
    JsonOut,
    LayerOpt,
    LayersOpt,
    LLMConfigOpt,
    Model,
    ObjectiveOpt,
    OnnxOpt,
    Phase,
    PowerMw,
    SeqLen,
    TopOpt,
    _console,
    _layer_cost_table,
    _print_json,
    _totals_panel,
    _user_errors,
    app,
)
from airchitect.cost.network import layers_summary
from airchitect.designs import flag
from airchitect.plot_paths import check_plot_path
from airchitect.search.pareto import RESOURCES, pareto_front
from airchitect.workloads import Network, build_llm_generation, load_llm_config

BundleOpt = Annotated[
    Path | None, typer.Option("--bundle", help="Serving bundle directory (default: shipped).")
]
TimeBudgetOpt = Annotated[
    float | None,
    typer.Option("--time-budget", min=0, max=3600, help="Seconds of exact search toward the "
                 "certified optimum (per answer); the answer reports the remaining gap."),
]  # fmt: skip


def _load_service(bundle: Path | None, threads: int = 1):
    from airchitect.serve.bundle import DEFAULT_BUNDLE
    from airchitect.serve.predictor import OnnxPredictor
    from airchitect.serve.recommend import RecommendService

    with flag("--bundle"):
        return RecommendService(OnnxPredictor(bundle or DEFAULT_BUNDLE, threads=threads))


def _workload(model, layer, onnx, layers, llm_config, batch, seq_len, phase, context_len,
              prefill, decode, phase_weights) -> Network:  # fmt: skip
    if prefill is None and decode is None:
        shape = {"batch": batch, "seq_len": seq_len, "phase": phase, "context_len": context_len}
        return designs.load_workload(model, layer, onnx, layers, llm_config, **shape)
    if llm_config is None or prefill is None or decode is None:
        raise ValueError("--prefill and --decode go together, with --llm-config")
    if phase is not None or seq_len is not None or context_len is not None:
        raise ValueError("--prefill/--decode replace --phase, --seq-len and --context-len")
    weights = _phase_weights(phase_weights)
    with flag("--llm-config"):
        config = load_llm_config(llm_config)
    with flag("--prefill/--decode"):
        return build_llm_generation(config, prefill, decode, batch or 1, *weights)


def _phase_weights(text: str) -> tuple[float, float]:
    """``"prefill=1,decode=2"`` -> (1.0, 2.0); either may be left out (weight 1)."""
    weights = {"prefill": 1.0, "decode": 1.0}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key not in weights:
            raise ValueError(f"--phase-weights: unknown phase {key!r}; use prefill, decode")
        try:
            weights[key] = float(value)
        except ValueError:
            raise ValueError(f"--phase-weights: {key}={value!r} is not a number") from None
        limits.check(f"{key}_weight", weights[key], limits.SHAPE[f"{key}_weight"],
                     where="--phase-weights: ")  # fmt: skip
    return weights["prefill"], weights["decode"]


@app.command()
@_user_errors
def recommend(
    model: Model = None,
    layer: LayerOpt = None,
    onnx: OnnxOpt = None,
    layers: LayersOpt = None,
    llm_config: LLMConfigOpt = None,
    batch: Batch = None,
    seq_len: SeqLen = None,
    phase: Phase = None,
    context_len: ContextLen = None,
    prefill: Annotated[
        int | None, typer.Option(help="LLM generation: prompt tokens (with --decode).")
    ] = None,
    decode: Annotated[
        int | None, typer.Option(help="LLM generation: generated tokens (with --prefill).")
    ] = None,
    phase_weights: Annotated[
        str, typer.Option(help='Weight of each LLM phase, e.g. "prefill=1,decode=4".')
    ] = "",
    objective: ObjectiveOpt = "edp",
    area_mm2: AreaMm2 = None,
    power_mw: PowerMw = None,
    refine: Annotated[
        int, typer.Option(min=0, max=1000, help="Search evaluations to refine with.")
    ] = 0,
    refine_method: Annotated[
        str, typer.Option(help="The search that refines: graybox or bo (Ctrl-C keeps the best).")
    ] = "graybox",
    top_k: Annotated[int, typer.Option(min=1, max=64, help="Decoder designs considered.")] = 8,
    exact: Annotated[
        bool, typer.Option("--exact", help="Search the whole grid: the certified optimum.")
    ] = False,
    time_budget: TimeBudgetOpt = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Print the what-if table (each knob one step).")
    ] = False,
    show_neighbours: Annotated[
        bool, typer.Option("--neighbours", help="List the nearest training workloads.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write roofline, latency/energy split and what-if (.png/.svg)."
        ),
    ] = None,
    bundle: BundleOpt = None,
    top: TopOpt = None,
    json_out: JsonOut = False,
    all_layers: Annotated[
        bool, typer.Option("--all-layers", help="JSON: list every layer, not only the summary.")
    ] = False,
) -> None:
    """One hardware design for a layer or a whole network, with a mapping per layer.

    Always valid: the design fits the budget and every layer has a mapping. The instant
    answer comes first; --exact or --time-budget then search the whole grid from it.
    """
    from airchitect.serve.recommend import Settings

    goal = designs.parse_objective(objective)
    budget = designs.make_budget(area_mm2, power_mw)
    if plot is not None:
        check_plot_path(plot)
    network = _workload(model, layer, onnx, layers, llm_config, batch, seq_len, phase,
                        context_len, prefill, decode, phase_weights)  # fmt: skip
    service = _load_service(bundle)
    settings = Settings(top_k=top_k, refine=refine, exact=exact, time_budget_s=time_budget,
                        explain=True, refine_method=refine_method)  # fmt: skip
    with (_sweep_progress(exact or time_budget is not None) as progress,
          _refine_progress(refine, refine_method) as refine_progress):  # fmt: skip
        result = service.recommend(network, budget, goal, settings, progress, refine_progress)
    report = designs.budget_report(result.cost.hardware, budget)
    phases = _phase_totals(result.cost)
    if plot is not None:
        _plot(result, service, budget, plot)
    if json_out:
        summary = {"layers_summary": layers_summary(result.cost)}  # repeated layers merged
        _print_json(result.to_dict(layers=all_layers) | summary
                    | {"budget_report": report, "phases": phases})  # fmt: skip
        return
    console = _console()
    console.print(_totals_panel(result.cost, report))  # the design first, then its layers
    if phases:
        prefill_w, decode_w = _phase_weights(phase_weights)
        weights = {"prefill": prefill_w, "decode": decode_w}
        console.print(_phase_table(phases, weights))
        if any(w != 1.0 for w in weights.values()):
            ms = sum(p["seconds"] / weights[n] for n, p in phases.items()) * 1e3
            mj = sum(p["energy_pj"] / weights[n] for n, p in phases.items()) * 1e-9
            console.print(f"the totals above are weighted by --phase-weights; one generation "
                          f"really takes {ms:,.3f} ms and {mj:,.3f} mJ")  # fmt: skip
    console.print(_layer_cost_table(result.cost, top, console.width))
    if explain:
        console.print(_what_if_table(result))
    console.print(_provenance_panel(result, show_neighbours))


def _plot(result, service, budget, path: Path) -> None:
    from airchitect.plots import plot_design  # matplotlib only when a plot is asked for
    from airchitect.search.analysis import analyse

    plot_design(result.cost, analyse(result.cost, service.space, budget, service.tech), path)
    typer.echo(f"plot written to {path}", err=True)


@contextmanager
def _sweep_progress(enabled: bool):
    """A layer-sweep bar (rate, ETA) on stderr while the exact search runs, for people only."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    columns = (TextColumn("exact search"), BarColumn(), MofNCompleteColumn(),
               TextColumn("layers"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sweep", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def _refine_progress(evals: int, method: str):
    """An evaluations bar with the best score so far on stderr while refining, for people."""
    if not (evals and sys.stderr.isatty()):
        yield None
        return
    columns = (TextColumn(f"refine ({method})"), BarColumn(), MofNCompleteColumn(),
               TextColumn("evaluations, best {task.fields[best]}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("refine", total=evals, best="-")
        yield lambda done, total, best: bar.update(task, completed=done, best=f"{best:.4g}")


def _phase_totals(cost) -> dict[str, dict[str, float]]:
    """Per-phase totals of an LLM generation (layers named ``phase/...``); else empty."""
    phases: dict[str, dict[str, float]] = {}
    for r in cost.layers:
        name, sep, _ = r.layer.name.partition("/")
        if not sep:
            return {}
        acc = phases.setdefault(name, {"seconds": 0.0, "energy_pj": 0.0, "macs": 0.0})
        for key in acc:
            acc[key] += r.repeat * r.cost[key]
    return phases


def _phase_table(phases: dict[str, dict[str, float]], weights: dict[str, float]) -> Table:
    """Each phase's real figures, and with --phase-weights the weighted ones the design was
    chosen on (the totals panel shows the weighted sums)."""
    weighted = any(w != 1.0 for w in weights.values())
    title = "per phase" + (" (design chosen on the weighted totals)" if weighted else "")
    table = Table(title=title)
    headers = ["phase", "GMACs", "ms", "energy mJ", "share of latency"]
    headers += ["weight", "weighted ms", "weighted mJ"] if weighted else []
    for header in headers:
        table.add_column(header, justify="left" if header == "phase" else "right")
    real = {name: {k: v / weights.get(name, 1.0) for k, v in p.items()}
            for name, p in phases.items()}  # fmt: skip
    total = sum(p["seconds"] for p in real.values())
    for name, p in real.items():
        row = [name, f"{p['macs'] / 1e9:,.2f}", f"{p['seconds'] * 1e3:,.3f}",
               f"{p['energy_pj'] * 1e-9:,.3f}", f"{100 * p['seconds'] / total:.1f} %"]  # fmt: skip
        if weighted:
            w = phases[name]
            row += [f"x{weights.get(name, 1.0):g}", f"{w['seconds'] * 1e3:,.3f}",
                    f"{w['energy_pj'] * 1e-9:,.3f}"]  # fmt: skip
        table.add_row(*row)
    return table


def _objective_text(objective: str, value: float, clock_ghz: float = 1.0) -> str:
    """An objective value in the totals panel's units (ms, mJ, mJ·s)."""
    if objective == "latency":  # cycles
        return f"{value / (clock_ghz * 1e6):,.3f} ms"
    if objective == "energy":  # pJ
        return f"{value * 1e-9:,.3f} mJ"
    return f"{value * 1e-9:.4g} mJ·s"  # pJ·s


def _certificate_line(c: dict) -> str:
    if c["certified"]:
        return (f"certified optimum of the grid: no point of the {c['points_in_budget']:,} within "
                f"the budget scores lower ({c['layers']} layer shapes swept, "
                f"{c['points_scored']} points mapped exactly, {c['seconds']:.2f} s)")  # fmt: skip
    return (f"at most {c['gap'] * 100:.1f} % above the grid's optimum (lower bound "
            f"{c['lower_bound']:.4g}; {c['layers_swept']} of {c['layers']} layer shapes swept "
            f"in {c['seconds']:.2f} s)")  # fmt: skip


#: The what-if table's knob names, with their units, short enough for 80 columns.
KNOB_LABELS = {
    "pe_rows": "PE rows", "pe_cols": "PE columns", "l1_bytes": "L1 bytes", "l2_kib": "L2 KiB",
    "noc_words_per_cycle": "NoC words/cyc", "dram_bytes_per_cycle": "DRAM B/cycle",
}  # fmt: skip


def _what_if_table(result) -> Table:
    """Each knob one step up and down: the objective, area and power against the answer."""
    e, total = result.explanation, result.cost.total
    table = Table(title=f"what if (each knob one step; {e['objective']} relative to the answer)")
    for header in ("knob", "move", "value", e["objective"], "area mm²", "power mW", "fits"):
        table.add_column(header, justify="left" if header in ("knob", "move") else "right")
    for w in e["what_if"]:
        ratio = w["objective_ratio"]
        change = "no mapping" if ratio is None else f"{100 * (ratio - 1):+.1f} %"
        area = f"{w['area_mm2']:.2f} ({100 * (w['area_mm2'] / total['area_mm2'] - 1):+.0f} %)"
        knob = KNOB_LABELS.get(w["knob"], w["knob"])
        table.add_row(knob, w["move"], str(w["value"]), change, area,
                      f"{w['power_mw']:.0f}", "yes" if w["fits"] else "no")  # fmt: skip
    return table


def _provenance_panel(result, show_neighbours: bool = False) -> Panel:
    ms = result.timings_ms["total"]
    lines = []
    if result.explanation:
        lines.append(result.explanation["summary"])
    lines.append(f"source: {result.source} · {len(result.candidates)} candidates scored · "
                 f"{ms:.1f} ms")  # fmt: skip
    if result.certificate:
        lines.append(_certificate_line(result.certificate))
    if result.refinement:
        r = result.refinement
        method = {"graybox": "gray-box"}.get(r.get("method"), "BO")
        stopped = " (interrupted)" if r.get("interrupted") else ""
        goal, t = result.cost.objective.value, result.cost.total
        clock_ghz = t["cycles"] / t["seconds"] / 1e9 if t["seconds"] > 0 else 1.0
        before, after = (_objective_text(goal, r[k], clock_ghz) for k in ("before", "after"))
        lines.append(f"refined with {r['evals']} {method} evaluations{stopped}: "
                     f"x{r['improvement']:.3f} ({before} -> {after})")  # fmt: skip
    for n in result.neighbours[:3] if show_neighbours else []:
        lines.append(f"near {n['model']}/{n['layer_name']} ({n['family']}, {n['objective']}): "
                     f"similarity {n['similarity']:.3f}")  # fmt: skip
    return Panel("\n".join(lines), title="why this design", expand=False)


@app.command()
@_user_errors
def pareto(
    model: Model = None,
    layer: LayerOpt = None,
    onnx: OnnxOpt = None,
    layers: LayersOpt = None,
    llm_config: LLMConfigOpt = None,
    batch: Batch = None,
    seq_len: SeqLen = None,
    objective: ObjectiveOpt = "edp",
    resource: Annotated[str, typer.Option(help="Front axis: area or power.")] = "area",
    area_mm2: AreaMm2 = None,
    power_mw: PowerMw = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the front (.png/.svg).")
    ] = None,
    bundle: BundleOpt = None,
    json_out: JsonOut = False,
) -> None:
    """The area (or power) vs objective Pareto front of a workload over the whole grid, with
    the recommended design under the budget marked."""
    goal = designs.parse_objective(objective)
    budget = designs.make_budget(area_mm2, power_mw)
    if resource not in RESOURCES:
        raise ValueError(f"--resource: {resource!r} is not one of {', '.join(RESOURCES)}")
    if plot is not None:
        check_plot_path(plot)
    network = designs.load_workload(model, layer, onnx, layers, llm_config, batch=batch,
                                    seq_len=seq_len)  # fmt: skip
    service = _load_service(bundle)
    with _sweep_progress(True) as progress:
        front = pareto_front(network, service.space, goal, resource, service.tech, progress)
    rec = service.recommend(network, budget, goal)
    field = "area_mm2" if resource == "area" else "power_mw"
    marked = (rec.cost.total[field], rec.score, f"recommended ({rec.cost.total[field]:.1f})")
    if plot is not None:
        from airchitect.plots import plot_front  # matplotlib only when a plot is asked for

        limit = budget.area_mm2 if resource == "area" else budget.power_mw
        plot_front(front, plot, marked, limit)
        typer.echo(f"plot written to {plot}", err=True)
    rows = [{"hw_index": int(i), resource: float(r), goal.value: float(v),
             "hardware": service.space.decode(service.space.unflat_index(int(i))).to_dict()}
            for i, r, v in zip(front.hw_index, front.resource_values, front.objective_values,
                               strict=True)]  # fmt: skip
    if json_out:
        _print_json({"objective": goal.value, "resource": resource, "front": rows,
                     "recommended": {"hw_index": rec.hw_index, resource: marked[0],
                                     goal.value: rec.score}})  # fmt: skip
        return
    table = Table(title=f"{resource} vs {goal.value} front: {len(rows)} designs "
                  f"(every {max(len(rows) // 20, 1)}th shown)")  # fmt: skip
    for header in (resource, goal.value, "design"):
        table.add_column(header, justify="left" if header == "design" else "right")
    for row in rows[:: max(len(rows) // 20, 1)]:
        hw = row["hardware"]
        table.add_row(f"{row[resource]:.2f}", f"{row[goal.value]:.4g}",
                      f"{hw['pe_rows']}x{hw['pe_cols']} {hw['dataflow']}, L1 {hw['l1_bytes']} B, "
                      f"L2 {hw['l2_kib']:g} KiB")  # fmt: skip
    console = _console()
    console.print(table)
    console.print(f"recommended under the budget: {resource} {marked[0]:.2f}, "
                  f"{goal.value} {rec.score:.4g}")  # fmt: skip


@app.command()
@_user_errors
def export(
    model: Annotated[Path, typer.Option(help="A trained run directory or its model.pt.")],
    data: Annotated[Path, typer.Option(help="The dataset it was trained on (neighbours).")],
    out: Annotated[Path, typer.Option(help="Serving bundle directory to write.")],
    max_neighbours: Annotated[
        int, typer.Option(min=1, help="Training rows in the neighbour index (seeded sample).")
    ] = 10_000,
) -> None:
    """Export a trained model to a serving bundle: ONNX + metadata + faiss neighbour index."""
    import torch

    from airchitect.models.bundle import bundle_file
    from airchitect.serve.export import export_bundle

    torch.set_num_threads(1)
    with flag("--model"):
        bundle_file(model)
    meta = export_bundle(model, data, out, max_neighbours)
    e = meta["export"]
    typer.echo(f"bundle written to {out} (ONNX parity {e['parity_max_abs']:.1e}, "
               f"{e['neighbours']:,} neighbours)")  # fmt: skip


@app.command()
@_user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", "--model", help="Serving bundle directory (default: shipped); "
                     "--model is the old, deprecated name."),
    ] = None,  # fmt: skip
    threads: Annotated[int, typer.Option(min=1, help="onnxruntime intra-op threads.")] = 1,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (one per core).")] = 1,
    cache_size: Annotated[
        int, typer.Option(min=0, help="Recommend answers kept per worker; 0: none.")
    ] = 4096,
    keep_alive_s: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds an idle connection stays open (default 75)."),
    ] = None,
    cache_mib: Annotated[
        int, typer.Option(min=0, help="MiB of recommend answers kept per worker.")
    ] = 256,
    request_timeout_s: Annotated[
        float,
        typer.Option(min=0.1, max=86_400, help="Seconds from a request's arrival to its answer "
                     "(searches are cut to fit; 503/504 past it)."),
    ] = 120.0,
    max_body_bytes: Annotated[
        int,
        typer.Option(min=1, max=16 << 20, help="Largest request body (413 past it); an ONNX "
                     "file uploaded from the web page is sent base64, 4/3 of its size."),
    ] = 1_000_000,
    body_timeout_s: Annotated[
        float,
        typer.Option(min=0.1, max=3_600, help="Seconds a client has to send its whole body "
                     "(408 past it)."),
    ] = 30.0,
    graceful_shutdown_s: Annotated[
        float,
        typer.Option(min=0.0, max=3_600, help="On SIGTERM or Ctrl-C, seconds requests in "
                     "flight get to finish before they are cut."),
    ] = 5.0,
) -> None:  # fmt: skip
    """Serve the HTTP API (POST /v1/recommend, /v1/evaluate; GET /v1/health, /v1/space) and the
    web page at /."""
    from airchitect.serve.bundle import DEFAULT_BUNDLE
    from airchitect.serve.http import KEEP_ALIVE_S, run

    run(bundle or DEFAULT_BUNDLE, host, port, threads, workers=workers, cache_size=cache_size,
        keep_alive_s=keep_alive_s or KEEP_ALIVE_S, cache_bytes=cache_mib << 20,
        request_timeout_s=request_timeout_s, max_body_bytes=max_body_bytes,
        body_timeout_s=body_timeout_s, graceful_shutdown_s=graceful_shutdown_s)  # fmt: skip
