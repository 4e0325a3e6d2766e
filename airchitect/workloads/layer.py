"""The canonical operator: one loop nest that every supported layer type lowers to.

The nest, outermost to innermost, is ``G x N x K x C x P x Q x R x S`` where ``G`` is ``groups``
and ``K``, ``C`` below are *per-group* bounds. Conventions follow PyTorch's ``Conv2d``:
``out_channels`` (``k``) and ``in_channels`` (``c``) are totals over all groups.

- conv2d: ``groups=1``; depthwise: ``groups == c == k``; grouped conv: anything in between.
- fully connected ``y = W x`` with batch N: ``k = out_features``, ``c = in_features``, P=Q=R=S=1.
- GEMM ``(M x Kred) @ (Kred x Ncols)``: ``c = Kred``, ``p = M``, ``k = Ncols``.
- batched matmul with batch B: the GEMM above with ``groups = B`` (independent problems that share
  no operand), i.e. ``c = B * Kred`` and ``k = B * Ncols``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from airchitect import limits

#: Loop dimensions of the canonical nest in the order the cost model uses for its arrays.
DIMS: tuple[str, ...] = ("N", "K", "C", "P", "Q", "R", "S")


class OpType(StrEnum):
    CONV = "conv"
    DWCONV = "dwconv"
    GCONV = "gconv"
    FC = "fc"
    GEMM = "gemm"
    BMM = "bmm"


class WorkloadError(ValueError):
    """A workload definition is malformed; the message names the layer and the field."""


_POSITIVE_FIELDS = ("n", "k", "c", "p", "q", "r", "s", "stride", "dilation", "groups")
_PRECISIONS = (1, 2, 4)


@dataclass(frozen=True)
class Layer:
    """One layer as a loop nest. Dimensions are element counts; ``precision_bytes`` per operand."""

    name: str
    n: int
    k: int
    c: int
    p: int = 1
    q: int = 1
    r: int = 1
    s: int = 1
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    precision_bytes: int = 2
    op: OpType = OpType.CONV
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in _POSITIVE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise WorkloadError(f"layer {self.name!r}: field {name!r} must be a positive "
                                    f"integer, got {limits.brief(value)}")  # fmt: skip
            limits.check(name, value, limits.LAYER[name], WorkloadError, f"layer {self.name!r}: ")
        if self.precision_bytes not in _PRECISIONS:
            raise WorkloadError(
                f"layer {self.name!r}: field 'precision_bytes' must be one of {_PRECISIONS}, "
                f"got {limits.brief(self.precision_bytes)}"
            )
        for name in ("k", "c"):
            if getattr(self, name) % self.groups:
                raise WorkloadError(
                    f"layer {self.name!r}: field {name!r}={getattr(self, name)} is not divisible "
                    f"by groups={self.groups}"
                )
        try:
            object.__setattr__(self, "op", OpType(self.op))
        except ValueError:
            allowed = ", ".join(o.value for o in OpType)
            raise WorkloadError(
                f"layer {self.name!r}: field 'op' must be one of {allowed}, "
                f"got {limits.brief(self.op)}"
            ) from None
        too_big = limits.layer_size_problem(self.macs, limits.input_reads(*self._nest()))
        if too_big is not None:
            raise WorkloadError(f"layer {self.name!r}: {too_big}")

    def _nest(self) -> tuple[int, ...]:
        return (self.n, self.k_per_group, self.c_per_group, self.p, self.q, self.r, self.s,
                self.stride, self.dilation, self.groups)  # fmt: skip

    # -- per-group bounds of the canonical nest -------------------------------------------------
    @property
    def k_per_group(self) -> int:
        return self.k // self.groups

    @property
    def c_per_group(self) -> int:
        return self.c // self.groups

    @property
    def bounds(self) -> dict[str, int]:
        """Per-group loop bounds keyed by :data:`DIMS`."""
        return {
            "N": self.n,
            "K": self.k_per_group,
            "C": self.c_per_group,
            "P": self.p,
            "Q": self.q,
            "R": self.r,
            "S": self.s,
        }

    # -- derived sizes ---------------------------------------------------------------------------
    @property
    def input_h(self) -> int:
        """Input rows the nest reads (padding counted as part of the input)."""
        return (self.p - 1) * self.stride + (self.r - 1) * self.dilation + 1

    @property
    def input_w(self) -> int:
        return (self.q - 1) * self.stride + (self.s - 1) * self.dilation + 1

    @property
    def macs(self) -> int:
        return self.groups * math.prod(self.bounds.values())

    @property
    def weight_elems(self) -> int:
        return self.k * self.c_per_group * self.r * self.s

    @property
    def input_elems(self) -> int:
        return self.n * self.c * self.input_h * self.input_w

    @property
    def output_elems(self) -> int:
        return self.n * self.k * self.p * self.q

    @property
    def weight_bytes(self) -> int:
        return self.weight_elems * self.precision_bytes

    @property
    def input_bytes(self) -> int:
        return self.input_elems * self.precision_bytes

    @property
    def output_bytes(self) -> int:
        return self.output_elems * self.precision_bytes

    def to_dict(self) -> dict:
        out = asdict(self)
        out["op"] = self.op.value
        return out


# -- constructors for the layer types that lower to the nest ---------------------------------


def conv_output_size(
    in_size: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> int:
    """PyTorch's output-size rule for one spatial axis."""
    return (in_size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(
    name: str,
    *,
    in_channels: int,
    out_channels: int,
    in_hw: tuple[int, int] | int,
    kernel: tuple[int, int] | int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    batch: int = 1,
    precision_bytes: int = 2,
) -> Layer:
    """A 2-D convolution from PyTorch-style arguments; output size follows PyTorch."""
    h, w = (in_hw, in_hw) if isinstance(in_hw, int) else in_hw
    r, s = (kernel, kernel) if isinstance(kernel, int) else kernel
    p = conv_output_size(h, r, stride, padding, dilation)
    q = conv_output_size(w, s, stride, padding, dilation)
    if p <= 0 or q <= 0:
        raise WorkloadError(
            f"layer {name!r}: kernel {r}x{s} does not fit input {h}x{w} with padding {padding}"
        )
    if groups == 1:
        op = OpType.CONV
    elif groups == in_channels == out_channels:
        op = OpType.DWCONV
    else:
        op = OpType.GCONV
    return Layer(
        name, n=batch, k=out_channels, c=in_channels, p=p, q=q, r=r, s=s, stride=stride,
        dilation=dilation, groups=groups, precision_bytes=precision_bytes, op=op,
    )  # fmt: skip


def depthwise_conv2d(name: str, *, channels: int, **kwargs) -> Layer:
    return conv2d(name, in_channels=channels, out_channels=channels, groups=channels, **kwargs)


def fully_connected(
    name: str, *, in_features: int, out_features: int, batch: int = 1, precision_bytes: int = 2
) -> Layer:
    return Layer(
        name, n=batch, k=out_features, c=in_features, precision_bytes=precision_bytes,
        op=OpType.FC,
    )  # fmt: skip


def gemm(name: str, *, m: int, k: int, n: int, precision_bytes: int = 2) -> Layer:
    """``(m x k) @ (k x n)``: the reduction becomes C, rows become P, columns become K."""
    return Layer(name, n=1, k=n, c=k, p=m, precision_bytes=precision_bytes, op=OpType.GEMM)


def batched_matmul(
    name: str, *, batch: int, m: int, k: int, n: int, precision_bytes: int = 2
) -> Layer:
    """``batch`` independent ``(m x k) @ (k x n)`` products (attention scores, context)."""
    return Layer(
        name, n=1, k=batch * n, c=batch * k, p=m, groups=batch, precision_bytes=precision_bytes,
        op=OpType.BMM,
    )  # fmt: skip
