"""``airchitect generate`` and ``airchitect data ...``: dataset generation and inspection.

Registered on the main app by :mod:`airchitect.cli`; the same rule holds: flags in, library
calls (``data_gen``), tables or JSON out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from airchitect.cli import _console, _fail, _print_json, _user_errors, app

data_app = typer.Typer(help="Validate, summarise and import datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

Dir = Annotated[Path, typer.Argument(help="A dataset directory (_manifest.json + Parquet shards).")]


@app.command()
@_user_errors
def generate(
    out: Annotated[Path, typer.Option(help="Output directory; an unfinished one resumes.")],
    n: Annotated[int, typer.Option(help="Rows: (workload, budget, objective) labels.")] = 2000,
    workloads: Annotated[
        str, typer.Option(help="Sources: zoo, llm, synthetic, joined by +.")
    ] = "zoo+synthetic",
    space: Annotated[str, typer.Option(help="default, reduced or a space YAML.")] = "default",
    labeller: Annotated[str, typer.Option(help="exhaustive bo random ga graybox")] = "exhaustive",
    budget_evals: Annotated[int, typer.Option(help="Evaluations per label (bo/random/ga).")] = 100,
    shards: Annotated[int, typer.Option(help="Shards; 0 = one per 100 rows.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    top_k: Annotated[int, typer.Option(help="Runner-up designs kept per row.")] = 8,
    budgets_per_workload: Annotated[
        int, typer.Option(help="Budgets per workload (x 3 objectives).")
    ] = 3,
    executor: Annotated[str, typer.Option(help="process (local) or ray.")] = "process",
    workers: Annotated[int, typer.Option(help="Worker processes (1 thread each).")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (--executor ray).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Label workloads with the cost model and a search into a sharded Parquet dataset."""
    from airchitect.data_gen.generate import GeneratorConfig
    from airchitect.data_gen.pipeline import generate as run

    config = GeneratorConfig(n=n, workloads=workloads, space=space, labeller=labeller,
                             budget_evals=budget_evals, shards=shards, seed=seed, top_k=top_k,
                             budgets_per_workload=budgets_per_workload)  # fmt: skip
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    try:
        summary = run(config, out, executor, workers, address, progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished shards are kept in {out}; run the same command "
                   "again to resume", err=True)  # fmt: skip
        raise typer.Exit(130) from None
    typer.echo(
        f"{summary.rows_total:,} rows in {summary.shards_total} shards at {out} "
        f"({summary.rows_written:,} new, {summary.shards_skipped} shards already done"
        f"{f', {summary.shards_repaired} repaired' if summary.shards_repaired else ''}; "
        f"{summary.rows_per_minute:,.0f} rows/min)"
    )


@data_app.command()
@_user_errors
def validate(directory: Dir) -> None:
    """Check a dataset against its manifest: files, checksums, schema, designs on the grid."""
    from airchitect.data_gen.dataset import validate_dataset

    problems = validate_dataset(directory)
    if problems:
        for problem in problems:
            typer.echo(f"invalid: {problem}", err=True)
        raise typer.Exit(1)
    from airchitect.data_gen.manifest import Manifest

    manifest = Manifest.load(directory)
    rows = sum(s["rows"] for s in manifest.shards.values())
    typer.echo(f"valid: {rows:,} rows in {len(manifest.shards)} shards ({directory})")


@data_app.command()
@_user_errors
def stats(
    directory: Dir,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Summarise a dataset: sources, objectives, label distribution, coverage of the space."""
    from airchitect.data_gen.dataset import dataset_stats, format_stats

    result = dataset_stats(directory)
    if json_out:
        _print_json(result)
    else:
        _console().print(format_stats(result))


@data_app.command()
@_user_errors
def migrate(directory: Dir) -> None:
    """Move an older dataset's manifest.json to _manifest.json, where Parquet readers skip it."""
    from airchitect.data_gen.manifest import migrate as run

    path = run(directory)
    typer.echo(f"migrated: {path}" if path else f"already current: {directory}")


@data_app.command("import")
@_user_errors
def import_(
    files: Annotated[list[Path], typer.Argument(help="Files to import.")],
    out: Annotated[Path, typer.Option(help="Output dataset directory.")],
    format: Annotated[
        str, typer.Option("--format", help="Input format: airchitect-v2.")
    ] = "airchitect-v2",
    shards: Annotated[int, typer.Option(help="Shards to write.")] = 1,
    skip_degenerate: Annotated[
        bool,
        typer.Option(
            help="Leave out (and count) rows that describe no layer (conv kernel larger than "
            "the input, GEMM with a zero dimension); by default they are kept, flagged by "
            "found=false and label_method airchitect-v2-degenerate."
        ),
    ] = False,
    mapper: Annotated[
        str,
        typer.Option(
            help="How our cost model maps each label design: reduced (vectorised, seconds) "
            "or full (the exhaustive per-layer mapper, about 10 ms a row)."
        ),
    ] = "reduced",
) -> None:
    """Import a public dataset into this project's schema (with its own design space)."""
    if format != "airchitect-v2":
        _fail(f"--format must be one of airchitect-v2, got {format!r}")
    from airchitect.data_gen.airchitect_v2 import import_v2

    summary = import_v2(  # locks ``out``: one writer per dataset directory
        list(files), out, shards=shards, skip_degenerate=skip_degenerate, mapper=mapper
    )
    _print_json(summary)
