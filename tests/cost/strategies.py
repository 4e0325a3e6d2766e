"""Hypothesis strategies for layers, hardware points and mappings."""

from hypothesis import strategies as st

from airchitect.cost.batch import Mapping
from airchitect.space.hardware import Dataflow, HardwareConfig
from airchitect.workloads.layer import Layer

pow2 = st.sampled_from([1, 2, 4, 8, 16, 32, 64])


@st.composite
def layers(draw) -> Layer:
    groups = draw(st.sampled_from([1, 1, 1, 2, 4]))
    r = draw(st.sampled_from([1, 3, 5, 7]))
    return Layer(
        "rand",
        n=draw(st.integers(1, 4)),
        k=groups * draw(st.integers(1, 96)),
        c=groups * draw(st.integers(1, 96)),
        p=draw(st.integers(1, 40)),
        q=draw(st.integers(1, 40)),
        r=r,
        s=r,
        stride=draw(st.sampled_from([1, 2])),
        groups=groups,
        precision_bytes=draw(st.sampled_from([1, 2])),
    )


def hardware() -> st.SearchStrategy[HardwareConfig]:
    return st.builds(
        HardwareConfig,
        pe_rows=st.sampled_from([4, 8, 12, 16, 32]),
        pe_cols=st.sampled_from([4, 8, 14, 16, 32]),
        l1_bytes=st.sampled_from([16, 64, 256, 1024]),
        l2_kib=st.sampled_from([16, 64, 256, 1024]),
        noc_words_per_cycle=st.sampled_from([2, 8, 32]),
        dram_bytes_per_cycle=st.sampled_from([4, 16, 64]),
        dataflow=st.sampled_from(list(Dataflow)),
    )


@st.composite
def mappings(draw, layer: Layer) -> Mapping:
    b = layer.bounds
    return Mapping(
        n_l2=draw(st.integers(1, b["N"])),
        p_l2=draw(st.integers(1, b["P"])),
        k_l2=draw(st.integers(1, b["K"])),
        c_l2=draw(st.integers(1, b["C"])),
        pe_reuse=draw(pow2),
        dram_order=draw(st.integers(0, 5)),
    )
