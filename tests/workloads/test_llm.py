"""LLM configs from HuggingFace-style dicts and the decoder builder's shapes."""

from __future__ import annotations

import json
import math

import pytest

from airchitect.workloads import OpType, WorkloadError
from airchitect.workloads.llm import LLMConfig, build_llm, list_llm_configs, load_llm_config

SHIPPED = (
    "llama-3.2-1b", "llama-3-8b", "llama-2-7b", "mistral-7b", "qwen2-0.5b", "qwen2-7b", "gpt2",
    "gpt2-medium", "pythia-1b", "phi-2", "mixtral-8x7b", "tinyllama-1.1b",
)  # fmt: skip


def _layer(net, name):
    return next(layer for layer in net.layers if layer.name == name)


def test_shipped_configs_all_load():
    assert set(SHIPPED) <= set(list_llm_configs())
    for name in SHIPPED:
        config = load_llm_config(name)
        assert config.name == name
        assert config.head_dim * config.num_attention_heads >= config.hidden_size // 2


@pytest.mark.parametrize(
    ("name", "gated", "head_dim", "kv_heads", "inner"),
    [
        ("llama-3-8b", True, 128, 8, 14336),
        ("qwen2-0.5b", True, 64, 2, 4864),
        ("gpt2", False, 64, 12, 3072),
        ("gpt2-medium", False, 64, 16, 4096),
        ("pythia-1b", False, 256, 8, 8192),
        ("phi-2", False, 80, 32, 10240),
    ],
)
def test_config_fields(name, gated, head_dim, kv_heads, inner):
    config = load_llm_config(name)
    assert (config.gated_mlp, config.head_dim) == (gated, head_dim)
    assert (config.num_key_value_heads, config.intermediate_size) == (kv_heads, inner)


def test_llama3_8b_prefill_gqa_shapes():
    net = build_llm(load_llm_config("llama-3-8b"), "prefill", batch=2, seq_len=256)
    q, k = _layer(net, "layers.0.self_attn.q_proj"), _layer(net, "layers.0.self_attn.k_proj")
    assert (q.p, q.c, q.k) == (512, 4096, 4096)
    assert (k.p, k.c, k.k) == (512, 4096, 1024)  # 8 KV heads x 128
    scores = _layer(net, "layers.31.self_attn.scores")
    assert scores.op is OpType.BMM
    assert (scores.groups, scores.p, scores.c_per_group, scores.k_per_group) == (64, 256, 128, 256)
    ctx = _layer(net, "layers.31.self_attn.context")
    assert (ctx.groups, ctx.p, ctx.c_per_group, ctx.k_per_group) == (64, 256, 256, 128)
    down = _layer(net, "layers.0.mlp.down_proj")
    assert (down.c, down.k) == (14336, 4096)
    head = _layer(net, "lm_head")
    assert (head.p, head.c, head.k) == (512, 4096, 128256)
    assert len(net) == 32 * 9 + 1
    assert net.name == "llama-3-8b-prefill"


def test_llama3_8b_decode_shapes():
    config = load_llm_config("llama-3-8b")
    net = build_llm(config, "decode", batch=4, seq_len=100, context_len=1000)
    q = _layer(net, "layers.0.self_attn.q_proj")
    assert (q.p, q.k) == (4, 4096)  # one new token per sequence
    scores = _layer(net, "layers.0.self_attn.scores")
    assert (scores.groups, scores.p, scores.k_per_group) == (128, 1, 1001)
    assert _layer(net, "layers.0.self_attn.context").c_per_group == 1001
    assert _layer(net, "lm_head").p == 4
    default_ctx = build_llm(config, "decode", seq_len=64)
    assert _layer(default_ctx, "layers.0.self_attn.scores").k_per_group == 65


def test_lm_head_last_token_only():
    net = build_llm(load_llm_config("gpt2"), batch=3, seq_len=10, lm_head_last_token_only=True)
    assert _layer(net, "lm_head").p == 3


def test_mixtral_moe_uniform_routing():
    config = load_llm_config("mixtral-8x7b")
    assert (config.num_local_experts, config.num_experts_per_tok, config.is_moe) == (8, 2, True)
    net = build_llm(config, "prefill", batch=1, seq_len=100)
    router = _layer(net, "layers.0.block_sparse_moe.router")
    assert (router.p, router.c, router.k) == (100, 4096, 8)
    routed = math.ceil(100 * 2 / 8)
    for e in range(8):
        gate = _layer(net, f"layers.0.block_sparse_moe.experts.{e}.gate_proj")
        assert (gate.p, gate.c, gate.k) == (routed, 4096, 14336)
    assert len(net) == 32 * (6 + 1 + 8 * 3) + 1
    decode = build_llm(config, "decode", batch=1, seq_len=50)
    # one token to 2 of the 8 experts: two one-row expert MLPs, not eight
    assert _layer(decode, "layers.0.block_sparse_moe.experts.1.up_proj").p == 1
    assert not any(".experts.2." in layer.name for layer in decode.layers)


def test_from_dict_gpt2_spelling_and_defaults():
    config = LLMConfig.from_dict(
        {"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2, "vocab_size": 100},
        name="tiny",
    )
    assert (config.intermediate_size, config.num_key_value_heads) == (256, 4)
    assert not config.gated_mlp


def test_from_dict_gated_by_model_type_or_explicit_flag_and_null_kv_heads():
    base = {"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
            "num_hidden_layers": 1, "vocab_size": 10, "num_key_value_heads": None}  # fmt: skip
    # Phi-3 writes no hidden_act that says "gated", its model type does
    assert LLMConfig.from_dict({**base, "model_type": "phi3"}).gated_mlp
    for model_type in ("gemma", "gemma2", "qwen2", "mistral"):
        assert LLMConfig.from_dict({**base, "model_type": model_type}).gated_mlp
    assert not LLMConfig.from_dict({**base, "model_type": "gpt_neox"}).gated_mlp
    assert LLMConfig.from_dict({**base, "model_type": "other", "gated_mlp": True}).gated_mlp
    plain = LLMConfig.from_dict({**base, "model_type": "other", "gated_mlp": False})
    assert not plain.gated_mlp
    assert plain.num_key_value_heads == 4


@pytest.mark.parametrize(
    ("model_type", "words"),
    [
        ("other", ["unsupported model_type 'other'", "not known", "phi3", "gated_mlp"]),
        ("", ["unsupported model_type ''"]),
        ("deepseek_v2", ["'deepseek_v2'", "latent attention"]),
    ],
)
def test_unknown_model_types_are_refused_not_guessed(model_type, words):
    d = {"model_type": model_type, "hidden_act": "silu", "hidden_size": 64,
         "num_attention_heads": 4, "intermediate_size": 128, "num_hidden_layers": 1,
         "vocab_size": 10}  # fmt: skip
    with pytest.raises(WorkloadError) as info:
        LLMConfig.from_dict(d, name="x")
    for word in words:
        assert word in str(info.value)
    with pytest.raises(WorkloadError, match="'gated_mlp' must be true or false"):
        LLMConfig.from_dict({**d, "gated_mlp": "yes"}, name="x")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"hidden_size": None}, "hidden_size"),
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"vocab_size": -5}, "vocab_size"),
        ({"num_key_value_heads": 3}, "num_attention_heads"),
        ({"num_local_experts": 4, "num_experts_per_tok": 5}, "num_experts_per_tok"),
        ({"vocab_size": None}, "missing required field 'vocab_size'"),
        ({"intermediate_size": "128"}, "'intermediate_size' must be a positive integer"),
        ({"num_attention_heads": 4.0}, "'num_attention_heads' must be a positive integer"),
        ({"num_key_value_heads": 0}, "'num_key_value_heads' must be a positive integer"),
        ({"head_dim": -8}, "'head_dim' must be a positive integer"),
        ({"hidden_size": 66}, "'hidden_size'=66 is not divisible"),
        ({"num_local_experts": 4}, "num_experts_per_tok"),
        ({"num_local_experts": "8", "num_experts_per_tok": 2}, "'num_local_experts'"),
    ],
)
def test_from_dict_rejects_bad_fields(patch, field):
    d = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "num_hidden_layers": 1, "vocab_size": 10, **patch}  # fmt: skip
    with pytest.raises(WorkloadError, match=rf"config 'bad'.*{field}"):
        LLMConfig.from_dict(d, name="bad")


def test_from_dict_gpt2_missing_field_and_not_a_mapping():
    with pytest.raises(WorkloadError, match=r"config 'g'.*missing required field 'n_head'"):
        LLMConfig.from_dict(
            {"model_type": "gpt2", "n_embd": 64, "n_layer": 1, "vocab_size": 9}, "g"
        )
    with pytest.raises(WorkloadError, match=r"config 'x'.*expected a mapping, got list"):
        LLMConfig.from_dict([1, 2], name="x")


def test_from_json_names_the_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(WorkloadError, match=r"cfg\.json.*'num_attention_heads'"):
        LLMConfig.from_json(path)
    path.write_text("{not json")
    with pytest.raises(WorkloadError, match=r"cfg\.json"):
        LLMConfig.from_json(path)


def test_load_by_path_and_unknown_name(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"model_type": "gpt2", "n_embd": 8, "n_head": 2, "n_layer": 1,
                                "vocab_size": 5}))  # fmt: skip
    assert load_llm_config(path).name == "mine"
    with pytest.raises(WorkloadError, match=r"unknown LLM config 'llama-9'.*llama-3-8b"):
        load_llm_config("llama-9")


def test_build_llm_rejects_bad_phase_and_sizes():
    config = load_llm_config("gpt2")
    with pytest.raises(WorkloadError, match="phase"):
        build_llm(config, "train")
    with pytest.raises(WorkloadError, match="'seq_len'"):
        build_llm(config, seq_len=0)
    with pytest.raises(WorkloadError, match="'context_len'"):
        build_llm(config, "decode", context_len=-1)


# -- builder shapes against hand-computed numbers --------------------------------------------------
# Small configs written out here so every expected number can be checked by hand. A GEMM
# (m x k) @ (k x n) is the loop nest p=m, c=k, k=n; a batched matmul of B products has groups=B,
# per-group c=k and k=n.

#: Llama-style dense decoder with grouped-query attention: 8 query heads share 2 KV heads.
DENSE_GQA = {
    "model_type": "llama", "hidden_size": 512, "num_attention_heads": 8,
    "num_key_value_heads": 2, "intermediate_size": 1376, "num_hidden_layers": 2,
    "vocab_size": 1000,
}  # fmt: skip
#: Mixtral-style MoE: 4 experts, top-2 routing, GQA with 4 KV heads.
MOE = {
    "model_type": "mixtral", "hidden_size": 256, "num_attention_heads": 8,
    "num_key_value_heads": 4, "intermediate_size": 512, "num_hidden_layers": 1,
    "vocab_size": 500, "num_local_experts": 4, "num_experts_per_tok": 2,
}  # fmt: skip


def _gemm_dims(layer):
    """(m, k, n) of a GEMM layer."""
    assert layer.op is OpType.GEMM and layer.groups == 1 and layer.n == 1
    return layer.p, layer.c, layer.k


def _bmm_dims(layer):
    """(batch, m, k, n) of a batched-matmul layer."""
    assert layer.op is OpType.BMM
    return layer.groups, layer.p, layer.c_per_group, layer.k_per_group


def test_dense_gqa_prefill_shapes_by_hand():
    net = build_llm(LLMConfig.from_dict(DENSE_GQA, name="dense"), "prefill", batch=3, seq_len=10)
    # head_dim = 512 / 8 = 64; KV width = 2 heads * 64 = 128; GEMM rows = 3 seqs * 10 tokens = 30
    a = "layers.1.self_attn"
    assert _gemm_dims(_layer(net, f"{a}.q_proj")) == (30, 512, 512)
    assert _gemm_dims(_layer(net, f"{a}.k_proj")) == (30, 512, 128)
    assert _gemm_dims(_layer(net, f"{a}.v_proj")) == (30, 512, 128)
    assert _gemm_dims(_layer(net, f"{a}.o_proj")) == (30, 512, 512)
    # one product per (sequence, query head) = 3 * 8 = 24; scores (10 x 64) @ (64 x 10)
    assert _bmm_dims(_layer(net, f"{a}.scores")) == (24, 10, 64, 10)
    assert _bmm_dims(_layer(net, f"{a}.context")) == (24, 10, 10, 64)
    assert _layer(net, f"{a}.scores").macs == 24 * 10 * 64 * 10
    # gated MLP: gate and up 512 -> 1376, down 1376 -> 512
    assert _gemm_dims(_layer(net, "layers.0.mlp.gate_proj")) == (30, 512, 1376)
    assert _gemm_dims(_layer(net, "layers.0.mlp.up_proj")) == (30, 512, 1376)
    assert _gemm_dims(_layer(net, "layers.0.mlp.down_proj")) == (30, 1376, 512)
    assert _gemm_dims(_layer(net, "lm_head")) == (30, 512, 1000)
    assert len(net) == 2 * (6 + 3) + 1
    per_layer = (30 * 512 * 512 * 2 + 30 * 512 * 128 * 2 + 2 * 24 * 10 * 64 * 10
                 + 3 * 30 * 512 * 1376)  # fmt: skip
    assert net.macs == 2 * per_layer + 30 * 512 * 1000


def test_dense_gqa_decode_shapes_by_hand():
    config = LLMConfig.from_dict(DENSE_GQA, name="dense")
    net = build_llm(config, "decode", batch=3, seq_len=10, context_len=20)
    # one new token per sequence: 3 GEMM rows; keys = 20 cached + 1 new = 21
    a = "layers.0.self_attn"
    assert _gemm_dims(_layer(net, f"{a}.q_proj")) == (3, 512, 512)
    assert _gemm_dims(_layer(net, f"{a}.k_proj")) == (3, 512, 128)
    assert _gemm_dims(_layer(net, f"{a}.v_proj")) == (3, 512, 128)
    assert _gemm_dims(_layer(net, f"{a}.o_proj")) == (3, 512, 512)
    assert _bmm_dims(_layer(net, f"{a}.scores")) == (24, 1, 64, 21)
    assert _bmm_dims(_layer(net, f"{a}.context")) == (24, 1, 21, 64)
    assert _gemm_dims(_layer(net, "layers.1.mlp.down_proj")) == (3, 1376, 512)
    assert _gemm_dims(_layer(net, "lm_head")) == (3, 512, 1000)
    last_only = build_llm(config, "prefill", batch=3, seq_len=10, lm_head_last_token_only=True)
    assert _gemm_dims(_layer(last_only, "lm_head")) == (3, 512, 1000)


def test_explicit_head_dim_sets_projection_widths():
    config = LLMConfig.from_dict({**DENSE_GQA, "head_dim": 80}, name="wide")
    net = build_llm(config, "prefill", batch=1, seq_len=4)
    # Q width 8 * 80 = 640 (not hidden_size), KV width 2 * 80 = 160
    assert _gemm_dims(_layer(net, "layers.0.self_attn.q_proj")) == (4, 512, 640)
    assert _gemm_dims(_layer(net, "layers.0.self_attn.k_proj")) == (4, 512, 160)
    assert _gemm_dims(_layer(net, "layers.0.self_attn.o_proj")) == (4, 640, 512)
    assert _bmm_dims(_layer(net, "layers.0.self_attn.scores")) == (8, 4, 80, 4)


def test_moe_prefill_shapes_by_hand():
    net = build_llm(LLMConfig.from_dict(MOE, name="moe"), "prefill", batch=1, seq_len=5)
    # head_dim = 256 / 8 = 32; KV width 4 * 32 = 128; 5 GEMM rows
    a = "layers.0.self_attn"
    assert _gemm_dims(_layer(net, f"{a}.q_proj")) == (5, 256, 256)
    assert _gemm_dims(_layer(net, f"{a}.k_proj")) == (5, 256, 128)
    assert _gemm_dims(_layer(net, f"{a}.v_proj")) == (5, 256, 128)
    assert _gemm_dims(_layer(net, f"{a}.o_proj")) == (5, 256, 256)
    assert _bmm_dims(_layer(net, f"{a}.scores")) == (8, 5, 32, 5)
    assert _bmm_dims(_layer(net, f"{a}.context")) == (8, 5, 5, 32)
    moe = "layers.0.block_sparse_moe"
    assert _gemm_dims(_layer(net, f"{moe}.router")) == (5, 256, 4)
    # 5 tokens x top-2 = 10 expert assignments over 4 experts: ceil(10 / 4) = 3 tokens each
    for e in range(4):
        assert _gemm_dims(_layer(net, f"{moe}.experts.{e}.gate_proj")) == (3, 256, 512)
        assert _gemm_dims(_layer(net, f"{moe}.experts.{e}.up_proj")) == (3, 256, 512)
        assert _gemm_dims(_layer(net, f"{moe}.experts.{e}.down_proj")) == (3, 512, 256)
    assert not any(".mlp." in layer.name for layer in net.layers)  # no dense MLP beside it
    assert _gemm_dims(_layer(net, "lm_head")) == (5, 256, 500)
    assert len(net) == 6 + 1 + 4 * 3 + 1


def test_moe_decode_shapes_by_hand():
    net = build_llm(LLMConfig.from_dict(MOE, name="moe"), "decode", batch=6, context_len=9)
    a, moe = "layers.0.self_attn", "layers.0.block_sparse_moe"
    assert _gemm_dims(_layer(net, f"{a}.q_proj")) == (6, 256, 256)
    assert _gemm_dims(_layer(net, f"{a}.k_proj")) == (6, 256, 128)
    # 6 sequences x 8 heads = 48 products, 1 query each, over 9 + 1 = 10 keys
    assert _bmm_dims(_layer(net, f"{a}.scores")) == (48, 1, 32, 10)
    assert _bmm_dims(_layer(net, f"{a}.context")) == (48, 1, 10, 32)
    assert _gemm_dims(_layer(net, f"{moe}.router")) == (6, 256, 4)
    # 6 tokens x top-2 = 12 assignments over 4 experts: exactly 3 each
    assert _gemm_dims(_layer(net, f"{moe}.experts.3.down_proj")) == (3, 512, 256)
    assert _gemm_dims(_layer(net, "lm_head")) == (6, 256, 500)


# -- MACs per phase against hand-computed totals: one dense, two MoE families ----------------------
# Each total is written out from the published config; build_llm's lm_head covers every token.

#: Qwen1.5-MoE-A2.7B's config.json (shape fields as published).
QWEN_MOE = {
    "model_type": "qwen2_moe", "hidden_act": "silu", "hidden_size": 2048,
    "intermediate_size": 5632, "moe_intermediate_size": 1408,
    "shared_expert_intermediate_size": 5632, "num_experts": 60, "num_experts_per_tok": 4,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "num_attention_heads": 16,
    "num_key_value_heads": 16, "num_hidden_layers": 24, "vocab_size": 151936,
}  # fmt: skip
#: DeepSeek-MoE 16B's config.json: 64 routed experts top-6, 2 shared, the first layer dense.
DEEPSEEK_MOE = {
    "model_type": "deepseek", "hidden_act": "silu", "hidden_size": 2048,
    "intermediate_size": 10944, "moe_intermediate_size": 1408, "n_routed_experts": 64,
    "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
    "moe_layer_freq": 1, "num_attention_heads": 16, "num_key_value_heads": 16,
    "num_hidden_layers": 28, "vocab_size": 102400,
}  # fmt: skip


def _phases(d, name, *, seq=128, context=1000):
    config = LLMConfig.from_dict(d, name=name)
    prefill = build_llm(config, "prefill", batch=1, seq_len=seq)
    decode = build_llm(config, "decode", batch=1, seq_len=seq, context_len=context)
    return config, prefill, decode


def test_dense_macs_per_phase_by_hand():
    config, prefill, decode = _phases(DENSE_GQA, "dense", seq=128)
    # hidden 512, 8 heads of 64, 2 KV heads (width 128), gated MLP 1376, 2 layers, vocab 1000
    proj = 512 * 512 * 2 + 512 * 128 * 2  # q, o + k, v per token
    mlp = 3 * 512 * 1376
    t = 128
    assert prefill.macs == 2 * (t * (proj + mlp) + 2 * 8 * t * 64 * t) + t * 512 * 1000
    kv = 1001  # 1000 cached + the new token
    assert decode.macs == 2 * (proj + mlp + 2 * 8 * kv * 64) + 512 * 1000
    assert not config.is_moe


def test_qwen_moe_a27b_fields_and_macs_per_phase_by_hand():
    config, prefill, decode = _phases(QWEN_MOE, "qwen1.5-moe-a2.7b")
    assert (config.num_local_experts, config.num_experts_per_tok) == (60, 4)
    assert (config.moe_intermediate_size, config.shared_expert_intermediate_size) == (1408, 5632)
    h, layers, vocab = 2048, 24, 151936
    attn_proj, router, gate = 4 * h * h, h * 60, h * 1
    expert, shared = 3 * h * 1408, 3 * h * 5632
    # prefill: 128 tokens x top-4 = 512 assignments >= 60 experts: ceil(512 / 60) = 9 rows each
    t = 128
    per_layer = t * (attn_proj + router + shared + gate) + 60 * 9 * expert + 2 * t * t * h
    assert prefill.macs == layers * per_layer + t * h * vocab
    # batch-1 decode: one token to 4 experts (4 one-row expert MLPs), not to all 60
    per_layer = attn_proj + router + 4 * expert + shared + gate + 2 * 1001 * h
    assert decode.macs == layers * per_layer + h * vocab
    moe = "layers.0.block_sparse_moe"
    assert _gemm_dims(_layer(decode, f"{moe}.experts.3.down_proj")) == (1, 1408, 2048)
    assert not any(".experts.4." in layer.name for layer in decode.layers)
    assert _gemm_dims(_layer(decode, f"{moe}.shared_expert.up_proj")) == (1, 2048, 5632)
    assert _gemm_dims(_layer(decode, f"{moe}.shared_expert_gate")) == (1, 2048, 1)


def test_deepseek_moe_fields_and_macs_per_phase_by_hand():
    config, prefill, decode = _phases(DEEPSEEK_MOE, "deepseek-moe-16b")
    assert (config.num_local_experts, config.num_experts_per_tok) == (64, 6)
    assert config.shared_expert_intermediate_size == 2 * 1408  # two shared experts, one MLP
    assert config.dense_layers == (0,)
    h, vocab = 2048, 102400
    attn_proj, router = 4 * h * h, h * 64
    expert, shared, dense_mlp = 3 * h * 1408, 3 * h * 2816, 3 * h * 10944
    t = 128  # 128 x 6 = 768 assignments over 64 experts: 12 rows each, exactly
    attn = t * attn_proj + 2 * t * t * h
    dense = attn + t * dense_mlp
    sparse = attn + t * (router + shared) + 64 * 12 * expert
    assert prefill.macs == dense + 27 * sparse + t * h * vocab
    attn = attn_proj + 2 * 1001 * h
    sparse = attn + router + 6 * expert + shared
    assert decode.macs == attn + dense_mlp + 27 * sparse + h * vocab
    assert _layer(prefill, "layers.0.mlp.down_proj").c == 10944
    assert not any(".shared_expert_gate" in layer.name for layer in prefill.layers)


def test_qwen_moe_sparse_step_and_mlp_only_layers():
    d = {**QWEN_MOE, "num_hidden_layers": 4, "decoder_sparse_step": 2, "mlp_only_layers": [3]}
    config = LLMConfig.from_dict(d, name="q")
    # layers 1 and 3 are sparse by the step, layer 3 is forced dense: only layer 1 has experts
    assert config.dense_layers == (0, 2, 3)
    net = build_llm(config, "decode", batch=1, seq_len=8)
    assert {x.name.split(".")[1] for x in net.layers if "block_sparse_moe" in x.name} == {"1"}
    with pytest.raises(WorkloadError, match="'mlp_only_layers' must be a list"):
        LLMConfig.from_dict({**QWEN_MOE, "mlp_only_layers": "3"}, name="q")


@pytest.mark.parametrize(
    ("tokens", "experts", "top_k", "expected"),
    [(1, 60, 4, (4, 1)), (14, 60, 4, (4, 14)), (15, 60, 4, (60, 1)), (128, 60, 4, (60, 9)),
     (6, 4, 2, (4, 3))],
)  # fmt: skip
def test_expert_rows(tokens, experts, top_k, expected):
    from airchitect.workloads.llm import expert_rows

    assert expert_rows(tokens, experts, top_k) == expected
