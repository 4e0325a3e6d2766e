"""Workloads: the canonical loop-nest operator, a zoo of real networks and importers."""

from airchitect.workloads.layer import (
    DIMS,
    Layer,
    OpType,
    WorkloadError,
    batched_matmul,
    conv2d,
    depthwise_conv2d,
    fully_connected,
    gemm,
)
from airchitect.workloads.network import Network

__all__ = [
    "DIMS",
    "Layer",
    "Network",
    "OpType",
    "WorkloadError",
    "batched_matmul",
    "conv2d",
    "depthwise_conv2d",
    "fully_connected",
    "gemm",
]

# -- the workload library: the zoo, LLM builder and importers -------------------------------------
from airchitect.workloads.importers import load_layers_table, load_onnx  # noqa: E402
from airchitect.workloads.llm import (  # noqa: E402
    LLMConfig,
    build_llm,
    build_llm_generation,
    list_llm_configs,
    load_llm_config,
)
from airchitect.workloads.zoo import ZOO, get_network, list_networks  # noqa: E402

__all__ += [
    "LLMConfig",
    "ZOO",
    "build_llm",
    "build_llm_generation",
    "get_network",
    "list_llm_configs",
    "list_networks",
    "load_layers_table",
    "load_llm_config",
    "load_onnx",
]
