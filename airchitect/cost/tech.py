"""Per-component energy, area and power figures: one table feeds energy, area and power.

Energies are per access of a 16-bit word (scaled linearly with operand bytes) and follow the
Eyeriss ISCA'16 ratios MAC : L1 (RF) : NoC (array) : L2 (global buffer) : DRAM = 1 : 1 : 2 : 6 : 200
at the reference sizes (512 B RF, 128 KiB buffer); SRAM energy grows with the square root of its
size, as CACTI-style models do. Areas are 65 nm-class, sized so that an Eyeriss-like chip
(168 PEs, 512 B RF, 108 KiB buffer) lands near its published 12.25 mm^2 core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TechTable:
    """The hand-written table; :mod:`airchitect.cost.tech_tables` loads CACTI-built ones."""

    name: str = "handwritten"  # which table produced an answer's energy, area and power
    node_nm: float = 65.0
    mac_pj: float = 2.0  # one 16-bit MAC
    l1_pj_ref: float = 2.0  # 1x MAC at l1_ref_bytes
    l1_ref_bytes: float = 512.0
    noc_pj: float = 4.0  # 2x MAC per word delivered to the array
    l2_pj_ref: float = 12.0  # 6x MAC at l2_ref_kib
    l2_ref_kib: float = 128.0
    dram_pj: float = 400.0  # 200x MAC per word
    l1_accesses_per_mac: float = 4.0  # weight read, input read, psum read, psum write
    clock_ghz: float = 0.2

    pe_logic_mm2: float = 0.024  # MAC, control, pipeline registers of one PE
    l1_mm2_per_byte: float = 3.2e-5
    l2_mm2_per_kib: float = 0.018
    noc_mm2_per_word_per_sqrt_pe: float = 0.0015
    dram_phy_mm2_per_byte_per_cycle: float = 0.04
    leakage_mw_per_mm2: float = 2.0
    activity: float = 0.5  # average toggle activity behind the power budget figure

    # ---- vectorised helpers -------------------------------------------------------------------
    def l1_pj(self, l1_bytes: np.ndarray) -> np.ndarray:
        return self.l1_pj_ref * np.sqrt(l1_bytes / self.l1_ref_bytes)

    def l2_pj(self, l2_kib: np.ndarray) -> np.ndarray:
        return self.l2_pj_ref * np.sqrt(l2_kib / self.l2_ref_kib)

    def area_mm2(self, pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes) -> np.ndarray:
        """Chip area: PEs with their L1, the L2, the NoC (grows with bandwidth and array span)."""
        num_pes = pe_rows * pe_cols
        pes = num_pes * (self.pe_logic_mm2 + l1_bytes * self.l1_mm2_per_byte)
        noc = noc_words * np.sqrt(num_pes) * self.noc_mm2_per_word_per_sqrt_pe
        return (
            pes
            + l2_kib * self.l2_mm2_per_kib
            + noc
            + dram_bytes * self.dram_phy_mm2_per_byte_per_cycle
        )

    def power_mw(self, pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes) -> np.ndarray:
        """Design power at the clock: leakage plus every unit busy at ``activity``.

        This is a property of the hardware alone (what a power budget constrains), not of a
        layer: a layer's average power is its energy over its latency.
        """
        num_pes = pe_rows * pe_cols
        # DRAM devices are off chip (as in Eyeriss's reported power); their fills still cost an
        # L2 write each.
        pj_per_cycle = (
            num_pes * (self.mac_pj + self.l1_accesses_per_mac * self.l1_pj(l1_bytes))
            + noc_words * (self.noc_pj + self.l2_pj(l2_kib))
            + dram_bytes / 2.0 * self.l2_pj(l2_kib)
        )
        dynamic_mw = pj_per_cycle * self.clock_ghz * self.activity  # pJ * GHz = mW
        leakage = self.leakage_mw(pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes)
        return leakage + dynamic_mw

    def leakage_mw(self, pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes) -> np.ndarray:
        """Static power: a flat figure per mm^2 of chip area."""
        area = self.area_mm2(pe_rows, pe_cols, l1_bytes, l2_kib, noc_words, dram_bytes)
        return area * self.leakage_mw_per_mm2


DEFAULT_TECH = TechTable()
