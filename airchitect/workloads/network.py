"""A named sequence of layers with its provenance, so datasets can be split by source."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from airchitect import limits
from airchitect.workloads.layer import Layer, WorkloadError


@dataclass(frozen=True)
class Network:
    """A whole model as its layers. ``family`` groups related models (``cnn``, ``llm``, ...).

    ``repeats`` gives how many times each layer runs per inference (empty: once each); e.g. an
    LLM's decode layers run once per generated token. Costs and MACs are weighted by it.
    """

    name: str
    family: str
    layers: tuple[Layer, ...]
    repeats: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.layers:
            raise WorkloadError(f"network {self.name!r}: field 'layers' is empty")
        if len(self.layers) > limits.MAX_NETWORK_LAYERS:
            raise WorkloadError(f"network {self.name!r}: {len(self.layers):,} layers, more than "
                                f"the limit {limits.MAX_NETWORK_LAYERS:,}")  # fmt: skip
        if self.repeats and (len(self.repeats) != len(self.layers)
                             or any(not r > 0 for r in self.repeats)):  # fmt: skip
            raise WorkloadError(f"network {self.name!r}: field 'repeats' needs one positive "
                                f"number per layer, got {self.repeats!r}")  # fmt: skip
        counts = Counter(layer.name for layer in self.layers)
        dupes = sorted(name for name, count in counts.items() if count > 1)
        if dupes:
            names = limits.brief(dupes)
            raise WorkloadError(f"network {self.name!r}: duplicate layer names {names}")

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def repeat(self, i: int) -> float:
        """How many times layer ``i`` runs per inference."""
        return self.repeats[i] if self.repeats else 1

    @property
    def macs(self) -> int | float:
        """MACs per inference (repeats included)."""
        return sum(self.repeat(i) * layer.macs for i, layer in enumerate(self.layers))
