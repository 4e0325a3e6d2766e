"""The ``airchitect`` command: flags in, library calls, tables or JSON out.

No modelling happens here. Input handling lives in :mod:`airchitect.designs`, costs in
:mod:`airchitect.cost`; this module parses flags, calls them and prints. Every user error
(a bad flag value, a malformed file) becomes one ``error: ...`` line on stderr and exit code 2,
the code Typer already uses for its own usage errors.
"""

import functools
import json
import os
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from airchitect import designs
from airchitect.cost.mapper import OBJECTIVE_FIELD
from airchitect.cost.network import NetworkCost, evaluate_network
from airchitect.plot_paths import check_plot_path
from airchitect.search.analysis import analyse
from airchitect.space import DesignSpace, HardwareConfig
from airchitect.workloads import Network, list_llm_configs, list_networks, load_llm_config

app = typer.Typer(
    help="Instant design-space tooling for DNN accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
space_app = typer.Typer(help="Inspect and sample the hardware design space.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"airchitect {metadata.version('airchitect')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Instant design-space tooling for DNN accelerators."""


workloads_app = typer.Typer(no_args_is_help=True)  # help: the callback's docstring
app.add_typer(space_app, name="space")
app.add_typer(workloads_app, name="workloads")

_LEVELS = ("mac", "l1", "noc", "l2", "dram")

# -- shared options --------------------------------------------------------------------------------
Model = Annotated[str | None, typer.Option(help="Zoo network (see `workloads list`).")]
LLMConfigOpt = Annotated[
    str | None, typer.Option("--llm-config", help="Shipped LLM config name or a config.json.")
]
Batch = Annotated[int | None, typer.Option(help="Batch size (sequences for LLMs).")]
SeqLen = Annotated[int | None, typer.Option(help="Tokens per sequence (transformers, LLMs).")]
Phase = Annotated[str | None, typer.Option(help="LLM phase: prefill or decode.")]
ContextLen = Annotated[int | None, typer.Option(help="Cached tokens in decode (LLMs).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON to stdout and nothing else.")]
SpaceOpt = Annotated[str, typer.Option("--space", help="default, reduced or a space YAML file.")]
AreaMm2 = Annotated[float | None, typer.Option(help="Area budget in mm².")]
PowerMw = Annotated[float | None, typer.Option(help="Power budget in mW.")]
LayerOpt = Annotated[
    str | None, typer.Option(help='One layer, e.g. "k=64,c=64,p=56,q=56,r=3,s=3,op=conv".')
]
OnnxOpt = Annotated[Path | None, typer.Option(help="An ONNX model file.")]
LayersOpt = Annotated[Path | None, typer.Option(help="A CSV or YAML layer table.")]
ObjectiveOpt = Annotated[str, typer.Option(help="latency, energy or edp.")]
TopOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Table shows only the N costliest layers (default: 20 when over 30)."),
]


def _fail(message: str) -> NoReturn:
    # one line: YAML and protobuf errors span several, and scripts grep the first
    text = " ".join(line.strip() for line in message.splitlines() if line.strip())
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(2)


def _user_errors(command):
    """Turn bad input (every library input error is a ValueError) into ``error:`` + exit 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings(record=True) as caught:
                try:
                    return command(*args, **kwargs)
                finally:  # library warnings (skipped ONNX ops) as single lines, before any error
                    for w in caught:
                        typer.echo(f"warning: {w.message}", err=True)
        except (ValueError, OSError) as exc:
            _fail(str(exc))

    return wrapper


def _console() -> Console:
    # piped output would otherwise wrap at 80 columns and fold the per-layer table
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 140
    return Console(width=width, markup=False, highlight=False)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=designs.as_json))


def _design_text(hw: HardwareConfig) -> str:
    return (
        f"{hw.pe_rows}x{hw.pe_cols} {hw.dataflow.name.lower()} · L1 {hw.l1_bytes:g} B · "
        f"L2 {hw.l2_kib:g} KiB · NoC {hw.noc_words_per_cycle:g} words/cycle · "
        f"DRAM {hw.dram_bytes_per_cycle:g} B/cycle"
    )


# -- evaluate --------------------------------------------------------------------------------------


@app.command()
@_user_errors
def evaluate(
    model: Model = None,
    layer: LayerOpt = None,
    onnx: OnnxOpt = None,
    layers: LayersOpt = None,
    llm_config: LLMConfigOpt = None,
    batch: Batch = None,
    seq_len: SeqLen = None,
    phase: Phase = None,
    context_len: ContextLen = None,
    design: Annotated[Path | None, typer.Option(help="Design file (YAML/JSON, 7 knobs).")] = None,
    preset: Annotated[
        str | None, typer.Option(help=f"Named design: {', '.join(designs.PRESETS)}.")
    ] = None,
    pe_rows: Annotated[int | None, typer.Option(help="PE array rows.")] = None,
    pe_cols: Annotated[int | None, typer.Option(help="PE array columns.")] = None,
    l1_bytes: Annotated[int | None, typer.Option(help="Per-PE L1 size in bytes.")] = None,
    l2_kib: Annotated[float | None, typer.Option(help="Shared L2 size in KiB.")] = None,
    noc_words_per_cycle: Annotated[float | None, typer.Option(help="NoC words/cycle.")] = None,
    dram_bytes_per_cycle: Annotated[float | None, typer.Option(help="DRAM bytes/cycle.")] = None,
    dataflow: Annotated[str | None, typer.Option(help="ws, os, is or rs.")] = None,
    objective: Annotated[str, typer.Option(help="Mapper objective: latency, energy, edp.")] = "edp",
    area_mm2: AreaMm2 = None,
    power_mw: PowerMw = None,
    top: TopOpt = None,
    json_out: JsonOut = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write roofline, latency/energy split and what-if (.png/.svg)."
        ),
    ] = None,
) -> None:
    """Cost of a workload on one design: the best mapping per layer, costs summed.

    Design: --design or --preset or the default 16x16 ws design; knob flags override it.
    """
    if plot is not None:
        check_plot_path(plot)
    hw = designs.resolve_design(
        design,
        preset,
        {"pe_rows": pe_rows, "pe_cols": pe_cols, "l1_bytes": l1_bytes, "l2_kib": l2_kib,
         "noc_words_per_cycle": noc_words_per_cycle, "dram_bytes_per_cycle": dram_bytes_per_cycle,
         "dataflow": dataflow},
    )  # fmt: skip
    goal = designs.parse_objective(objective)
    budget = designs.budget_report(hw, designs.make_budget(area_mm2, power_mw))
    network = designs.load_workload(
        model, layer, onnx, layers, llm_config,
        batch=batch, seq_len=seq_len, phase=phase, context_len=context_len,
    )  # fmt: skip
    result = evaluate_network(network, hw, goal)
    if plot is not None:  # the what-if steps along the default space's grid
        from airchitect.plots import plot_design  # matplotlib only when a plot is asked for

        analysis = analyse(result, DesignSpace.default(), designs.make_budget(area_mm2, power_mw))
        plot_design(result, analysis, plot)
        typer.echo(f"plot written to {plot}", err=True)
    if json_out:
        _print_json(result.to_dict() | {"budget": budget})
        return
    console = _console()
    console.print(_totals_panel(result, budget))  # the design first, then its layers
    console.print(_layer_cost_table(result, top, console.width))


def _mapping_text(m: dict) -> str:
    return (
        f"N{m['n_l2']} P{m['p_l2']} K{m['k_l2']} C{m['c_l2']} r{m['pe_reuse']} "
        f"{m['dram_loop_order']}"
    )


#: Long answers show the costliest layers only unless --top says otherwise.
DEFAULT_TOP_LAYERS, LONG_ANSWER_LAYERS = 20, 30
MAPPING_LEGEND = (
    "mapping: L2 tile extents of N (batch), P (output rows), K (output channels), C (input "
    "channels); rN: operands one PE keeps in L1 (PE reuse); order: DRAM loops outermost first, "
    "X = output pixels, K = output channels, F = reduction C·R·S"
)


#: Narrower consoles get the compact table: no cycles or mapping columns, counts with SI prefixes.
WIDE_TABLE_COLUMNS = 120


def _si(value: float) -> str:
    """``115.6M``, ``2.1G``, ``950``: a count in at most six characters."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{prefix}"
    return f"{value:.0f}"


def _layer_cost_table(result: NetworkCost, top: int | None, width: int = 200) -> Table:
    """The per-layer table; under :data:`WIDE_TABLE_COLUMNS` columns of ``width`` it keeps what
    fits 80 columns (layer, op, MACs, ms, energy, utilisation, bound) and says where the rest is."""
    rows = list(result.layers)
    title = f"{result.network}: best mapping per layer ({result.objective.value})"
    if top is None and len(rows) > LONG_ANSWER_LAYERS:
        top = DEFAULT_TOP_LAYERS
    if top is not None and top < len(rows):
        # rank by what the mapper minimised, so "costliest" means the same as the objective
        key = OBJECTIVE_FIELD[result.objective]
        rows = sorted(rows, key=lambda r: r.cost[key], reverse=True)[:top]
        title += f", top {top} of {len(result.layers)} by {key} (--top N for more)"
    wide = width >= WIDE_TABLE_COLUMNS
    caption = MAPPING_LEGEND if wide else (
        f"cycles and mappings: at {WIDE_TABLE_COLUMNS}+ columns (COLUMNS={WIDE_TABLE_COLUMNS}) "
        "or in --json"
    )  # fmt: skip
    table = Table(title=title, caption=caption)
    table.add_column("layer", no_wrap=True, overflow="fold")
    table.add_column("op", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    if wide:
        table.add_column("cycles", justify="right")
    for header in ("ms", "energy µJ", "util %"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("bound", no_wrap=True)
    if wide:
        table.add_column("mapping N P K C reuse order")
    for r in rows:
        c = r.cost
        cells = [r.layer.name, r.layer.op.value, f"{c['macs']:,}" if wide else _si(c["macs"])]
        if wide:
            cells.append(f"{c['cycles']:,.0f}")
        cells += [f"{c['seconds'] * 1e3:.3f}", f"{c['energy_pj'] * 1e-6:,.1f}",
                  f"{c['utilization'] * 100:.1f}", c["bound"]]  # fmt: skip
        if wide:
            cells.append(_mapping_text(r.mapping))
        table.add_row(*cells)
    return table


def _totals_panel(result: NetworkCost, budget: dict) -> Panel:
    t = result.total
    shares = " · ".join(
        f"{lvl} {100 * t[f'energy_{lvl}_pj'] / t['energy_pj']:.1f}%" for lvl in _LEVELS
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (
        ("design", _design_text(result.hardware)),
        ("layers", f"{len(result.layers)} ({t['macs'] / 1e9:,.3f} GMACs)"),
        ("latency", f"{t['seconds'] * 1e3:,.3f} ms ({t['cycles']:,.0f} cycles)"),
        ("energy", f"{t['energy_pj'] * 1e-9:,.3f} mJ ({shares})"),
        ("EDP", f"{t['edp'] * 1e-9:.4g} mJ·s"),
        ("area", f"{t['area_mm2']:.2f} mm²"),
        ("power", f"{t['power_mw']:.1f} mW"),
        ("utilisation", f"{t['utilization'] * 100:.1f} %"),
        ("bound", f"{t['bound']} (the level bounding most cycles)"),
        ("budget", _budget_text(budget, t)),
    ):
        grid.add_row(label, value)
    return Panel(grid, title=f"{result.network} total", expand=False)


def _budget_text(budget: dict, total: dict) -> str:
    over = budget["exceeded"]
    checks = [
        f"{axis} {total[key]:.2f} {'>' if axis in over else '<='} {budget[key]:g} {unit}"
        for axis, key, unit in (("area", "area_mm2", "mm²"), ("power", "power_mw", "mW"))
        if budget[key] is not None
    ]
    if not checks:
        return "none given"
    verdict = "fits" if budget["feasible"] else "EXCEEDED: " + " and ".join(budget["exceeded"])
    return f"{verdict} ({'; '.join(checks)})"


# -- space -----------------------------------------------------------------------------------------


@space_app.command("describe")
@_user_errors
def space_describe(
    space: SpaceOpt = "default",
    model: Model = None,
    batch: Batch = None,
    seq_len: SeqLen = None,
    json_out: JsonOut = False,
) -> None:
    """Knobs, their values, grid size, mapping options and hash; with --model its joint size."""
    ds = DesignSpace.named(space)
    info = ds.describe()
    if model is not None:
        net = designs.load_workload(model=model, batch=batch, seq_len=seq_len)
        info["model"] = designs.largest_layer_sizes(ds, net)
    if json_out:
        _print_json(info)
        return
    table = Table(title=f"space {info['name']} ({info['source']})")
    for header in ("knob", "kind", "#", "values"):
        table.add_column(header)
    for knob in info["knobs"]:
        values = ", ".join(str(v) for v in knob["values"])
        table.add_row(knob["name"], knob["kind"], str(knob["cardinality"]), values)
    console = _console()
    console.print(table)
    console.print(f"hardware points: {info['size']:,}")
    console.print(f"mapping options: {info['mapping']}")
    console.print(f"hash: {info['hash']}")
    if "model" in info:
        m = info["model"]
        console.print(
            f"{m['name']}: largest layer {m['largest_layer']} ({m['macs']:,} MACs): "
            f"{m['mapping_size']:,} mappings per design, joint space {m['joint_size']:,} "
            f"({m['joint_size']:.2e})"
        )


@space_app.command("sample")
@_user_errors
def space_sample(
    n: Annotated[int, typer.Option("--n", min=1, help="Points to sample.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same points).")] = 0,
    space: SpaceOpt = "default",
    area_mm2: AreaMm2 = None,
    power_mw: PowerMw = None,
    json_out: JsonOut = False,
) -> None:
    """Uniformly sampled hardware points with area, power and budget feasibility."""
    ds = DesignSpace.named(space)
    budget = designs.make_budget(area_mm2, power_mw)
    points = designs.sample_points(ds, n, seed, budget)
    if json_out:
        _print_json({"space": ds.name, "hash": ds.hash, "seed": seed,
                     "budget": budget.to_dict(), "points": points})  # fmt: skip
        return
    table = Table(title=f"{n} points from space {ds.name} (seed {seed})")
    headers = ("rows", "cols", "L1 B", "L2 KiB", "NoC w/cyc", "DRAM B/cyc", "dataflow")
    for header in (*headers, "area mm²", "power mW", "fits"):
        table.add_column(header, justify="right")
    for p in points:
        fits = "yes" if p["feasible"] else "no: " + ", ".join(p["exceeded"])
        values = [f"{v:g}" if isinstance(v, float) else str(v) for v in p["hardware"].values()]
        table.add_row(*values, f"{p['area_mm2']:.2f}", f"{p['power_mw']:.1f}", fits)
    _console().print(table)


# -- workloads -------------------------------------------------------------------------------------


@workloads_app.command("list")
@_user_errors
def workloads_list(json_out: JsonOut = False) -> None:
    """Zoo networks (family, layers, GMACs at batch 1) and the shipped LLM configs."""
    nets = [designs.load_workload(model=name) for name in list_networks()]
    configs = [load_llm_config(name) for name in list_llm_configs()]
    if json_out:
        _print_json({
            "networks": [{"name": n.name, "family": n.family, "layers": len(n),
                          "macs": n.macs} for n in nets],
            "llm_configs": [{"name": c.name, "family": c.family, "layers": c.num_hidden_layers,
                             "hidden_size": c.hidden_size, "heads": c.num_attention_heads,
                             "kv_heads": c.num_key_value_heads, "experts": c.num_local_experts}
                            for c in configs],
        })  # fmt: skip
        return
    zoo = Table(title="zoo networks (batch 1, builder defaults)")
    for header in ("name", "family", "layers", "GMACs"):
        zoo.add_column(header, justify="right" if header in ("layers", "GMACs") else "left")
    for n in nets:
        zoo.add_row(n.name, n.family, str(len(n)), f"{n.macs / 1e9:,.3f}")
    llms = Table(title="LLM configs (--llm-config NAME)")
    for header in ("name", "family", "layers", "hidden", "heads", "kv heads", "experts"):
        llms.add_column(header, justify="left" if header in ("name", "family") else "right")
    for c in configs:
        llms.add_row(c.name, c.family, str(c.num_hidden_layers), str(c.hidden_size),
                     str(c.num_attention_heads), str(c.num_key_value_heads),
                     str(c.num_local_experts or "-"))  # fmt: skip
    console = _console()
    console.print(zoo)
    console.print(llms)


# the spelling is --seq; --seq-len matches `evaluate` and `space describe`
SeqAlias = Annotated[
    int | None, typer.Option("--seq-len", "--seq", help="Tokens per sequence (transformers, LLMs).")
]


@workloads_app.callback(invoke_without_command=True)
@_user_errors
def workloads_main(
    ctx: typer.Context,
    llm_config: LLMConfigOpt = None,
    batch: Batch = None,
    seq_len: SeqAlias = None,
    phase: Phase = None,
    context_len: ContextLen = None,
    json_out: JsonOut = False,
) -> None:
    """The model zoo, LLM configs and importers.

    Without a command, --llm-config shows that LLM's layers (the same as `workloads show`):
    airchitect workloads --llm-config llama-3-8b --phase prefill --batch 1 --seq 2048
    """
    given = {"--llm-config": llm_config, "--batch": batch, "--seq-len": seq_len, "--phase": phase,
             "--context-len": context_len, "--json": json_out or None}  # fmt: skip
    used = [flag for flag, value in given.items() if value is not None]
    if ctx.invoked_subcommand is not None:
        if used:
            _fail(f"{', '.join(used)}: give options after the command "
                  f"(airchitect workloads {ctx.invoked_subcommand} ...)")  # fmt: skip
        return
    if llm_config is None:
        _fail("--llm-config: give an LLM config, or a command: list, show or import")
    _show_workload(None, llm_config, json_out, batch=batch, seq_len=seq_len, phase=phase,
                   context_len=context_len)  # fmt: skip


@workloads_app.command("show")
@_user_errors
def workloads_show(
    name: Annotated[str | None, typer.Argument(help="Zoo network name.")] = None,
    llm_config: LLMConfigOpt = None,
    batch: Batch = None,
    seq_len: SeqAlias = None,
    phase: Phase = None,
    context_len: ContextLen = None,
    json_out: JsonOut = False,
) -> None:
    """A zoo network's or an LLM config's layers as loop nests."""
    if (name is None) == (llm_config is None):
        _fail("give exactly one workload: a zoo network NAME or --llm-config")
    _show_workload(name, llm_config, json_out, batch=batch, seq_len=seq_len, phase=phase,
                   context_len=context_len)  # fmt: skip


def _show_workload(name: str | None, llm_config: str | None, json_out: bool, **shape: Any) -> None:
    network = designs.load_workload(model=name, llm_config=llm_config, **shape)
    _print_network(network, json_out)


@workloads_app.command("import")
@_user_errors
def workloads_import(
    file: Annotated[Path, typer.Argument(help="An .onnx model or a .csv/.yaml layer table.")],
    batch: Annotated[int | None, typer.Option(help="Batch size (ONNX only).")] = None,
    json_out: JsonOut = False,
) -> None:
    """Read an ONNX model or a CSV/YAML layer table and show its layers."""
    _print_network(designs.import_workload(file, batch), json_out)


def _print_network(network: Network, json_out: bool) -> None:
    if json_out:
        _print_json({
            "name": network.name, "family": network.family, "macs": network.macs,
            "layers": [layer.to_dict() | {"macs": layer.macs} for layer in network],
        })  # fmt: skip
        return
    table = Table(title=f"{network.name} ({network.family}): {len(network)} layers, "
                        f"{network.macs / 1e9:,.3f} GMACs")  # fmt: skip
    table.add_column("name")
    table.add_column("op")
    for header in ("N", "K", "C", "P", "Q", "R", "S", "stride", "groups", "MACs"):
        table.add_column(header, justify="right")
    for x in network:
        dims = (x.n, x.k, x.c, x.p, x.q, x.r, x.s, x.stride, x.groups)
        table.add_row(x.name, x.op.value, *map(str, dims), f"{x.macs:,}")
    _console().print(table)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``airchitect``) and ``python -m airchitect``.

    A last guard: an exception no command turned into an ``error:`` line (a bug, or input no
    check foresaw) prints one line and exit code 1, not a traceback; ``--debug`` anywhere on
    the command line (or ``AIRCHITECT_DEBUG=1``) shows the traceback instead.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("AIRCHITECT_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="airchitect")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # not SystemExit: Typer's own exits and usage errors pass
        if debug:
            raise
        text = " ".join(str(exc).split())[:300] or "(no message)"
        typer.echo(f"error: unexpected {type(exc).__name__}: {text} "
                   "(run again with --debug for the traceback)", err=True)  # fmt: skip
        sys.exit(1)


# The dataset and model commands live in their own modules; importing registers them on ``app``.
from airchitect import cli_cosearch, cli_data, cli_models, cli_serve, cli_tech  # noqa: E402, F401
