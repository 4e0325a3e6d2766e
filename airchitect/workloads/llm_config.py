"""HuggingFace ``config.json`` files of decoder-only LLMs, read into :class:`LLMConfig`.

Each family spells its shape fields its own way; :data:`MODEL_TYPES` says, per ``model_type``,
whether the MLP is gated and how the mixture of experts (if any) is written:

- Llama, Mistral, Qwen2/Qwen3, Phi-3 (``phi3``), Gemma/Gemma 2: dense, gated (SwiGLU/GeGLU);
  Phi-3 fuses ``gate_up_proj`` but the MACs are the same.
- GPT-2 (``n_embd``, ``n_head``, ``n_layer``, ``n_inner``), GPT-NeoX, Phi-1/2: dense, plain MLP.
- Mixtral: ``num_local_experts`` experts of ``intermediate_size``, ``num_experts_per_tok`` each.
- Qwen-MoE (``qwen2_moe``, ``qwen3_moe``): ``num_experts`` experts of ``moe_intermediate_size``,
  a shared expert of ``shared_expert_intermediate_size`` with a sigmoid gate on every token,
  dense layers listed in ``mlp_only_layers`` or skipped by ``decoder_sparse_step``.
- DeepSeek-MoE (``deepseek``): ``n_routed_experts`` of ``moe_intermediate_size``,
  ``n_shared_experts`` more of that size on every token, the first ``first_k_dense_replace``
  layers dense, then every ``moe_layer_freq``-th.

Any other ``model_type`` (DeepSeek-V2/V3's latent attention among them) is refused with a message
that names it, unless the config says ``"gated_mlp": true`` or ``false`` explicitly, which builds
it as a Llama-style decoder: a config is never silently read as a different architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airchitect import limits
from airchitect.readers import InputFileError, load_json, read_text
from airchitect.workloads.layer import WorkloadError


@dataclass(frozen=True)
class LLMConfig:
    """The shape-relevant part of a decoder-only transformer's configuration.

    ``head_dim`` of 0 means ``hidden_size // num_attention_heads`` (filled in on construction);
    ``moe_intermediate_size`` of 0 means ``intermediate_size``. A mixture of experts has
    ``num_local_experts`` routed experts, ``num_experts_per_tok`` chosen per token, optionally a
    shared expert MLP of ``shared_expert_intermediate_size`` run on every token (with a one-column
    sigmoid gate when ``shared_expert_gate``); decoder layers listed in ``dense_layers`` run a
    dense MLP of ``intermediate_size`` instead.
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
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    shared_expert_gate: bool = False
    dense_layers: tuple[int, ...] = ()

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
        for field in ("num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
                      "shared_expert_intermediate_size"):  # fmt: skip
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise WorkloadError(
                    f"config {self.name!r}: field {field!r} must be a non-negative integer, "
                    f"got {limits.brief(value)}"
                )
            limits.check(field, value, limits.LLM[field], WorkloadError, f"config {self.name!r}: ")
        if (experts == 0) != (top_k == 0) or top_k > experts:
            raise WorkloadError(
                f"config {self.name!r}: field 'num_experts_per_tok'={top_k} must be in "
                f"1..{experts} (the number of experts) for a mixture of experts, or both must be 0"
            )
        if self.moe_intermediate_size == 0:
            object.__setattr__(self, "moe_intermediate_size", self.intermediate_size)

    @property
    def is_moe(self) -> bool:
        return self.num_local_experts > 0

    def is_sparse_layer(self, i: int) -> bool:
        """Whether decoder layer ``i`` runs the mixture of experts (not a dense MLP)."""
        return self.is_moe and i not in self.dense_layers

    @classmethod
    def from_dict(cls, d: dict[str, Any], name: str = "llm") -> LLMConfig:
        """Read a HuggingFace ``config.json`` mapping of one of :data:`MODEL_TYPES`.
        ``name`` labels the config and appears in error messages."""
        if not isinstance(d, dict):
            raise WorkloadError(
                f"config {limits.brief(name)}: expected a mapping, got {type(d).__name__}"
            )
        model_type = str(d.get("model_type", ""))
        gated = _is_gated(d, model_type, name)
        read_moe = MODEL_TYPES[model_type].moe if model_type in MODEL_TYPES else _mixtral_moe
        fields = _gpt2_fields(d, name) if model_type == "gpt2" else _hf_fields(d, name)
        return cls(
            **fields,
            **read_moe(d, fields["num_hidden_layers"]),
            gated_mlp=gated,
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
    """Llama/Mistral/Qwen/Mixtral/GPT-NeoX/Phi/Gemma spelling of the shape fields."""
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


# -- mixture-of-experts spellings ------------------------------------------------------------------


def _layer_list(d: dict[str, Any], key: str) -> tuple[int, ...]:
    value = d.get(key) or []
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise WorkloadError(f"field {key!r} must be a list of layer indices, got {value!r}")
    return tuple(value)


def _mixtral_moe(d: dict[str, Any], layers: int) -> dict[str, Any]:
    """Mixtral's names, also read for any family without its own expert fields."""
    return {
        "num_local_experts": _optional_int(d, "num_local_experts"),
        "num_experts_per_tok": _optional_int(d, "num_experts_per_tok"),
    }


def _qwen_moe(d: dict[str, Any], layers: int) -> dict[str, Any]:
    """Qwen-MoE: ``num_experts``; sparse layers are every ``decoder_sparse_step``-th one not in
    ``mlp_only_layers``; the shared expert has a sigmoid gate."""
    experts = _optional_int(d, "num_experts")
    step = _optional_int(d, "decoder_sparse_step", default=1)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise WorkloadError(f"field 'decoder_sparse_step' must be a positive integer, got {step!r}")
    mlp_only = set(_layer_list(d, "mlp_only_layers"))
    dense = tuple(i for i in range(layers) if i in mlp_only or (i + 1) % step)
    shared = _optional_int(d, "shared_expert_intermediate_size")
    return {
        "num_local_experts": experts,
        "num_experts_per_tok": _optional_int(d, "num_experts_per_tok") if experts else 0,
        "moe_intermediate_size": _optional_int(d, "moe_intermediate_size"),
        "shared_expert_intermediate_size": shared,
        "shared_expert_gate": bool(experts and shared),
        "dense_layers": dense if experts else (),
    }


def _deepseek_moe(d: dict[str, Any], layers: int) -> dict[str, Any]:
    """DeepSeek-MoE: ``n_routed_experts``, ``n_shared_experts`` experts' worth of shared MLP, the
    first ``first_k_dense_replace`` layers dense, then MoE on every ``moe_layer_freq``-th."""
    experts = _optional_int(d, "n_routed_experts")
    moe_inner = _optional_int(d, "moe_intermediate_size")
    first_dense = _optional_int(d, "first_k_dense_replace")
    freq = _optional_int(d, "moe_layer_freq", default=1)
    for key, value, low in (("first_k_dense_replace", first_dense, 0), ("moe_layer_freq", freq, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise WorkloadError(f"field {key!r} must be an integer >= {low}, got {value!r}")
    shared = _optional_int(d, "n_shared_experts")
    if isinstance(shared, bool) or not isinstance(shared, int) or shared < 0:
        raise WorkloadError(f"field 'n_shared_experts' must be an integer >= 0, got {shared!r}")
    dense = tuple(i for i in range(layers) if i < first_dense or i % freq)
    return {
        "num_local_experts": experts,
        "num_experts_per_tok": _optional_int(d, "num_experts_per_tok") if experts else 0,
        "moe_intermediate_size": moe_inner,
        "shared_expert_intermediate_size": shared * moe_inner if experts else 0,
        "dense_layers": dense if experts else (),
    }


@dataclass(frozen=True)
class _Spelling:
    gated: bool
    moe: Callable[[dict[str, Any], int], dict[str, Any]] = _mixtral_moe


#: The ``model_type`` values read, with their MLP kind and expert spelling.
MODEL_TYPES: dict[str, _Spelling] = {
    **{
        t: _Spelling(True)
        for t in ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2")
    },  # fmt: skip
    **{t: _Spelling(False) for t in ("gpt2", "gpt_neox", "phi")},
    "mixtral": _Spelling(True, _mixtral_moe),
    "qwen2_moe": _Spelling(True, _qwen_moe),
    "qwen3_moe": _Spelling(True, _qwen_moe),
    "deepseek": _Spelling(True, _deepseek_moe),
}
_REFUSED = {
    "deepseek_v2": "multi-head latent attention (q_lora_rank, kv_lora_rank) is not modelled",
    "deepseek_v3": "multi-head latent attention (q_lora_rank, kv_lora_rank) is not modelled",
}


def _is_gated(d: dict[str, Any], model_type: str, name: str) -> bool:
    if "gated_mlp" in d:  # explicit override, for configs of model types not listed here
        if not isinstance(d["gated_mlp"], bool):
            raise WorkloadError(
                f"config {name!r}: field 'gated_mlp' must be true or false, "
                f"got {limits.brief(d['gated_mlp'])}"
            )
        return d["gated_mlp"]
    if model_type in MODEL_TYPES:
        return MODEL_TYPES[model_type].gated
    why = _REFUSED.get(model_type, "its MLP and expert layout are not known")
    raise WorkloadError(
        f"config {name!r}: unsupported model_type {model_type!r} ({why}); supported: "
        f'{", ".join(sorted(MODEL_TYPES))}. Add "gated_mlp": true or false to build it as a '
        f"Llama-style decoder"
    )
