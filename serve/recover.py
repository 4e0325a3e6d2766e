"""Rebuild a serving bundle's torch weights (``model.pt``) from its ONNX graph.

Bundles exported before ``model.pt`` travelled with them hold the network only as ONNX, so a
fresh install could serve them but not fine-tune or re-evaluate them in torch. The exporter
keeps parameter names, so almost every weight is an initializer called ``model.<name>``; the
rest are recovered from the graph around them:

- ``value_projection.weight``: the MatMul right after ``values`` is unsqueezed uses its
  transpose, `(1, D)`;
- ``*.in_proj_weight`` and ``*.in_proj_bias``: each Attention node's q, k and v inputs come
  (through Reshapes) from three Gemms, whose weights and biases are the three slices of the
  packed projection, constants or Slices of it (the exporter folds some and not others).

The contrastive projection head is not part of the serving graph (it is only trained through),
so it is left at its seeded initialisation and the bundle says so under ``recovered``. The
rebuilt model is checked against onnxruntime on the neighbour rows before it is returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from airchitect.models.bundle import BUNDLE_FORMAT, BUNDLE_VERSION
from airchitect.models.network import Recommender, RecommenderConfig
from airchitect.serve.bundle import ONNX_NAME, read_meta
from airchitect.serve.export import META_FROM_RUN, PARITY_ATOL

PREFIX = "model."
#: Weights the serving graph does not hold: left at their seeded initialisation.
NOT_IN_GRAPH = ("projection.",)


class RecoveryError(RuntimeError):
    """The ONNX graph does not have the shape this recovery expects, or parity fails."""


def graph_weights(graph: onnx.GraphProto, attentions: list[str]) -> dict[str, np.ndarray]:
    """Recommender state-dict entries found in ``graph`` (named, or rebuilt; see module doc).

    ``attentions`` names the model's attention modules in forward order, which is the order of
    the graph's Attention nodes."""
    values = _Values(graph)
    weights = {k[len(PREFIX) :]: v for k, v in values.init.items() if k.startswith(PREFIX)}
    nodes = [n for n in graph.node if n.op_type == "Attention"]
    if len(nodes) != len(attentions):
        raise RecoveryError(f"the graph has {len(nodes)} Attention nodes, the model "
                            f"{len(attentions)} attention blocks")  # fmt: skip
    for name, node in zip(attentions, nodes, strict=True):
        gemms = [values.producer_through_reshape(x, "Gemm") for x in node.input[:3]]
        weights[f"{name}.in_proj_weight"] = np.concatenate([values.of(g.input[1]) for g in gemms])
        weights[f"{name}.in_proj_bias"] = np.concatenate([values.of(g.input[2]) for g in gemms])
    for node in graph.node:
        if node.op_type == "MatMul" and values.is_unsqueezed_input(node.input[0], "values"):
            weights["value_projection.weight"] = values.of(node.input[1]).T.copy()
    return weights


class _Values:
    """Constant tensors of a graph: initializers, and Slices of them (folded or not)."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}

    def of(self, name: str) -> np.ndarray:
        if name in self.init:
            return self.init[name]
        node = self.producer.get(name)
        if node is None or node.op_type != "Slice":
            raise RecoveryError(f"tensor {name!r} is not a constant of the graph")
        data, starts, ends, *rest = (self.of(x) for x in node.input)
        axes = rest[0] if rest else np.arange(len(starts))
        steps = rest[1] if len(rest) > 1 else np.ones(len(starts), dtype=np.int64)
        index = [slice(None)] * data.ndim
        for a, b, e, st in zip(axes, starts, ends, steps, strict=True):
            index[int(a)] = slice(int(b), int(e), int(st))
        return data[tuple(index)]

    def producer_through_reshape(self, name: str, op_type: str) -> onnx.NodeProto:
        node = self.producer.get(name)
        while node is not None and node.op_type == "Reshape":
            node = self.producer.get(node.input[0])
        if node is None or node.op_type != op_type:
            raise RecoveryError(f"tensor {name!r} does not come from a {op_type}")
        return node

    def is_unsqueezed_input(self, name: str, graph_input: str) -> bool:
        node = self.producer.get(name)
        return node is not None and node.op_type == "Unsqueeze" and node.input[0] == graph_input


def recover_model(bundle_dir: str | Path, seed: int = 0) -> tuple[Recommender, list[str]]:
    """The bundle's network in torch, and the names of the weights left at initialisation."""
    meta = read_meta(bundle_dir)
    torch.manual_seed(seed)
    model = Recommender(RecommenderConfig.from_dict(meta["model_config"]))
    attentions = [n for n, m in model.named_modules() if isinstance(m, torch.nn.MultiheadAttention)]
    found = graph_weights(onnx.load(str(Path(bundle_dir) / ONNX_NAME)).graph, attentions)
    state = model.state_dict()
    missing = [k for k in state if k not in found]
    unexpected = [k for k in missing if not k.startswith(NOT_IN_GRAPH)]
    if unexpected:
        raise RecoveryError(f"{bundle_dir}: weights not found in the ONNX graph: {unexpected}")
    for name, value in found.items():
        if name not in state or tuple(state[name].shape) != value.shape:
            raise RecoveryError(f"{bundle_dir}: graph weight {name!r} {value.shape} does not fit "
                                "the model config")  # fmt: skip
        state[name] = torch.from_numpy(np.array(value))  # a writable copy
    model.load_state_dict(state)
    return model.eval(), missing


def check_parity(model: Recommender, bundle_dir: str | Path, rows: int = 256) -> float:
    """Max |torch - onnxruntime| over every output, on inputs drawn like real queries."""
    from airchitect.serve.predictor import onnx_session

    meta = read_meta(bundle_dir)
    cfg = meta["model_config"]
    rng = np.random.default_rng(0)
    ids = rng.integers(0, cfg["vocab_size"], size=(rows, cfg["n_tokens"]), dtype=np.int64)
    values = rng.normal(size=(rows, cfg["n_tokens"])).astype(np.float32)
    got = onnx_session(Path(bundle_dir) / ONNX_NAME).run(None, {"ids": ids, "values": values})
    with torch.no_grad():
        want = model.forward_flat(torch.from_numpy(ids), torch.from_numpy(values))
    return max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))


def recover_bundle(bundle_dir: str | Path) -> dict[str, Any]:
    """A ``model.pt`` bundle dict for the serving bundle at ``bundle_dir`` (parity-checked)."""
    model, missing = recover_model(bundle_dir)
    max_abs = check_parity(model, bundle_dir)
    if not max_abs <= PARITY_ATOL:
        raise RecoveryError(f"{bundle_dir}: recovered weights differ from the ONNX graph by "
                            f"{max_abs:.2e} > {PARITY_ATOL}")  # fmt: skip
    meta = read_meta(bundle_dir)
    bundle = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION}
    bundle |= {k: meta[k] for k in META_FROM_RUN if k in meta}
    bundle["state_dict"] = model.state_dict()
    bundle["recovered"] = {"from": ONNX_NAME, "parity_max_abs": max_abs,
                           "initialised": missing}  # fmt: skip
    return bundle
