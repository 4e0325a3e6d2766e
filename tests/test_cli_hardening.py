"""Issue 19 reproductions through the ``airchitect`` command: one ``error:`` line, no traceback."""

import json

import pytest
from typer.testing import CliRunner

from airchitect import cli, designs
from airchitect.cli import app
from airchitect.cli_serve import _phase_weights
from airchitect.data_gen.manifest import Manifest
from airchitect.space import DesignSpace

runner = CliRunner()


def one_error_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(("error:", "invalid:")), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_evaluate_overflowing_layer_is_an_error_not_negative_macs():
    spec = "k=1000000000000,c=1000000000000,p=1000000,q=1000000"
    line = one_error_line(runner.invoke(app, ["evaluate", "--layer", spec, "--json"]))
    assert "--layer" in line and "field 'k' must be at most" in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["evaluate", "--model", "resnet18", "--noc-words-per-cycle", "inf"], ["finite"]),
        (["evaluate", "--model", "resnet18", "--pe-rows", "100000"], ["at most 512"]),
        (["evaluate", "--model", "resnet18", "--area-mm2", "inf"], ["area_mm2"]),
        (["space", "sample", "--n", "20000000"], ["--n", "at most 100,000"]),
        (["generate", "--n", "20", "--shards", "1000", "--out", "unused"], ["shards", "n=20"]),
    ],
)
def test_out_of_range_flags(args, words):
    line = one_error_line(runner.invoke(app, args))
    for word in words:
        assert word in line


@pytest.mark.parametrize("text", ["decode=inf", "prefill=nan", "decode=1e300"])
def test_phase_weights_must_be_finite_and_bounded(text):
    with pytest.raises(ValueError, match="--phase-weights: field '(decode|prefill)_weight'"):
        _phase_weights(text)


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "shard-00000.parquet/.."])
def test_manifest_shard_names_stay_inside_the_dataset(tmp_path, name):
    manifest = Manifest.new(DesignSpace.named("reduced"), {"n": 1}, [1])
    manifest.shards = {name: {"rows": 1, "sha256": "0" * 64, "seed": 1}}
    (tmp_path / "manifest.json").write_text(json.dumps(json.loads(manifest.to_json())))
    line = one_error_line(runner.invoke(app, ["data", "validate", str(tmp_path)]), code=1)
    assert "not a shard file name" in line
    line = one_error_line(runner.invoke(app, ["data", "stats", str(tmp_path)]))
    assert "not a shard file name" in line


def test_unexpected_exceptions_are_one_line_with_a_pointer_to_debug(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("something\nwent wrong")

    monkeypatch.setattr(designs, "load_workload", broken)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--model", "resnet18"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: unexpected RuntimeError: something went wrong "
        "(run again with --debug for the traceback)"
    )
    with pytest.raises(RuntimeError, match="went wrong"):
        cli.main(["evaluate", "--model", "resnet18", "--debug"])


def test_the_guard_leaves_ordinary_errors_and_exits_alone(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--layer", "k=0,c=1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --layer:")
