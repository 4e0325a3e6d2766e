"""A named sequence of layers with its provenance, so datasets can be split by source."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from airchitect.workloads.layer import Layer, WorkloadError


@dataclass(frozen=True)
class Network:
    """A whole model as its layers. ``family`` groups related models (``cnn``, ``llm``, ...)."""

    name: str
    family: str
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise WorkloadError(f"network {self.name!r}: field 'layers' is empty")
        names = [layer.name for layer in self.layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise WorkloadError(f"network {self.name!r}: duplicate layer names {dupes}")

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)
