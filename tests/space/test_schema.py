"""Space-file validation: every malformed file fails with a message that names the field."""

from __future__ import annotations

import copy
import textwrap

import pytest

from airchitect.cost.mapper import MappingOptions
from airchitect.space import DesignSpace, SpaceError
from airchitect.space.hardware import Dataflow
from airchitect.space.schema import load_yaml, validate_space

HARDWARE = {
    "pe_rows": [8, 16],
    "pe_cols": [8, 16],
    "l1_bytes": [64, 256],
    "l2_kib": [32, 128],
    "noc_words_per_cycle": [4, 16],
    "dram_bytes_per_cycle": [8, 32],
    "dataflow": ["ws", "rs"],
}

GOOD_YAML = """\
name: tiny
hardware:
  pe_rows: [8, 16]
  pe_cols: [8, 16]
  l1_bytes: [64, 256]
  l2_kib: [32, 128]
  noc_words_per_cycle: [4, 16]
  dram_bytes_per_cycle: [8, 32]
  dataflow: [ws, rs]
mapping:
  trip_options: 4
"""


def _space(**changes) -> dict:
    data = {"name": "tiny", "hardware": copy.deepcopy(HARDWARE)}
    for key, value in changes.items():
        if key in HARDWARE:
            data["hardware"][key] = value
        else:
            data[key] = value
    return data


def _error(data, source="foo.yaml") -> str:
    with pytest.raises(SpaceError) as info:
        DesignSpace.from_dict(data, source=source)
    return str(info.value)


def test_good_file_loads(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD_YAML)
    space = DesignSpace.from_yaml(path)
    assert space.name == "tiny" and space.size == 2**7
    assert space.knobs[-1].values == (Dataflow.WS, Dataflow.RS)
    assert space.mapping_options.trip_options == 4
    assert space.mapping_options.pe_reuse == MappingOptions().pe_reuse  # default fills the gap


def test_mapping_section_is_optional():
    space = DesignSpace.from_dict(_space())
    assert space.mapping_options == MappingOptions()


def test_name_defaults_to_file_stem(tmp_path):
    path = tmp_path / "my_space.yaml"
    path.write_text(GOOD_YAML.replace("name: tiny\n", ""))
    assert DesignSpace.from_yaml(path).name == "my_space"


# ---- duplicate keys -----------------------------------------------------------------------------
def test_duplicate_top_level_key_names_key_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(GOOD_YAML + "name: again\n")
    with pytest.raises(SpaceError, match=r"duplicate key 'name' at line 12 \(first at line 1\)"):
        DesignSpace.from_yaml(path)


def test_duplicate_nested_key_names_key_and_line():
    text = GOOD_YAML.replace("  pe_cols: [8, 16]\n", "  pe_cols: [8, 16]\n  pe_rows: [4]\n")
    with pytest.raises(SpaceError, match=r"space 'x.yaml': duplicate key 'pe_rows' at line 5"):
        load_yaml(text, "x.yaml")


def test_duplicate_key_deep_and_in_flow_mapping():
    with pytest.raises(SpaceError, match="duplicate key 'b'"):
        load_yaml("a:\n  - {b: 1, b: 2}\n")
    with pytest.raises(SpaceError, match="duplicate key 'c'"):
        load_yaml("a:\n  b:\n    c: 1\n    c: 2\n")


def test_merge_keys_may_be_overridden():
    data = load_yaml("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  x: 3\n")
    assert data["derived"] == {"x": 3, "y": 2}


def test_invalid_yaml_syntax():
    with pytest.raises(SpaceError, match="invalid YAML"):
        load_yaml("hardware: [1, 2\n", "bad.yaml")


# ---- unknown and missing fields -----------------------------------------------------------------
def test_unknown_top_level_key_lists_allowed():
    msg = _error(_space(hardwre={}))
    assert (
        "unknown key 'hardwre'" in msg
        and "allowed keys: name, description, hardware, mapping" in msg
    )


def test_unknown_knob_lists_allowed():
    data = _space()
    data["hardware"]["pe_row"] = [1]
    msg = _error(data)
    assert "hardware: unknown knob 'pe_row'" in msg and "pe_rows, pe_cols" in msg


def test_unknown_mapping_key():
    msg = _error(_space(mapping={"trips": 3}))
    assert "mapping: unknown key 'trips'" in msg and "trip_options" in msg


def test_missing_knob_and_missing_hardware():
    data = _space()
    del data["hardware"]["dataflow"]
    assert "hardware.dataflow: knob is required" in _error(data)
    assert "hardware: section is required" in _error({"name": "x"})


# ---- values -------------------------------------------------------------------------------------
def test_non_ascending_message_matches_format():
    msg = _error(_space(l2_kib=[64, 32]))
    assert (
        msg == "space 'foo.yaml': hardware.l2_kib: values must be strictly ascending, got [64, 32]"
    )


def test_repeated_values_rejected():
    assert "hardware.pe_cols: values must not repeat" in _error(_space(pe_cols=[8, 8]))
    assert "hardware.dataflow: values must not repeat" in _error(_space(dataflow=["ws", "weight"]))


@pytest.mark.parametrize(
    ("knob", "values", "expected"),
    [
        ("pe_rows", [8, 16.5], "hardware.pe_rows: values must be positive integers"),
        ("l1_bytes", [64.0], "hardware.l1_bytes: values must be positive integers"),
        ("pe_cols", [0, 8], "hardware.pe_cols: values must be positive integers"),
        ("l2_kib", ["big"], "hardware.l2_kib: values must be positive numbers"),
        ("l2_kib", [True], "hardware.l2_kib: values must be positive numbers"),
        ("noc_words_per_cycle", [-4, 16], "hardware.noc_words_per_cycle: values must be positive"),
        ("dram_bytes_per_cycle", [float("inf")], "hardware.dram_bytes_per_cycle: values must"),
        ("l2_kib", [], "hardware.l2_kib: values must be a non-empty list"),
        ("l2_kib", 32, "hardware.l2_kib: values must be a non-empty list"),
        ("dataflow", ["ws", "xs"], "hardware.dataflow: unknown dataflow 'xs'; allowed: ws, os"),
        ("dataflow", [0, 1], "hardware.dataflow: values must be dataflow names"),
    ],
)
def test_bad_values_name_the_field(knob, values, expected):
    assert expected in _error(_space(**{knob: values}))


def test_fractional_values_allowed_on_real_knobs():
    space = DesignSpace.from_dict(_space(l2_kib=[0.5, 1.5, 32]))
    assert space.knobs[3].values == (0.5, 1.5, 32)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"trip_options": 0}, "mapping.trip_options: must be a positive integer"),
        ({"batch_trip_options": True}, "mapping.batch_trip_options: must be a positive integer"),
        ({"trip_options": 17}, "mapping: field 'trip_options' must be in 1..16"),
        ({"pe_reuse": [4, 2]}, "mapping.pe_reuse: values must be strictly ascending"),
        ({"pe_reuse": [1.5]}, "mapping.pe_reuse: values must be positive integers"),
        ([1, 2], "mapping: must be a mapping, got list"),
    ],
)
def test_bad_mapping_names_the_field(mapping, expected):
    assert expected in _error(_space(mapping=mapping))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "top level must be a mapping, got list"),
        (None, "top level must be a mapping, got nothing"),
        ({"name": 3, "hardware": HARDWARE}, "name: must be a string"),
        (
            {"name": "x", "description": ["a"], "hardware": HARDWARE},
            "description: must be a string",
        ),
        ({"name": "x", "hardware": [1]}, "hardware: must be a mapping, got list"),
    ],
)
def test_bad_structure(data, expected):
    assert expected in _error(data)


def test_validate_returns_knobs_in_canonical_order():
    shuffled = dict(reversed(list(HARDWARE.items())))
    content = validate_space({"hardware": shuffled}, default_name="d")
    assert list(content["hardware"]) == list(HARDWARE)
    assert content["name"] == "d" and content["mapping"] == {}


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(SpaceError, match="cannot read file"):
        DesignSpace.from_yaml(tmp_path / "nope.yaml")
    with pytest.raises(SpaceError, match=r"not a packaged space \(default, reduced\)"):
        DesignSpace.named("nope")


def test_yaml_file_errors_name_the_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(GOOD_YAML).replace("[32, 128]", "[128, 32]"))
    with pytest.raises(SpaceError, match=r"bad\.yaml': hardware\.l2_kib: .*ascending"):
        DesignSpace.from_yaml(path)
