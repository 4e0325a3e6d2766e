"""What ``airchitect tech show`` prints: a table's provenance and the figures the model uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airchitect.cost.tech import DEFAULT_TECH
from airchitect.cost.tech_build import SENSITIVITY_PORT_BITS
from airchitect.cost.tech_tables import HANDWRITTEN, WORD_BITS, read_table, sram_rows

# The hand-written table is a law, not a list: show it at the default space's sizes.
_HAND_L1_BYTES = (32, 64, 128, 256, 512, 1024)
_HAND_L2_KIB = (16, 32, 64, 128, 256, 512, 1024, 2048)


def _handwritten() -> dict[str, Any]:
    t = DEFAULT_TECH
    sram = [
        {
            "size_bytes": b,
            "level": "L1",
            "read_pj_per_word": float(t.l1_pj(b)),
            "area_mm2": b * t.l1_mm2_per_byte,
        }
        for b in _HAND_L1_BYTES
    ]
    sram += [
        {
            "size_bytes": k * 1024,
            "level": "L2",
            "read_pj_per_word": float(t.l2_pj(k)),
            "area_mm2": k * t.l2_mm2_per_kib,
        }
        for k in _HAND_L2_KIB
    ]
    return {
        "name": HANDWRITTEN,
        "node_nm": t.node_nm,
        "default": True,
        "summary": {
            "name": HANDWRITTEN,
            "node": f"{t.node_nm:g} nm (class)",
            "default": "yes",
            "source": "airchitect/cost/tech.py: Eyeriss ISCA'16 ratios, SRAM energy as the "
            "square root of size, areas calibrated to Eyeriss's 12.25 mm^2 core",
        },
        "sram": sram,
        "mac": [
            {
                "operand_bits": WORD_BITS,
                "pj": t.mac_pj,
                "area_mm2": t.pe_logic_mm2,
                "note": "area is a whole PE's logic (MAC, control, registers)",
            }
        ],
        "dram": {"pj_per_word": t.dram_pj},
        "noc_pj": t.noc_pj,
    }


def describe(name: str | Path) -> dict[str, Any]:
    """Everything ``tech show`` prints, as plain data (also its ``--json`` answer)."""
    if str(name) == HANDWRITTEN:
        return _handwritten()
    table = read_table(name)
    prov, choices = table["provenance"], table["choices"]
    other = {r["size_bytes"]: r for r in sram_rows(table, SENSITIVITY_PORT_BITS)}
    sram = []
    for r in sram_rows(table):
        row = {
            k: r[k]
            for k in (
                "size_bytes",
                "rows",
                "read_pj_per_word",
                "write_pj_per_word",
                "area_mm2",
                "leakage_mw",
                "cycle_ns",
                "scaled_by_hwcomponents",
            )
        }
        if r["size_bytes"] in other:
            row[f"read_pj_per_word_{SENSITIVITY_PORT_BITS}b_port"] = other[r["size_bytes"]][
                "read_pj_per_word"
            ]
        sram.append(row)
    tools = ", ".join(f"{k} {v}" for k, v in prov["tools"].items())
    return {
        "name": table["name"],
        "node_nm": table["node_nm"],
        "default": False,
        "summary": {
            "name": table["name"],
            "node": f"{table['node_nm']} nm",
            "default": "no",
            "tools": f"{tools}; CACTI {prov['cacti']['cacti_version']}; Python {prov['python']}",
            "built": prov["built_utc"],
            "command": prov["command"],
            "port": f"{choices['port_bits']} bits ({choices['why']['port_bits']})",
            "cells": f"{choices['cell_type']} cells, {choices['peripheral_type']} peripherals",
            "per access": choices["energy_per_access"],
            "DRAM": f"{choices['dram_type']}, {choices['dram_bus_bits']}-bit bus",
            "not modelled": "NoC, DRAM PHY, clock, activity: the hand-written figures",
        },
        "sram": sram,
        "mac": table["mac"],
        "dram": table["dram"],
        "noc_pj": table["not_modelled"]["noc_pj"],
        "provenance": prov,
        "choices": choices,
    }


def _g(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def figure_rows(info: dict[str, Any]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Titled (header, rows) tables of strings for a terminal."""
    sram = info["sram"]
    header = list(sram[0])
    mac_header = list(info["mac"][0])
    dram = info["dram"]
    return {
        "SRAM (per 16-bit word)": (header, [[_g(r.get(k, "")) for k in header] for r in sram]),
        "MAC": (mac_header, [[_g(m.get(k, "")) for k in mac_header] for m in info["mac"]]),
        "DRAM and NoC (per 16-bit word)": (
            [*dram, "noc_pj"],
            [[*(_g(v) for v in dram.values()), _g(info["noc_pj"])]],
        ),
    }
