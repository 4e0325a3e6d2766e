"""Workloads to label: every zoo and LLM layer, plus synthetic layers over wide ranges.

Each workload keeps its source (family, model, layer name) so datasets can be split by source:
held-out networks and held-out families. Layers with identical loop nests are labelled once,
under the first source that produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from airchitect.workloads.layer import (
    Layer,
    WorkloadError,
    batched_matmul,
    conv2d,
    depthwise_conv2d,
    gemm,
)
from airchitect.workloads.llm import build_llm, list_llm_configs, load_llm_config
from airchitect.workloads.zoo import get_network, list_networks

#: Workload sources ``--workloads`` accepts, joined with ``+``.
SOURCES: tuple[str, ...] = ("zoo", "llm", "synthetic")


@dataclass(frozen=True)
class Workload:
    layer: Layer
    family: str  # "cnn", "llm", "synthetic-conv", ...: the unit of held-out splits
    model: str  # "resnet50", "llama-3-8b/prefill-2048", "synthetic"


def parse_sources(spec: str) -> tuple[str, ...]:
    """``"zoo+synthetic"`` -> ("zoo", "synthetic"); errors name the bad part."""
    parts = tuple(p.strip() for p in spec.split("+") if p.strip())
    bad = [p for p in parts if p not in SOURCES]
    if not parts or bad:
        raise ValueError(
            f"field 'workloads' must be sources from {', '.join(SOURCES)} joined by '+', "
            f"got {spec!r}"
        )
    return tuple(dict.fromkeys(parts))


def dims_key(layer: Layer) -> tuple:
    """Two layers with the same key are the same labelling problem."""
    return (layer.op.value, layer.n, layer.k, layer.c, layer.p, layer.q, layer.r, layer.s,
            layer.stride, layer.dilation, layer.groups, layer.precision_bytes)  # fmt: skip


def zoo_workloads() -> Iterator[Workload]:
    for name in list_networks():
        net = get_network(name)
        for layer in net.layers:
            yield Workload(layer, net.family, name)


#: The grid of LLM phases labelled per shipped config: (phase, batch, tokens) with tokens the
#: prefill sequence length or the decode context length.
LLM_SETTINGS = tuple(
    [("prefill", b, t) for b in (1, 4) for t in (128, 512, 2048)]
    + [("decode", b, t) for b in (1, 8, 32) for t in (512, 2048, 8192)]
)


def llm_workloads(configs: Iterable[str] | None = None) -> Iterator[Workload]:
    for name in configs or list_llm_configs():
        config = load_llm_config(name)
        for phase, batch, tokens in LLM_SETTINGS:
            kwargs = {"seq_len": tokens} if phase == "prefill" else {"context_len": tokens}
            net = build_llm(config, phase=phase, batch=batch, **kwargs)
            for layer in net.layers:
                yield Workload(layer, f"llm-{config.family}", f"{name}/{phase}-b{batch}-{tokens}")


def _log_uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))


def _synthetic_conv(rng: np.random.Generator, i: int) -> Workload:
    kernel = int(rng.choice([1, 1, 3, 3, 3, 5, 7]))
    stride = int(rng.choice([1, 1, 1, 2])) if kernel > 1 else int(rng.choice([1, 1, 2]))
    out_hw = _log_uniform_int(rng, 2, 160)
    layer = conv2d(
        f"synthetic-conv-{i}", in_channels=_log_uniform_int(rng, 3, 1024),
        out_channels=_log_uniform_int(rng, 8, 1024), in_hw=(out_hw - 1) * stride + kernel,
        kernel=kernel, stride=stride, batch=int(rng.choice([1, 1, 1, 2, 4, 8])),
    )  # fmt: skip
    return Workload(layer, "synthetic-conv", "synthetic")


def _synthetic_dwconv(rng: np.random.Generator, i: int) -> Workload:
    kernel, stride = int(rng.choice([3, 3, 5, 7])), int(rng.choice([1, 1, 2]))
    out_hw = _log_uniform_int(rng, 2, 112)
    layer = depthwise_conv2d(
        f"synthetic-dwconv-{i}", channels=_log_uniform_int(rng, 16, 1024),
        in_hw=(out_hw - 1) * stride + kernel, kernel=kernel, stride=stride,
        batch=int(rng.choice([1, 1, 2, 4])),
    )  # fmt: skip
    return Workload(layer, "synthetic-dwconv", "synthetic")


def _synthetic_gemm(rng: np.random.Generator, i: int) -> Workload:
    layer = gemm(f"synthetic-gemm-{i}", m=_log_uniform_int(rng, 1, 8192),
                 k=_log_uniform_int(rng, 16, 16384),
                 n=_log_uniform_int(rng, 16, 16384))  # fmt: skip
    return Workload(layer, "synthetic-gemm", "synthetic")


def _synthetic_attention(rng: np.random.Generator, i: int) -> Workload:
    heads, head_dim = int(rng.choice([8, 12, 16, 32, 64])), int(rng.choice([64, 80, 96, 128]))
    tokens = 1 if rng.random() < 0.3 else _log_uniform_int(rng, 16, 4096)  # decode or prefill
    kv_len = _log_uniform_int(rng, 16, 8192)
    if rng.random() < 0.5:  # scores: Q K^T
        layer = batched_matmul(f"synthetic-attn-{i}", batch=heads, m=tokens, k=head_dim, n=kv_len)
    else:  # context: P V
        layer = batched_matmul(f"synthetic-attn-{i}", batch=heads, m=tokens, k=kv_len, n=head_dim)
    return Workload(layer, "synthetic-attention", "synthetic")


#: Synthetic families and their shares of the synthetic draws.
SYNTHETIC: tuple[tuple[Callable[[np.random.Generator, int], Workload], float], ...] = (
    (_synthetic_conv, 0.45), (_synthetic_dwconv, 0.15), (_synthetic_gemm, 0.25),
    (_synthetic_attention, 0.15),
)  # fmt: skip


def synthetic_workloads(n: int, seed: int) -> Iterator[Workload]:
    """``n`` random layers (before de-duplication), deterministic per seed."""
    rng = np.random.default_rng(seed)
    makers, shares = zip(*SYNTHETIC, strict=True)
    for i in range(n):
        maker = makers[rng.choice(len(makers), p=np.asarray(shares))]
        try:
            yield maker(rng, i)
        except WorkloadError:  # a random draw that does not form a valid layer: draw again
            continue


def workload_pool(sources: Iterable[str], n_synthetic: int, seed: int) -> list[Workload]:
    """De-duplicated workloads from ``sources``: real layers first, then synthetic ones."""
    sources = tuple(sources)
    streams = []
    if "zoo" in sources:
        streams.append(zoo_workloads())
    if "llm" in sources:
        streams.append(llm_workloads())
    if "synthetic" in sources:
        streams.append(synthetic_workloads(n_synthetic, seed))
    seen, pool = set(), []
    for stream in streams:
        for w in stream:
            key = dims_key(w.layer)
            if key not in seen:
                seen.add(key)
                pool.append(w)
    return pool
