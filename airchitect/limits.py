"""The bounds of every numeric input, in one place, and why they are where they are.

The cost model (``cost/model.py``, ``cost/dataflows.py``, ``cost/mapper.py`` and the sweeps of
``search/cells.py``) counts cycles, NoC words and DRAM words in int64 and everything else in
float64. An input is accepted only if every quantity it can produce stays exact and finite, so
no answer is ever computed from a wrapped-around integer. The worst cases, for any in-bounds
mapping (a tile extent at most its loop bound, so tile x trip count < 2 x bound per axis) and any
hardware point within :data:`HARDWARE`:

- compute cycles <= 2 x 16 x MACs x (1 + systolic fill), fill < 3 x ``pe_rows``/``pe_cols``:
  with MACs <= 2**47 and at most 512 PEs a side, < 2**62.6;
- NoC and DRAM words each <= 24 x ``input_reads`` + 64 x MACs (the input tile and its halo
  re-read once per output channel tile): with ``input_reads`` <= 2**56, their sum < 2**62;
- energies, seconds and EDP are float64 products of those counts and bounded per-access
  energies, and bandwidths are at least :data:`MIN_BANDWIDTH`, so they stay finite.

Bounds sit far above any real workload (a 128k-token prefill of an 8B LLM is within them); a
value beyond one is an error that names the field and the limit. Library code asks
:func:`problem` (one field) or :func:`layer_size_problem` (the products of a layer) and raises its
own error type with its own context.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """Allowed values of one field: ``lo <= value <= hi``; ``integer`` fields take ints only."""

    lo: float
    hi: float
    integer: bool = True

    def text(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in {_num(self.lo)}..{_num(self.hi)}"


LAYER_DIM_LIMIT = 1 << 32  # the largest loop bound a layer (or an imported row) may have
_DIM = Bound(1, LAYER_DIM_LIMIT)

#: Loop bounds and shape fields of a layer (``workloads/layer.py``).
LAYER: dict[str, Bound] = {
    **{name: _DIM for name in ("n", "k", "c", "p", "q", "r", "s", "groups")},
    "stride": Bound(1, 1 << 12),
    "dilation": Bound(1, 1 << 12),
}
#: Products of a layer's fields (see the module docstring for why these two suffice).
MAX_MACS = 1 << 47
MAX_INPUT_READS = 1 << 56

#: Hardware knobs of one design (``space/hardware.py``); bandwidths in words or bytes per cycle.
MIN_BANDWIDTH = 1e-3
HARDWARE: dict[str, Bound] = {
    "pe_rows": Bound(1, 512),
    "pe_cols": Bound(1, 512),
    "l1_bytes": Bound(1, 1 << 30),
    "l2_kib": Bound(1e-3, 1 << 30, integer=False),
    "noc_words_per_cycle": Bound(MIN_BANDWIDTH, 1 << 20, integer=False),
    "dram_bytes_per_cycle": Bound(MIN_BANDWIDTH, 1 << 20, integer=False),
}
#: Mapping options of a design space (``cost/mapper.py``).
PE_REUSE = Bound(1, 1 << 16)

#: Area and power budgets (``space/budget.py``); the lower end is "more than zero".
BUDGET: dict[str, Bound] = {
    "area_mm2": Bound(0, 1e9, integer=False),
    "power_mw": Bound(0, 1e12, integer=False),
}

#: LLM config fields (``workloads/llm.py``): above every published model by an order of magnitude.
LLM: dict[str, Bound] = {
    "hidden_size": Bound(1, 1 << 20),
    "num_attention_heads": Bound(1, 1 << 12),
    "num_key_value_heads": Bound(1, 1 << 12),
    "intermediate_size": Bound(1, 1 << 22),
    "num_hidden_layers": Bound(1, 1024),
    "vocab_size": Bound(1, 1 << 24),
    "head_dim": Bound(1, 1 << 16),
    "num_local_experts": Bound(0, 1024),
    "num_experts_per_tok": Bound(0, 1024),
    "moe_intermediate_size": Bound(0, 1 << 22),
    "shared_expert_intermediate_size": Bound(0, 1 << 24),
}
#: Workload shape arguments (zoo builders, LLM phases and generations).
SHAPE: dict[str, Bound] = {
    "batch": Bound(1, 1 << 16),
    "seq_len": Bound(1, 1 << 24),
    "context_len": Bound(1, 1 << 24),
    "prefill": Bound(1, 1 << 24),
    "decode": Bound(1, 1 << 24),
    "prefill_weight": Bound(0, 1e6, integer=False),
    "decode_weight": Bound(0, 1e6, integer=False),
}
#: Layers in one network: a bigger one takes minutes per answer, so it is refused up front.
MAX_NETWORK_LAYERS = 1 << 16

#: Counts the commands take.
COUNTS: dict[str, Bound] = {
    "sample_n": Bound(1, 100_000),  # space sample --n: rows printed
    "generate_n": Bound(1, 100_000_000),  # generate --n: dataset rows
    "shards": Bound(0, 100_000),  # generate --shards (0: automatic); also at most --n
    "budget_evals": Bound(1, 1_000_000),
    "budgets_per_workload": Bound(1, 1000),
    "seed": Bound(0, (1 << 63) - 1),
}

#: Fields whose lower end is exclusive (a budget of 0 mm2 or a weight of 0 means nothing).
_EXCLUSIVE_LO = frozenset({"area_mm2", "power_mw", "prefill_weight", "decode_weight"})


def problem(field: str, value: Any, bound: Bound) -> str | None:
    """Why ``value`` is not allowed for ``field`` (``"field 'x' must be ..., got ..."``), or
    ``None`` when it is. Bools are not numbers here; integer fields take ints only."""
    want = bound.text()
    exclusive = field in _EXCLUSIVE_LO
    if exclusive:
        want = f"a number in ({_num(bound.lo)}, {_num(bound.hi)}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"field {field!r} must be {want}, got {brief(value)}"
    if bound.integer and not isinstance(value, numbers.Integral):
        return f"field {field!r} must be {want}, got {brief(value)}"
    if not math.isfinite(value):
        return f"field {field!r} must be a finite number, got {brief(value)}"
    too_low = value <= bound.lo if exclusive else value < bound.lo
    if too_low:
        return f"field {field!r} must be {want}, got {brief(value)}"
    if value > bound.hi:
        return f"field {field!r} must be at most {_num(bound.hi)}, got {brief(value)}"
    return None


def check(field: str, value: Any, bound: Bound, error: type[Exception] = ValueError, where=""):
    """Raise ``error`` (prefixed with ``where``) if ``value`` is out of ``bound``."""
    found = problem(field, value, bound)
    if found is not None:
        raise error(f"{where}{found}")
    return value


def input_reads(n, k_per_group, c_per_group, p, q, r, s, stride, dilation, groups) -> int:
    """Input words a layer can read with its halo: ``G N K C P (stride + R_eff) W_in``, exact."""
    r_eff = (r - 1) * dilation + 1
    w_in = (q - 1) * stride + (s - 1) * dilation + 1
    return groups * n * k_per_group * c_per_group * p * (stride + r_eff) * w_in


def layer_size_problem(macs: int, reads: int) -> str | None:
    """Why a layer is too large for exact costs, or ``None``; Python ints, so no overflow."""
    if macs > MAX_MACS:
        return (
            f"MACs = {_sci(macs)} exceed the limit {_sci(MAX_MACS)} (2**47) per layer; "
            "split the layer or reduce its dimensions"
        )
    if reads > MAX_INPUT_READS:
        return (
            f"input reads with halo = {_sci(reads)} exceed the limit {_sci(MAX_INPUT_READS)} "
            "(2**56) per layer; reduce stride, dilation or the dimensions"
        )
    return None


# -- showing values in messages -------------------------------------------------------------------
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def brief(value: Any) -> str:
    """A short repr for error messages: bounded in length and depth whatever the value is (a
    huge int would take long to print, or fail to; an alias-built structure would expand)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"{'-' if value < 0 else ''}an integer of {abs(value).bit_length()} bits"
    try:
        return _REPR.repr(value)
    except ValueError:  # an int nested in a container beyond str()'s digit limit
        return f"a {type(value).__name__}"


def _num(x: float) -> str:
    if isinstance(x, int) or float(x).is_integer():
        x = int(x)
        return f"{x:,}" if x < 1 << 20 or x & (x - 1) else f"{x:,} = 2**{x.bit_length() - 1}"
    return f"{x:g}"


def _sci(x: int) -> str:
    return f"{x:.3g}" if x < 10**300 else f"about 2**{x.bit_length()}"
