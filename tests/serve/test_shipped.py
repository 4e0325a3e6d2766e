"""The shipped bundle: present, self-consistent, and answering the README's main command."""

from __future__ import annotations

from airchitect.serve.bundle import DEFAULT_BUNDLE, read_meta
from airchitect.serve.predictor import OnnxPredictor
from airchitect.serve.recommend import RecommendService
from airchitect.space.budget import Budget, check_budget
from airchitect.space.space import DesignSpace
from airchitect.workloads.zoo import get_network


def test_the_shipped_bundle_is_small_and_describes_its_training() -> None:
    meta = read_meta(DEFAULT_BUNDLE)
    size = sum(p.stat().st_size for p in DEFAULT_BUNDLE.iterdir())
    assert size < 8 * 2**20  # it ships inside the package
    assert meta["space_hash"] == DesignSpace.named("default").hash
    assert meta["data"]["rows"]["train"] >= 50_000 and meta["export"]["parity_max_abs"] <= 1e-4


def test_the_shipped_model_recommends_a_valid_design_for_resnet50() -> None:
    service = RecommendService(OnnxPredictor(DEFAULT_BUNDLE))
    budget = Budget(area_mm2=40.0)
    rec = service.recommend(get_network("resnet50"), budget, "edp")
    assert check_budget(rec.cost.hardware, budget)[0][0]
    assert len(rec.cost.layers) == 54 and all(r.mapping for r in rec.cost.layers)


def test_the_shipped_torch_weights_are_the_served_network() -> None:
    """finetune/evaluate-model start from model.pt; it must be the network that serving runs."""
    from airchitect.models.bundle import load_bundle
    from airchitect.serve.recover import check_parity

    model, bundle = load_bundle(DEFAULT_BUNDLE / "model.pt")
    assert bundle["space_hash"] == read_meta(DEFAULT_BUNDLE)["space_hash"]
    assert check_parity(model, DEFAULT_BUNDLE) <= 1e-4


def test_the_shipped_ranker_beat_the_decoders_order_on_validation_rows() -> None:
    """The shipped model answers in its learned ranker's order, which was kept because it
    lowered regret on validation rows without costing exact-design accuracy."""
    from airchitect.models.bundle import load_bundle

    meta = read_meta(DEFAULT_BUNDLE)
    validation = meta["ranker"]["validation"]
    assert validation["kept"] and validation["decoder"]["rows"] >= 1000
    assert validation["ranker"]["regret"] < validation["decoder"]["regret"]
    assert validation["ranker"]["exact"] >= validation["decoder"]["exact"]
    torch_ranker = load_bundle(DEFAULT_BUNDLE / "model.pt")[1]["ranker"]
    assert torch_ranker["validation"] == validation  # the torch bundle ranks the same way
    assert OnnxPredictor(DEFAULT_BUNDLE).ranker is not None


def test_the_shipped_answer_for_mobilenet_v2_is_within_2_percent_of_the_certified_optimum():
    """The main job, judged where users judge it: one accelerator for a whole network."""
    from airchitect.search.network_exact import network_optimum

    service = RecommendService(OnnxPredictor(DEFAULT_BUNDLE))
    net, budget = get_network("mobilenet_v2"), Budget(area_mm2=40.0)
    rec = service.recommend(net, budget, "edp")
    optimum = network_optimum(net, service.space, budget, "edp")
    assert optimum.certificate.certified
    assert rec.score <= optimum.certificate.best * 1.02
