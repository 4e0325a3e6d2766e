"""The design space: a grid over every hardware knob, and the mapping space tried on each point.

A hardware point is addressed three ways: as a :class:`HardwareConfig`, as an *index vector*
(one grid index per knob, in :data:`HARDWARE_KNOBS` order) and as a *flat index* (the index
vector read as a mixed-radix number, first knob most significant). Every batch conversion is
vectorised over rows, so a search can move whole populations between the three forms.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from airchitect.space.hardware import HARDWARE_KNOBS, Dataflow, HardwareBatch, HardwareConfig
from airchitect.space.schema import (
    CATEGORICAL_KNOBS,
    SpaceError,
    load_space_file,
    load_yaml,
    validate_space,
)

if TYPE_CHECKING:  # the cost package imports this one; importing it eagerly would be a cycle
    from airchitect.cost.mapper import MappingOptions
    from airchitect.workloads.layer import Layer

#: Spaces shipped with the package, loadable by name.
PACKAGED_SPACES: tuple[str, ...] = ("default", "reduced")
DEFAULT_ENUMERATE_LIMIT = 2_000_000


@dataclass(frozen=True)
class Knob:
    """One hardware knob and its grid; ordinal knobs list their values ascending."""

    name: str
    values: tuple
    kind: Literal["ordinal", "categorical"]

    @property
    def cardinality(self) -> int:
        return len(self.values)

    def json_values(self) -> list:
        """Values as plain JSON: dataflow names, and integral numbers as ints."""
        return [_json_value(v) for v in self.values]


def _json_value(value: Any) -> str | int | float:
    if isinstance(value, Dataflow):
        return value.name.lower()
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class DesignSpace:
    """A hardware grid plus mapping options; build it with :meth:`from_yaml` or :meth:`named`."""

    name: str
    knobs: tuple[Knob, ...]
    mapping_options: MappingOptions
    description: str = ""
    source: str = field(default="<dict>", compare=False)

    def __post_init__(self) -> None:
        names = tuple(k.name for k in self.knobs)
        if names != HARDWARE_KNOBS:
            raise SpaceError(f"space {self.source!r}: knobs must be {HARDWARE_KNOBS}, got {names}")

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> DesignSpace:
        """Validate a parsed space (the YAML file's structure) and build it."""
        return cls._from_content(validate_space(data, source=source), source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> DesignSpace:
        """Load a space file; duplicate keys and unknown fields are errors."""
        return cls._from_content(load_space_file(path), str(path))

    @classmethod
    def default(cls) -> DesignSpace:
        """The packaged default space (245,760 hardware points)."""
        return cls.named("default")

    @classmethod
    def named(cls, name: str | Path) -> DesignSpace:
        """A packaged space (``"default"``, ``"reduced"``) or a path to a space file."""
        if str(name) in PACKAGED_SPACES:
            source = f"{name}.yaml"
            text = resources.files("airchitect.space").joinpath(source).read_text("utf-8")
            content = validate_space(load_yaml(text, source), source=source, default_name=str(name))
            return cls._from_content(content, source)
        path = Path(name)
        if not path.is_file():
            raise SpaceError(
                f"space {str(name)!r}: not a packaged space ({', '.join(PACKAGED_SPACES)}) "
                "and no such file"
            )
        return cls.from_yaml(path)

    @classmethod
    def _from_content(cls, content: dict[str, Any], source: str) -> DesignSpace:
        knobs = tuple(
            Knob(name, values, "categorical" if name in CATEGORICAL_KNOBS else "ordinal")
            for name, values in content["hardware"].items()
        )
        options = _mapping_options(content["mapping"], source)
        return cls(content["name"], knobs, options, content["description"], source)

    # ---- sizes ----------------------------------------------------------------------------------
    @cached_property
    def cardinalities(self) -> np.ndarray:
        """Grid size per knob, in :data:`HARDWARE_KNOBS` order (read-only)."""
        return _readonly(np.array([k.cardinality for k in self.knobs], dtype=np.int64))

    @property
    def size(self) -> int:
        """Hardware grid points."""
        return math.prod(k.cardinality for k in self.knobs)

    def mapping_size(self, layer: Layer) -> int:
        """Mappings of ``layer`` tried on one hardware point."""
        return self.mapping_options.size(layer)

    def joint_size(self, layer: Layer) -> int:
        """Hardware points x mappings of ``layer``: the space an exhaustive search would score."""
        return self.size * self.mapping_size(layer)

    # ---- scalar conversions ---------------------------------------------------------------------
    def encode(self, config: HardwareConfig) -> np.ndarray:
        """Index vector of ``config``; errors name the knob whose value is not on the grid."""
        out = np.empty(len(self.knobs), dtype=np.int64)
        for j, knob in enumerate(self.knobs):
            value = getattr(config, knob.name)
            position = self._positions[j].get(value)
            if position is None:
                self._off_grid(knob, value)
            out[j] = position
        return out

    def decode(self, index_vector: np.ndarray | list[int]) -> HardwareConfig:
        """The hardware point at an index vector; errors name a knob with an out-of-range index."""
        idx = self._check_indices(index_vector, ndim=1)
        return HardwareConfig(**{k.name: k.values[i] for k, i in zip(self.knobs, idx, strict=True)})

    # ---- batch conversions ----------------------------------------------------------------------
    def encode_batch(self, hw: HardwareBatch) -> np.ndarray:
        """``(n, 7)`` index vectors of a batch; every value must lie on the grid."""
        out = np.empty((len(hw), len(self.knobs)), dtype=np.int64)
        for j, knob in enumerate(self.knobs):  # a loop over knobs, vectorised over rows
            column = np.asarray(getattr(hw, knob.name))
            order = self._sort_orders[j]
            ordered = self._arrays[j][order]
            pos = np.clip(np.searchsorted(ordered, column), 0, knob.cardinality - 1)
            hit = ordered[pos] == column
            if not hit.all():
                row = int(np.flatnonzero(~hit)[0])
                self._off_grid(knob, column[row].item(), row)
            out[:, j] = order[pos]
        return out

    def decode_batch(self, indices: np.ndarray) -> HardwareBatch:
        """The hardware points at ``(n, 7)`` index vectors."""
        idx = self._check_indices(indices, ndim=2)
        columns = {k.name: self._arrays[j][idx[:, j]] for j, k in enumerate(self.knobs)}
        return HardwareBatch.from_columns(columns)

    def flat_index(self, indices: np.ndarray | list[int]) -> int | np.ndarray:
        """Mixed-radix flat index of one index vector (an int) or of ``(n, 7)`` ones (an array)."""
        idx = np.asarray(indices)
        idx = self._check_indices(idx, ndim=1 if idx.ndim == 1 else 2)
        flat = np.ravel_multi_index(tuple(idx.T), tuple(self.cardinalities))
        return int(flat) if idx.ndim == 1 else flat.astype(np.int64)

    def unflat_index(self, flat: int | np.ndarray) -> np.ndarray:
        """Index vectors of flat indices: shape ``(7,)`` for a scalar, ``(n, 7)`` for ``(n,)``."""
        arr = np.asarray(flat)
        if not np.issubdtype(arr.dtype, np.integer):
            raise SpaceError(f"space {self.name!r}: flat indices must be integers, got {arr.dtype}")
        bad = (arr < 0) | (arr >= self.size)
        if bad.any():
            value = arr[bad].flat[0] if arr.ndim else arr.item()
            raise SpaceError(
                f"space {self.name!r}: flat index {value} is out of range 0..{self.size - 1}"
            )
        return np.stack(np.unravel_index(arr, tuple(self.cardinalities)), axis=-1).astype(np.int64)

    # ---- whole-grid access ----------------------------------------------------------------------
    def enumerate(self, limit: int = DEFAULT_ENUMERATE_LIMIT) -> HardwareBatch:
        """Every grid point in flat-index order; refuses grids larger than ``limit``."""
        if self.size > limit:
            raise SpaceError(
                f"space {self.name!r} has {self.size:,} hardware points, more than "
                f"limit={limit:,}; use sample() or pass a larger limit"
            )
        return self.decode_batch(self.unflat_index(np.arange(self.size, dtype=np.int64)))

    def sample_indices(self, n: int, seed: int | None = 0) -> np.ndarray:
        """``n`` uniform flat indices: distinct when ``n <= size``, with repeats beyond that."""
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise SpaceError(f"space {self.name!r}: sample size must be an integer >= 0, got {n!r}")
        rng = np.random.default_rng(seed)
        if n <= self.size:
            return rng.choice(self.size, size=int(n), replace=False).astype(np.int64)
        return rng.integers(0, self.size, size=int(n), dtype=np.int64)

    def sample(self, n: int, seed: int | None = 0) -> HardwareBatch:
        """``n`` hardware points drawn uniformly; deterministic for a given ``seed``."""
        return self.decode_batch(self.unflat_index(self.sample_indices(n, seed)))

    # ---- identity and reporting -----------------------------------------------------------------
    @cached_property
    def hash(self) -> str:
        """sha256 of the canonical grid and mapping options.

        Only what decides which designs exist goes in: the name, description, file layout and
        key order do not, so a renamed or reformatted copy of a space hashes the same.
        """
        canonical = {"hardware": self._hardware_dict(), "mapping": self._mapping_dict()}
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The space as a file would write it; ``from_dict(to_dict())`` rebuilds it."""
        return {
            "name": self.name,
            "description": self.description,
            "hardware": self._hardware_dict(),
            "mapping": self._mapping_dict(),
        }

    def describe(self) -> dict[str, Any]:
        """A summary for the CLI: knobs with their values, sizes, mapping options and the hash."""
        knobs = [
            {
                "name": k.name,
                "kind": k.kind,
                "cardinality": k.cardinality,
                "values": k.json_values(),
            }
            for k in self.knobs
        ]
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "size": self.size,
            "knobs": knobs,
            "mapping": self._mapping_dict(),
            "hash": self.hash,
        }

    # ---- internals ------------------------------------------------------------------------------
    def _hardware_dict(self) -> dict[str, list]:
        return {k.name: k.json_values() for k in self.knobs}

    def _mapping_dict(self) -> dict[str, Any]:
        out = asdict(self.mapping_options)
        out["pe_reuse"] = [int(r) for r in out["pe_reuse"]]
        if out["trip_step"] == 1:  # the default, left out so spaces written before it hash alike
            del out["trip_step"]
        return out

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, ...]:
        """Grid values per knob as the dtype :class:`HardwareBatch` stores (dataflow as codes)."""
        return tuple(_readonly(np.array([float(v) for v in k.values])) for k in self.knobs)

    @cached_property
    def _sort_orders(self) -> tuple[np.ndarray, ...]:
        return tuple(_readonly(np.argsort(a, kind="stable")) for a in self._arrays)

    @cached_property
    def _positions(self) -> tuple[dict, ...]:
        # 108 and 108.0 (and Dataflow.OS and 1) hash alike, so either spelling finds its index
        return tuple({v: i for i, v in enumerate(k.values)} for k in self.knobs)

    def _check_indices(self, indices: Any, ndim: int) -> np.ndarray:
        idx = np.asarray(indices)
        width = len(self.knobs)
        if idx.ndim != ndim or idx.shape[-1] != width:
            want = f"({width},)" if ndim == 1 else f"(n, {width})"
            raise SpaceError(
                f"space {self.name!r}: index vectors must have shape {want} "
                f"(one index per knob: {', '.join(HARDWARE_KNOBS)}), got shape {idx.shape}"
            )
        if not np.issubdtype(idx.dtype, np.integer):
            raise SpaceError(f"space {self.name!r}: indices must be integers, got {idx.dtype}")
        bad = (idx < 0) | (idx >= self.cardinalities)
        if bad.any():
            row, j = np.argwhere(bad.reshape(-1, width))[0]
            value, knob = idx.reshape(-1, width)[row, j], self.knobs[j]
            raise SpaceError(
                f"space {self.name!r}: index {value} for knob {knob.name!r} is out of range "
                f"0..{knob.cardinality - 1}"
            )
        return idx.astype(np.int64, copy=False)

    def _off_grid(self, knob: Knob, value: Any, row: int | None = None) -> None:
        shown = value
        if knob.kind == "categorical" and int(value) in {d.value for d in Dataflow}:
            shown = _json_value(Dataflow(int(value)))
        at = "" if row is None else f" (row {row})"
        raise SpaceError(
            f"space {self.name!r}: {knob.name}={shown!r}{at} is not on the grid; "
            f"allowed values: {knob.json_values()}"
        )


def _mapping_options(given: dict[str, Any], source: str) -> MappingOptions:
    """MappingOptions from a file's ``mapping:`` section, its defaults filling the gaps."""
    from airchitect.cost.mapper import MappingOptions  # lazy: the cost package imports space

    try:
        return MappingOptions(**given)
    except ValueError as exc:
        raise SpaceError(f"space {source!r}: mapping: {exc}") from None


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr
