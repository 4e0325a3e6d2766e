"""Query hwcomponents (CACTI and the component library) once per component: the build's worker.

This file runs as a script in a SEPARATE Python >= 3.12 environment that has ``hwcomponents``,
``hwcomponents-cacti`` and ``hwcomponents-library`` installed (``airchitect tech build`` starts
it there); airchitect itself never imports hwcomponents. Only the standard library is imported
at module level, so the module also imports harmlessly on the project's 3.11.

Usage: ``python tech_query.py REQUEST.json RESULT.json``. The request names the node, the SRAM
sizes and port widths, the MAC operand widths and the DRAM type; the result holds every raw
figure in SI units as hwcomponents returns them (J, m^2, W, s) plus what produced them: tool
versions, CACTI's version and the cell and peripheral types read from the plug-in's own
configuration file (read, not assumed, so the record says what CACTI really ran with).
"""

import json
import platform
import re
import sys
import time
from importlib import metadata
from pathlib import Path

TOOLS = ("hwcomponents", "hwcomponents-cacti", "hwcomponents-library", "hwcomponents-neurosim")
# hwcomponents-cacti runs CACTI at >= 64 rows and >= 32-bit width and scales smaller arrays by
# empirical factors (its _interp_size); entries below these are marked as such.
CACTI_MIN_ROWS = 64
CACTI_MIN_WIDTH_BITS = 32


def _cacti_facts() -> dict:
    import hwcomponents_cacti

    folder = Path(hwcomponents_cacti.__file__).parent
    cfg = (folder / "default_cfg.cfg").read_text()
    version_h = (folder / "cacti" / "version_cacti.h").read_text()

    def cfg_value(key: str) -> str:
        found = re.search(rf'^-{re.escape(key)}\s*-?\s*"?([^"\n]+)"?', cfg, re.MULTILINE)
        return found.group(1).strip() if found else "unknown"

    major = re.search(r"VER_MAJOR_CACTI\s+(\d+)", version_h)
    minor = re.search(r"VER_MINOR_CACTI\s+(\d+)", version_h)
    comment = re.search(r'VER_COMMENT_CACTI\s+"([^"]*)"', version_h)
    return {
        "cacti_version": f"{major.group(1)}.{minor.group(1)} ({comment.group(1)})",
        "data_cell_type": cfg_value("Data array cell type"),
        "data_peripheral_type": cfg_value("Data array peripheral type"),
        "temperature_k": cfg_value("operating temperature (K)"),
        "access_mode": cfg_value("access mode (normal, sequential, fast)"),
        "design_objective": cfg_value(
            "design objective (weight delay, dynamic power, leakage power, cycle time, area)"
        ),
    }


def _sram(node_m: float, size_bytes: int, port_bits: int) -> dict:
    from hwcomponents_cacti import SRAM

    start = time.perf_counter()
    sram = SRAM(tech_node=node_m, width=port_bits, size=size_bytes * 8)
    read, write = sram.read(), sram.write()
    rows = int(sram.depth)
    return {
        "size_bytes": size_bytes,
        "port_bits": port_bits,
        "rows": rows,
        "read_j": read.energy,
        "write_j": write.energy,
        "area_m2": sram.area,
        "leak_w": sram.leak_power,
        "cycle_s": sram.cycle_period,
        "access_s": sram.access_time,
        "scaled_by_hwcomponents": rows < CACTI_MIN_ROWS or port_bits < CACTI_MIN_WIDTH_BITS,
        "query_s": round(time.perf_counter() - start, 3),
    }


def _mac(node_m: float, operand_bits: int, adder_bits: int) -> dict:
    from hwcomponents_library import AladdinIntMAC

    mac = AladdinIntMAC(node_m, adder_width=adder_bits, multiplier_width=operand_bits)
    cost = mac.compute()
    return {
        "operand_bits": operand_bits,
        "adder_bits": adder_bits,
        "mac_j": cost.energy,
        "area_m2": mac.area,
        "leak_w": mac.leak_power,
        "latency_s": cost.latency,
    }


def _dram(dram_type: str, bus_bits: int) -> dict:
    import hwcomponents_cacti

    dram = getattr(hwcomponents_cacti, dram_type)(width=bus_bits)
    cost = dram.read()
    return {"type": dram_type, "bus_bits": bus_bits, "access_j": cost.energy, "area_m2": dram.area}


def run(request: dict) -> dict:
    """Every raw figure of one node; ``request`` keys as written by ``tech_build``."""
    node_m = request["node_nm"] * 1e-9
    sram = [
        _sram(node_m, size, port) for port in request["port_bits"] for size in request["sram_bytes"]
    ]
    macs = [
        _mac(node_m, bits, bits * request["adder_bits_per_operand_bit"])
        for bits in request["mac_operand_bits"]
    ]
    return {
        "tools": {name: metadata.version(name) for name in TOOLS},
        "python": platform.python_version(),
        "cacti": _cacti_facts(),
        "sram": sram,
        "mac": macs,
        "dram": _dram(request["dram_type"], request["dram_bus_bits"]),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: tech_query.py REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    result = run(json.loads(Path(argv[0]).read_text()))
    Path(argv[1]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
