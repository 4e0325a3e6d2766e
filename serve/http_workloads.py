"""The workloads the HTTP API knows, and files turned into layers: the web page's two helpers.

* ``GET  /v1/workloads``  the zoo networks (with the shape fields each takes and their
                          defaults) and the shipped LLM configs
* ``POST /v1/workload``   an uploaded ONNX model (base64) or an LLM config (a shipped name or a
                          ``config.json`` object) as the list of layers ``POST /v1/recommend``
                          takes in ``layers``

JSON in, JSON out, with the app's limits (``max_body_bytes`` for the body, ``max_layers`` for
the layers, 413 past either) and its one-line 4xx errors. Added to the app by
:func:`add_workload_routes`; the import runs on one of the app's compute lanes.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import re
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from pydantic import Field, model_validator

from airchitect.serve.http_schema import (
    _ERRORS,
    _SHAPE_FIELDS,
    API_PREFIX,
    LayerOut,
    _Open,
    _Strict,
)
from airchitect.workloads import (
    ZOO,
    Network,
    WorkloadError,
    build_llm,
    list_llm_configs,
    list_networks,
    load_llm_config,
    load_onnx,
)
from airchitect.workloads.llm_config import LLMConfig

#: Runs ``fn(*args)`` off the event loop for ``request`` (the app's ``compute`` on a lane).
RunJob = Callable[..., Awaitable[Any]]

LLMName = Literal[tuple(list_llm_configs())]  # type: ignore[valid-type]
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


# -- schema ----------------------------------------------------------------------------------------
class ZooNetworkOut(_Open):
    name: str
    shape: dict[str, Any] = Field(description="shape fields the network takes, with defaults")


class WorkloadsResponse(_Open):
    networks: list[ZooNetworkOut]
    llm_configs: list[str]
    phases: list[str]


class WorkloadFileRequest(_Strict):
    """Exactly one of ``onnx`` (the file's bytes in base64) or ``llm_config`` (a shipped
    config's name or a HuggingFace ``config.json`` object); ``batch`` applies to both,
    ``phase``/``seq_len``/``context_len`` to an LLM only."""

    onnx: Annotated[str, Field(min_length=1)] | None = None
    llm_config: LLMName | dict[str, Any] | None = None
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="the workload's name (default: from the config, or 'onnx')"
    )
    batch: Annotated[int, Field(ge=1, le=4096, strict=True)] | None = None
    phase: Literal["prefill", "decode"] | None = None
    seq_len: Annotated[int, Field(ge=1, le=1 << 20, strict=True)] | None = None
    context_len: Annotated[int, Field(ge=0, le=1 << 20, strict=True)] | None = None

    @model_validator(mode="after")
    def _one_file(self) -> WorkloadFileRequest:
        if (self.onnx is None) == (self.llm_config is None):
            raise ValueError("give exactly one of onnx (base64) or llm_config")
        if self.onnx is not None:
            for field in ("phase", "seq_len", "context_len"):
                if getattr(self, field) is not None:
                    raise ValueError(f"field {field!r} applies only to llm_config")
        return self


class WorkloadFileResponse(_Open):
    name: str
    source: Literal["onnx", "llm_config"]
    layers: list[LayerOut] = Field(description="as POST /v1/recommend takes them in 'layers'")
    warnings: list[str] = Field(default_factory=list, description="e.g. nodes skipped")


# -- the work --------------------------------------------------------------------------------------
def zoo_catalogue() -> dict[str, Any]:
    """What ``GET /v1/workloads`` answers."""
    networks = []
    for name in list_networks():
        params = inspect.signature(ZOO[name]).parameters
        shape = {p: params[p].default for p in _SHAPE_FIELDS if p in params}
        networks.append({"name": name, "shape": shape})
    return {"networks": networks, "llm_configs": list_llm_configs(),
            "phases": ["prefill", "decode"]}  # fmt: skip


def read_workload_file(req: WorkloadFileRequest, max_layers: int, error: Callable) -> dict:
    """The request's file as layers; ``error(status, kind, field, message)`` builds the 4xx."""
    if req.onnx is not None:
        network, caught = _from_onnx(req, error)
    else:
        network, caught = _from_llm(req, error), []
    if len(network.layers) > max_layers:
        raise error(413, "too_large", "layers", f"the workload has {len(network.layers)} "
                    f"layers, more than max_layers={max_layers}")  # fmt: skip
    layers = [_layer_dict(layer) for layer in network.layers]
    return {"name": network.name, "source": "onnx" if req.onnx else "llm_config",
            "layers": layers, "warnings": caught}  # fmt: skip


def _layer_dict(layer: Any) -> dict[str, Any]:
    fields = ("name", "op", "n", "k", "c", "p", "q", "r", "s", "stride", "dilation", "groups",
              "precision_bytes")  # fmt: skip
    out = {f: getattr(layer, f) for f in fields}
    out["op"] = layer.op.value
    return out


def _from_onnx(req: WorkloadFileRequest, error: Callable) -> tuple[Network, list[str]]:
    try:
        data = base64.b64decode(req.onnx, validate=True)
    except (binascii.Error, ValueError):
        raise error(422, "invalid_request", "onnx", "not base64: send the .onnx file's bytes "
                    "base64-encoded") from None  # fmt: skip
    name = _NAME_RE.sub("_", req.name or "onnx").strip("._") or "onnx"
    # The importer reads a path; its messages name it, so the temporary path is replaced by
    # the workload's name before they reach the client (a response never shows a path).
    with tempfile.TemporaryDirectory(prefix="airchitect-upload-") as tmp:
        path = Path(tmp) / f"{name}.onnx"
        path.write_bytes(data)
        # catch_warnings swaps process-wide state: the app runs this on the lane where the
        # only other user (constrained BO) runs, so the two never interleave.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                network = load_onnx(path, req.batch, name=name)
            except WorkloadError as exc:
                raise error(422, "invalid_request", "onnx",
                            str(exc).replace(str(path), f"{name}.onnx")) from None  # fmt: skip
        notes = [str(w.message).replace(str(path), f"{name}.onnx") for w in caught]
    return network, [n for n in notes if "skipped" in n]


def _from_llm(req: WorkloadFileRequest, error: Callable) -> Network:
    try:
        if isinstance(req.llm_config, str):
            config = load_llm_config(req.llm_config)  # a shipped name: the schema allows no path
        else:
            config = LLMConfig.from_dict(req.llm_config, name=req.name or "llm")
    except WorkloadError as exc:
        raise error(422, "invalid_request", "llm_config", str(exc)) from None
    shape = {"phase": req.phase, "batch": req.batch, "seq_len": req.seq_len,
             "context_len": req.context_len}  # fmt: skip
    try:
        return build_llm(config, **{k: v for k, v in shape.items() if v is not None},
                         name=req.name)  # fmt: skip
    except WorkloadError as exc:
        raise error(422, "invalid_request", "llm_config", str(exc)) from None


# -- routes ----------------------------------------------------------------------------------------
def add_workload_routes(app: FastAPI, run_job: RunJob, max_layers: int, error: Callable) -> None:
    """``GET /v1/workloads`` and ``POST /v1/workload`` on ``app``; ``run_job(request, fn,
    *args)`` computes off the event loop, ``error`` builds the app's 4xx exception."""
    catalogue = zoo_catalogue()

    @app.get(f"{API_PREFIX}/workloads", response_model=WorkloadsResponse, tags=["service"])
    async def get_workloads() -> dict[str, Any]:
        """The zoo networks (``model`` of a recommend), the shape fields each takes with their
        defaults, and the shipped LLM configs (``llm_config`` of ``POST /v1/workload``)."""
        return catalogue

    @app.post(f"{API_PREFIX}/workload", response_model=WorkloadFileResponse, responses=_ERRORS,
              tags=["design"])  # fmt: skip
    async def post_workload(req: WorkloadFileRequest, request: Request) -> dict[str, Any]:
        """An ONNX model (base64 bytes; one layer per Conv/Gemm/MatMul node) or an LLM config
        (one forward pass in ``phase``) as the layer list ``POST /v1/recommend`` takes."""
        return await run_job(request, read_workload_file, req, max_layers, error)
