"""Recommendations are always valid designs: within budget, a mapping for every layer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airchitect.cost.mapper import tile_options
from airchitect.cost.network import evaluate_network
from airchitect.serve.predictor import OnnxPredictor
from airchitect.serve.recommend import NoFeasibleDesign, RecommendService, Settings, _Pool
from airchitect.space.budget import Budget, check_budget, hardware_area_mm2
from airchitect.workloads import build_llm_generation, load_llm_config
from airchitect.workloads.layer import conv2d, gemm
from airchitect.workloads.zoo import get_network

LAYER = conv2d("c", in_channels=32, out_channels=64, in_hw=30, kernel=3)


def test_a_layer_gets_a_valid_design_with_its_cost_model_cost(service) -> None:
    budget = Budget(area_mm2=40.0)
    rec = service.recommend(LAYER, budget, "edp")
    assert check_budget(rec.cost.hardware, budget)[0][0]
    direct = evaluate_network(LAYER, rec.cost.hardware, "edp")
    assert rec.cost.total["edp"] == pytest.approx(direct.total["edp"])
    assert rec.source in {"decoder", "neighbour"}
    assert 0 < rec.confidence <= 1
    assert service.space.decode(service.space.unflat_index(rec.hw_index)) == rec.cost.hardware


@pytest.mark.parametrize("area_mm2", [3.0, 4.0, 6.0, 10.0])
def test_tight_budgets_still_give_valid_designs(service, area_mm2: float) -> None:
    budget = Budget(area_mm2=area_mm2, power_mw=400.0)
    rec = service.recommend(LAYER, budget, "latency")
    assert check_budget(rec.cost.hardware, budget)[0][0]
    assert all(np.isfinite(r.cost["cycles"]) for r in rec.cost.layers)


class BiggestDesignPredictor(OnnxPredictor):
    """The real bundle, with the decoder forced to favour the largest value of every knob."""

    def outputs(self, frame):
        out = super().outputs(frame)

        def favour_last(x: np.ndarray, kind: str) -> np.ndarray:
            if kind == "ordinal":  # every threshold passed: the top class
                return np.full_like(x, 20.0)
            return np.where(np.arange(x.shape[1]) == x.shape[1] - 1, 20.0, np.zeros_like(x))

        logits = zip(out["knob_logits"], self.kinds, strict=True)
        out["knob_logits"] = [favour_last(x, kind) for x, kind in logits]
        return out


def test_a_model_that_wants_the_biggest_design_still_answers_within_a_tight_budget(
    bundle_dir,
) -> None:
    service = RecommendService(BiggestDesignPredictor(bundle_dir))
    area = np.sort(hardware_area_mm2(service.space.enumerate()))
    budget = Budget(area_mm2=float(area[3]))  # only the four smallest designs fit
    rec = service.recommend(LAYER, budget, "edp", Settings(top_k=3, neighbours=0))
    assert rec.source == "decoder"  # its most likely designs among those that fit
    assert check_budget(rec.cost.hardware, budget)[0][0]
    assert [c["status"] for c in rec.candidates].count("over budget") == 0
    assert all(np.isfinite(r.cost["cycles"]) for r in rec.cost.layers)


class NoCandidateService(RecommendService):
    """A model with nothing to offer: every candidate must come from the fallback search."""

    def _decoder_candidates(self, *args, **kwargs):
        return _Pool()


def test_when_the_model_offers_no_candidate_a_search_takes_over(bundle_dir) -> None:
    service = NoCandidateService(BiggestDesignPredictor(bundle_dir))
    area = np.sort(hardware_area_mm2(service.space.enumerate()))
    budget = Budget(area_mm2=float(area[3]))
    rec = service.recommend(LAYER, budget, "edp", Settings(top_k=3, neighbours=0))
    assert rec.source == "fallback"
    assert check_budget(rec.cost.hardware, budget)[0][0]
    assert all(np.isfinite(r.cost["cycles"]) for r in rec.cost.layers)


def test_a_budget_no_design_meets_is_an_error_naming_it(service) -> None:
    with pytest.raises(NoFeasibleDesign, match="area_budget_mm2=0.01.*smallest design"):
        service.recommend(LAYER, Budget(area_mm2=0.01), "edp")


def test_a_network_gets_one_design_and_a_mapping_per_layer(service) -> None:
    net = get_network("dqn")
    rec = service.recommend(net, Budget(power_mw=2000.0), "latency")
    assert [r.layer.name for r in rec.cost.layers] == [x.name for x in net.layers]
    direct = evaluate_network(net, rec.cost.hardware, "latency")
    assert rec.cost.total["cycles"] == pytest.approx(direct.total["cycles"])


def test_repeated_layer_shapes_are_mapped_once_but_counted_every_time(service) -> None:
    a, b = gemm("a", m=64, k=128, n=256), gemm("b", m=64, k=128, n=256)
    from airchitect.workloads.network import Network

    rec = service.recommend(Network("twice", "mlp", (a, b)), Budget(), "energy")
    one = evaluate_network(a, rec.cost.hardware, "energy")
    assert rec.cost.total["energy_pj"] == pytest.approx(2 * one.total["energy_pj"])


def test_refinement_never_makes_the_answer_worse(service) -> None:
    budget = Budget(area_mm2=20.0)
    plain = service.recommend(LAYER, budget, "edp")
    refined = service.recommend(LAYER, budget, "edp", Settings(refine=12))
    r = refined.refinement
    assert r is not None and 0 < r["evals"] <= 12
    assert r["after"] <= r["before"] and r["improvement"] >= 1.0
    assert refined.score <= plain.score * (1 + 1e-9)
    assert check_budget(refined.cost.hardware, budget)[0][0]


def test_an_llm_generation_is_one_design_across_prefill_and_decode(service) -> None:
    config = load_llm_config("gpt2")
    net = build_llm_generation(config, prefill=64, decode=8)
    rec = service.recommend(net, Budget(), "latency", Settings(top_k=2, neighbours=1))
    phases = {r.layer.name.split("/")[0] for r in rec.cost.layers}
    assert phases == {"prefill", "decode"}
    decode = [r for r in rec.cost.layers if r.layer.name.startswith("decode/")]
    assert all(r.repeat == 8 for r in decode)
    total = sum(r.repeat * r.cost["cycles"] for r in rec.cost.layers)
    assert rec.cost.total["cycles"] == pytest.approx(total)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="field 'top_k'"):
        Settings(top_k=0)
    with pytest.raises(ValueError, match="field 'refine'"):
        Settings(refine=-1)
    with pytest.raises(ValueError, match="field 'screen_ratio'"):
        Settings(screen_ratio=0.5)
    with pytest.raises(ValueError, match="field 'max_finalists'"):
        Settings(finalists=3, max_finalists=2)


@given(bound=st.integers(1, 300_000))
def test_the_screening_space_is_part_of_the_full_mapping_space(service, bound: int) -> None:
    """Every screening tiling is one the full mapper tries, so a design the screen maps is
    never dropped by the full mapper, and a screening score bounds the full score above."""
    full, screen = service.space.mapping_options, service.screen_options
    for trips, screen_trips in ((full.trip_options, screen.trip_options),
                                (full.batch_trip_options, screen.batch_trip_options)):  # fmt: skip
        wide = set(tile_options(bound, trips, full.trip_step).tolist())
        assert set(tile_options(bound, screen_trips, screen.trip_step).tolist()) <= wide
    assert set(screen.pe_reuse) <= set(full.pe_reuse)


@pytest.mark.parametrize("objective", ["latency", "edp"])
def test_more_finalists_never_give_a_worse_answer(service, objective: str) -> None:
    """The screen's best is always a finalist, so mapping more in full can only help."""
    lm_head = gemm("lm_head", m=512, n=50_257, k=768, precision_bytes=2)
    for layer in (LAYER, lm_head):
        budget = Budget(area_mm2=6.0)
        one = service.recommend(layer, budget, objective, Settings(max_finalists=1))
        many = service.recommend(layer, budget, objective, Settings(max_finalists=6))
        assert many.score <= one.score * (1 + 1e-9)
