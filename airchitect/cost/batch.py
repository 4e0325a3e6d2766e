"""Struct-of-arrays inputs of the cost model: layers and mappings, one row each."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from itertools import permutations

import numpy as np

from airchitect.workloads.layer import Layer

#: Loop groups of the GEMM view the array sees: X = N*P*Q output pixels, K output channels,
#: F = C*R*S the reduction. Each tensor is relevant to two of them.
GROUPS: tuple[str, ...] = ("X", "K", "F")
#: Every order of the DRAM-level loops over L2 tiles, outermost first; index = mapping knob.
DRAM_ORDERS: tuple[tuple[str, str, str], ...] = tuple(permutations(GROUPS))


@dataclass(frozen=True)
class LayerBatch:
    """Per-group loop bounds of many layers; every field has shape ``(n,)``."""

    n: np.ndarray
    k: np.ndarray  # per group
    c: np.ndarray  # per group
    p: np.ndarray
    q: np.ndarray
    r: np.ndarray
    s: np.ndarray
    stride: np.ndarray
    dilation: np.ndarray
    groups: np.ndarray
    precision_bytes: np.ndarray

    @classmethod
    def from_layers(cls, layers: list[Layer] | Layer) -> LayerBatch:
        if isinstance(layers, Layer):
            layers = [layers]
        cols = {
            "n": [x.n for x in layers],
            "k": [x.k_per_group for x in layers],
            "c": [x.c_per_group for x in layers],
            "p": [x.p for x in layers],
            "q": [x.q for x in layers],
            "r": [x.r for x in layers],
            "s": [x.s for x in layers],
            "stride": [x.stride for x in layers],
            "dilation": [x.dilation for x in layers],
            "groups": [x.groups for x in layers],
            "precision_bytes": [x.precision_bytes for x in layers],
        }
        return cls(**{k: np.asarray(v, dtype=np.int64) for k, v in cols.items()})

    def __len__(self) -> int:
        return len(self.n)

    def take(self, index: np.ndarray) -> LayerBatch:
        return LayerBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def macs(self) -> np.ndarray:
        return self.groups * self.n * self.k * self.c * self.p * self.q * self.r * self.s

    @property
    def input_w(self) -> np.ndarray:
        return (self.q - 1) * self.stride + (self.s - 1) * self.dilation + 1


@dataclass(frozen=True)
class Mapping:
    """One mapping of a layer onto a hardware point.

    ``n_l2, p_l2, k_l2, c_l2`` are the L2 tile extents (Q, R, S stay whole in L2);
    ``pe_reuse`` is how many operands of the dataflow's reuse dimension one PE holds in L1
    (filters per PE for WS/OS/RS, output pixels per PE for IS); ``dram_order`` indexes
    :data:`DRAM_ORDERS`.
    """

    n_l2: int
    p_l2: int
    k_l2: int
    c_l2: int
    pe_reuse: int = 1
    dram_order: int = 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["dram_loop_order"] = "".join(DRAM_ORDERS[self.dram_order])
        return out


MAPPING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Mapping))


@dataclass(frozen=True)
class MappingBatch:
    n_l2: np.ndarray
    p_l2: np.ndarray
    k_l2: np.ndarray
    c_l2: np.ndarray
    pe_reuse: np.ndarray
    dram_order: np.ndarray

    @classmethod
    def from_mappings(cls, mappings: list[Mapping] | Mapping) -> MappingBatch:
        if isinstance(mappings, Mapping):
            mappings = [mappings]
        return cls(
            **{
                k: np.asarray([getattr(m, k) for m in mappings], dtype=np.int64)
                for k in MAPPING_FIELDS
            }
        )

    def __len__(self) -> int:
        return len(self.n_l2)

    def take(self, index: np.ndarray) -> MappingBatch:
        return MappingBatch(**{k: getattr(self, k)[index] for k in MAPPING_FIELDS})

    def mapping(self, i: int) -> Mapping:
        return Mapping(**{k: int(getattr(self, k)[i]) for k in MAPPING_FIELDS})
