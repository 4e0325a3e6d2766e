from __future__ import annotations

import pytest
import torch

from airchitect.models.network import FlatRecommender, Recommender, RecommenderConfig

CARDS = (4, 4, 3, 3, 3, 2, 4)
KINDS = ("ordinal",) * 6 + ("categorical",)


def small_config(**overrides) -> RecommenderConfig:
    fields = dict(vocab_size=200, n_tokens=20, knob_cardinalities=CARDS, knob_kinds=KINDS,
                  d_model=32, n_heads=4, encoder_layers=2, decoder_layers=1,
                  dim_feedforward=64, projection_dim=16)  # fmt: skip
    return RecommenderConfig(**(fields | overrides))


def random_inputs(b: int, config: RecommenderConfig, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (b, config.n_tokens), generator=g)
    values = torch.randn(b, config.n_tokens, generator=g)
    return ids, values


def test_output_shapes_and_unit_projection() -> None:
    config = small_config()
    model = Recommender(config).eval()
    out = model(*random_inputs(5, config))
    assert out["embedding"].shape == (5, 32)
    assert out["projection"].shape == (5, 16)
    assert torch.allclose(out["projection"].norm(dim=-1), torch.ones(5), atol=1e-5)
    assert [x.shape[-1] for x in out["knob_logits"]] == [3, 3, 2, 2, 2, 1, 4]
    assert out["log_cost"].shape == (5,)
    flat = model.forward_flat(*random_inputs(5, config))
    assert len(flat) == 2 + len(CARDS)
    assert torch.equal(flat[0], out["embedding"]) and torch.equal(flat[1], out["log_cost"])


def test_the_export_forward_computes_what_the_model_does() -> None:
    """FlatRecommender re-implements eval-mode forward with fused attention calls."""
    torch.manual_seed(0)
    config = small_config(d_model=64, dim_feedforward=128, encoder_layers=3, decoder_layers=2)
    model = Recommender(config).eval()
    inputs = random_inputs(50, config)
    with torch.no_grad():
        for got, want in zip(FlatRecommender(model)(*inputs), model.forward_flat(*inputs),
                             strict=True):  # fmt: skip
            assert got.shape == want.shape
            assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_prediction_does_not_depend_on_the_rest_of_the_batch() -> None:
    torch.manual_seed(0)
    config = small_config(d_model=64, dim_feedforward=128, encoder_layers=3, decoder_layers=2)
    model = Recommender(config).eval()
    ids, values = random_inputs(1000, config)
    with torch.no_grad():
        big = model.forward_flat(ids, values)
        for i in (0, 417, 999):
            one = model.forward_flat(ids[i : i + 1], values[i : i + 1])
            for a, b in zip(one, big, strict=True):
                assert torch.allclose(a[0], b[i], atol=1e-5), (i, (a[0] - b[i]).abs().max())


def test_training_mode_is_differentiable_everywhere() -> None:
    config = small_config()
    model = Recommender(config).train()
    out = model(*random_inputs(4, config))
    total = out["projection"].sum() + out["log_cost"].sum()
    total = total + sum(x.sum() for x in out["knob_logits"])
    total.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_config_round_trip_and_validation() -> None:
    config = small_config(knob_names=("a", "b", "c", "d", "e", "f", "g"))
    again = RecommenderConfig.from_dict(config.to_dict())
    assert again == config
    with pytest.raises(ValueError, match="kinds"):
        small_config(knob_kinds=("ordinal",) * 7 + ("categorical",))
    with pytest.raises(ValueError, match="divisible"):
        small_config(n_heads=5)
    with pytest.raises(ValueError, match="unknown"):
        RecommenderConfig.from_dict(config.to_dict() | {"bogus": 1})


def test_exports_with_a_dynamic_batch() -> None:
    """``torch.export`` (what the ONNX exporter builds on) traces the flat forward."""
    config = small_config()
    flat = FlatRecommender(Recommender(config).eval())
    ids, values = random_inputs(3, config)
    batch = torch.export.Dim("batch")
    program = torch.export.export(flat, (ids, values), dynamic_shapes=({0: batch}, {0: batch}))
    ids, values = random_inputs(5, config, seed=1)
    with torch.no_grad():
        for a, b in zip(program.module()(ids, values), flat(ids, values), strict=True):
            assert torch.allclose(a, b, atol=1e-5)
