"""Decoder-only LLMs as loop nests, built from HuggingFace ``config.json`` shape fields.

Assumptions, stated once here because the cost model inherits them:

- Every projection is a GEMM with ``M = batch * tokens`` rows; attention scores and context are
  batched matmuls with one independent problem per (sequence, query head). With grouped-query
  attention K/V heads are shared, but the number of score/context products is still one per
  query head, so the batch is ``batch * num_attention_heads``.
- ``tokens`` is ``seq_len`` in prefill and 1 in decode; the key/value length is ``seq_len`` in
  prefill (causal masking is ignored: the dense product is what a GEMM engine computes) and
  ``context_len + 1`` in decode (the cached tokens plus the new one).
- Mixture of experts: each of the ``batch * tokens`` tokens goes to ``top_k`` experts. With at
  least as many assignments as experts, routing is assumed uniform: every expert appears as its
  own GEMMs on ``ceil(batch * tokens * top_k / num_experts)`` rows. With fewer (small-batch
  decode) only ``top_k`` experts run, each on all the tokens. A shared expert (Qwen-MoE,
  DeepSeek-MoE) is one more MLP on every token.
- The LM head produces logits for every token by default (what a plain forward pass and training
  compute); ``lm_head_last_token_only=True`` models generation, which needs only the last token.
- Embedding lookups, norms, rotary embeddings, softmax and activations carry no MACs here.
"""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from pathlib import Path

from airchitect import limits
from airchitect.workloads.layer import Layer, WorkloadError, batched_matmul, gemm
from airchitect.workloads.llm_config import MODEL_TYPES, LLMConfig, _check_positive
from airchitect.workloads.network import Network

__all__ = [
    "MODEL_TYPES", "LLMConfig", "attention_layers", "build_llm", "build_llm_generation",
    "expert_rows", "list_llm_configs", "load_llm_config", "mlp_layers",
]  # fmt: skip

_PHASES = ("prefill", "decode")


# -- shipped configs -------------------------------------------------------------------------------


def _data_dir() -> Path:
    return Path(str(resources.files("airchitect.workloads") / "data"))


def list_llm_configs() -> list[str]:
    """Names of the LLM configs shipped in ``airchitect/workloads/data``."""
    return sorted(p.stem for p in _data_dir().glob("*.json"))


def load_llm_config(name_or_path: str | Path) -> LLMConfig:
    """A shipped config by name (``"llama-3-8b"``) or any ``config.json`` by path."""
    shipped = _data_dir() / f"{name_or_path}.json"
    if isinstance(name_or_path, str) and "/" not in name_or_path and shipped.is_file():
        return LLMConfig.from_json(shipped)
    path = Path(name_or_path)
    if path.is_file():
        return LLMConfig.from_json(path)
    allowed = ", ".join(list_llm_configs())
    raise WorkloadError(
        f"unknown LLM config {str(name_or_path)!r}: not a file and not one of {allowed}"
    )


# -- the builder -----------------------------------------------------------------------------------


def attention_layers(
    prefix: str,
    *,
    rows: int,
    seqs: int,
    tokens: int,
    kv_len: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    precision_bytes: int = 2,
) -> list[Layer]:
    """Q/K/V projections, scores ``Q K^T``, context ``A V`` and the output projection.

    ``rows = seqs * tokens`` is the GEMM row count; ``seqs`` sequences of ``tokens`` queries each
    attend over ``kv_len`` keys.
    """
    pb = precision_bytes
    q_cols, kv_cols = heads * head_dim, kv_heads * head_dim
    bmm_batch = seqs * heads
    return [
        gemm(f"{prefix}.q_proj", m=rows, k=hidden, n=q_cols, precision_bytes=pb),
        gemm(f"{prefix}.k_proj", m=rows, k=hidden, n=kv_cols, precision_bytes=pb),
        gemm(f"{prefix}.v_proj", m=rows, k=hidden, n=kv_cols, precision_bytes=pb),
        batched_matmul(
            f"{prefix}.scores", batch=bmm_batch, m=tokens, k=head_dim, n=kv_len, precision_bytes=pb
        ),
        batched_matmul(
            f"{prefix}.context", batch=bmm_batch, m=tokens, k=kv_len, n=head_dim, precision_bytes=pb
        ),
        gemm(f"{prefix}.o_proj", m=rows, k=q_cols, n=hidden, precision_bytes=pb),
    ]


def mlp_layers(
    prefix: str, *, rows: int, hidden: int, inner: int, gated: bool, precision_bytes: int = 2
) -> list[Layer]:
    """A gated (gate, up, down) or plain (fc1, fc2) feed-forward block on ``rows`` tokens."""
    pb = precision_bytes
    names = ("gate_proj", "up_proj") if gated else ("fc1",)
    ups = [gemm(f"{prefix}.{n}", m=rows, k=hidden, n=inner, precision_bytes=pb) for n in names]
    down = gemm(
        f"{prefix}.{'down_proj' if gated else 'fc2'}", m=rows, k=inner, n=hidden, precision_bytes=pb
    )
    return [*ups, down]


def expert_rows(tokens: int, experts: int, top_k: int) -> tuple[int, int]:
    """``(active experts, rows each)`` when ``tokens`` tokens each go to ``top_k`` of ``experts``.

    With at least one assignment per expert (``tokens * top_k >= experts``) routing is taken as
    uniform: every expert runs ``ceil(tokens * top_k / experts)`` rows. With fewer, only
    ``top_k`` experts run, on the actual tokens (batch-1 decode: ``top_k`` one-row GEMMs).
    """
    if tokens * top_k >= experts:
        return experts, math.ceil(tokens * top_k / experts)
    return top_k, tokens


def _moe_layers(prefix: str, config: LLMConfig, rows: int, pb: int) -> list[Layer]:
    """Router, the routed experts' MLPs on their share of the tokens, and the shared expert."""
    hidden, experts = config.hidden_size, config.num_local_experts
    active, routed = expert_rows(rows, experts, config.num_experts_per_tok)
    layers = [gemm(f"{prefix}.router", m=rows, k=hidden, n=experts, precision_bytes=pb)]
    for e in range(active):
        layers += mlp_layers(
            f"{prefix}.experts.{e}", rows=routed, hidden=hidden,
            inner=config.moe_intermediate_size, gated=config.gated_mlp, precision_bytes=pb,
        )  # fmt: skip
    if config.shared_expert_intermediate_size:
        layers += mlp_layers(
            f"{prefix}.shared_expert", rows=rows, hidden=hidden,
            inner=config.shared_expert_intermediate_size, gated=config.gated_mlp,
            precision_bytes=pb,
        )  # fmt: skip
    if config.shared_expert_gate:
        layers.append(
            gemm(f"{prefix}.shared_expert_gate", m=rows, k=hidden, n=1, precision_bytes=pb)
        )
    return layers


def _decoder_layer(i: int, config: LLMConfig, *, batch: int, tokens: int, kv_len: int, pb: int):
    rows = batch * tokens
    layers = attention_layers(
        f"layers.{i}.self_attn", rows=rows, seqs=batch, tokens=tokens, kv_len=kv_len,
        hidden=config.hidden_size, heads=config.num_attention_heads,
        kv_heads=config.num_key_value_heads, head_dim=config.head_dim, precision_bytes=pb,
    )  # fmt: skip
    if config.is_sparse_layer(i):
        return layers + _moe_layers(f"layers.{i}.block_sparse_moe", config, rows, pb)
    return layers + mlp_layers(
        f"layers.{i}.mlp", rows=rows, hidden=config.hidden_size,
        inner=config.intermediate_size, gated=config.gated_mlp, precision_bytes=pb,
    )  # fmt: skip


def _check_layer_count(config: LLMConfig) -> None:
    """Refuse a network too large to answer before spending minutes building it."""
    shared = (3 if config.shared_expert_intermediate_size else 0) + config.shared_expert_gate
    sparse = 1 + 3 * config.num_local_experts + shared
    dense = len(config.dense_layers) if config.is_moe else config.num_hidden_layers
    count = (config.num_hidden_layers - dense) * (6 + sparse) + dense * 9 + 1
    if count > limits.MAX_NETWORK_LAYERS:
        raise WorkloadError(
            f"config {config.name!r}: num_hidden_layers={config.num_hidden_layers} with "
            f"num_local_experts={config.num_local_experts} make {count:,} layers, more than the "
            f"limit {limits.MAX_NETWORK_LAYERS:,}"
        )


def build_llm(
    config: LLMConfig,
    phase: str = "prefill",
    batch: int = 1,
    seq_len: int = 512,
    context_len: int | None = None,
    *,
    precision_bytes: int = 2,
    lm_head_last_token_only: bool = False,
    name: str | None = None,
) -> Network:
    """All decoder layers plus the LM head for one forward pass.

    Prefill processes ``seq_len`` prompt tokens per sequence; decode produces one token per
    sequence with ``context_len`` tokens already cached (default ``seq_len``).
    """
    if phase not in _PHASES:
        raise WorkloadError(
            f"config {config.name!r}: phase must be one of {_PHASES}, got {phase!r}"
        )
    for field, value in (("batch", batch), ("seq_len", seq_len)):
        _check_positive(config.name, field, value)
    context = seq_len if context_len is None else context_len
    _check_positive(config.name, "context_len", context)
    tokens, kv_len = (seq_len, seq_len) if phase == "prefill" else (1, context + 1)
    _check_layer_count(config)
    layers: list[Layer] = []
    for i in range(config.num_hidden_layers):
        layers += _decoder_layer(
            i, config, batch=batch, tokens=tokens, kv_len=kv_len, pb=precision_bytes
        )
    head_rows = batch if lm_head_last_token_only else batch * tokens
    layers.append(
        gemm(
            "lm_head",
            m=head_rows,
            k=config.hidden_size,
            n=config.vocab_size,
            precision_bytes=precision_bytes,
        )
    )
    return Network(name or f"{config.name}-{phase}", "llm", tuple(layers))


def build_llm_generation(
    config: LLMConfig,
    prefill: int,
    decode: int,
    batch: int = 1,
    prefill_weight: float = 1.0,
    decode_weight: float = 1.0,
    *,
    precision_bytes: int = 2,
) -> Network:
    """One generation: a ``prefill``-token prompt, then ``decode`` tokens one at a time.

    Layers are named ``prefill/...`` and ``decode/...``. The decode layers run ``decode``
    times (their ``repeats``), at the mean cached length ``prefill + (decode - 1) / 2``
    rounded up: attention work grows linearly with the cache, so the mean step costs the mean.
    Only the last prompt token's logits are computed (the first generated token). The positive
    phase weights scale each phase in the totals, for a user who cares more about one of them.
    """
    for field, value in (("prefill", prefill), ("decode", decode)):
        _check_positive(config.name, field, value)
    for field, value in (("prefill_weight", prefill_weight), ("decode_weight", decode_weight)):
        limits.check(field, value, limits.SHAPE[field], WorkloadError, f"config {config.name!r}: ")
    first = build_llm(config, "prefill", batch, prefill, precision_bytes=precision_bytes,
                      lm_head_last_token_only=True)  # fmt: skip
    mean_context = prefill + -(-(decode - 1) // 2)
    step = build_llm(config, "decode", batch, prefill, mean_context,
                     precision_bytes=precision_bytes, lm_head_last_token_only=True)  # fmt: skip
    layers = [dataclasses.replace(x, name=f"prefill/{x.name}") for x in first.layers]
    layers += [dataclasses.replace(x, name=f"decode/{x.name}") for x in step.layers]
    repeats = [float(prefill_weight)] * len(first.layers)
    repeats += [float(decode_weight * decode)] * len(step.layers)
    name = f"{config.name}-p{prefill}-d{decode}"
    return Network(name, "llm", tuple(layers), tuple(repeats))
