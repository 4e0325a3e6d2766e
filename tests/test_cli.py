"""The ``airchitect`` command: help, every command's happy path, and one-line errors (exit 2)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.workloads import get_network

runner = CliRunner()
LAYER = "k=64,c=64,p=56,q=56,r=3,s=3,stride=1,n=1,groups=1,precision_bytes=2,op=conv"
DESIGN_YAML = """\
pe_rows: 12
pe_cols: 14
l1_bytes: 512
l2_kib: 108
noc_words_per_cycle: 14
dram_bytes_per_cycle: 8
dataflow: rs
"""


def run(*args: str):
    return runner.invoke(app, list(args))


def run_json(*args: str):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_user_error(result, *fragments: str) -> str:
    """Exit 2 with exactly one ``error:`` line on stderr that contains every fragment."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


# -- help ------------------------------------------------------------------------------------------

COMMANDS = [
    [],
    ["evaluate"],
    ["space"],
    ["space", "describe"],
    ["space", "sample"],
    ["workloads"],
    ["workloads", "list"],
    ["workloads", "show"],
    ["workloads", "import"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_evaluate_help_lists_flags_with_units():
    out = run("evaluate", "--help").stdout
    for option in ("--l1-bytes", "--l2-kib", "--noc-words-per-cycle", "--area-mm2", "--power-mw"):
        assert option in out


# -- evaluate --------------------------------------------------------------------------------------


def test_evaluate_resnet50_json():
    data = run_json("evaluate", "--model", "resnet50")
    assert len(data["layers"]) == 54
    assert data["total"]["macs"] == get_network("resnet50").macs
    assert data["total"]["seconds"] > 0 and data["total"]["cycles"] > 0
    assert data["hardware"]["pe_rows"] == 16 and data["hardware"]["dataflow"] == "ws"
    assert data["objective"] == "edp"
    assert data["budget"] == {"area_mm2": None, "power_mw": None, "feasible": True, "exceeded": []}


def test_evaluate_layer_with_preset_table_shows_bound():
    result = run("evaluate", "--layer", LAYER, "--preset", "eyeriss-like")
    assert result.exit_code == 0, result.output
    data = run_json("evaluate", "--layer", LAYER, "--preset", "eyeriss-like")
    bound = data["total"]["bound"]
    assert bound in result.stdout
    assert "12x14 rs" in result.stdout  # the preset's design
    assert data["total"]["macs"] == 64 * 64 * 56 * 56 * 9


def test_evaluate_top_limits_table_not_totals():
    result = run("evaluate", "--model", "resnet50", "--top", "3")
    assert result.exit_code == 0, result.output
    assert "top 3 of 54" in result.stdout
    assert "54 (4.089 GMACs)" in result.stdout  # the totals still cover every layer


def test_design_file_and_flag_override(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(DESIGN_YAML)
    data = run_json("evaluate", "--layer", LAYER, "--design", str(path), "--pe-rows", "16")
    assert data["hardware"] == {
        "pe_rows": 16, "pe_cols": 14, "l1_bytes": 512, "l2_kib": 108,
        "noc_words_per_cycle": 14, "dram_bytes_per_cycle": 8, "dataflow": "rs",
    }  # fmt: skip


def test_design_json_file(tmp_path):
    path = tmp_path / "chip.json"
    path.write_text(json.dumps({**yaml.safe_load(DESIGN_YAML), "dataflow": "os"}))
    data = run_json("evaluate", "--layer", LAYER, "--design", str(path))
    assert data["hardware"]["dataflow"] == "os"


def test_objective_changes_mapping_choice():
    latency = run_json("evaluate", "--model", "alexnet", "--objective", "latency")["total"]
    energy = run_json("evaluate", "--model", "alexnet", "--objective", "energy")["total"]
    assert latency["seconds"] <= energy["seconds"]
    assert energy["energy_pj"] <= latency["energy_pj"]


def test_budget_exceeded_is_reported_and_costs_still_printed():
    data = run_json("evaluate", "--layer", LAYER, "--area-mm2", "1", "--power-mw", "1e6")
    assert data["budget"]["feasible"] is False
    assert data["budget"]["exceeded"] == ["area"]
    assert data["total"]["seconds"] > 0
    result = run("evaluate", "--layer", LAYER, "--area-mm2", "1")
    assert result.exit_code == 0
    assert "EXCEEDED: area" in result.stdout
    assert "latency" in result.stdout


def test_budget_that_fits():
    data = run_json("evaluate", "--layer", LAYER, "--area-mm2", "1000", "--power-mw", "1e5")
    assert data["budget"]["feasible"] is True and data["budget"]["exceeded"] == []


def test_llm_config_evaluate():
    data = run_json(
        "evaluate", "--llm-config", "qwen2-0.5b", "--phase", "decode", "--batch", "2",
        "--context-len", "256",
    )  # fmt: skip
    assert data["network"] == "qwen2-0.5b-decode"
    assert data["layers"][-1]["layer"]["name"] == "lm_head"


# -- errors: one line, exit 2 ----------------------------------------------------------------------


def test_bad_dataflow():
    line = assert_user_error(
        run("evaluate", "--model", "resnet50", "--dataflow", "xx"), "--dataflow", "'dataflow'"
    )
    assert line == "error: --dataflow: field 'dataflow' must be one of ws, os, is, rs, got 'xx'"


def test_unknown_model_lists_allowed_names():
    assert_user_error(run("evaluate", "--model", "resnet51"), "--model", "resnet51", "resnet50")


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("k=64,c=x", ["--layer", "'c'"]),
        ("k=64,c=64,foo=3", ["--layer", "'foo'", "allowed", "precision_bytes"]),
        ("k64,c=3", ["--layer", "key=value"]),
        ("c=64", ["--layer", "'k'"]),
        ("k=64,c=64,op=pool", ["--layer", "'op'"]),
        ("k=64,c=64,groups=3", ["--layer", "groups"]),
    ],
)
def test_malformed_layer(spec, fragments):
    assert_user_error(run("evaluate", "--layer", spec), *fragments)


@pytest.mark.parametrize("flag", ["--design", "--onnx", "--layers"])
def test_missing_file(tmp_path, flag):
    missing = str(tmp_path / "nope.yaml")
    args = ["evaluate", "--layer", LAYER] if flag == "--design" else ["evaluate"]
    assert_user_error(run(*args, flag, missing), flag, "no such file", "nope.yaml")


def test_design_with_unknown_key(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(DESIGN_YAML + "clock_mhz: 200\n")
    assert_user_error(run("evaluate", "--layer", LAYER, "--design", str(path)), "'clock_mhz'")


def test_design_with_missing_key(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(DESIGN_YAML.replace("l2_kib: 108\n", ""))
    assert_user_error(run("evaluate", "--layer", LAYER, "--design", str(path)), "'l2_kib'")


def test_design_with_bad_value_and_duplicate_key(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(DESIGN_YAML.replace("pe_rows: 12", "pe_rows: 12.5"))
    assert_user_error(run("evaluate", "--layer", LAYER, "--design", str(path)), "'pe_rows'")
    path.write_text(DESIGN_YAML + "pe_cols: 16\n")
    assert_user_error(run("evaluate", "--layer", LAYER, "--design", str(path)), "pe_cols")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "resnet50", "--objective", "speed"], ["--objective", "latency"]),
        (["--model", "resnet50", "--area-mm2", "-1"], ["--area-mm2"]),
        (["--model", "resnet50", "--pe-rows", "0"], ["--pe-rows", "'pe_rows'"]),
        (["--model", "resnet50", "--preset", "tpu"], ["--preset", "eyeriss-like"]),
        (["--model", "resnet50", "--seq-len", "128"], ["--seq-len"]),
        (["--model", "resnet50", "--layer", LAYER], ["exactly one workload"]),
        ([], ["exactly one workload"]),
        (["--layer", LAYER, "--l1-bytes", "2"], ["no mapping fits"]),
        (["--llm-config", "gpt5"], ["--llm-config", "llama-3-8b"]),
        (["--llm-config", "gpt2", "--phase", "train"], ["phase"]),
        (["--layer", LAYER, "--preset", "eyeriss-like", "--design", "x.yaml"], ["exclusive"]),
    ],
)
def test_bad_arguments(args, fragments):
    assert_user_error(run("evaluate", *args), *fragments)


def test_typer_usage_error_keeps_exit_2():
    assert run("evaluate", "--model", "resnet50", "--pe-rows", "many").exit_code == 2
    assert run("evaluate", "--no-such-flag").exit_code == 2


# -- space -----------------------------------------------------------------------------------------


def test_space_describe_json():
    data = run_json("space", "describe")
    assert data["size"] == 245760
    assert [k["name"] for k in data["knobs"]][0] == "pe_rows"
    assert len(data["hash"]) == 64


def test_space_describe_model_sizes():
    data = run_json("space", "describe", "--space", "reduced", "--model", "resnet50")
    model = data["model"]
    assert model["joint_size"] == data["size"] * model["mapping_size"]
    result = run("space", "describe", "--model", "resnet50")
    assert result.exit_code == 0 and "245,760" in result.stdout and "joint space" in result.stdout


def test_space_describe_bad_space():
    assert_user_error(run("space", "describe", "--space", "huge"), "huge")


def test_space_sample_deterministic():
    first = run_json("space", "sample", "--n", "3", "--seed", "1")
    assert first == run_json("space", "sample", "--n", "3", "--seed", "1")
    assert len(first["points"]) == 3
    assert first != run_json("space", "sample", "--n", "3", "--seed", "2")
    for point in first["points"]:
        assert point["area_mm2"] > 0 and point["power_mw"] > 0 and point["feasible"] is True


def test_space_sample_budget():
    data = run_json("space", "sample", "--n", "20", "--seed", "0", "--area-mm2", "8")
    flags = [p["feasible"] for p in data["points"]]
    assert any(flags) and not all(flags)
    for p in data["points"]:
        assert p["feasible"] == (p["area_mm2"] <= 8)
        assert p["exceeded"] == ([] if p["feasible"] else ["area"])
    result = run("space", "sample", "--n", "4", "--power-mw", "300")
    assert result.exit_code == 0 and "power mW" in result.stdout


# -- workloads -------------------------------------------------------------------------------------


def test_workloads_list():
    result = run("workloads", "list")
    assert result.exit_code == 0
    for name in ("resnet50", "mobilenet_v2", "llama-3-8b"):
        assert name in result.stdout
    data = run_json("workloads", "list")
    resnet = next(n for n in data["networks"] if n["name"] == "resnet50")
    assert resnet["layers"] == 54 and resnet["family"] == "cnn"


def test_workloads_show_json():
    data = run_json("workloads", "show", "mobilenet_v2")
    net = get_network("mobilenet_v2")
    assert len(data["layers"]) == len(net)
    assert data["macs"] == net.macs
    assert data["layers"][0]["name"] == "conv1"
    assert {layer["op"] for layer in data["layers"]} >= {"conv", "dwconv", "fc"}
    assert run_json("workloads", "show", "mobilenet_v2", "--batch", "2")["macs"] == 2 * net.macs


def test_workloads_show_table_and_llm():
    result = run("workloads", "show", "resnet18")
    assert result.exit_code == 0 and "layer1.0.conv1" in result.stdout
    data = run_json(
        "workloads", "show", "--llm-config", "tinyllama-1.1b", "--phase", "prefill",
        "--batch", "1", "--seq-len", "2048",
    )  # fmt: skip
    assert data["name"] == "tinyllama-1.1b-prefill"
    assert data["layers"][0]["p"] == 2048


def test_workloads_show_needs_one_source():
    assert_user_error(run("workloads", "show"), "--llm-config")
    assert_user_error(run("workloads", "show", "nonet"), "nonet", "resnet50")


CSV = """\
name,op,n,k,c,p,q,r,s,stride,groups
conv_a,conv,1,32,3,112,112,3,3,2,1
dw_b,dwconv,1,32,32,112,112,3,3,1,32
fc_c,fc,1,10,32,,,,,,
"""


def test_workloads_import_csv(tmp_path):
    path = tmp_path / "net.csv"
    path.write_text(CSV)
    data = run_json("workloads", "import", str(path))
    assert [layer["name"] for layer in data["layers"]] == ["conv_a", "dw_b", "fc_c"]
    assert data["macs"] == 32 * 3 * 112 * 112 * 9 + 32 * 112 * 112 * 9 + 320
    result = run("workloads", "import", str(path))
    assert result.exit_code == 0 and "dw_b" in result.stdout
    layers = run_json("evaluate", "--layers", str(path))["layers"]
    assert len(layers) == 3


def test_workloads_import_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("1,10,32", "1,ten,32"))
    assert_user_error(run("workloads", "import", str(bad)), "bad.csv", "'k'")
    assert_user_error(run("workloads", "import", str(tmp_path / "none.csv")), "no such file")
    txt = tmp_path / "net.txt"
    txt.write_text("x")
    assert_user_error(run("workloads", "import", str(txt)), "'.txt'")
    assert_user_error(run("workloads", "import", str(bad), "--batch", "2"), "--batch")


def _small_onnx(path):
    from onnx import TensorProto, helper, numpy_helper, save

    def weight(name, *shape):
        return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Flatten", ["r1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[weight("w1", 16, 3, 3, 3), weight("w2", 10, 16 * 8 * 8)],
    )  # fmt: skip
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_workloads_import_onnx(tmp_path):
    path = tmp_path / "tiny.onnx"
    _small_onnx(path)
    data = run_json("workloads", "import", str(path))
    assert [layer["name"] for layer in data["layers"]] == ["conv1", "fc"]
    assert data["layers"][0]["k"] == 16 and data["layers"][0]["p"] == 8
    assert run_json("workloads", "import", str(path), "--batch", "4")["layers"][0]["n"] == 4
    cost = run_json("evaluate", "--onnx", str(path), "--batch", "2")
    assert cost["total"]["macs"] == 2 * (16 * 3 * 8 * 8 * 9 + 10 * 1024)


# -- real processes --------------------------------------------------------------------------------


def test_module_entry_point_json():
    proc = subprocess.run(
        [sys.executable, "-m", "airchitect", "evaluate", "--model", "resnet50", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["layers"]) == 54 and data["total"]["seconds"] > 0


def test_module_entry_point_bad_flag():
    proc = subprocess.run(
        [sys.executable, "-m", "airchitect", "evaluate", "--model", "resnet50", "--dataflow", "x"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "error: --dataflow: field 'dataflow' must be one of ws, os, is, rs, got 'x'"
    ]
    usage = subprocess.run(
        [sys.executable, "-m", "airchitect", "evaluate", "--bogus"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert usage.returncode == 2


# -- workloads: the group form for LLMs (--llm-config without `show`) ------------------------------


def test_workloads_group_shows_an_llm_like_show():
    args = ["--llm-config", "tinyllama-1.1b", "--phase", "prefill", "--batch", "1"]
    group = run_json("workloads", *args, "--seq", "2048")
    assert group == run_json("workloads", "show", *args, "--seq-len", "2048")
    assert group["name"] == "tinyllama-1.1b-prefill" and group["layers"][0]["p"] == 2048
    assert run_json("workloads", "show", *args, "--seq", "64")["layers"][0]["p"] == 64
    table = run("workloads", "--llm-config", "mixtral-8x7b", "--phase", "decode", "--seq", "128")
    assert table.exit_code == 0, table.output
    assert "layers.0.block_sparse_moe.experts.1.down_proj" in table.stdout  # top-2 of 8
    assert "mixtral-8x7b-decode" in table.stdout


def test_workloads_group_help_and_errors():
    result = run("workloads", "--help")
    assert result.exit_code == 0 and "--seq" in result.stdout and "--llm-config" in result.stdout
    assert "Usage" in run("workloads").output  # no arguments: the help, as before
    assert_user_error(run("workloads", "--batch", "2"), "--llm-config", "list, show or import")
    assert_user_error(run("workloads", "--batch", "2", "list"), "--batch", "after the command")
    assert_user_error(run("workloads", "--llm-config", "gpt5"), "--llm-config", "llama-3-8b")
    assert_user_error(run("workloads", "--llm-config", "gpt2", "--seq", "0"), "'seq_len'")


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ({"model_type": "llama", "num_attention_heads": 4},
         ["missing required field", "'hidden_size'"]),
        ({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
          "intermediate_size": 128, "num_hidden_layers": 1, "vocab_size": "10"},
         ["'vocab_size' must be a positive integer", "'10'"]),
        ({"model_type": "mixtral", "hidden_size": 64, "num_attention_heads": 4,
          "intermediate_size": 128, "num_hidden_layers": 1, "vocab_size": 10,
          "num_local_experts": 4}, ["'num_experts_per_tok'"]),
        ({"model_type": "gpt2", "n_embd": 64, "n_layer": 1, "vocab_size": 9}, ["'n_head'"]),
        ([1, 2], ["expected a mapping"]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [["workloads"], ["workloads", "show"]])
def test_workloads_bad_llm_config_fields(tmp_path, command, config, fragments):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config))
    result = run(*command, "--llm-config", str(path), "--seq", "16")
    assert_user_error(result, "--llm-config", "cfg.json", *fragments)


# -- finetune: bad option values (one line naming the option, exit 2) ------------------------------


def test_finetune_help():
    result = run("finetune", "--help")
    assert result.exit_code == 0
    for option in ("--from", "--data", "--out", "--freeze", "--lr", "--epochs", "--max-rows",
                   "--split", "--seed", "--batch-size"):  # fmt: skip
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--freeze", "all"], ["--freeze", "encoder, none", "'all'"]),
        (["--epochs", "0"], ["--epochs", ">= 1"]),
        (["--lr", "-1"], ["--lr", "> 0"]),
        (["--max-rows", "0"], ["--max-rows", ">= 1"]),
        (["--batch-size", "0"], ["--batch-size", ">= 1"]),
        (["--split", "held:x"], ["--split", "family:NAME"]),
        ([], ["--from", "no model.pt", "nowhere"]),
    ],
)
def test_finetune_bad_arguments(tmp_path, args, fragments):
    paths = ["--from", str(tmp_path / "nowhere"), "--data", str(tmp_path), "--out",
             str(tmp_path / "run")]  # fmt: skip
    assert_user_error(run("finetune", *paths, *args), *fragments)
    assert not (tmp_path / "run").exists()


def test_train_config_file_rejects_unknown_fields(tmp_path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("d_model: 32\nbogus: 1\n")
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--config", str(config)])  # fmt: skip
    assert result.exit_code == 2
    assert "--config" in result.output and "'bogus'" in result.output and "d_model" in result.output


def test_the_shipped_training_config_is_a_valid_train_config() -> None:
    from pathlib import Path

    from airchitect.models.train import TrainConfig

    data = yaml.safe_load((Path(__file__).parents[1] / "models/configs/default.yaml").read_text())
    assert TrainConfig(**data).d_model == data["d_model"]
    assert TrainConfig(**data).ranker["label_bonus"] == 0.15  # make model fits the ranker too


def test_train_config_names_a_bad_ranker_field_before_training(tmp_path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("d_model: 32\nranker:\n  rowz: 5\n")
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--config", str(config)])  # fmt: skip
    assert_user_error(result, "'rowz'", "label_bonus")
    assert not (tmp_path / "r").exists()


def test_train_refuses_a_negative_near_optimal_rtol(tmp_path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--near-optimal-rtol", "-0.5"])  # fmt: skip
    assert_user_error(result, "near_optimal_rtol", ">= 0")
    assert not (tmp_path / "r").exists()
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--near-optimal-slots", "0"])  # fmt: skip
    assert_user_error(result, "near_optimal_slots", ">= 1")
    assert not (tmp_path / "r").exists()


def test_version_and_long_answers_show_the_costliest_layers_with_a_legend() -> None:
    from importlib import metadata

    from typer.testing import CliRunner

    from airchitect.cli import app

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and metadata.version("airchitect") in version.output
    out = runner.invoke(app, ["evaluate", "--model", "resnet50", "--preset", "eyeriss-like"])
    assert out.exit_code == 0, out.output
    assert "top 20 of 54" in out.output and "PE reuse" in out.output
    assert out.output.index("design") < out.output.index("best mapping per layer")  # design first
