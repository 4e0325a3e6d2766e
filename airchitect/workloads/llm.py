"""Decoder-only LLMs as loop nests, built from HuggingFace ``config.json`` shape fields.

Assumptions, stated once here because the cost model inherits them:

- Every projection is a GEMM with ``M = batch * tokens`` rows; attention scores and context are
  batched matmuls with one independent problem per (sequence, query head). With grouped-query
  attention K/V heads are shared, but the number of score/context products is still one per
  query head, so the batch is ``batch * num_attention_heads``.
- ``tokens`` is ``seq_len`` in prefill and 1 in decode; the key/value length is ``seq_len`` in
  prefill (causal masking is ignored: the dense product is what a GEMM engine computes) and
  ``context_len + 1`` in decode (the cached tokens plus the new one).
- Mixture-of-experts routing is assumed uniform: each expert receives
  ``ceil(batch * tokens * top_k / num_experts)`` tokens, and every expert appears as its own GEMMs.
- The LM head produces logits for every token by default (what a plain forward pass and training
  compute); ``lm_head_last_token_only=True`` models generation, which needs only the last token.
- Embedding lookups, norms, rotary embeddings, softmax and activations carry no MACs here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from airchitect import limits
from airchitect.readers import InputFileError, load_json, read_text
from airchitect.workloads.layer import Layer, WorkloadError, batched_matmul, gemm
from airchitect.workloads.network import Network

#: ``model_type`` values whose MLP is gated (SwiGLU: gate, up and down projections).
_GATED_TYPES = frozenset({"llama", "mistral", "qwen2", "mixtral"})
#: ``model_type`` values with a plain two-matrix MLP, whatever their activation is called.
_PLAIN_TYPES = frozenset({"gpt2", "gpt_neox", "phi"})
_PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class LLMConfig:
    """The shape-relevant part of a decoder-only transformer's configuration.

    ``head_dim`` of 0 means ``hidden_size // num_attention_heads`` (filled in on construction).
    """

    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    num_hidden_layers: int
    vocab_size: int
    gated_mlp: bool
    num_local_experts: int = 0
    num_experts_per_tok: int = 0
    name: str = "llm"
    family: str = "llm"
    head_dim: int = 0

    def __post_init__(self) -> None:
        for field in _REQUIRED_FIELDS:
            _check_positive(self.name, field, getattr(self, field))
        if self.head_dim == 0:
            if self.hidden_size % self.num_attention_heads:
                raise WorkloadError(
                    f"config {self.name!r}: field 'hidden_size'={self.hidden_size} is not "
                    f"divisible by num_attention_heads={self.num_attention_heads}"
                )
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        _check_positive(self.name, "head_dim", self.head_dim)
        if self.num_attention_heads % self.num_key_value_heads:
            raise WorkloadError(
                f"config {self.name!r}: field 'num_attention_heads'={self.num_attention_heads} "
                f"is not divisible by num_key_value_heads={self.num_key_value_heads}"
            )
        self._check_experts()

    def _check_experts(self) -> None:
        experts, top_k = self.num_local_experts, self.num_experts_per_tok
        for field, value in (("num_local_experts", experts), ("num_experts_per_tok", top_k)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise WorkloadError(
                    f"config {self.name!r}: field {field!r} must be a non-negative integer, "
                    f"got {limits.brief(value)}"
                )
            limits.check(field, value, limits.LLM[field], WorkloadError, f"config {self.name!r}: ")
        if (experts == 0) != (top_k == 0) or top_k > experts:
            raise WorkloadError(
                f"config {self.name!r}: field 'num_experts_per_tok'={top_k} must be in "
                f"1..num_local_experts={experts} for a mixture of experts, or both must be 0"
            )

    @property
    def is_moe(self) -> bool:
        return self.num_local_experts > 0

    @classmethod
    def from_dict(cls, d: dict[str, Any], name: str = "llm") -> LLMConfig:
        """Read a HuggingFace ``config.json`` mapping (Llama, Mistral, Qwen2, Mixtral, GPT-2,
        GPT-NeoX, Phi). ``name`` labels the config and appears in error messages."""
        if not isinstance(d, dict):
            raise WorkloadError(
                f"config {limits.brief(name)}: expected a mapping, got {type(d).__name__}"
            )
        model_type = str(d.get("model_type", ""))
        fields = _gpt2_fields(d, name) if model_type == "gpt2" else _hf_fields(d, name)
        return cls(
            **fields,
            gated_mlp=_is_gated(d, model_type),
            num_local_experts=_optional_int(d, "num_local_experts"),
            num_experts_per_tok=_optional_int(d, "num_experts_per_tok"),
            name=name,
            family=str(d.get("family") or d.get("model_type") or "llm"),
            head_dim=_optional_int(d, "head_dim"),
        )

    @classmethod
    def from_json(cls, path: str | Path, name: str | None = None) -> LLMConfig:
        """Read a ``config.json`` file; the name defaults to the file's stem."""
        path = Path(path)
        try:
            data = load_json(read_text(path, "LLM config"), str(path))
        except InputFileError as exc:
            raise WorkloadError(str(exc)) from None
        try:
            return cls.from_dict(data, name=name or path.stem)
        except WorkloadError as exc:
            raise WorkloadError(f"{path}: {exc}") from None


_REQUIRED_FIELDS = (
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "num_hidden_layers",
    "vocab_size",
)


def _check_positive(name: str, field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WorkloadError(
            f"config {name!r}: field {field!r} must be a positive integer, "
            f"got {limits.brief(value)}"
        )
    bound = limits.LLM.get(field) or limits.SHAPE.get(field)
    if bound is not None:
        limits.check(field, value, bound, WorkloadError, f"config {name!r}: ")


def _required_int(d: dict[str, Any], key: str, name: str) -> int:
    if d.get(key) is None:
        raise WorkloadError(f"config {name!r}: missing required field {key!r}")
    _check_positive(name, key, d[key])
    return d[key]


def _optional_int(d: dict[str, Any], key: str, default: int = 0) -> int:
    """HF configs write ``null`` for "use the default", so None counts as absent."""
    value = d.get(key)
    return default if value is None else value


def _hf_fields(d: dict[str, Any], name: str) -> dict[str, int]:
    """Llama/Mistral/Qwen2/Mixtral/GPT-NeoX/Phi spelling of the shape fields."""
    out = {
        key: _required_int(d, key, name) for key in _REQUIRED_FIELDS if key != "num_key_value_heads"
    }
    out["num_key_value_heads"] = _optional_int(
        d, "num_key_value_heads", default=out["num_attention_heads"]
    )
    return out


def _gpt2_fields(d: dict[str, Any], name: str) -> dict[str, int]:
    """GPT-2 spells the fields ``n_embd``/``n_head``/``n_layer``; ``n_inner`` null means 4x."""
    hidden = _required_int(d, "n_embd", name)
    heads = _required_int(d, "n_head", name)
    return {
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "intermediate_size": _optional_int(d, "n_inner", default=4 * hidden),
        "num_hidden_layers": _required_int(d, "n_layer", name),
        "vocab_size": _required_int(d, "vocab_size", name),
    }


def _is_gated(d: dict[str, Any], model_type: str) -> bool:
    if "gated_mlp" in d:  # explicit override, for configs of model types not listed here
        return bool(d["gated_mlp"])
    if model_type in _GATED_TYPES:
        return True
    if model_type in _PLAIN_TYPES:
        return False
    return d.get("hidden_act") == "silu"


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


def _moe_layers(prefix: str, config: LLMConfig, rows: int, pb: int) -> list[Layer]:
    """Router plus every expert's gated MLP on its (uniformly routed) share of the tokens."""
    experts = config.num_local_experts
    routed = math.ceil(rows * config.num_experts_per_tok / experts)
    layers = [gemm(f"{prefix}.router", m=rows, k=config.hidden_size, n=experts, precision_bytes=pb)]
    for e in range(experts):
        layers += mlp_layers(
            f"{prefix}.experts.{e}", rows=routed, hidden=config.hidden_size,
            inner=config.intermediate_size, gated=config.gated_mlp, precision_bytes=pb,
        )  # fmt: skip
    return layers


def _decoder_layer(i: int, config: LLMConfig, *, batch: int, tokens: int, kv_len: int, pb: int):
    rows = batch * tokens
    layers = attention_layers(
        f"layers.{i}.self_attn", rows=rows, seqs=batch, tokens=tokens, kv_len=kv_len,
        hidden=config.hidden_size, heads=config.num_attention_heads,
        kv_heads=config.num_key_value_heads, head_dim=config.head_dim, precision_bytes=pb,
    )  # fmt: skip
    if config.is_moe:
        return layers + _moe_layers(f"layers.{i}.block_sparse_moe", config, rows, pb)
    return layers + mlp_layers(
        f"layers.{i}.mlp", rows=rows, hidden=config.hidden_size,
        inner=config.intermediate_size, gated=config.gated_mlp, precision_bytes=pb,
    )  # fmt: skip


def _check_layer_count(config: LLMConfig) -> None:
    """Refuse a network too large to answer before spending minutes building it."""
    block = 6 + (1 + 3 * config.num_local_experts if config.is_moe else 3)
    count = config.num_hidden_layers * block + 1
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
