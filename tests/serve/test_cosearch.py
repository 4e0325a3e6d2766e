"""Co-search (airchitect.serve.cosearch): the Pareto filter, valid in-budget pairs, accuracy
sources, the
CLI command and the HTTP endpoint, on the tiny bundle of ``conftest.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from airchitect.cli import app
from airchitect.serve.cosearch import (
    Accuracy,
    Candidate,
    Targets,
    cosearch,
    family_candidates,
    load_accuracy_csv,
    pareto_front,
    plot_front,
    published_accuracy,
    resolve_accuracy,
)
from airchitect.space import Budget
from airchitect.workloads.families import family_variants
from tests.serve.test_http import assert_error, base_url, client  # noqa: F401  (fixtures)

VARIANTS = ["0.35_96", "0.5_96", "0.75_96"]  # small MobileNetV2 checkpoints: fast to search
AREA = 20.0
runner = CliRunner()


# -- the Pareto filter -----------------------------------------------------------------------------
def test_pareto_front_keeps_exactly_the_undominated_points_by_increasing_cost() -> None:
    acc = np.array([70.0, 75.0, 72.0, 75.0, 60.0, 80.0, 80.0])
    cost = np.array([1.0, 2.0, 3.0, 2.0, 0.5, 9.0, 10.0])
    front = pareto_front(acc, cost)
    assert front.tolist() == [4, 0, 1, 3, 5]  # 2 is beaten by 1; 6 by 5; 1 and 3 are equal
    rng = np.random.default_rng(0)
    acc, cost = rng.integers(0, 8, 200).astype(float), rng.integers(0, 8, 200).astype(float)
    front = set(pareto_front(acc, cost).tolist())
    for i in range(200):
        dominated = np.any(
            (acc >= acc[i]) & (cost <= cost[i]) & ((acc > acc[i]) | (cost < cost[i]))
        )
        assert (i in front) == (not dominated)


def test_published_table_names_real_variants_with_a_source() -> None:
    for family in ("efficientnet", "mobilenet_v2", "resnet", "vit", "bert"):
        table = published_accuracy(family)
        assert table and set(table) <= set(family_variants(family))
        assert all(a.source and 0 < a.value <= 100 for a in table.values())
    assert published_accuracy("efficientnet")["b0"].value == 77.1
    assert published_accuracy("mobilenet_v2")["1.0_224"].value == 71.8
    assert set(published_accuracy("efficientnet")) == set(family_variants("efficientnet"))


# -- the search ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def candidates() -> list[Candidate]:
    return family_candidates("mobilenet_v2", VARIANTS)


@pytest.fixture(scope="module")
def result(service, candidates):
    acc = resolve_accuracy(VARIANTS[:2], published_accuracy("mobilenet_v2"))  # 0.75_96: none
    budgets = [Budget(area_mm2=AREA), Budget(area_mm2=AREA, power_mw=2000.0)]
    return cosearch(service, candidates, budgets, "latency", acc)


def test_every_pair_is_a_valid_design_within_its_budget(result) -> None:
    assert len(result.pairs) == len(VARIANTS) * 2
    for p in result.pairs:
        assert p.feasible, p.status
        total = p.recommendation.cost.total
        assert total["area_mm2"] <= p.budget.area_mm2 + 1e-9
        if p.budget.power_mw is not None:
            assert total["power_mw"] <= p.budget.power_mw + 1e-9
        layers = p.recommendation.cost.layers
        assert layers and all(r.mapping and r.cost["valid"] for r in layers)


def test_the_front_is_undominated_and_variants_without_accuracy_are_cost_only(result) -> None:
    assert result.front and result.chosen in result.front
    on = [result.pairs[i] for i in result.front]
    assert all(p.status == "front" and p.accuracy is not None for p in on)
    scored = [p for p in result.pairs if p.accuracy is not None]
    for p in on:
        cost = p.metrics["latency_ms"]
        beaten = [q for q in scored if q.accuracy.value >= p.accuracy.value
                  and q.metrics["latency_ms"] < cost]  # fmt: skip
        assert not beaten
    for p in result.pairs:
        if p.variant == "0.75_96":
            assert p.accuracy is None and p.status.startswith("cost only")
    assert result.pairs[result.chosen].variant == "0.5_96"  # the most accurate with a figure
    out = result.to_dict()
    assert out["cost_only"] == ["0.75_96"] and json.dumps(out, default=float)
    assert all(("layers" in p["recommendation"]) == (i in result.front)
               for i, p in enumerate(out["pairs"]))  # fmt: skip


def test_targets_and_an_impossible_budget_are_reported(service, candidates) -> None:
    acc = resolve_accuracy(VARIANTS, published_accuracy("mobilenet_v2"))
    tight = cosearch(service, candidates[:1], [Budget(area_mm2=0.01)], "edp", acc)
    assert not tight.front and tight.chosen is None
    assert tight.pairs[0].status.startswith("infeasible") and not tight.pairs[0].feasible
    assert tight.to_dict()["infeasible"][0]["variant"] == "0.35_96"
    missed = cosearch(service, candidates[:1], [Budget(area_mm2=AREA)], "edp", acc,
                      Targets(latency_ms=1e-6))  # fmt: skip
    assert not missed.front and missed.pairs[0].status.startswith("misses target (latency")
    # a target on another metric also gets a design recommended for that metric
    both = cosearch(service, candidates[:1], [Budget(area_mm2=AREA)], "energy", acc,
                    Targets(latency_ms=1e3))  # fmt: skip
    assert [p.designed_for for p in both.pairs] == ["energy", "latency"]


def test_a_user_accuracy_csv_changes_the_front(service, candidates, tmp_path: Path) -> None:
    published = published_accuracy("mobilenet_v2")
    base = cosearch(service, candidates[:2], [Budget(area_mm2=AREA)], "latency",
                    resolve_accuracy(VARIANTS[:2], published))  # fmt: skip
    assert {base.pairs[i].variant for i in base.front} == {"0.35_96", "0.5_96"}
    csv = tmp_path / "mine.csv"
    csv.write_text("variant,accuracy,note\n0.35_96,80.0,my supernet\n")
    user = load_accuracy_csv(csv, family_variants("mobilenet_v2"))
    mine = cosearch(service, candidates[:2], [Budget(area_mm2=AREA)], "latency",
                    resolve_accuracy(VARIANTS[:2], published, user, str(csv)))  # fmt: skip
    # the cheaper variant is now the more accurate one too: it alone is on the front
    assert [mine.pairs[i].variant for i in mine.front] == ["0.35_96"]
    assert mine.pairs[mine.chosen].accuracy == Accuracy(80.0, "user", str(csv))
    by_callable = resolve_accuracy(VARIANTS, {}, lambda v: 50.0 if v == "0.75_96" else None)
    assert by_callable["0.75_96"].value == 50.0 and by_callable["0.35_96"] is None


@pytest.mark.parametrize(("text", "words"), [
    ("name,accuracy\nb0,70\n", ["row 1", "'variant'"]),
    ("variant,accuracy\nb0,high\n", ["row 2", "field 'accuracy'", "'high'"]),
    ("variant,accuracy\nb0,170\n", ["row 2", "0..100"]),
    ("variant,accuracy\nb0,70\nb0,71\n", ["row 3", "field 'variant'", "twice"]),
    ("variant,accuracy\nb9,70\n", ["row 2", "field 'variant'", "'b9'"]),
    ("variant,accuracy\n", ["no rows"]),
])  # fmt: skip
def test_a_bad_accuracy_csv_is_one_line_naming_file_row_and_field(tmp_path, text, words) -> None:
    csv = tmp_path / "acc.csv"
    csv.write_text(text)
    with pytest.raises(ValueError) as err:
        load_accuracy_csv(csv, family_variants("efficientnet"))
    message = str(err.value)
    assert "\n" not in message and str(csv) in message
    for word in words:
        assert word in message, message


def test_the_plot_is_written(result, tmp_path: Path) -> None:
    path = plot_front(result, tmp_path / "plots" / "front.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(path.parent.glob(".*"))  # no temporary file left


# -- the CLI ---------------------------------------------------------------------------------------
def cli(bundle_dir: Path, *args: str):
    return runner.invoke(app, ["cosearch", "--bundle", str(bundle_dir), *args])


def test_cli_prints_the_front_writes_the_plot_and_json(bundle_dir: Path, tmp_path: Path) -> None:
    plot = tmp_path / "front.png"
    args = ["--family", "mobilenet_v2", "--variants", "0.35_96,0.5_96", "--area-mm2", "20",
            "--latency-ms", "1000", "--plot", str(plot)]  # fmt: skip
    shown = cli(bundle_dir, *args)
    assert shown.exit_code == 0, shown.output
    assert "chosen (*)" in shown.output and "front" in shown.output and plot.exists()
    out = cli(bundle_dir, *args, "--json", "--refine", "2", "--exact")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["objective"] == "latency" and data["front"] and data["family"] == "mobilenet_v2"
    assert all(p["recommendation"]["certificate"]["certified"] for p in data["pairs"])
    for i in data["front"]:
        pair = data["pairs"][i]
        assert pair["latency_ms"] <= 1000 and pair["recommendation"]["layers"]
        assert pair["recommendation"]["total"]["area_mm2"] <= 20


@pytest.mark.parametrize(("args", "words"), [
    (["--family", "alexnet"], ["--family", "unknown network family"]),
    (["--family", "vit", "--variants", "h14"], ["--variants", "'h14'"]),
    (["--family", "vit", "--budget", "area=big"], ["--budget", "'big'"]),
    (["--family", "vit", "--budget", "volume=3"], ["--budget", "volume"]),
    (["--family", "vit", "--budget", "area=-3"], ["--budget", "area_mm2"]),
    (["--family", "vit", "--latency-ms", "-1"], ["latency_ms"]),
    (["--family", "vit", "--objective", "speed"], ["--objective"]),
    (["--family", "vit", "--layers", "some"], ["--layers"]),
    (["--family", "vit", "--accuracy", "/nonexistent/acc.csv"], ["acc.csv"]),
])  # fmt: skip
def test_cli_bad_input_is_one_error_line_and_exit_2(bundle_dir: Path, args, words) -> None:
    result = cli(bundle_dir, *args)
    assert result.exit_code == 2, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]


def test_cli_co_searches_network_files_with_a_users_accuracies(bundle_dir, tmp_path) -> None:
    layers = tmp_path / "small-cnn.csv"
    layers.write_text("name,n,k,c,p,q,r,s\nconv1,1,32,3,56,56,3,3\nconv2,1,64,32,28,28,3,3\n")
    big = tmp_path / "big-cnn.csv"
    big.write_text("name,n,k,c,p,q,r,s\nconv1,1,64,3,56,56,3,3\nconv2,1,128,64,28,28,3,3\n")
    acc = tmp_path / "acc.csv"
    acc.write_text("variant,accuracy\nsmall-cnn,60\nbig-cnn,70\n")
    args = ["--network", str(layers), "--network", str(big), "--network", "bench/networks/"
            "phi-3-mini.json", "--prefill", "8", "--decode", "2", "--area-mm2", "20",
            "--accuracy", str(acc), "--json"]  # fmt: skip
    out = cli(bundle_dir, *args)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert {p["variant"] for p in data["pairs"]} == {"small-cnn", "big-cnn", "phi-3-mini"}
    assert {data["pairs"][i]["variant"] for i in data["front"]} <= {"small-cnn", "big-cnn"}
    both = cli(bundle_dir, "--family", "vit", "--network", str(layers))
    assert both.exit_code == 2 and "exactly one of --family or --network" in both.output


def test_cli_bad_accuracy_csv_names_the_row(bundle_dir: Path, tmp_path: Path) -> None:
    csv = tmp_path / "acc.csv"
    csv.write_text("variant,accuracy\nti16,x\n")
    result = cli(bundle_dir, "--family", "vit", "--accuracy", str(csv))
    assert result.exit_code == 2 and "row 2, field 'accuracy'" in result.output


# -- HTTP ------------------------------------------------------------------------------------------
def test_http_cosearch_returns_the_front(client) -> None:  # noqa: F811
    body = {"family": "mobilenet_v2", "variants": ["0.35_96", "0.5_96"],
            "budgets": [{"area_mm2": AREA}], "targets": {"latency_ms": 1000},
            "accuracy": {"0.35_96": 90.0}}  # fmt: skip
    response = client.post("/v1/cosearch", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert [out["pairs"][i]["variant"] for i in out["front"]] == ["0.35_96"]
    assert out["pairs"][out["chosen"]]["accuracy_source"] == "request"
    for p in out["pairs"]:
        assert p["recommendation"]["total"]["area_mm2"] <= AREA
    exact = client.post("/v1/cosearch", json=body | {"exact": True})
    assert exact.status_code == 200, exact.text
    assert all(p["recommendation"]["certificate"]["certified"] for p in exact.json()["pairs"])


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"family": "alexnet"}, 422, ["family"]),
    ({"family": "vit", "variants": ["h14"]}, 422, ["variants.0", "'h14'"]),
    ({"family": "vit", "accuracy": {"h14": 80}}, 422, ["accuracy", "'h14'"]),
    ({"family": "vit", "accuracy": {"ti16": 180}}, 422, ["accuracy.ti16"]),
    ({"family": "vit", "targets": {"latency_ms": -1}}, 422, ["targets.latency_ms"]),
    ({"family": "mobilenet_v2", "budgets": [{"area_mm2": 1}] * 8}, 413, ["22 variants x 8"]),
])  # fmt: skip
def test_http_cosearch_bad_input(client, body, status, words) -> None:  # noqa: F811
    assert_error(client.post("/v1/cosearch", json=body), status, *words)
