"""Build a tech table: query hwcomponents once per component in a separate environment.

hwcomponents and its plug-ins need Python >= 3.12 and a CACTI binary rebuilt for the machine,
so they never become a run-time dependency: :func:`build_table` starts
:mod:`airchitect.cost.tech_query` under the interpreter of that environment, then turns its raw
SI figures into a table (per-16-bit-word pJ, mm^2, mW, ns) with its provenance. The choices it
records (port width, cell type, MAC accumulator width, DRAM type) are documented in
``docs/tech_tables.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airchitect.cost.tech import DEFAULT_TECH
from airchitect.cost.tech_tables import TABLE_FORMAT, TABLE_FORMAT_VERSION, WORD_BITS, check_table
from airchitect.space.space import DesignSpace

#: 64 bits: CACTI models the array directly (hwcomponents scales widths under 32 bits by an
#: empirical factor) and it is Eyeriss's global-buffer bank width. 16 bits is kept beside it.
PORT_BITS = 64
SENSITIVITY_PORT_BITS = 16
MAC_OPERAND_BITS = (8, 16, 32)  # the precisions a layer may have (1, 2 or 4 bytes)
ADDER_BITS_PER_OPERAND_BIT = 2  # the accumulator holds a full product
DRAM_TYPE = "LPDDR4"
DRAM_BUS_BITS = 64
QUERY_TIMEOUT_S = 3600
_NOT_MODELLED = (
    "noc_pj",
    "l1_accesses_per_mac",
    "clock_ghz",
    "noc_mm2_per_word_per_sqrt_pe",
    "dram_phy_mm2_per_byte_per_cycle",
    "leakage_mw_per_mm2",
    "activity",
)
WHY = {
    "port_bits": "64-bit port: CACTI computes it directly (hwcomponents scales ports under 32 "
    "bits by an empirical factor) and it is the width of Eyeriss's global-buffer banks; the "
    "per-word energy is a quarter of an access, i.e. the 4 words of a fetch are all used, as "
    "the model's tiles stream whole lines. 16-bit figures are recorded beside it: 1.8-2.5x.",
    "cell_type": "itrs-lstp cells and peripherals, hwcomponents-cacti's own configuration "
    "(what Accelergy/AccelForge users get); read from the plug-in's cfg at build time.",
    "energy_per_access": "read energy: the cost model has one figure per access and the "
    "references quote reads; write energies are recorded.",
    "mac": "Aladdin integer MAC, multiplier at the operand width, adder twice as wide.",
    "dram": "LPDDR4 at 8 pJ/bit (hwcomponents-cacti's figure), a 64-bit bus.",
}


def space_sram_bytes(spaces: Iterable[DesignSpace]) -> list[int]:
    """Every L1 (bytes) and L2 (KiB) size of the spaces, in bytes, sorted."""
    sizes: set[int] = set()
    for space in spaces:
        knobs = {k.name: k.values for k in space.knobs}
        sizes.update(int(v) for v in knobs["l1_bytes"])
        sizes.update(int(round(float(v) * 1024)) for v in knobs["l2_kib"])
    return sorted(sizes)


def query(python: str | Path, request: dict[str, Any]) -> dict[str, Any]:
    """Run the query worker under ``python`` (the hwcomponents environment)."""
    worker = Path(__file__).with_name("tech_query.py")
    with tempfile.TemporaryDirectory(prefix="airchitect-tech-") as tmp:
        req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req.write_text(json.dumps(request))
        try:
            done = subprocess.run(
                [str(python), str(worker), str(req), str(res)],
                capture_output=True,
                text=True,
                timeout=QUERY_TIMEOUT_S,
            )
        except FileNotFoundError:
            raise ValueError(f"--python {str(python)!r}: no such interpreter") from None
        except subprocess.TimeoutExpired:
            raise ValueError(f"hwcomponents query ran past {QUERY_TIMEOUT_S} s") from None
        if done.returncode != 0:
            lines = [x for x in done.stderr.splitlines() if x.strip()] or ["(no message)"]
            raise ValueError(f"hwcomponents query failed under {python}: {lines[-1].strip()}")
        return json.loads(res.read_text())


def _sram_row(raw: dict[str, Any]) -> dict[str, Any]:
    words = raw["port_bits"] / WORD_BITS
    return {
        "size_bytes": raw["size_bytes"],
        "port_bits": raw["port_bits"],
        "rows": raw["rows"],
        "read_pj_per_word": raw["read_j"] * 1e12 / words,
        "write_pj_per_word": raw["write_j"] * 1e12 / words,
        "read_pj_per_access": raw["read_j"] * 1e12,
        "write_pj_per_access": raw["write_j"] * 1e12,
        "area_mm2": raw["area_m2"] * 1e6,
        "leakage_mw": raw["leak_w"] * 1e3,
        "cycle_ns": raw["cycle_s"] * 1e9,
        "access_ns": raw["access_s"] * 1e9,
        "scaled_by_hwcomponents": raw["scaled_by_hwcomponents"],
    }


def to_table(raw: dict[str, Any], node_nm: int, request: dict, spaces: dict, command: str) -> dict:
    """The versioned table: figures in the cost model's units plus where each came from."""
    dram = raw["dram"]
    pj_per_bit = dram["access_j"] * 1e12 / dram["bus_bits"]
    table = {
        "format": TABLE_FORMAT,
        "format_version": TABLE_FORMAT_VERSION,
        "name": f"cacti-{node_nm}nm",
        "node_nm": node_nm,
        "word_bits": WORD_BITS,
        "provenance": {
            "built_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command,
            "python": raw["python"],
            "tools": raw["tools"],
            "cacti": raw["cacti"],
            "sram_model": "hwcomponents_cacti.SRAM (CACTI): 1 read/write port, 1 bank",
            "mac_model": "hwcomponents_library.AladdinIntMAC (Aladdin, ISCA'14; 40 nm data "
            "scaled to the node by hwcomponents)",
            "dram_model": f"hwcomponents_cacti.{dram['type']}",
            "spaces": spaces,
            "request": request,
        },
        "choices": {
            "port_bits": PORT_BITS,
            "cell_type": raw["cacti"]["data_cell_type"],
            "peripheral_type": raw["cacti"]["data_peripheral_type"],
            "energy_per_access": "read",
            "mac_adder_bits_per_operand_bit": ADDER_BITS_PER_OPERAND_BIT,
            "dram_type": dram["type"],
            "dram_bus_bits": dram["bus_bits"],
            "why": WHY,
        },
        "sram": [_sram_row(r) for r in raw["sram"]],
        "mac": [
            {
                "operand_bits": m["operand_bits"],
                "adder_bits": m["adder_bits"],
                "pj": m["mac_j"] * 1e12,
                "area_mm2": m["area_m2"] * 1e6,
                "leakage_mw": m["leak_w"] * 1e3,
            }
            for m in raw["mac"]
        ],
        "dram": {
            "type": dram["type"],
            "bus_bits": dram["bus_bits"],
            "pj_per_bit": pj_per_bit,
            "pj_per_word": pj_per_bit * WORD_BITS,
        },
        "not_modelled": {
            "source": "airchitect/cost/tech.py (hand-written): hwcomponents models none of these",
            **{k: getattr(DEFAULT_TECH, k) for k in _NOT_MODELLED},
        },
    }
    check_table(table, table["name"])
    return table


def build_table(
    python: str | Path, node_nm: int, spaces: dict[str, DesignSpace], command: str
) -> dict[str, Any]:
    """Query every buffer size of ``spaces`` (name -> space) at ``node_nm`` and build the table."""
    if node_nm not in (22, 32, 45, 65, 90):
        raise ValueError(
            f"--node-nm must be one CACTI knows natively (22, 32, 45, 65, 90), got {node_nm}"
        )
    request = {
        "node_nm": node_nm,
        "sram_bytes": space_sram_bytes(spaces.values()),
        "port_bits": [PORT_BITS, SENSITIVITY_PORT_BITS],
        "mac_operand_bits": list(MAC_OPERAND_BITS),
        "adder_bits_per_operand_bit": ADDER_BITS_PER_OPERAND_BIT,
        "dram_type": DRAM_TYPE,
        "dram_bus_bits": DRAM_BUS_BITS,
    }
    raw = query(python, request)
    hashes = {name: space.hash for name, space in spaces.items()}
    return to_table(raw, node_nm, request, hashes, command)


def write_table(table: dict[str, Any], path: Path) -> None:
    """Write atomically: a temp file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
