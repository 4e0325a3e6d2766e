"""End-to-end CLI: recommend (layers, networks, LLM generations), export, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.serve.bundle import read_meta

runner = CliRunner()


def recommend(bundle_dir: Path, *args: str):
    return runner.invoke(app, ["recommend", "--bundle", str(bundle_dir), *args])


def test_recommend_a_zoo_network_as_json(bundle_dir: Path) -> None:
    result = recommend(bundle_dir, "--model", "dqn", "--power-mw", "3000", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["budget_report"]["feasible"]
    assert "layers" not in out  # summarised by default
    summary = out["layers_summary"]
    assert sum(x["count"] for x in summary) == 5 and all(x["mapping"] for x in summary)
    assert out["bound"] in {"compute", "noc", "dram"} and out["source"]
    full = json.loads(recommend(bundle_dir, "--model", "dqn", "--json", "--all-layers").output)
    assert len(full["layers"]) == 5 and all(x["mapping"] for x in full["layers"])


def test_recommend_json_summarises_repeated_layers(bundle_dir: Path) -> None:
    args = ("--llm-config", "qwen2-0.5b", "--prefill", "32", "--decode", "4", "--json")
    out = json.loads(recommend(bundle_dir, *args).output)
    summary = out["layers_summary"]
    # 24 identical decoder layers per phase: each distinct shape once, counted 24 times
    assert len(summary) < 30 and sum(x["count"] for x in summary) == 2 * (24 * 9 + 1)
    q_proj = next(x for x in summary if x["names"][0] == "prefill/layers.0.self_attn.q_proj")
    # q_proj and o_proj are both 896 x 896: one entry for 48 layers, each run once
    assert q_proj["count"] == q_proj["runs"] == 48
    assert q_proj["names"] == [
        "prefill/layers.0.self_attn.q_proj",
        "prefill/layers.0.self_attn.o_proj",
        "prefill/layers.1.self_attn.q_proj",
    ]
    head = [x for x in summary if x["names"][0].endswith("lm_head")]
    assert [(x["names"], x["runs"]) for x in head] == [
        (["prefill/lm_head"], 1),
        (["decode/lm_head"], 4),
    ]
    assert out["total"]["macs"] == sum(x["runs"] * x["cost"]["macs"] for x in summary)


def test_recommend_exact_certifies_the_optimum_and_time_budget_reports_a_gap(
    bundle_dir: Path,
) -> None:
    exact = recommend(bundle_dir, "--model", "dqn", "--area-mm2", "20", "--exact", "--json")
    assert exact.exit_code == 0, exact.output
    cert = json.loads(exact.output)["certificate"]
    assert cert["certified"] and cert["gap"] == 0 and cert["lower_bound"] <= cert["best"]
    shown = recommend(bundle_dir, "--model", "dqn", "--area-mm2", "20", "--time-budget", "0")
    assert shown.exit_code == 0, shown.output
    assert "above the grid's optimum" in shown.output or "certified optimum" in shown.output
    bad = recommend(bundle_dir, "--model", "dqn", "--time-budget", "-1")
    assert bad.exit_code == 2 and "--time-budget" in bad.output


def test_recommend_explains_why_and_lists_neighbours_only_when_asked(bundle_dir: Path) -> None:
    plain = recommend(bundle_dir, "--model", "dqn", "--area-mm2", "20")
    assert plain.exit_code == 0 and "-bound" in plain.output and "similarity" not in plain.output
    full = recommend(bundle_dir, "--model", "dqn", "--area-mm2", "20", "--explain", "--neighbours")
    assert full.exit_code == 0, full.output
    assert "what if" in full.output and "similarity" in full.output


def test_recommend_writes_a_plot(bundle_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "dqn.png"
    result = recommend(bundle_dir, "--model", "dqn", "--area-mm2", "20", "--plot", str(path))
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 10_000
    bad = recommend(bundle_dir, "--model", "dqn", "--plot", str(tmp_path / "dqn.gif"))
    assert bad.exit_code == 2 and "--plot" in bad.output


def test_pareto_prints_the_front_and_marks_the_recommendation(bundle_dir, tmp_path) -> None:
    args = ["pareto", "--bundle", str(bundle_dir), "--model", "dqn", "--objective", "latency"]
    result = runner.invoke(app, [*args, "--area-mm2", "20", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    areas = [row["area"] for row in out["front"]]
    assert areas == sorted(areas) and out["recommended"]["area"] <= 20
    plot = runner.invoke(app, [*args, "--plot", str(tmp_path / "front.svg")])
    assert plot.exit_code == 0 and (tmp_path / "front.svg").is_file()
    bad = runner.invoke(app, [*args, "--resource", "volume"])
    assert bad.exit_code == 2 and "--resource" in bad.output


def test_weighted_phases_are_labelled_and_the_real_totals_shown(bundle_dir: Path) -> None:
    args = ["--llm-config", "gpt2", "--prefill", "16", "--decode", "4", "--objective", "latency"]
    weighted = recommend(bundle_dir, *args, "--phase-weights", "decode=2")
    assert weighted.exit_code == 0, weighted.output
    assert "weighted ms" in weighted.output and "really takes" in weighted.output
    plain = recommend(bundle_dir, *args)
    assert "weighted ms" not in plain.output and "really takes" not in plain.output


def test_recommend_one_layer_prints_tables(bundle_dir: Path) -> None:
    result = recommend(bundle_dir, "--layer", "k=64,c=32,p=28,q=28,r=3,s=3", "--refine", "5")
    assert result.exit_code == 0, result.output
    assert "why this design" in result.output and "refined with" in result.output


def test_recommend_an_llm_generation_shows_each_phase(bundle_dir: Path) -> None:
    generation = ["--llm-config", "gpt2", "--prefill", "64", "--decode", "8"]
    result = recommend(bundle_dir, *generation, "--phase-weights", "decode=2",
                       "--objective", "latency", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    phases = json.loads(result.output)["phases"]
    assert set(phases) == {"prefill", "decode"}
    assert phases["decode"]["seconds"] > 0 and phases["prefill"]["macs"] > 0


def test_recommend_errors_are_one_line_naming_the_option(bundle_dir: Path, tmp_path) -> None:
    cases = [
        (["--llm-config", "gpt2", "--prefill", "64"], "--prefill and --decode"),
        (["--llm-config", "gpt2", "--prefill", "8", "--decode", "2", "--phase-weights", "x=1"],
         "--phase-weights"),
        (["--model", "nope"], "--model"),
        (["--model", "dqn", "--objective", "speed"], "objective"),
        (["--model", "dqn", "--area-mm2", "0.001"], "area_budget_mm2=0.001"),
    ]  # fmt: skip
    for args, needle in cases:
        result = recommend(bundle_dir, *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output and result.output.startswith("error:"), result.output
    missing = runner.invoke(app, ["recommend", "--model", "dqn", "--bundle", str(tmp_path)])
    assert missing.exit_code == 2 and "--bundle" in missing.output


def test_export_writes_a_loadable_bundle(serve_run: Path, serve_dataset: Path, tmp_path) -> None:
    out = tmp_path / "b"
    args = ["export", "--model", str(serve_run), "--data", str(serve_dataset), "--out", str(out)]
    result = runner.invoke(app, [*args, "--max-neighbours", "50"])
    assert result.exit_code == 0, result.output
    assert read_meta(out)["export"]["neighbours"] == 50
    bad = runner.invoke(app, ["export", "--model", str(tmp_path / "none"), "--data",
                              str(serve_dataset), "--out", str(out)])  # fmt: skip
    assert bad.exit_code == 2 and "--model" in bad.output


def test_export_refuses_a_dataset_over_another_space(
    serve_run: Path, serve_dataset: Path, tmp_path
) -> None:
    from airchitect.models.bundle import load_bundle, save_bundle

    _, bundle = load_bundle(serve_run / "model.pt")
    save_bundle(bundle | {"space_hash": "0" * 16}, tmp_path / "model.pt")
    result = runner.invoke(app, ["export", "--model", str(tmp_path), "--data",
                                 str(serve_dataset), "--out", str(tmp_path / "b")])  # fmt: skip
    assert result.exit_code == 2 and "differs from the model's" in result.output
    assert not (tmp_path / "b").exists()


def test_serve_flags_default_to_the_servers_own_limits() -> None:
    """``airchitect serve`` spells its defaults out (importing the server would slow every
    command's start); they must stay the server's (issue 19: timeouts as flags)."""
    import inspect

    from airchitect.cli_serve import serve
    from airchitect.serve.http_guards import BODY_TIMEOUT_S
    from airchitect.serve.http_schema import GRACEFUL_SHUTDOWN_S, REQUEST_TIMEOUT_S

    defaults = {n: p.default for n, p in inspect.signature(serve).parameters.items()}
    assert defaults["body_timeout_s"] == BODY_TIMEOUT_S
    assert defaults["graceful_shutdown_s"] == GRACEFUL_SHUTDOWN_S
    assert defaults["request_timeout_s"] == REQUEST_TIMEOUT_S
    help_text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--body-timeout-s" in help_text and "--graceful-shutdown-s" in help_text
