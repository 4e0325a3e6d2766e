"""Hardware configurations: one scalar dataclass for people, one struct-of-arrays for the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import IntEnum

import numpy as np

from airchitect import limits


class Dataflow(IntEnum):
    """Which operand stays in the PEs. Integer codes are what the vectorised model stores."""

    WS = 0  # weight-stationary systolic (TPU, SCALE-Sim ws)
    OS = 1  # output-stationary systolic (ShiDianNao, SCALE-Sim os)
    IS = 2  # input-stationary systolic (SCALE-Sim is)
    RS = 3  # row-stationary (Eyeriss)

    @classmethod
    def parse(cls, value: str | int | Dataflow) -> Dataflow:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().upper()
            aliases = {"WEIGHT": "WS", "OUTPUT": "OS", "INPUT": "IS", "ROW": "RS"}
            key = aliases.get(key.split("_")[0].split("-")[0], key)
            if key in cls.__members__:
                return cls[key]
        elif isinstance(value, int | np.integer) and int(value) in {d.value for d in cls}:
            return cls(int(value))
        allowed = ", ".join(d.name.lower() for d in cls)
        raise ValueError(f"field 'dataflow' must be one of {allowed}, got {value!r}")


#: Hardware knobs in the order used by index vectors and arrays.
HARDWARE_KNOBS: tuple[str, ...] = (
    "pe_rows",
    "pe_cols",
    "l1_bytes",
    "l2_kib",
    "noc_words_per_cycle",
    "dram_bytes_per_cycle",
    "dataflow",
)


@dataclass(frozen=True)
class HardwareConfig:
    """One accelerator: a PE array with per-PE L1, a shared L2, a NoC and a DRAM interface."""

    pe_rows: int
    pe_cols: int
    l1_bytes: int
    l2_kib: float
    noc_words_per_cycle: float
    dram_bytes_per_cycle: float
    dataflow: Dataflow = Dataflow.WS

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataflow", Dataflow.parse(self.dataflow))
        for f in fields(self):
            if f.name == "dataflow":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(
                    f"field {f.name!r} must be a positive number, got {limits.brief(value)}"
                )
            # whole numbers are the design loaders' to insist on; here only the range counts
            limits.check(f.name, value, replace(limits.HARDWARE[f.name], integer=False))

    @property
    def num_pes(self) -> int:
        return self.pe_rows * self.pe_cols

    def to_dict(self) -> dict:
        out = asdict(self)
        out["dataflow"] = self.dataflow.name.lower()
        return out


@dataclass(frozen=True)
class HardwareBatch:
    """Struct of arrays over many hardware points; every field has shape ``(n,)``."""

    pe_rows: np.ndarray
    pe_cols: np.ndarray
    l1_bytes: np.ndarray
    l2_kib: np.ndarray
    noc_words_per_cycle: np.ndarray
    dram_bytes_per_cycle: np.ndarray
    dataflow: np.ndarray

    @classmethod
    def from_configs(cls, configs: list[HardwareConfig] | HardwareConfig) -> HardwareBatch:
        if isinstance(configs, HardwareConfig):
            configs = [configs]
        cols = {k: [] for k in HARDWARE_KNOBS}
        for cfg in configs:
            for k in HARDWARE_KNOBS:
                cols[k].append(int(getattr(cfg, k)) if k == "dataflow" else getattr(cfg, k))
        return cls.from_columns(cols)

    @classmethod
    def from_columns(cls, columns: dict) -> HardwareBatch:
        """Build from a mapping knob -> sequence (e.g. a pandas DataFrame's columns)."""
        arrays = {}
        for k in HARDWARE_KNOBS:
            dtype = np.int64 if k in ("pe_rows", "pe_cols", "dataflow") else np.float64
            arrays[k] = np.asarray(columns[k], dtype=dtype).reshape(-1)
        return cls(**arrays)

    def __len__(self) -> int:
        return len(self.pe_rows)

    def take(self, index: np.ndarray) -> HardwareBatch:
        return HardwareBatch(**{k: getattr(self, k)[index] for k in HARDWARE_KNOBS})

    def config(self, i: int) -> HardwareConfig:
        values = {k: getattr(self, k)[i].item() for k in HARDWARE_KNOBS}
        for k in ("l1_bytes",):
            values[k] = int(values[k])
        return HardwareConfig(**values)
