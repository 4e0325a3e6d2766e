"""Area and power budgets: hardware-only constraints, checked before any layer is evaluated.

Area and design power depend on the hardware point alone, so a search can drop every point over
budget up front instead of paying for its mapping search first.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from enum import IntFlag

import numpy as np

from airchitect import limits
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HardwareBatch, HardwareConfig


class BudgetViolation(IntFlag):
    """Why a hardware point is infeasible; flags combine (``AREA | POWER``)."""

    NONE = 0
    AREA = 1
    POWER = 2


@dataclass(frozen=True)
class Budget:
    """Upper bounds on chip area and design power; ``None`` leaves that axis unconstrained."""

    area_mm2: float | None = None
    power_mw: float | None = None

    def __post_init__(self) -> None:
        for name in ("area_mm2", "power_mw"):
            value = getattr(self, name)
            if value is None:
                continue
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
            if not ok or not math.isfinite(value) or value <= 0:
                raise ValueError(f"budget field {name!r} must be a positive number or None, "
                                 f"got {limits.brief(value)}")  # fmt: skip
            limits.check(name, value, limits.BUDGET[name], where="budget ")

    @property
    def unconstrained(self) -> bool:
        return self.area_mm2 is None and self.power_mw is None

    def to_dict(self) -> dict[str, float | None]:
        return {"area_mm2": self.area_mm2, "power_mw": self.power_mw}


def _as_batch(hw: HardwareBatch | HardwareConfig) -> HardwareBatch:
    return HardwareBatch.from_configs(hw) if isinstance(hw, HardwareConfig) else hw


def _knobs(hw: HardwareBatch | HardwareConfig) -> tuple[np.ndarray, ...]:
    """The six numeric knobs in the tech table's argument order."""
    b = _as_batch(hw)
    return (b.pe_rows, b.pe_cols, b.l1_bytes, b.l2_kib, b.noc_words_per_cycle,
            b.dram_bytes_per_cycle)  # fmt: skip


def hardware_area_mm2(
    hw: HardwareBatch | HardwareConfig, tech: TechTable = DEFAULT_TECH
) -> np.ndarray:
    """Chip area per hardware point, shape ``(n,)``."""
    return np.asarray(tech.area_mm2(*_knobs(hw)), dtype=np.float64)


def hardware_power_mw(
    hw: HardwareBatch | HardwareConfig, tech: TechTable = DEFAULT_TECH
) -> np.ndarray:
    """Design power per hardware point (leakage plus activity-weighted dynamic), shape ``(n,)``."""
    return np.asarray(tech.power_mw(*_knobs(hw)), dtype=np.float64)


def check_budget(
    hw: HardwareBatch | HardwareConfig,
    budget: Budget | None,
    tech: TechTable = DEFAULT_TECH,
) -> tuple[np.ndarray, np.ndarray]:
    """``(feasible, reason)`` per hardware point; ``reason`` holds :class:`BudgetViolation` bits.

    A point exactly at the budget is feasible.
    """
    b = _as_batch(hw)
    reason = np.zeros(len(b), dtype=np.int64)
    if budget is not None and budget.area_mm2 is not None:
        over = hardware_area_mm2(b, tech) > budget.area_mm2
        reason |= np.where(over, int(BudgetViolation.AREA), 0)
    if budget is not None and budget.power_mw is not None:
        over = hardware_power_mw(b, tech) > budget.power_mw
        reason |= np.where(over, int(BudgetViolation.POWER), 0)
    return reason == 0, reason
