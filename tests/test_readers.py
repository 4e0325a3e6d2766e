"""Hostile input files (issue 19): refused quickly, in one line naming the file and the place."""

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airchitect.designs import load_design, parse_layer_spec
from airchitect.readers import load_json, load_yaml
from airchitect.space.schema import SpaceError, load_space_file
from airchitect.workloads.importers import load_layers_table
from airchitect.workloads.layer import WorkloadError
from airchitect.workloads.llm import LLMConfig, build_llm

DEFAULT_SPACE = Path(__file__).parents[1] / "airchitect" / "space" / "default.yaml"

DESIGN = {"pe_rows": 12, "pe_cols": 14, "l1_bytes": 512, "l2_kib": 108,
          "noc_words_per_cycle": 14, "dram_bytes_per_cycle": 8, "dataflow": "rs"}  # fmt: skip
#: 9 anchors x 9 aliases: 9**9 nodes once expanded (the issue's reproduction).
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
DEEP_YAML = "x: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_JSON = '{"x": ' + "[" * 5000 + "]" * 5000 + "}"


def _fast(call, *args):
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        call(*args)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (BOMB, ["aliases expand", "100,000"]),
        (DEEP_YAML, ["nested deeper than 32"]),
        ("a: &a [*a]\n", ["alias refers to its own node"]),
        ("x: 1\nx: 2\n", ["duplicate key 'x' at line 2"]),
        ("x: .inf\n", ["non-finite", "line 1"]),
        ("x: 1e999\n", ["non-finite"]),
        ("x: 9223372036854775808\n", ["64-bit range"]),
        ("x: " + "9" * 5000 + "\n", ["5000-digit"]),
    ],
)
def test_hostile_yaml_is_refused_quickly(text, words):
    message = _fast(load_yaml, text, "f.yaml")
    assert message.startswith("f.yaml: ")
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (DEEP_JSON, ["nested deeper than 32"]),
        ('{"a": 1, "a": 2}', ["duplicate key 'a'"]),
        ('{"a": NaN}', ["non-finite"]),
        ('{"a": [1e999]}', ["non-finite", "a[0]"]),
        ('{"a": 9223372036854775808}', ["64-bit range", "at a"]),
    ],
)
def test_hostile_json_is_refused_quickly(text, words):
    message = _fast(load_json, text, "f.json")
    for word in words:
        assert word in message


def test_merge_keys_and_yaml12_floats_still_read():
    assert load_yaml("b: &b {x: 1}\nd:\n  <<: *b\n  y: 1e2\n", "f") == {
        "b": {"x": 1}, "d": {"x": 1, "y": 100.0}
    }  # fmt: skip


def test_design_json_is_read_as_json(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(DESIGN).replace('"l2_kib": 108', '"l2_kib": 1e2'))
    assert load_design(path).l2_kib == 100.0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (BOMB, ["aliases expand"]),
        ("pe_rows: " + "[" * 3000 + "]" * 3000, ["nested deeper"]),
        (json.dumps(DESIGN | {"pe_rows": 2**64}), ["64-bit range"]),
        (json.dumps(DESIGN | {"noc_words_per_cycle": 1e999}), ["non-finite"]),
        (json.dumps(DESIGN | {"pe_rows": 4096}), ["'pe_rows' must be at most 512"]),
    ],
)
def test_hostile_designs(tmp_path, text, words):
    path = tmp_path / ("d.json" if text.startswith("{") else "d.yaml")
    path.write_text(text)
    message = _fast(load_design, path)
    assert str(path) in message
    for word in words:
        assert word in message


def test_non_utf8_files_are_named(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_bytes(b"pe_rows: 1\n\xff\xfe\n")
    assert "d.yaml: design is not UTF-8 text (line 2" in _fast(load_design, path)
    space = tmp_path / "s.yaml"
    space.write_bytes(b"\xff")
    with pytest.raises(SpaceError, match="s.yaml'.*not UTF-8"):
        load_space_file(space)


def test_space_alias_bomb_and_grid_limits(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BOMB)
    assert "aliases expand" in _fast(load_space_file, path)
    path.write_text("hardware:\n  pe_rows: [4, 100000]\n")
    with pytest.raises(SpaceError, match="hardware.pe_rows: field 'pe_rows' must be at most 512"):
        load_space_file(path)


@pytest.mark.parametrize(
    ("written", "reported"),
    [
        ("[4, 1:30]", "'1:30'"),  # YAML 1.1 read it as 90 and the error said 90
        ("[4, 1_000]", "'1_000'"),  # ... as 1000
        ("[4, 0b11]", "'0b11'"),  # ... as 3, then "not ascending: [4, 3]"
        ("[4, 8, no]", "'no'"),  # ... as False
    ],
)
def test_space_errors_report_values_as_written(tmp_path, written, reported):
    """A space file's error quotes the value the file holds, not a YAML 1.1 reinterpretation
    of it (issue 19)."""
    path = tmp_path / "s.yaml"
    text = (DEFAULT_SPACE.read_text()).replace("pe_rows: [4, 8, 12, 16, 24, 32, 48, 64]",
                                                f"pe_rows: {written}")  # fmt: skip
    path.write_text(text)
    with pytest.raises(SpaceError, match=r"hardware\.pe_rows: .*" + re.escape(reported)):
        load_space_file(path)


def test_yaml12_integers_and_booleans():
    assert load_yaml("a: [016, 0x10, 0o17, true, on]", "f") == {"a": [16, 16, 15, True, "on"]}


def test_csv_with_bom_reads_and_repeated_columns_are_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffname,n,k,c\nfc,1,8,8\n".encode())
    assert load_layers_table(path).layers[0].k == 8
    path.write_text("name,n,k,c,k\nfc,1,8,8,16\n")
    with pytest.raises(WorkloadError, match=r"t.csv row 1: header repeats column\(s\) \['k'\]"):
        load_layers_table(path)
    path.write_text("name,n,k,c\nfc,1," + "9" * 5000 + ",8\n")
    assert "5000-digit" in _fast(load_layers_table, path)


def test_layer_yaml_bomb_and_deep_nesting(tmp_path):
    path = tmp_path / "t.yaml"
    for text in (BOMB, DEEP_YAML):
        path.write_text(text)
        assert str(path) in _fast(load_layers_table, path)


def test_cli_layer_spec_huge_numbers():
    assert "must be at most" in _fast(parse_layer_spec, "k=1000000000000,c=1")
    assert "positive integer" in _fast(parse_layer_spec, "k=" + "9" * 5000 + ",c=1")


LLAMA = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "num_hidden_layers": 2, "vocab_size": 100}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"num_hidden_layers": 10**9}, ["'num_hidden_layers' must be at most 1,024"]),
        ({"num_local_experts": 10**7, "num_experts_per_tok": 2}, ["num_local_experts"]),
        (
            {"num_local_experts": 1024, "num_experts_per_tok": 2, "num_hidden_layers": 1024},
            ["layers, more than the limit"],
        ),
        ({"hidden_size": 2**70}, ["hidden_size"]),
    ],
)
def test_llm_configs_past_the_limits(change, words):
    def build():
        build_llm(LLMConfig.from_dict(LLAMA | change, "cfg"))

    message = _fast(build)
    for word in words:
        assert word in message


# -- a small fuzz over the CLI readers: any bytes give a result or one named error, quickly ----
_YAMLISH = st.text(alphabet="[]{}:,-&*!|>'\"#.e0123456789 \nabkcxyz\ufeff", max_size=200)


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_YAMLISH.map(str.encode), st.binary(max_size=200)))
def test_fuzz_readers_never_crash(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    for name, reader in (("d.yaml", load_design), ("d.json", load_design),
                         ("t.csv", load_layers_table), ("t.yaml", load_layers_table),
                         ("s.yaml", load_space_file)):  # fmt: skip
        path = folder / name
        path.write_bytes(data)
        try:
            reader(path)
        except ValueError as exc:  # every refusal is a ValueError naming the file, one line
            assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
