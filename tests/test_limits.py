"""The input bounds of ``airchitect.limits``: every accepted input costs exactly and finitely."""

import math
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings, target
from hypothesis import strategies as st

from airchitect import limits
from airchitect.cost.batch import LayerBatch, Mapping, MappingBatch
from airchitect.cost.model import evaluate
from airchitect.space.hardware import Dataflow, HardwareBatch, HardwareConfig
from airchitect.workloads.layer import Layer, WorkloadError

#: Cost fields that are integer counts in int64: they must equal the same sums in Python ints.
_COUNTS = ("macs", "compute_cycles", "noc_words", "dram_bytes", "l1_bytes_needed",
           "l2_bytes_needed", "pes_used")  # fmt: skip
_POSITIVE = ("cycles", "seconds", "energy_pj", "edp", "area_mm2", "power_mw")


def _extreme(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Mostly the ends of a range and powers of two, sometimes anything in it."""
    pow2 = [1 << b for b in range(hi.bit_length()) if lo <= 1 << b <= hi]
    return st.one_of(st.sampled_from([lo, hi, *pow2]), st.integers(lo, hi))


@st.composite
def big_layers(draw) -> Layer:
    """Layers anywhere in the accepted ranges, pushed towards the product limits."""
    dims = ("n", "k", "c", "p", "q", "r", "s")
    budget = draw(st.integers(0, 47))  # bits of MACs to spread over the dimensions
    cuts = sorted(draw(st.lists(st.integers(0, budget), min_size=6, max_size=6)))
    bits = [b - a for a, b in zip([0, *cuts], [*cuts, budget], strict=True)]
    order = draw(st.permutations(range(7)))
    values = {d: max(1, draw(st.integers(1 << max(bits[i] - 1, 0), 1 << bits[i])) // 1)
              for d, i in zip(dims, order, strict=True)}  # fmt: skip
    groups = draw(st.sampled_from([1, 1, 2, 4, values["k"]]))
    stride = draw(_extreme(1, 1 << 12))
    dilation = draw(_extreme(1, 1 << 12))
    kwargs = values | {"k": values["k"] * groups, "c": values["c"] * groups, "groups": groups,
                       "stride": stride, "dilation": dilation,
                       "precision_bytes": draw(st.sampled_from([1, 2, 4]))}  # fmt: skip
    try:
        return Layer("big", **kwargs)
    except WorkloadError:
        assume(False)


def big_hardware() -> st.SearchStrategy[HardwareConfig]:
    pe = _extreme(1, 512)
    bandwidth = st.sampled_from([limits.MIN_BANDWIDTH, 1.0, 64.0, float(1 << 20)])
    return st.builds(
        HardwareConfig,
        pe_rows=pe,
        pe_cols=pe,
        l1_bytes=_extreme(1, 1 << 30),
        l2_kib=st.sampled_from([1e-3, 16.0, 2048.0, float(1 << 30)]),
        noc_words_per_cycle=bandwidth,
        dram_bytes_per_cycle=bandwidth,
        dataflow=st.sampled_from(list(Dataflow)),
    )


@st.composite
def extreme_mappings(draw, layer: Layer) -> Mapping:
    b = layer.bounds
    return Mapping(
        *(draw(st.one_of(st.sampled_from([1, b[d]]), st.integers(1, b[d]))) for d in "NPKC"),
        pe_reuse=draw(_extreme(1, limits.PE_REUSE.hi)),
        dram_order=draw(st.integers(0, 5)),
    )


def _as_objects(batch):
    """The same struct of arrays with Python-int elements: arithmetic that cannot overflow
    (the hardware stays int64: its products with these become Python ints too)."""
    keep = ("dataflow", "dram_order")  # indices, not counts
    return type(batch)(**{
        name: value.astype(object) if value.dtype.kind == "i" and name not in keep else value
        for name, value in vars(batch).items()
    })  # fmt: skip


def _first_row(cost) -> dict:
    return {name: value[0] for name, value in vars(cost).items()}


def _assert_exact_and_finite(layer: Layer, hw: HardwareConfig, mapping: Mapping) -> None:
    args = (LayerBatch.from_layers(layer), HardwareBatch.from_configs(hw),
            MappingBatch.from_mappings(mapping))  # fmt: skip
    fast = evaluate(*args).row(0)
    exact = _first_row(evaluate(_as_objects(args[0]), args[1], _as_objects(args[2])))
    for name in _COUNTS:
        assert int(fast[name]) == exact[name], name
        assert 0 < fast[name] < 2**63, name
    for name in _POSITIVE:
        assert math.isfinite(fast[name]) and fast[name] > 0, name
        assert fast[name] == pytest.approx(float(exact[name]), rel=1e-9), name
    assert fast["macs"] == layer.macs
    assert 0 < fast["utilization"] <= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.data())
def test_every_accepted_input_costs_exactly_and_finitely(data):
    layer = data.draw(big_layers())
    target(math.log2(layer.macs), label="log2 MACs")
    target(math.log2(limits.input_reads(*layer._nest())), label="log2 input reads")
    _assert_exact_and_finite(layer, data.draw(big_hardware()), data.draw(extreme_mappings(layer)))


# The worst cases of the module docstring: the largest products, one-element tiles (the most
# trips) and the longest systolic fill per load (one PE row, 512 columns).
_WORST_LAYERS = [
    Layer("gemm", n=1, k=1 << 16, c=1 << 16, p=1 << 15),  # MACs = 2**47, Q = 1
    Layer("conv", n=1, k=1 << 10, c=1 << 10, p=1 << 10, q=1 << 10, r=2, s=1 << 6),  # 2**47
    Layer("halo", n=1, k=1 << 5, c=1 << 5, p=1 << 11, q=1 << 11, stride=1 << 12),  # reads < 2**56
]


@pytest.mark.parametrize("layer", _WORST_LAYERS, ids=lambda x: x.name)
@pytest.mark.parametrize("dataflow", list(Dataflow), ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(1, 512), (512, 1), (512, 512)])
def test_worst_cases_cost_exactly(layer, dataflow, shape):
    hw = HardwareConfig(*shape, 1, 1e-3, limits.MIN_BANDWIDTH, limits.MIN_BANDWIDTH, dataflow)
    for mapping in (Mapping(1, 1, 1, 1), Mapping(1, 1, 1, 1, limits.PE_REUSE.hi, 5)):
        _assert_exact_and_finite(layer, hw, mapping)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"k": 8, "c": 8, "p": 4096, "q": 4096, "stride": 1 << 24}, "'stride' must be at most"),
        ({f: 1 << 24 for f in "nkcpqrs"}, "MACs = 3.74e+50 exceed the limit"),
        ({"k": 10**12, "c": 10**12, "p": 10**6, "q": 10**6}, "field 'k' must be at most"),
        ({"k": 2**200, "c": 1}, "got an integer of 201 bits"),
    ],
)
def test_layers_beyond_the_limits_are_refused_naming_the_field(fields, message):
    with pytest.raises(WorkloadError, match=re.escape(message)):
        Layer("x", **({"n": 1} | fields))
