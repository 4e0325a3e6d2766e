"""``airchitect tech ...``: the technology tables behind energy, area and power.

Registered on the main app by :mod:`airchitect.cli`. ``list`` and ``show`` read shipped data
only (no hwcomponents, any Python the project runs on); ``build`` drives a separate
Python >= 3.12 environment that has hwcomponents (``docs/tech_tables.md``).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from airchitect.cli import JsonOut, _console, _print_json, _user_errors, app

tech_app = typer.Typer(
    help="Technology tables (CACTI/hwcomponents builds and the hand-written default).",
    no_args_is_help=True,
)
app.add_typer(tech_app, name="tech")


@tech_app.command("list")
@_user_errors
def tech_list(json_out: JsonOut = False) -> None:
    """The tables a space or a run can name; the default is marked."""
    from airchitect.cost.tech_tables import summaries

    rows = summaries()
    if json_out:
        _print_json(rows)
        return
    table = Table("name", "node", "source", "built (UTC)", "default")
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['node_nm']:g} nm",
            r["source"],
            r["built"],
            "yes" if r["default"] else "",
        )
    _console().print(table)


@tech_app.command("show")
@_user_errors
def tech_show(
    name: Annotated[str, typer.Argument(help="A name from `tech list`, or a table .json file.")],
    json_out: JsonOut = False,
) -> None:
    """One table: its provenance and choices, and the figures the cost model uses."""
    from airchitect.cost.tech_show import describe, figure_rows

    info = describe(name)
    if json_out:
        _print_json(info)
        return
    console = _console()
    for key, value in info["summary"].items():
        console.print(f"{key}: {value}")
    for title, (header, rows) in figure_rows(info).items():
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)


@tech_app.command("build")
@_user_errors
def tech_build(
    python: Annotated[
        Path, typer.Option(help="Interpreter of a Python >= 3.12 env with hwcomponents.")
    ],
    node_nm: Annotated[int, typer.Option(help="Technology node in nm (22, 32, 45, 65, 90).")],
    out: Annotated[
        Path | None, typer.Option(help="Table file (default: the shipped cacti-<node>nm.json).")
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(help="Space(s) whose buffer sizes to query (default: every shipped one)."),
    ] = None,
) -> None:
    """Query CACTI and the component library once per component; write a versioned table."""
    from airchitect.cost.tech_build import build_table, write_table
    from airchitect.cost.tech_tables import shipped_dir
    from airchitect.space import PACKAGED_SPACES, DesignSpace

    if space:
        spaces = {Path(s).name: DesignSpace.named(s) for s in space}
    else:
        from airchitect.data_gen.airchitect_v2 import SPACE_PATH

        spaces = {f"{n}.yaml": DesignSpace.named(n) for n in PACKAGED_SPACES}
        spaces[f"data_gen/spaces/{SPACE_PATH.name}"] = DesignSpace.from_yaml(SPACE_PATH)
    args = ["airchitect", "tech", "build", "--python", str(python), "--node-nm", str(node_nm)]
    args += [a for s in space or [] for a in ("--space", s)]
    command = shlex.join(args + (["--out", str(out)] if out else []))
    out = out or shipped_dir() / f"cacti-{node_nm}nm.json"
    table = build_table(python, node_nm, spaces, command)
    write_table(table, out)
    typer.echo(f"wrote {out}: {table['name']}, {len(table['sram'])} SRAM figures")
