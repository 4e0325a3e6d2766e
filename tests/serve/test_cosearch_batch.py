"""airchitect.serve.cosearch_batch: the shared-sweep answers are the service's own, design for
design."""

from __future__ import annotations

import pytest

from airchitect.cost.validation import EYERISS_LIKE
from airchitect.serve.cosearch_batch import BatchRecommender
from airchitect.serve.recommend import Settings
from airchitect.space import Budget
from airchitect.space.budget import hardware_area_mm2, hardware_power_mw
from airchitect.space.hardware import HardwareBatch
from airchitect.workloads.families import build_variant, mobilenet_v2_scaled


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_batched_answers_equal_the_service_and_reuse_sweeps(service, objective) -> None:
    batch = BatchRecommender(service)
    nets = [mobilenet_v2_scaled(0.35, 96, d) for d in (0.5, 1.0)] + [build_variant("vit", "ti16")]
    for net in nets:
        for budget in (Budget(area_mm2=20.0), Budget(power_mw=1500.0)):
            want = service.recommend(net, budget, objective)
            got = batch.recommend(net, budget, objective)
            assert got.hw_index == want.hw_index, (net.name, budget)
            assert got.score == pytest.approx(want.score, rel=1e-12)
            assert got.cost.total["area_mm2"] == want.cost.total["area_mm2"]
            assert 0 < got.confidence <= 1
    assert batch.cache.hits > 0  # the second depth and budget reuse the first's sweeps


def test_other_settings_go_through_the_same_service(service) -> None:
    batch = BatchRecommender(service)
    net = mobilenet_v2_scaled(0.35, 96)
    refined = batch.recommend(net, Budget(area_mm2=20.0), "latency", Settings(refine=2))
    assert refined.refinement is not None


def test_a_full_cache_starts_again_and_answers_the_same(service) -> None:
    batch = BatchRecommender(service)
    batch.cache.max_entries = 5  # fewer than one network needs
    net, budget = mobilenet_v2_scaled(0.35, 96), Budget(area_mm2=20.0)
    for objective in ("latency", "energy"):
        want = service.recommend(net, budget, objective)
        assert batch.recommend(net, budget, objective).hw_index == want.hw_index


def test_the_shipped_model_gives_the_same_answers_batched() -> None:
    """On the default space, where the instant answer's screen and settle differ most from the
    reduced one: the cache changes no answer."""
    from airchitect.serve.predictor import OnnxPredictor
    from airchitect.serve.recommend import RecommendService

    shipped = RecommendService(OnnxPredictor())
    batch = BatchRecommender(shipped)
    hw = HardwareBatch.from_configs(EYERISS_LIKE)  # a tight budget: area and power both bind
    tight = Budget(float(hardware_area_mm2(hw)[0]) * 1.001, float(hardware_power_mw(hw)[0]) * 1.001)
    for variant in ("1.4_224", "0.75_160"):
        net = build_variant("mobilenet_v2", variant)
        for budget, objective in ((tight, "latency"), (Budget(area_mm2=40.0), "energy")):
            want = shipped.recommend(net, budget, objective)
            assert batch.recommend(net, budget, objective).hw_index == want.hw_index, variant
