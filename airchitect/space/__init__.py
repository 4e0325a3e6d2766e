"""The design space: hardware knobs, mapping knobs, constraints."""

from airchitect.space.budget import (
    Budget,
    BudgetViolation,
    check_budget,
    hardware_area_mm2,
    hardware_power_mw,
)
from airchitect.space.hardware import HARDWARE_KNOBS, Dataflow, HardwareBatch, HardwareConfig
from airchitect.space.schema import SpaceError
from airchitect.space.space import PACKAGED_SPACES, DesignSpace, Knob
from airchitect.strict_yaml import StrictLoader

__all__ = [
    "HARDWARE_KNOBS",
    "PACKAGED_SPACES",
    "Budget",
    "BudgetViolation",
    "Dataflow",
    "DesignSpace",
    "HardwareBatch",
    "HardwareConfig",
    "Knob",
    "SpaceError",
    "StrictLoader",
    "check_budget",
    "hardware_area_mm2",
    "hardware_power_mw",
]
