"""DesignSpace: sizes, the three addressings of a point, enumeration, sampling, identity."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from airchitect.cost.mapper import MappingOptions
from airchitect.space import HARDWARE_KNOBS, DesignSpace, HardwareConfig, SpaceError
from airchitect.workloads.zoo import get_network

DEFAULT = DesignSpace.default()
REDUCED = DesignSpace.named("reduced")


def _index_vectors(space: DesignSpace):
    return st.tuples(*(st.integers(0, int(c) - 1) for c in space.cardinalities)).map(
        lambda t: np.array(t, dtype=np.int64)
    )


# ---- sizes --------------------------------------------------------------------------------------
def test_default_space_size():
    assert list(DEFAULT.cardinalities) == [8, 8, 6, 8, 5, 4, 4]
    assert DEFAULT.size == math.prod([8, 8, 6, 8, 5, 4, 4]) == 245_760
    assert DEFAULT.name == "default" and DEFAULT.mapping_options.trip_options == 8


def test_reduced_space_is_enumerable():
    assert 2_000 <= REDUCED.size <= 4_000
    assert len(REDUCED.enumerate()) == REDUCED.size


def test_knobs_are_canonical_and_ordinal_ones_ascend():
    assert tuple(k.name for k in DEFAULT.knobs) == HARDWARE_KNOBS
    for knob in DEFAULT.knobs:
        assert knob.kind == ("categorical" if knob.name == "dataflow" else "ordinal")
        if knob.kind == "ordinal":
            assert list(knob.values) == sorted(knob.values)
    with pytest.raises(ValueError):
        DEFAULT.cardinalities[0] = 1  # read-only: a cached array must not be corrupted


def test_joint_space_of_a_resnet50_conv_exceeds_a_billion():
    layer = next(la for la in get_network("resnet50").layers if la.name == "layer1.0.conv2")
    assert (layer.r, layer.s) == (3, 3)
    assert DEFAULT.mapping_size(layer) == DEFAULT.mapping_options.size(layer)
    assert DEFAULT.joint_size(layer) == DEFAULT.size * DEFAULT.mapping_size(layer)
    assert DEFAULT.joint_size(layer) > 1e9


# ---- round trips --------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(_index_vectors(DEFAULT))
def test_index_vector_round_trips(idx):
    config = DEFAULT.decode(idx)
    assert isinstance(config, HardwareConfig)
    np.testing.assert_array_equal(DEFAULT.encode(config), idx)
    flat = DEFAULT.flat_index(idx)
    assert isinstance(flat, int) and 0 <= flat < DEFAULT.size
    np.testing.assert_array_equal(DEFAULT.unflat_index(flat), idx)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, DEFAULT.size - 1))
def test_flat_index_round_trips(flat):
    assert DEFAULT.flat_index(DEFAULT.unflat_index(flat)) == flat


def test_flat_index_is_mixed_radix_with_first_knob_most_significant():
    last = np.zeros(7, dtype=np.int64)
    last[-1] = 1
    assert DEFAULT.flat_index(last) == 1
    first = np.zeros(7, dtype=np.int64)
    first[0] = 1
    assert DEFAULT.flat_index(first) == DEFAULT.size // 8


def test_batch_conversions_match_rows():
    idx = DEFAULT.unflat_index(DEFAULT.sample_indices(300, seed=3))
    batch = DEFAULT.decode_batch(idx)
    for i in range(0, 300, 7):
        assert batch.config(i) == DEFAULT.decode(idx[i])
    np.testing.assert_array_equal(DEFAULT.encode_batch(batch), idx)
    flat = DEFAULT.flat_index(idx)
    assert flat.shape == (300,)
    assert list(flat[:5]) == [DEFAULT.flat_index(row) for row in idx[:5]]


def test_encode_accepts_float_spellings():
    config = HardwareConfig(16, 16, 256, 128.0, 16.0, 16.0, "os")
    assert DEFAULT.decode(DEFAULT.encode(config)) == config


def test_empty_batches():
    batch = DEFAULT.decode_batch(np.zeros((0, 7), dtype=np.int64))
    assert len(batch) == 0 and DEFAULT.encode_batch(batch).shape == (0, 7)


# ---- errors -------------------------------------------------------------------------------------
def test_encode_off_grid_names_knob_and_values():
    config = HardwareConfig(5, 16, 256, 128, 16, 16, "ws")
    with pytest.raises(SpaceError, match=r"pe_rows=5 is not on the grid; allowed values: \[4, 8"):
        DEFAULT.encode(config)
    batch = REDUCED.sample(10, seed=0)
    batch.l2_kib[4] = 108.0
    with pytest.raises(SpaceError, match=r"l2_kib=108.0 \(row 4\) is not on the grid"):
        REDUCED.encode_batch(batch)


def test_decode_errors_name_the_knob():
    bad = np.zeros(7, dtype=np.int64)
    bad[2] = 6
    with pytest.raises(SpaceError, match=r"index 6 for knob 'l1_bytes' is out of range 0..5"):
        DEFAULT.decode(bad)
    rows = np.zeros((3, 7), dtype=np.int64)
    rows[1, 6] = -1
    with pytest.raises(SpaceError, match="knob 'dataflow'"):
        DEFAULT.decode_batch(rows)
    with pytest.raises(SpaceError, match=r"shape \(7,\)"):
        DEFAULT.decode([0, 0, 0])
    with pytest.raises(SpaceError, match="must be integers"):
        DEFAULT.decode(np.zeros(7))


def test_unflat_index_range():
    with pytest.raises(SpaceError, match="out of range"):
        DEFAULT.unflat_index(DEFAULT.size)
    with pytest.raises(SpaceError, match="out of range"):
        DEFAULT.unflat_index(np.array([0, -1]))


# ---- enumeration and sampling -------------------------------------------------------------------
def test_enumerate_covers_every_point_once_in_flat_order():
    batch = REDUCED.enumerate()
    flat = REDUCED.flat_index(REDUCED.encode_batch(batch))
    np.testing.assert_array_equal(flat, np.arange(REDUCED.size))
    rows = np.stack([np.asarray(getattr(batch, k), dtype=float) for k in HARDWARE_KNOBS], axis=1)
    assert len(np.unique(rows, axis=0)) == REDUCED.size


def test_enumerate_refuses_large_spaces():
    with pytest.raises(SpaceError, match=r"245,760 hardware points, more than limit=1,000"):
        DEFAULT.enumerate(limit=1_000)


def test_sample_is_deterministic_and_unique():
    a, b = DEFAULT.sample_indices(5_000, seed=7), DEFAULT.sample_indices(5_000, seed=7)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 5_000
    assert not np.array_equal(a, DEFAULT.sample_indices(5_000, seed=8))
    whole = REDUCED.sample_indices(REDUCED.size, seed=1)
    np.testing.assert_array_equal(np.sort(whole), np.arange(REDUCED.size))
    more = REDUCED.sample_indices(REDUCED.size + 10, seed=1)
    assert len(more) == REDUCED.size + 10  # beyond the grid size, points repeat
    batch = DEFAULT.sample(50, seed=7)
    flat = DEFAULT.flat_index(DEFAULT.encode_batch(batch))
    np.testing.assert_array_equal(flat, DEFAULT.sample_indices(50, seed=7))
    with pytest.raises(SpaceError, match="sample size"):
        DEFAULT.sample(-1)


# ---- identity -----------------------------------------------------------------------------------
def test_hash_is_stable_under_reformatting(tmp_path):
    d = REDUCED.to_dict()
    hw = d["hardware"]
    flow = "\n".join(
        f"  {k}: [{', '.join(str(float(v)) if k == 'l2_kib' else str(v) for v in hw[k])}]"
        for k in reversed(list(hw))
    )
    text = (
        f"# a comment\nmapping: {{pe_reuse: {d['mapping']['pe_reuse']}, trip_options: 8}}\n"
        f"hardware:\n{flow}\nname: renamed\ndescription: other words\n"
    )
    path = tmp_path / "copy.yaml"
    path.write_text(text)
    copy = DesignSpace.from_yaml(path)
    assert copy.name == "renamed"
    assert copy.hash == REDUCED.hash and len(REDUCED.hash) == 64
    changed = dict(d, hardware=dict(hw, dram_bytes_per_cycle=[8, 16]))
    assert DesignSpace.from_dict(changed).hash != REDUCED.hash
    remapped = dict(d, mapping=dict(d["mapping"], trip_options=7))
    assert DesignSpace.from_dict(remapped).hash != REDUCED.hash


def test_to_dict_round_trips(tmp_path):
    again = DesignSpace.from_dict(REDUCED.to_dict())
    assert again == REDUCED and again.hash == REDUCED.hash
    path = tmp_path / "dumped.yaml"
    path.write_text(yaml.safe_dump(DEFAULT.to_dict(), sort_keys=False))
    assert DesignSpace.named(str(path)) == DEFAULT


def test_describe():
    info = DEFAULT.describe()
    assert info["name"] == "default" and info["size"] == DEFAULT.size
    assert [k["name"] for k in info["knobs"]] == list(HARDWARE_KNOBS)
    assert info["knobs"][-1]["values"] == ["ws", "os", "is", "rs"]
    assert info["mapping"] == {
        "trip_options": 8, "batch_trip_options": 3, "pe_reuse": [1, 2, 4, 8, 16, 32, 64],
    }  # fmt: skip
    assert info["hash"] == DEFAULT.hash
    assert DesignSpace.from_dict({"hardware": REDUCED.to_dict()["hardware"]}).mapping_options == (
        MappingOptions()
    )


def test_space_package_does_not_import_the_cost_model():
    code = "import sys, airchitect.space; assert 'airchitect.cost.model' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
