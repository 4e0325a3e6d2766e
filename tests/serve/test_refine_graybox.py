"""Refinement by the gray-box optimiser: ``Settings.refine_method`` and ``recommend
--refine N --refine-method graybox``, with progress and Ctrl-C keeping the best so far."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.serve.recommend import Settings
from airchitect.space.budget import Budget, check_budget
from airchitect.workloads.layer import conv2d
from airchitect.workloads.zoo import get_network

LAYER = conv2d("c", in_channels=32, out_channels=64, in_hw=30, kernel=3)


@pytest.mark.parametrize("workload", [LAYER, get_network("dqn")], ids=["layer", "network"])
def test_graybox_refinement_never_makes_the_answer_worse(service, workload) -> None:
    budget = Budget(area_mm2=20.0)
    plain = service.recommend(workload, budget, "edp")
    calls = []
    refined = service.recommend(
        workload, budget, "edp", Settings(refine=8, refine_method="graybox"),
        refine_progress=lambda *a: calls.append(a),
    )  # fmt: skip
    r = refined.refinement
    assert r["method"] == "graybox" and not r["interrupted"] and 0 < r["evals"] <= 8
    assert refined.score <= plain.score * (1 + 1e-9) and r["after"] <= r["before"]
    assert check_budget(refined.cost.hardware, budget)[0][0]
    assert [c[0] for c in calls] == list(range(1, r["evals"] + 1))
    assert all(c[1] == 8 for c in calls)


@pytest.mark.parametrize("method", ["graybox", "bo"])
def test_ctrl_c_during_refinement_keeps_the_best_so_far(service, method) -> None:
    def progress(evals, total, best):
        if evals == 2:
            raise KeyboardInterrupt

    budget = Budget(area_mm2=20.0)
    rec = service.recommend(LAYER, budget, "edp", Settings(refine=10, refine_method=method),
                            refine_progress=progress)  # fmt: skip
    assert rec.refinement["interrupted"] and rec.refinement["evals"] == 2
    assert check_budget(rec.cost.hardware, budget)[0][0]


def test_refine_method_is_checked() -> None:
    with pytest.raises(ValueError, match="field 'refine_method'"):
        Settings(refine_method="annealing")


def test_recommend_refine_graybox_cli(bundle_dir: Path) -> None:
    args = ["recommend", "--bundle", str(bundle_dir), "--layer", "k=64,c=32,p=28,q=28,r=3,s=3",
            "--area-mm2", "20", "--refine", "5", "--refine-method", "graybox"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "refined with" in result.output and "gray-box evaluations" in result.output
    out = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert out["refinement"]["method"] == "graybox" and out["refinement"]["evals"] <= 5
    bad = CliRunner().invoke(app, [*args[:-1], "annealing"])
    assert bad.exit_code != 0 and "refine_method" in bad.output
