"""The recommender network: a plain ``nn.Module`` (no Lightning), exportable to ONNX.

Tokens -> transformer encoder -> memory. A learned CLS token's output is the workload
embedding; an MLP projection of it (L2-normalised) feeds the contrastive loss. A transformer
decoder with one learned query per hardware knob (+1 for the cost) cross-attends to the memory;
each knob query ends in its own head (ordinal knobs: K-1 threshold logits, categorical: K
logits), the cost query in a scalar (normalised log cost of the recommended design).

The forward pass has a fixed token count, no masks and no data-dependent Python control flow.
Each row is computed independently of the rest of its batch: the encoder's fused inference
fast path (nested tensors) is disabled by giving its layers a non-builtin activation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

KnobKind = Literal["ordinal", "categorical"]


@dataclass
class RecommenderConfig:
    """Sizes of the network; ``knob_*`` follow the design space's knob order."""

    vocab_size: int
    n_tokens: int
    knob_cardinalities: tuple[int, ...]
    knob_kinds: tuple[str, ...]
    knob_names: tuple[str, ...] = field(default=())
    d_model: int = 128
    n_heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 2
    dim_feedforward: int = 256
    dropout: float = 0.1
    projection_dim: int = 64

    def __post_init__(self) -> None:
        self.knob_cardinalities = tuple(int(k) for k in self.knob_cardinalities)
        self.knob_kinds = tuple(str(k) for k in self.knob_kinds)
        self.knob_names = tuple(str(k) for k in self.knob_names)
        if len(self.knob_kinds) != len(self.knob_cardinalities):
            raise ValueError("knob_kinds and knob_cardinalities must have the same length")
        bad = [k for k in self.knob_kinds if k not in ("ordinal", "categorical")]
        if bad:
            raise ValueError(f"knob kinds must be 'ordinal' or 'categorical', got {bad}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")

    def head_sizes(self) -> tuple[int, ...]:
        """Logits per knob: K-1 for an ordinal knob, K for a categorical one."""
        return tuple(
            k - 1 if kind == "ordinal" else k
            for k, kind in zip(self.knob_cardinalities, self.knob_kinds, strict=True)
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommenderConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown RecommenderConfig field(s) {sorted(unknown)}")
        return cls(**data)


def _gelu(x: torch.Tensor) -> torch.Tensor:
    # A plain function, not F.gelu itself: PyTorch only takes the fused (nested-tensor) encoder
    # fast path for its builtin activations, and that path is neither exportable nor needed.
    return F.gelu(x)


class Recommender(nn.Module):
    """Encoder-decoder recommender; see the module docstring."""

    def __init__(self, config: RecommenderConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.token_embedding = nn.Embedding(config.vocab_size, d)
        self.position_embedding = nn.Parameter(torch.zeros(1, config.n_tokens + 1, d))
        self.value_projection = nn.Linear(1, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.encoder = nn.TransformerEncoder(
            self._encoder_layer(), config.encoder_layers, norm=nn.LayerNorm(d),
            enable_nested_tensor=False,
        )  # fmt: skip
        self.projection = nn.Sequential(
            nn.Linear(d, d), nn.GELU(), nn.Linear(d, config.projection_dim)
        )
        n_queries = len(config.knob_cardinalities) + 1
        self.queries = nn.Parameter(torch.zeros(1, n_queries, d))
        self.decoder = nn.TransformerDecoder(
            self._decoder_layer(), config.decoder_layers, norm=nn.LayerNorm(d)
        )
        self.knob_heads = nn.ModuleList(nn.Linear(d, size) for size in config.head_sizes())
        self.cost_head = nn.Linear(d, 1)
        self._init_parameters()

    def _encoder_layer(self) -> nn.TransformerEncoderLayer:
        c = self.config
        return nn.TransformerEncoderLayer(
            c.d_model, c.n_heads, c.dim_feedforward, c.dropout, activation=_gelu,
            batch_first=True, norm_first=True,
        )  # fmt: skip

    def _decoder_layer(self) -> nn.TransformerDecoderLayer:
        c = self.config
        return nn.TransformerDecoderLayer(
            c.d_model, c.n_heads, c.dim_feedforward, c.dropout, activation=_gelu,
            batch_first=True, norm_first=True,
        )  # fmt: skip

    def _init_parameters(self) -> None:
        for p in (self.position_embedding, self.cls, self.queries):
            nn.init.normal_(p, std=0.02)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def embed(self, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Encoder input `(B, T+1, D)`: CLS, then the tokens, with positions added."""
        x = self.token_embedding(ids) + self.value_projection(values.unsqueeze(-1))  # (B, T, D)
        cls = self.cls.expand(ids.shape[0], -1, -1)  # (B, 1, D)
        return torch.cat([cls, x], dim=1) + self.position_embedding

    def encode(self, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Encoder memory `(B, T+1, D)` (CLS first) of token ids/values `(B, T)`."""
        return self.encoder(self.embed(ids, values))

    def forward(self, ids: torch.Tensor, values: torch.Tensor) -> dict[str, Any]:
        """``embedding`` `(B, D)`, ``projection`` `(B, P)` (unit norm), ``knob_logits`` (one
        `(B, K-1)` or `(B, K)` tensor per knob) and ``log_cost`` `(B,)`."""
        memory = self.encode(ids, values)  # (B, T+1, D)
        embedding = memory[:, 0]  # (B, D)
        projection = F.normalize(self.projection(embedding), dim=-1)  # (B, P)
        queries = self.queries.expand(ids.shape[0], -1, -1)  # (B, J+1, D)
        h = self.decoder(queries, memory)  # (B, J+1, D)
        knob_logits = [head(h[:, j]) for j, head in enumerate(self.knob_heads)]
        log_cost = self.cost_head(h[:, -1]).squeeze(-1)  # (B,)
        return {
            "embedding": embedding,
            "projection": projection,
            "knob_logits": knob_logits,
            "log_cost": log_cost,
        }

    def forward_flat(self, ids: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(embedding, log_cost, *knob_logits)``: a flat tuple for ONNX export."""
        out = self.forward(ids, values)
        return (out["embedding"], out["log_cost"], *out["knob_logits"])


class FlatRecommender(nn.Module):
    """A :class:`Recommender`'s eval-mode forward as a flat tuple, written for ONNX export.

    ``forward`` returns what ``Recommender.forward_flat`` does, from the same parameters, but
    each attention block is one ``torch.onnx.ops.attention`` call on `(B, T, D)` tensors: it
    exports as a single ONNX ``Attention`` node (opset 23) with the heads split inside the
    kernel. ``nn.MultiheadAttention`` exports as a sequence-first transpose, a packed
    projection, a split and four reshape/transpose pairs around each attention, which cost a
    third of the graph's time. Dropout is left out: this is inference only.
    """

    def __init__(self, model: Recommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = self.model
        x = m.embed(ids, values)  # (B, T+1, D)
        for layer in m.encoder.layers:
            h = layer.norm1(x)
            x = x + _attention(layer.self_attn, h, h)
            x = x + _feed_forward(layer, layer.norm2(x))
        memory = m.encoder.norm(x)  # (B, T+1, D)
        q = m.queries.expand(ids.shape[0], -1, -1)  # (B, J+1, D)
        for layer in m.decoder.layers:
            h = layer.norm1(q)
            q = q + _attention(layer.self_attn, h, h)
            q = q + _attention(layer.multihead_attn, layer.norm2(q), memory)
            q = q + _feed_forward(layer, layer.norm3(q))
        h = m.decoder.norm(q)  # (B, J+1, D)
        knob_logits = [head(h[:, j]) for j, head in enumerate(m.knob_heads)]
        return (memory[:, 0], m.cost_head(h[:, -1]).squeeze(-1), *knob_logits)


def _attention(mha: nn.MultiheadAttention, query: torch.Tensor, source: torch.Tensor):
    """``mha(query, source, source)`` in eval mode, as one ONNX Attention node."""
    d, w, b = mha.embed_dim, mha.in_proj_weight, mha.in_proj_bias
    # three projections, not one packed one and a split: the slices are constants at export
    q = _linear(query, w[:d], b[:d])
    k = _linear(source, w[d : 2 * d], b[d : 2 * d])
    v = _linear(source, w[2 * d :], b[2 * d :])
    heads = mha.num_heads
    y = torch.onnx.ops.attention(q, k, v, q_num_heads=heads, kv_num_heads=heads)[0]
    return _linear(y, mha.out_proj.weight, mha.out_proj.bias)


def _feed_forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    h = layer.activation(_linear(x, layer.linear1.weight, layer.linear1.bias))
    return _linear(h, layer.linear2.weight, layer.linear2.bias)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear`` over the last axis of `(B, T, D)`, computed on `(B*T, D)`: a 2-D product
    exports as one Gemm with the bias inside, where a 3-D one leaves a MatMul and an Add."""
    flat = F.linear(x.reshape(-1, x.shape[-1]), weight, bias)
    return flat.reshape(*x.shape[:-1], weight.shape[0])
