"""Area and power of every point of a design space, cached, and budgets as masks over them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.budget import Budget, hardware_area_mm2, hardware_power_mw
from airchitect.space.space import DesignSpace


@dataclass(frozen=True)
class _GridCosts:
    area_mm2: np.ndarray
    power_mw: np.ndarray


_CACHE: dict[tuple[str, TechTable], _GridCosts] = {}


def _costs(space: DesignSpace, tech: TechTable) -> _GridCosts:
    key = (space.hash, tech)
    if key not in _CACHE:
        if len(_CACHE) >= 4:
            _CACHE.clear()
        hw = space.enumerate()
        _CACHE[key] = _GridCosts(hardware_area_mm2(hw, tech), hardware_power_mw(hw, tech))
    return _CACHE[key]


def grid_area_mm2(space: DesignSpace, tech: TechTable = DEFAULT_TECH) -> np.ndarray:
    """Area of every grid point (flat order), cached per space and tech."""
    return _costs(space, tech).area_mm2


def grid_power_mw(space: DesignSpace, tech: TechTable = DEFAULT_TECH) -> np.ndarray:
    """Power of every grid point (flat order), cached per space and tech."""
    return _costs(space, tech).power_mw


def budget_mask(space: DesignSpace, budget: Budget, tech: TechTable = DEFAULT_TECH) -> np.ndarray:
    """Which grid points (flat order) fit ``budget``: known before any evaluation."""
    mask = np.ones(space.size, dtype=bool)
    if budget.area_mm2 is not None:
        mask &= grid_area_mm2(space, tech) <= budget.area_mm2
    if budget.power_mw is not None:
        mask &= grid_power_mw(space, tech) <= budget.power_mw
    return mask
