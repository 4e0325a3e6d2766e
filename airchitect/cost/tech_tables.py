"""Technology tables shipped as data: CACTI and component-library figures the cost model can take.

A table is a JSON file in ``airchitect/cost/tech_tables/`` written by ``airchitect tech build``
(:mod:`airchitect.cost.tech_build`) from hwcomponents in a separate environment; reading it needs
nothing beyond the standard library and numpy. :func:`load_tech` turns one into a
:class:`ComponentTechTable`, a :class:`~airchitect.cost.tech.TechTable` whose SRAM energy, area
and leakage come from the table (interpolated log-log between the sizes it holds, exact at them)
and whose MAC and DRAM figures are the table's. What the tools do not model (the NoC, the DRAM
PHY, the clock, toggle activity) is carried over from the hand-written table and listed as such
in the file. The hand-written table stays the default (:data:`~airchitect.cost.tech.DEFAULT_TECH`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from airchitect.cost.tech import DEFAULT_TECH, TechTable

HANDWRITTEN = DEFAULT_TECH.name
TABLE_FORMAT = "airchitect-tech-table"
TABLE_FORMAT_VERSION = 1
WORD_BITS = 16  # the cost model's energies are per 16-bit word, scaled linearly with precision
_KEYS = (
    "format",
    "format_version",
    "name",
    "node_nm",
    "word_bits",
    "provenance",
    "choices",
    "sram",
    "mac",
    "dram",
    "not_modelled",
)


class TechTableError(ValueError):
    """A tech table that is unknown, unreadable or malformed (one line, names the table)."""


def shipped_dir() -> Path:
    """Where the packaged tables live (a real folder: the package is installed from files)."""
    return Path(str(resources.files("airchitect.cost").joinpath("tech_tables")))


def shipped_names() -> list[str]:
    """Every table a user can name: the hand-written default first, then the shipped files."""
    return [HANDWRITTEN, *sorted(p.stem for p in shipped_dir().glob("*.json"))]


def read_table(name: str | Path) -> dict[str, Any]:
    """The parsed, checked table file: a shipped name or a path to a ``.json`` table."""
    path = shipped_dir() / f"{name}.json"
    if not path.is_file():
        path = Path(name)
        if path.suffix != ".json" or not path.is_file():
            names = ", ".join(shipped_names())
            raise TechTableError(f"unknown tech table {str(name)!r}: shipped tables are {names}")
    try:
        table = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TechTableError(f"tech table {str(name)!r}: cannot read {path}: {exc}") from None
    check_table(table, str(name))
    return table


def check_table(table: Any, name: str) -> None:
    where = f"tech table {name!r}"
    if not isinstance(table, dict) or table.get("format") != TABLE_FORMAT:
        raise TechTableError(f"{where}: not an {TABLE_FORMAT} file")
    if table.get("format_version") != TABLE_FORMAT_VERSION:
        raise TechTableError(
            f"{where}: format_version {table.get('format_version')!r} is not "
            f"{TABLE_FORMAT_VERSION}; rebuild it with `airchitect tech build`"
        )
    missing = [k for k in _KEYS if k not in table]
    if missing:
        raise TechTableError(f"{where}: missing field(s) {', '.join(missing)}")
    if table["word_bits"] != WORD_BITS:
        raise TechTableError(f"{where}: word_bits must be {WORD_BITS}, got {table['word_bits']!r}")
    port = table["choices"].get("port_bits")
    rows = [r for r in table["sram"] if r.get("port_bits") == port]
    if len(rows) < 2:
        raise TechTableError(
            f"{where}: needs SRAM figures at two sizes or more for its chosen port width {port!r}"
        )
    if WORD_BITS not in {m.get("operand_bits") for m in table["mac"]}:
        raise TechTableError(f"{where}: no {WORD_BITS}-bit MAC")


def sram_rows(table: dict[str, Any], port_bits: int | None = None) -> list[dict[str, Any]]:
    """The SRAM entries at one port width (the table's chosen one by default), by size."""
    port = table["choices"]["port_bits"] if port_bits is None else port_bits
    return sorted(
        (r for r in table["sram"] if r["port_bits"] == port), key=lambda r: r["size_bytes"]
    )


def mac_row(table: dict[str, Any], operand_bits: int = WORD_BITS) -> dict[str, Any]:
    return next(m for m in table["mac"] if m["operand_bits"] == operand_bits)


def _loglog(x, sizes: tuple[float, ...], values: tuple[float, ...]) -> np.ndarray:
    """Power-law interpolation through the tabulated points; the end segments extrapolate."""
    lx = np.log(np.asarray(x, dtype=float))
    lxs, lys = np.log(sizes), np.log(values)
    inner = np.interp(lx, lxs, lys)
    lo = lys[0] + (lys[1] - lys[0]) / (lxs[1] - lxs[0]) * (lx - lxs[0])
    hi = lys[-1] + (lys[-1] - lys[-2]) / (lxs[-1] - lxs[-2]) * (lx - lxs[-1])
    return np.exp(np.where(lx < lxs[0], lo, np.where(lx > lxs[-1], hi, inner)))


@dataclass(frozen=True)
class ComponentTechTable(TechTable):
    """A :class:`TechTable` whose SRAM, MAC and DRAM figures come from a built table.

    L1 and L2 are both SRAM macros of the table's chosen port width: ``l1_pj`` and ``l2_pj`` are
    the per-16-bit-word energy of one access (the read energy, as the references quote it), and
    area and leakage are the macros' own, plus the bare MAC's per PE. The NoC, the DRAM PHY and
    their leakage per mm^2 keep the hand-written figures.
    """

    sram_bytes: tuple[float, ...] = ()
    sram_pj_per_word: tuple[float, ...] = ()
    sram_mm2: tuple[float, ...] = ()
    sram_leakage_mw: tuple[float, ...] = ()
    mac_leakage_mw: float = 0.0

    def l1_pj(self, l1_bytes: np.ndarray) -> np.ndarray:
        return _loglog(l1_bytes, self.sram_bytes, self.sram_pj_per_word)

    def l2_pj(self, l2_kib: np.ndarray) -> np.ndarray:
        return _loglog(np.asarray(l2_kib) * 1024.0, self.sram_bytes, self.sram_pj_per_word)

    def _sram_mm2(self, size_bytes) -> np.ndarray:
        return _loglog(size_bytes, self.sram_bytes, self.sram_mm2)

    def _uncovered_mm2(self, pe_rows, pe_cols, noc_words, dram_bytes) -> np.ndarray:
        noc = noc_words * np.sqrt(pe_rows * pe_cols) * self.noc_mm2_per_word_per_sqrt_pe
        return noc + dram_bytes * self.dram_phy_mm2_per_byte_per_cycle

    def area_mm2(self, pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes) -> np.ndarray:
        """Bare macros: per PE a MAC and an L1 SRAM, one L2 SRAM, plus NoC and DRAM PHY."""
        pes = pe_rows * pe_cols * (self.pe_logic_mm2 + self._sram_mm2(l1_bytes))
        l2 = self._sram_mm2(np.asarray(l2_kib) * 1024.0)
        return pes + l2 + self._uncovered_mm2(pe_rows, pe_cols, noc_words, dram_bytes)

    def leakage_mw(self, pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes) -> np.ndarray:
        """CACTI's and the library's leakage; the NoC and PHY at the hand-written mW per mm^2."""
        l1 = _loglog(l1_bytes, self.sram_bytes, self.sram_leakage_mw)
        l2 = _loglog(np.asarray(l2_kib) * 1024.0, self.sram_bytes, self.sram_leakage_mw)
        uncovered = self._uncovered_mm2(pe_rows, pe_cols, noc_words, dram_bytes)
        return (
            pe_rows * pe_cols * (self.mac_leakage_mw + l1)
            + l2
            + uncovered * self.leakage_mw_per_mm2
        )


def tech_from_table(table: dict[str, Any]) -> ComponentTechTable:
    """The cost model's view of a checked table (see :class:`ComponentTechTable`)."""
    rows = sram_rows(table)
    mac = mac_row(table)
    carried = table["not_modelled"]
    sizes = tuple(float(r["size_bytes"]) for r in rows)
    energies = tuple(float(r["read_pj_per_word"]) for r in rows)
    ref = dict(zip(sizes, energies, strict=True))
    return ComponentTechTable(
        name=table["name"],
        node_nm=float(table["node_nm"]),
        mac_pj=float(mac["pj"]),
        l1_pj_ref=ref.get(512.0, energies[0]),
        l1_ref_bytes=512.0 if 512.0 in ref else sizes[0],
        noc_pj=float(carried["noc_pj"]),
        l2_pj_ref=ref.get(128 * 1024.0, energies[-1]),
        l2_ref_kib=128.0 if 128 * 1024.0 in ref else sizes[-1] / 1024.0,
        dram_pj=float(table["dram"]["pj_per_word"]),
        l1_accesses_per_mac=float(carried["l1_accesses_per_mac"]),
        clock_ghz=float(carried["clock_ghz"]),
        pe_logic_mm2=float(mac["area_mm2"]),
        noc_mm2_per_word_per_sqrt_pe=float(carried["noc_mm2_per_word_per_sqrt_pe"]),
        dram_phy_mm2_per_byte_per_cycle=float(carried["dram_phy_mm2_per_byte_per_cycle"]),
        leakage_mw_per_mm2=float(carried["leakage_mw_per_mm2"]),
        activity=float(carried["activity"]),
        sram_bytes=sizes,
        sram_pj_per_word=energies,
        sram_mm2=tuple(float(r["area_mm2"]) for r in rows),
        sram_leakage_mw=tuple(float(r["leakage_mw"]) for r in rows),
        mac_leakage_mw=float(mac["leakage_mw"]),
    )


def load_tech(name: str | Path = HANDWRITTEN) -> TechTable:
    """The table the cost model takes: the hand-written default or a shipped/built one."""
    if str(name) == HANDWRITTEN:
        return DEFAULT_TECH
    return tech_from_table(read_table(name))


def summaries() -> list[dict[str, Any]]:
    """One line per shipped table: name, node, what built it, when; the default marked."""
    out = [
        {
            "name": HANDWRITTEN,
            "node_nm": DEFAULT_TECH.node_nm,
            "default": True,
            "source": "hand-written (Eyeriss ratios, airchitect/cost/tech.py)",
            "built": "",
        }
    ]
    for name in shipped_names()[1:]:
        table = read_table(name)
        tools = table["provenance"]["tools"]
        source = ", ".join(f"{k} {v}" for k, v in tools.items() if k != "hwcomponents-neurosim")
        out.append(
            {
                "name": name,
                "node_nm": table["node_nm"],
                "default": False,
                "source": source,
                "built": table["provenance"]["built_utc"],
            }
        )
    return out
