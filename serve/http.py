"""The HTTP API: a FastAPI app over one :class:`airchitect.serve.recommend.RecommendService`.

Endpoints (JSON in, JSON out; the schema is at ``/openapi.json``, browsable at ``/docs``):

* ``GET  /v1/health``     the bundle being served: space hash, schema version, model, metrics,
                          the candidate ranker's validation figures
* ``GET  /v1/space``      the design space: knobs and their allowed values, size, hash, mapping
* ``POST /v1/recommend``  a design (and a mapping per layer) for a layer, a list of layers or a
                          zoo network, under an optional area/power budget
* ``POST /v1/evaluate``   the cost of a workload on one given design, and its budget verdict
* ``POST /v1/cosearch``   the accuracy vs cost front of a network family over (variant, design)
                          pairs (``airchitect.serve.cosearch``)
* ``GET  /v1/workloads``, ``POST /v1/workload``  the zoo, and an ONNX file or LLM config as
                          layers (``airchitect.serve.http_workloads``)
* ``GET  /``              the web page (``airchitect.serve.http_page``; ``/docs`` is served offline
too)

Errors share one body, :class:`ErrorResponse` (``error`` kind, one-line ``detail`` naming the
field and the allowed values, and for schema errors every problem under ``errors``): bad input
is 422, a body that is not JSON at all 400, a body over ``max_body_bytes`` or a workload over
``max_layers`` layers 413, a body not sent in full within ``body_timeout_s`` 408, a request
still queued when its ``request_timeout_s`` passes 503 and one still computing 504 (a
refinement or exact search stops in time and answers 200 with what it has).

Run it with ``python -m airchitect.serve.http --bundle PATH [--host 127.0.0.1] [--port 8000]`` or
:func:`run`; each worker process answers queries one at a time, in arrival order, on one compute
thread (refinements and exact searches on a second, layer lists over ``LARGE_LAYERS`` layers
and co-searches on a third), while its event loop keeps parsing requests and answering cache
hits and health checks. A request whose client goes away is dropped, its searches stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from airchitect.cost.network import NoValidMapping, evaluate_network
from airchitect.designs import exceeded
from airchitect.serve.bundle import BUNDLE_FILES, DEFAULT_BUNDLE, RANKER_NAME
from airchitect.serve.cosearch_batch import BatchRecommender
from airchitect.serve.http_guards import (
    BODY_KEY,
    BODY_TIMEOUT_S,
    CACHE_BYTES,
    AnswerCache,
    BodyLimit,
    one_line,
    unparsable,
)
from airchitect.serve.http_page import add_page_routes
from airchitect.serve.http_schema import (  # noqa: F401  (re-exported: the app's schema)
    _ERRORS,
    _SHAPE_FIELDS,
    API_PREFIX,
    GRACEFUL_SHUTDOWN_S,
    LARGE_LAYERS,
    MAX_COSEARCH_PAIRS,
    MAX_DIM,
    MAX_REFINE,
    MAX_TIME_BUDGET_S,
    REQUEST_TIMEOUT_S,
    SEARCH_SHARE,
    AccuracyIn,
    BudgetIn,
    BudgetOut,
    BudgetReport,
    BundleInfo,
    CandidateOut,
    CertificateOut,
    CoSearchRequest,
    CostOut,
    DataflowName,
    Dim,
    ErrorItem,
    ErrorResponse,
    EvaluateRequest,
    EvaluateResponse,
    ExplanationOut,
    FamilyName,
    HardwareIn,
    HardwareOut,
    HealthResponse,
    KnobOut,
    LayerIn,
    LayerOut,
    LayerResultOut,
    NeighbourOut,
    ObjectiveName,
    OpName,
    Positive,
    RecommendRequest,
    RecommendResponse,
    RefinementOut,
    SpaceResponse,
    Stride,
    TargetsIn,
    TotalsOut,
    WhatIfOut,
    WorkloadIn,
    ZooName,
    _knob,
    _Open,
    _Strict,
)
from airchitect.serve.http_workloads import add_workload_routes
from airchitect.serve.recommend import NoFeasibleDesign, RecommendService, Settings
from airchitect.space import Budget, HardwareConfig, check_budget
from airchitect.workloads import ZOO, Layer, Network

log = logging.getLogger("airchitect.http")

_FIELD_RE = re.compile(r"field '(\w+)'")


# -- errors ----------------------------------------------------------------------------------------
class ApiError(Exception):
    """An input problem found after schema validation: status, kind, the request field it is
    about and a one-line message (which starts with that field)."""

    def __init__(
        self, status: int, error: str, field: str, message: str,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(f"{field}: {message}")
        self.status, self.error, self.field, self.message = status, error, field, message
        self.headers = headers

    @property
    def detail(self) -> str:
        return f"{self.field}: {self.message}"


def _error(
    status: int, error: str, detail: str, errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    body = {"error": error, "detail": one_line(detail), "errors": errors or []}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_items(exc: RequestValidationError) -> list[dict[str, str]]:
    items = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        value = err.get("input")
        if err.get("type") == "json_invalid":  # loc is ("body", character offset)
            why = (err.get("ctx") or {}).get("error")
            msg = f"{msg} at character {loc[0] if loc else 0}" + (f": {why}" if why else "")
            loc = []
        elif isinstance(value, str | int | float | bool) and len(repr(value)) <= 80:
            msg = f"{msg} (got {value!r})"
        items.append(
            {"field": ".".join(loc) or "body", "message": msg, "type": err.get("type", "")}
        )
    return items


# -- request -> library objects --------------------------------------------------------------------
def build_network(req: WorkloadIn, max_layers: int) -> Network:
    """The request's workload as a Network; errors name the request field."""
    if req.layers is not None and len(req.layers) > max_layers:
        raise _too_many(len(req.layers), max_layers)
    if req.model is not None:
        network = _zoo_network(req)
    elif req.layer is not None:
        layer = _layer(req.layer, "layer", "layer")
        network = Network(layer.name, "layer", (layer,))
    else:
        layers = tuple(_layer(x, f"layers.{i}", f"layer{i}") for i, x in enumerate(req.layers))
        try:
            network = Network("layers", "layer", layers)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", "layers", str(exc)) from None
    if len(network.layers) > max_layers:
        raise _too_many(len(network.layers), max_layers)
    return network


def _too_many(n: int, max_layers: int) -> ApiError:
    return ApiError(
        413,
        "too_large",
        "layers",
        f"the workload has {n} layers, more than max_layers={max_layers}",
    )


def _layer(spec: LayerIn, where: str, default_name: str) -> Layer:
    values = spec.model_dump()
    values["name"] = values["name"] or default_name
    try:
        return Layer(**values)
    except ValueError as exc:  # e.g. "field 'k'=6 is not divisible by groups=4"
        found = _FIELD_RE.search(str(exc))
        field = f"{where}.{found.group(1)}" if found else where
        raise ApiError(422, "invalid_request", field, str(exc)) from None


def _zoo_network(req: WorkloadIn) -> Network:
    shape = {name: getattr(req, name) for name in _SHAPE_FIELDS if getattr(req, name) is not None}
    builder = ZOO[req.model]
    takes = [p for p in inspect.signature(builder).parameters if p in _SHAPE_FIELDS]
    for name in shape:
        if name not in takes:
            raise ApiError(422, "invalid_request", name,
                           f"network {req.model!r} does not take it; it takes "
                           f"{', '.join(takes) or 'no shape fields'}")  # fmt: skip
    try:
        return builder(**shape)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", "model", str(exc)) from None


def _budget(spec: BudgetIn | None) -> Budget:
    return Budget() if spec is None else Budget(spec.area_mm2, spec.power_mw)


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- deadlines and health --------------------------------------------------------------------------
class _Deadline:
    """Progress callbacks that stop a request's searches: a refinement past ``until`` (the
    service ends it as it does on Ctrl-C, keeping the best design so far), and any search once
    one of ``stops`` is set (the server is stopping, the client went away). An exact search
    keeps to its own time budget otherwise."""

    class Reached(KeyboardInterrupt):
        pass

    def __init__(self, until: float, *stops: threading.Event) -> None:
        self.until, self.stops, self.fired = until, stops, False

    def on_eval(self, evals: int, total: int, best: float) -> None:
        if time.monotonic() > self.until:
            self.fired = True
            raise self.Reached
        self.on_sweep(evals, total)

    def on_sweep(self, done: int, total: int) -> None:
        if any(stop.is_set() for stop in self.stops):
            self.fired = True
            raise self.Reached


class _BoundedBatch(BatchRecommender):
    """The service as a co-search uses it (sweeps shared between its pairs), with every
    pair's searches stopped by ``stop`` as a recommend's are."""

    def __init__(self, service: RecommendService, stop: _Deadline) -> None:
        super().__init__(service)
        self.stop = stop

    def recommend(self, workload, budget, objective, settings=None):
        return self.service.recommend(workload, budget, objective, settings,
                                      self.stop.on_sweep, self.stop.on_eval)  # fmt: skip


async def _client_gone(request: Request) -> None:
    """Returns once the client has closed the connection (the body is read by then: later
    ``receive`` calls wait for the disconnect, or for the end of the response)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


#: Keys of the bundle's ``data`` and ``export`` records that hold paths on the machine that
#: trained or exported it: a response never shows a filesystem path.
_PATH_KEYS = frozenset({"dir", "from", "path"})


def health_info(service: RecommendService, limits_info: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /v1/health`` answers: the bundle by name and content hash, never a path."""
    space = service.space
    meta = getattr(service.predictor, "meta", {}) or {}
    bundle_dir = getattr(service.predictor, "bundle_dir", None)

    def no_paths(record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        return {k: v for k, v in record.items() if k not in _PATH_KEYS}

    return plain({
        "status": "ok",
        "bundle": {
            "name": Path(bundle_dir).name if bundle_dir else "",
            "sha256": bundle_sha256(bundle_dir) if bundle_dir else "",
            "format": meta.get("format"), "version": meta.get("version"),
            "space_name": space.name, "space_hash": space.hash, "space_size": space.size,
            "schema_version": meta.get("schema_version"),
            "data": no_paths(meta.get("data")), "export": no_paths(meta.get("export")),
        },
        "model": meta.get("model_config") or {},
        "metrics": meta.get("metrics"),
        "ranker": meta.get("ranker"),  # its config and validation figures; None: no ranker
        "limits": limits_info,
    })  # fmt: skip


def bundle_sha256(bundle_dir: str | Path) -> str:
    """One hash of the files a server loads from a bundle (name, then contents, in order)."""
    digest = hashlib.sha256()
    for name in sorted((*BUNDLE_FILES, RANKER_NAME)):
        path = Path(bundle_dir) / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# -- the app ---------------------------------------------------------------------------------------
def create_app(
    service: RecommendService, max_body_bytes: int = 1_000_000, max_layers: int = 512,
    cache_size: int = 4096, cache_bytes: int = CACHE_BYTES,
    request_timeout_s: float = REQUEST_TIMEOUT_S, body_timeout_s: float = BODY_TIMEOUT_S,
) -> FastAPI:  # fmt: skip
    """The API over ``service``; bodies over ``max_body_bytes`` and workloads over
    ``max_layers`` layers are refused with 413, a body not in within ``body_timeout_s`` with
    408. The last ``cache_size`` distinct recommend answers are kept, at most ``cache_bytes``
    of them (0: none). A request gets ``request_timeout_s`` from arrival to answer."""
    if max_body_bytes < 1 or max_layers < 1:
        raise ValueError("max_body_bytes and max_layers must be >= 1")
    for name, value in (("request_timeout_s", request_timeout_s),
                        ("body_timeout_s", body_timeout_s)):  # fmt: skip
        if not (isinstance(value, int | float) and 0 < value <= 86_400):
            raise ValueError(f"{name} must be in (0, 86400] seconds, got {value!r}")
    cache = AnswerCache(cache_size, cache_bytes)
    space = service.space
    space_info = plain(space.describe())
    limits_info = {"max_body_bytes": max_body_bytes, "max_layers": max_layers,
                   "max_refine": MAX_REFINE, "cache_size": cache_size, "cache_bytes": cache_bytes,
                   "request_timeout_s": request_timeout_s,
                   "body_timeout_s": body_timeout_s}  # fmt: skip
    health = health_info(service, limits_info)

    # Scheduling. Answers are CPU-bound numpy/onnxruntime work of ~10 ms that holds the GIL
    # most of the time, so threads of one process do not run them in parallel: they only take
    # turns, and every request in flight finishes late (processor sharing). One compute thread
    # per worker process answers them first come, first served instead, which keeps the tail
    # short (one worker per core gives the parallelism). The event loop stays free to parse,
    # validate, answer cache hits and health checks while a query computes. Refinement runs
    # seconds of BO, so it has its own thread and never holds up the plain queries behind it;
    # it is one thread because ConstrainedBO wraps Optuna in warnings.catch_warnings() and
    # sets Optuna's global log level, process-wide state that concurrent runs would interleave.
    # The query path shares ``service`` with the refine thread safely: onnxruntime's
    # InferenceSession.run and a faiss CPU index's search may be called concurrently; decoding,
    # mapping and costing build per-request arrays, and their shared caches are
    # functools.lru_cache (thread-safe) and cached_property (locked on 3.11, and idempotent).
    # Long layer lists (a 512-layer request computes for seconds) and co-searches take a third
    # lane for the same reason: one of them must not hold up the ~10 ms questions behind it.
    queries = ThreadPoolExecutor(1, thread_name_prefix="airchitect-query")
    refinements = ThreadPoolExecutor(1, thread_name_prefix="airchitect-refine")
    large = ThreadPoolExecutor(1, thread_name_prefix="airchitect-large")

    def lane(req: WorkloadIn) -> ThreadPoolExecutor:
        return large if len(req.layers or ()) > LARGE_LAYERS else queries

    # Deadlines. A request has request_timeout_s from arrival. Still queued then, it is
    # dropped (503); computing, the client gets 504 while the thread finishes its step, which
    # is short: refinements and exact searches are cut to fit the time left and answer with
    # what they have (`_Deadline`); so is every search in flight at shutdown (`stopping`).
    stopping = threading.Event()

    async def compute(
        pool: ThreadPoolExecutor, deadline: float, request: Request, fn: Callable[..., Any],
        *args: Any, gone: threading.Event | None = None,
    ) -> Any:  # fmt: skip
        """``fn(*args)`` on ``pool`` by ``deadline``; dropped (or, with ``gone`` passed to
        its searches, stopped) when the client goes away."""
        started = threading.Event()

        def job() -> Any:
            started.set()
            return fn(*args)

        future = asyncio.get_running_loop().run_in_executor(pool, job)
        watcher = asyncio.ensure_future(_client_gone(request))
        try:
            done, _ = await asyncio.wait({future, watcher}, return_when=FIRST_COMPLETED,
                                         timeout=max(deadline - time.monotonic(), 0.0))  # fmt: skip
        finally:
            watcher.cancel()
        if future in done:
            return future.result()
        future.cancel()  # a job still queued never runs
        if watcher in done:  # nobody reads the answer: 499 is for the access log
            if gone is not None:
                gone.set()
            raise ApiError(499, "client_gone", "request", "the client closed the connection")
        limit = f"request_timeout_s={request_timeout_s:g} s"
        if started.is_set():
            raise ApiError(504, "timeout", "request", f"not answered within {limit}")
        raise ApiError(503, "overloaded", "request", f"still queued after {limit}; retry later",
                       headers={"Retry-After": "1"})  # fmt: skip

    def arrival_deadline() -> float:
        return time.monotonic() + request_timeout_s

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # before the first request is accepted
        await asyncio.get_running_loop().run_in_executor(queries, service.warm_up)
        yield
        stopping.set()
        for pool in (queries, refinements, large):
            pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        lifespan=lifespan,
        title="airchitect",
        version="1",
        summary="Instant DNN-accelerator design recommendations",
        description=__doc__,
        responses=_ERRORS,  # on every operation: any of them can time out, fail or be refused
        docs_url=None,  # served from local files by airchitect.serve.http_page: /docs works offline
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.state.service, app.state.cache = service, cache

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = _validation_items(exc)
        detail = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
        if len(items) > 5:
            detail += f"; and {len(items) - 5} more"
        return _error(422, "invalid_request", detail or "invalid request", items)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        item = {"field": exc.field, "message": one_line(exc.message), "type": exc.error}
        return _error(exc.status, exc.error, exc.detail, [item], headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and BODY_KEY in request.scope:  # FastAPI: body unparsable
            detail = f"body: {unparsable(request.scope[BODY_KEY])}"
            item = {"field": "body", "message": detail.removeprefix("body: "),
                    "type": "invalid_json"}  # fmt: skip
            return _error(400, "invalid_json", detail, [item])
        if exc.status_code == 404:
            detail = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        elif exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path}"
        else:
            detail = str(exc.detail)
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, kind, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # the message stays in the log: it may name server files
        return _error(500, "internal_error", f"unexpected {type(exc).__name__}; "
                      "the server log has the details")  # fmt: skip

    @app.get(f"{API_PREFIX}/health", response_model=HealthResponse, tags=["service"])
    async def get_health() -> dict[str, Any]:
        """The bundle being served: space, schema version, model configuration, metrics."""
        return health

    @app.get(f"{API_PREFIX}/space", response_model=SpaceResponse, tags=["service"])
    async def get_space() -> dict[str, Any]:
        """The design space: every knob with its allowed values, the grid size, its hash and
        the mapping options tried on each point."""
        return space_info

    @app.post(f"{API_PREFIX}/recommend", response_model=RecommendResponse, responses=_ERRORS,
              tags=["design"])  # fmt: skip
    async def recommend(req: RecommendRequest, request: Request) -> Response:
        """One design for the workload within the budget, with the best mapping and cost of
        every layer. A request already answered is served from memory (header
        ``X-Airchitect-Cache: hit``)."""
        deadline = arrival_deadline()
        key = req.model_dump_json()
        answer, status = cache.get(key), "hit"
        if answer is None:
            slow = req.refine or req.exact or req.time_budget_s
            pool = refinements if slow else lane(req)
            gone = threading.Event()
            answer, whole = await compute(pool, deadline, request, _recommend_json, req,
                                          deadline, gone, gone=gone)  # fmt: skip
            status = "miss"
            if whole:  # a search cut short by the deadline is not what the request asks for
                cache.put(key, answer)
        return Response(answer, media_type="application/json",
                        headers={"X-Airchitect-Cache": status})  # fmt: skip

    def _recommend_json(
        req: RecommendRequest, deadline: float, gone: threading.Event
    ) -> tuple[bytes, bool]:
        """The answer, and whether it is whole (no search in it was cut short)."""
        network = build_network(req, max_layers)
        budget = _budget(req.budget)
        given = {"top_k": req.top_k, "neighbours": req.neighbours, "refine": req.refine,
                 "time_budget_s": req.time_budget_s}  # fmt: skip
        if req.exact and req.time_budget_s is None:
            given["time_budget_s"] = MAX_TIME_BUDGET_S
        search_s = SEARCH_SHARE * max(deadline - time.monotonic(), 0.0)
        cut = given["time_budget_s"] is not None and given["time_budget_s"] > search_s
        if cut:
            given["time_budget_s"] = search_s
        settings = Settings(exact=req.exact, explain=req.explain,
                            **{k: v for k, v in given.items() if v is not None})  # fmt: skip
        stop = _Deadline(time.monotonic() + search_s, stopping, gone)
        try:
            found = service.recommend(network, budget, req.objective, settings,
                                      stop.on_sweep, stop.on_eval)  # fmt: skip
        except NoFeasibleDesign as exc:
            raise ApiError(422, "no_feasible_design", "budget", str(exc)) from None
        except NoValidMapping as exc:
            raise ApiError(422, "no_valid_mapping", "workload", str(exc)) from None
        except _Deadline.Reached:  # an exact search stopped by shutdown or a client gone
            raise ApiError(503, "stopped", "request", "stopped: the server is shutting down "
                           "or the client went away") from None  # fmt: skip
        answer = plain(found.to_dict(layers=req.include_layers))
        body = RecommendResponse.model_validate(answer).model_dump_json().encode()
        return body, not (cut or stop.fired)

    @app.post(f"{API_PREFIX}/evaluate", response_model=EvaluateResponse, responses=_ERRORS,
              tags=["design"])  # fmt: skip
    async def evaluate(req: EvaluateRequest, request: Request) -> dict[str, Any]:
        """The cost of the workload on the given design (best mapping per layer over the
        served space's mapping options) and whether the design fits the budget."""
        return await compute(lane(req), arrival_deadline(), request, _evaluate, req)

    @app.post(f"{API_PREFIX}/cosearch", responses=_ERRORS, tags=["design"])
    async def cosearch(req: CoSearchRequest, request: Request) -> dict[str, Any]:
        """The Pareto front of accuracy vs the objective over (variant, design) pairs of a
        network family, each design the recommender's best within its budget (see
        ``airchitect.serve.cosearch``); slow with ``refine`` or ``time_budget_s``."""
        slow = req.refine or req.time_budget_s is not None
        deadline = arrival_deadline()
        if req.time_budget_s is not None:  # cut to the time left, as a recommend's search is
            left = SEARCH_SHARE * request_timeout_s
            req = req.model_copy(update={"time_budget_s": min(req.time_budget_s, left)})
        gone = threading.Event()
        return await compute(refinements if slow else large, deadline, request, _cosearch, req,
                             deadline, gone, gone=gone)  # fmt: skip

    def _cosearch(req: CoSearchRequest, deadline: float, gone: threading.Event) -> dict[str, Any]:
        from airchitect.serve.cosearch import RequestError, cosearch_request

        stop = _Deadline(time.monotonic() + SEARCH_SHARE * max(deadline - time.monotonic(), 0.0),
                         stopping, gone)  # fmt: skip
        try:
            return plain(cosearch_request(_BoundedBatch(service, stop), req.model_dump(),
                                          MAX_COSEARCH_PAIRS))  # fmt: skip
        except RequestError as exc:
            raise ApiError(exc.status, exc.error, exc.field, exc.message) from None
        except _Deadline.Reached:
            raise ApiError(503, "stopped", "request", "stopped: the server is shutting down "
                           "or the client went away") from None  # fmt: skip

    def _evaluate(req: EvaluateRequest) -> dict[str, Any]:
        network = build_network(req, max_layers)
        budget = _budget(req.budget)
        try:
            hw = HardwareConfig(**req.hardware.model_dump())
        except ValueError as exc:
            raise ApiError(422, "invalid_request", "hardware", str(exc)) from None
        try:
            cost = evaluate_network(network, hw, req.objective, service.tech,
                                    space.mapping_options)  # fmt: skip
        except NoValidMapping as exc:
            raise ApiError(422, "no_valid_mapping", "hardware", str(exc)) from None
        feasible, reason = check_budget(hw, budget, service.tech)
        report = budget.to_dict() | {"feasible": bool(feasible[0]),
                                     "exceeded": exceeded(int(reason[0]))}  # fmt: skip
        try:
            hw_index = int(space.flat_index(space.encode(hw)))
        except ValueError:
            hw_index = None
        return plain(cost.to_dict() | {"budget": report, "hw_index": hw_index})

    # an upload's import is on the refinement lane: both it and BO use warnings.catch_warnings
    def upload_job(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
        return compute(refinements, arrival_deadline(), request, fn, *args)

    add_workload_routes(app, upload_job, max_layers, ApiError)
    add_page_routes(app)
    return app


# -- running ---------------------------------------------------------------------------------------
SERVE_ENV = "AIRCHITECT_SERVE"  # how `run` hands its settings to each worker process


def load_service(bundle_dir: str | Path = DEFAULT_BUNDLE, threads: int = 1) -> RecommendService:
    from airchitect.serve.predictor import (
        OnnxPredictor,  # onnxruntime and faiss load here, not on import
    )

    return RecommendService(OnnxPredictor(bundle_dir, threads=threads))


def app_from_env() -> FastAPI:
    """The app a worker process builds from the settings `run` left in ``AIRCHITECT_SERVE``."""
    settings = json.loads(os.environ[SERVE_ENV])
    return create_app(load_service(settings["bundle"], settings["threads"]),
                      settings["max_body_bytes"], settings["max_layers"],
                      settings["cache_size"], settings["cache_bytes"],
                      settings["request_timeout_s"], settings["body_timeout_s"])  # fmt: skip


#: Seconds an idle connection stays open. uvicorn's own default is 5 s, so a client that paused
#: longer between questions (a person, a script doing other work) could send its next request
#: on a connection the server was closing: under the HTTP benchmark's 1 s mean think time that
#: was 4 failed reads per run. 75 s is nginx's default.
KEEP_ALIVE_S = 75.0


def run(
    bundle_dir: str | Path = DEFAULT_BUNDLE, host: str = "127.0.0.1", port: int = 8000,
    threads: int = 1, max_body_bytes: int = 1_000_000, max_layers: int = 512,
    log_level: str = "info", access_log: bool = True, workers: int = 1, cache_size: int = 4096,
    keep_alive_s: float = KEEP_ALIVE_S, cache_bytes: int = CACHE_BYTES,
    request_timeout_s: float = REQUEST_TIMEOUT_S, body_timeout_s: float = BODY_TIMEOUT_S,
    graceful_shutdown_s: float = GRACEFUL_SHUTDOWN_S,
) -> None:  # fmt: skip
    """Serve the bundle with uvicorn: ``workers`` processes, each loading the bundle once and
    keeping its own answer cache (``threads`` is onnxruntime's intra-op threads per query).
    On shared cores, one worker per core with one thread each. An idle connection stays open
    ``keep_alive_s`` seconds; on SIGTERM requests in flight get ``graceful_shutdown_s``."""
    import uvicorn

    if workers < 1 or threads < 1 or cache_size < 0 or cache_bytes < 0:
        raise ValueError("workers and threads must be >= 1, cache_size and cache_bytes >= 0")
    for name, value in (("request_timeout_s", request_timeout_s),
                        ("body_timeout_s", body_timeout_s),
                        ("graceful_shutdown_s", graceful_shutdown_s)):  # fmt: skip
        if not 0 < value <= 86_400:
            raise ValueError(f"{name} must be in (0, 86400] seconds, got {value!r}")
    if not keep_alive_s > 0:
        raise ValueError(f"keep_alive_s must be > 0, got {keep_alive_s!r}")
    from airchitect.serve.bundle import read_meta

    read_meta(bundle_dir)  # a bad bundle fails here, once, not in every worker
    os.environ[SERVE_ENV] = json.dumps({
        "bundle": str(bundle_dir), "threads": threads, "max_body_bytes": max_body_bytes,
        "max_layers": max_layers, "cache_size": cache_size, "cache_bytes": cache_bytes,
        "request_timeout_s": request_timeout_s, "body_timeout_s": body_timeout_s,
    })  # fmt: skip
    uvicorn.run("airchitect.serve.http:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level=log_level, access_log=access_log,
                timeout_keep_alive=keep_alive_s,
                timeout_graceful_shutdown=graceful_shutdown_s)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve airchitect recommendations over HTTP.")
    parser.add_argument("--bundle", default=str(DEFAULT_BUNDLE), help="serving bundle directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per query")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--cache-size", type=int, default=4096, help="answers kept; 0: none")
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000)
    parser.add_argument("--max-layers", type=int, default=512)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--keep-alive-s", type=float, default=KEEP_ALIVE_S,
                        help="seconds an idle connection stays open")  # fmt: skip
    parser.add_argument("--cache-bytes", type=int, default=CACHE_BYTES,
                        help="bytes of answers kept per worker")  # fmt: skip
    parser.add_argument("--request-timeout-s", type=float, default=REQUEST_TIMEOUT_S,
                        help="seconds from a request's arrival to its answer")  # fmt: skip
    parser.add_argument("--body-timeout-s", type=float, default=BODY_TIMEOUT_S,
                        help="seconds a client has to send a request's body")  # fmt: skip
    parser.add_argument("--graceful-shutdown-s", type=float, default=GRACEFUL_SHUTDOWN_S,
                        help="seconds requests in flight get on SIGTERM")  # fmt: skip
    args = parser.parse_args(argv)
    run(args.bundle, args.host, args.port, args.threads, args.max_body_bytes, args.max_layers,
        args.log_level, not args.no_access_log, args.workers, args.cache_size,
        args.keep_alive_s, args.cache_bytes, args.request_timeout_s, args.body_timeout_s,
        args.graceful_shutdown_s)  # fmt: skip


if __name__ == "__main__":
    main()
