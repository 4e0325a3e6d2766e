"""The HTTP API's schema: its limits, request models and response models.

Split from :mod:`airchitect.serve.http` (which imports every name here), so the app's file holds the
routes and their machinery; the OpenAPI schema is built from these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from airchitect import limits
from airchitect.cost.mapper import Objective
from airchitect.serve.recommend import Settings
from airchitect.space.hardware import Dataflow
from airchitect.workloads import list_networks
from airchitect.workloads.families import list_families
from airchitect.workloads.layer import OpType

API_PREFIX = "/v1"
MAX_DIM = limits.LAYER["k"].hi  # per loop bound; airchitect.limits also bounds the products
MAX_REFINE = 200
MAX_TIME_BUDGET_S = 60.0  # a request's exact-search budget; longer searches belong to the CLI
#: Seconds a request may take from arrival to answer; a refinement or exact search is cut to
#: fit (its answer says ``interrupted`` or gives the remaining gap), anything else gets 503/504.
REQUEST_TIMEOUT_S = 120.0
#: Seconds uvicorn waits for requests in flight on SIGTERM before closing their connections;
#: it then re-raises the signal, so a search thread still running does not hold the exit.
GRACEFUL_SHUTDOWN_S = 5.0
#: The share of a request's time left that a refinement or exact search may use: the rest is
#: for mapping, explaining and sending the answer.
SEARCH_SHARE = 0.8
#: Requests with more layers than this are answered on their own lane (thread), not the one
#: of the quick questions: 64 distinct layers take about a second.
LARGE_LAYERS = 64

# Literal types built from the library's own enums and registry, so the schema lists them.
OpName = Literal[tuple(o.value for o in OpType)]  # type: ignore[valid-type]
ObjectiveName = Literal[tuple(o.value for o in Objective)]  # type: ignore[valid-type]
DataflowName = Literal[tuple(d.name.lower() for d in Dataflow)]  # type: ignore[valid-type]
ZooName = Literal[tuple(list_networks())]  # type: ignore[valid-type]

Dim = Annotated[int, Field(ge=1, le=MAX_DIM, strict=True)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Stride = Annotated[int, Field(ge=1, le=limits.LAYER["stride"].hi, strict=True)]


def _knob(name: str, integer: bool = False) -> Any:
    """A hardware knob or budget field bounded as ``airchitect.limits`` bounds it; strict, so
    ``"40"`` and ``true`` are refused rather than read as numbers."""
    b = limits.HARDWARE.get(name) or limits.BUDGET[name]
    low = {"ge": b.lo} if name in limits.HARDWARE else {"gt": b.lo}
    kind = int if integer else float
    return Annotated[kind, Field(**low, le=b.hi, strict=True, allow_inf_nan=False)]


# -- request models --------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayerIn(_Strict):
    """One layer as a loop nest (see ``airchitect.workloads.layer``): ``k``/``c`` are output and
    input channels (totals over groups), ``p``/``q`` output rows/columns, ``r``/``s`` kernel."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    op: OpName = "conv"
    n: Dim = 1
    k: Dim
    c: Dim
    p: Dim = 1
    q: Dim = 1
    r: Dim = 1
    s: Dim = 1
    stride: Stride = 1
    dilation: Stride = 1
    groups: Dim = 1
    precision_bytes: Literal[1, 2, 4] = 2


class BudgetIn(_Strict):
    """Upper bounds; an absent field leaves that axis unconstrained."""

    area_mm2: _knob("area_mm2") | None = None
    power_mw: _knob("power_mw") | None = None


class HardwareIn(_Strict):
    """All seven hardware knobs of one design."""

    pe_rows: _knob("pe_rows", integer=True)
    pe_cols: _knob("pe_cols", integer=True)
    l1_bytes: _knob("l1_bytes", integer=True)
    l2_kib: _knob("l2_kib")
    noc_words_per_cycle: _knob("noc_words_per_cycle")
    dram_bytes_per_cycle: _knob("dram_bytes_per_cycle")
    dataflow: DataflowName


_SHAPE_FIELDS = ("batch", "seq_len", "phase", "context_len")


class WorkloadIn(_Strict):
    """Exactly one of ``layer``, ``layers`` or ``model``; the shape fields (``batch``,
    ``seq_len``, ``phase``, ``context_len``) go with ``model`` and only where the network takes
    them (``seq_len`` for transformers, ``phase``/``context_len`` for LLMs)."""

    # the one-workload rule in the schema too, so clients and fuzzers generate valid bodies
    model_config = ConfigDict(json_schema_extra={
        "oneOf": [{"required": [name]} for name in ("layer", "layers", "model")],
    })  # fmt: skip

    layer: LayerIn | None = None
    layers: Annotated[list[LayerIn], Field(min_length=1)] | None = None
    model: ZooName | None = None
    batch: Annotated[int, Field(ge=1, le=4096, strict=True)] | None = None
    seq_len: Annotated[int, Field(ge=1, le=1 << 20, strict=True)] | None = None
    phase: Literal["prefill", "decode"] | None = None
    context_len: Annotated[int, Field(ge=0, le=1 << 20, strict=True)] | None = None

    @model_validator(mode="after")
    def _one_workload(self) -> WorkloadIn:
        given = [name for name in ("layer", "layers", "model") if getattr(self, name) is not None]
        if len(given) != 1:
            got = f" (got {', '.join(given)})" if given else ""
            raise ValueError(f"give exactly one workload: layer, layers or model{got}")
        if self.model is None:
            shape = [name for name in _SHAPE_FIELDS if getattr(self, name) is not None]
            if shape:
                raise ValueError(
                    f"field {shape[0]!r} applies only to 'model' (set n in the layer instead)"
                )
        return self


class RecommendRequest(WorkloadIn):
    budget: BudgetIn | None = None
    objective: ObjectiveName = "edp"
    refine: Annotated[int, Field(ge=0, le=MAX_REFINE, strict=True)] = Field(
        0, description="constrained-BO evaluations after the model's answer (slow: ~0.2 s each)"
    )
    top_k: Annotated[int, Field(ge=1, le=64, strict=True)] | None = Field(
        None, description=f"decoder designs to re-rank (default {Settings().top_k})"
    )
    neighbours: Annotated[int, Field(ge=0, le=32, strict=True)] | None = Field(
        None, description=f"faiss neighbours per heavy layer (default {Settings().neighbours})"
    )
    exact: bool = Field(
        False, description="search the whole grid from the answer and certify the optimum "
        f"(at most {MAX_TIME_BUDGET_S:g} s; ResNet-50 takes about 1 s)",
    )  # fmt: skip
    time_budget_s: Annotated[float, Field(ge=0, le=MAX_TIME_BUDGET_S)] | None = Field(
        None, description="improve toward the certified optimum for at most this many seconds "
        "(counted from the request), reporting the remaining gap bound",
    )  # fmt: skip
    include_layers: bool = Field(True, description="per-layer mapping and cost in the answer")
    explain: bool = Field(
        True, description="attach the bottleneck analysis, the what-if table (each knob one "
        "step up and down) and a plain-language summary",
    )  # fmt: skip


class EvaluateRequest(WorkloadIn):
    hardware: HardwareIn
    objective: ObjectiveName = "edp"
    budget: BudgetIn | None = None


FamilyName = Literal[tuple(list_families())]  # type: ignore[valid-type]
MAX_COSEARCH_PAIRS = 64  # variants x budgets per request; larger fronts belong to the CLI
AccuracyIn = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class TargetsIn(_Strict):
    """Upper limits a pair must meet to be on the front; an absent field sets none."""

    latency_ms: Positive | None = None
    energy_mj: Positive | None = None
    edp_mj_ms: Positive | None = None


class CoSearchRequest(_Strict):
    """The accuracy vs ``objective`` front of a network family over (variant, design) pairs."""

    family: FamilyName
    variants: Annotated[list[str], Field(min_length=1, max_length=64)] | None = None
    budgets: Annotated[list[BudgetIn], Field(min_length=1, max_length=8)] = [BudgetIn()]
    objective: ObjectiveName = "latency"
    targets: TargetsIn = TargetsIn()
    accuracy: dict[str, AccuracyIn] | None = Field(
        None, description="your own accuracy per variant (0-100); overrides the published ones"
    )
    refine: Annotated[int, Field(ge=0, le=MAX_REFINE, strict=True)] = 0
    time_budget_s: Annotated[float, Field(ge=0, le=MAX_TIME_BUDGET_S)] | None = None
    exact: bool = Field(
        False, description="every pair on the certified optimum of the grid (about 0.2-0.6 s a "
        "pair; the pairs must fit the request's deadline)",
    )  # fmt: skip
    include_layers: Literal["front", "all", "none"] = "front"


# -- response models (extra fields pass through, so the library can add to its dicts) --------------
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class HardwareOut(_Open):
    pe_rows: int
    pe_cols: int
    l1_bytes: int
    l2_kib: float
    noc_words_per_cycle: float
    dram_bytes_per_cycle: float
    dataflow: str


class LayerOut(_Open):
    name: str
    op: str
    n: int
    k: int
    c: int
    p: int
    q: int
    r: int
    s: int
    stride: int
    dilation: int
    groups: int
    precision_bytes: int


class LayerResultOut(_Open):
    layer: LayerOut
    mapping: dict[str, Any]
    cost: dict[str, Any]


class TotalsOut(_Open):
    macs: int | float
    cycles: float
    seconds: float
    energy_pj: float
    edp: float
    utilization: float
    area_mm2: float
    power_mw: float
    bound: str


class BudgetOut(_Open):
    area_mm2: float | None = None
    power_mw: float | None = None


class BudgetReport(BudgetOut):
    feasible: bool
    exceeded: list[str]


class NeighbourOut(_Open):
    similarity: float
    hw_index: int


class CandidateOut(_Open):
    hw_index: int
    source: str
    status: str
    screen_score: float | None = None


class RefinementOut(_Open):
    evals: int
    before: float
    after: float
    improvement: float


class CostOut(_Open):
    network: str
    hardware: HardwareOut
    objective: str
    total: TotalsOut
    layers: list[LayerResultOut] | None = None


class CertificateOut(_Open):
    """How far from the grid's optimum the answer can be (``gap`` 0: proven optimal)."""

    objective: str
    best: float
    lower_bound: float
    gap: float
    certified: bool
    points_in_budget: int
    seconds: float


class WhatIfOut(_Open):
    knob: str
    move: str
    value: float | str
    objective_ratio: float | None = Field(description="moved design / answer; null: unmappable")
    area_mm2: float
    power_mw: float
    fits: bool


class ExplanationOut(_Open):
    """Why the design wins: what bounds it, where utilisation is lost, which budget binds."""

    summary: str
    latency_by_bound: dict[str, float]
    utilization: float
    utilization_lost: dict[str, float]
    energy_by_level: dict[str, float]
    budgets: dict[str, dict[str, Any]]
    what_if: list[WhatIfOut]


class RecommendResponse(CostOut):
    hw_index: int
    score: float
    bound: str
    budget: BudgetOut
    source: str
    neighbours: list[NeighbourOut]
    candidates: list[CandidateOut]
    refinement: RefinementOut | None = None
    timings_ms: dict[str, float]
    certificate: CertificateOut | None = None
    explanation: ExplanationOut | None = None
    confidence: float = Field(
        description="geometric mean over knobs of the decoder's probability of this design "
        "(pooled over a network's layers): how expected the design is, not a probability "
        "that it is optimal",
    )  # fmt: skip


class EvaluateResponse(CostOut):
    budget: BudgetReport
    hw_index: int | None = Field(
        None, description="flat index of the design in the served space; null when off the grid"
    )


class KnobOut(_Open):
    name: str
    kind: str
    cardinality: int
    values: list[int | float | str]


class SpaceResponse(_Open):
    name: str
    description: str
    size: int
    hash: str
    knobs: list[KnobOut]
    mapping: dict[str, Any]


class BundleInfo(_Open):
    name: str = Field(description="the bundle directory's name (never its path)")
    sha256: str = Field(description="of the files the server loaded, in name order")
    format: str | None = None
    version: int | None = None
    space_name: str
    space_hash: str
    space_size: int
    schema_version: int | None = None


class HealthResponse(_Open):
    status: Literal["ok"]
    bundle: BundleInfo
    model: dict[str, Any]
    metrics: dict[str, Any] | None = None
    ranker: dict[str, Any] | None = None
    limits: dict[str, int | float]


class ErrorItem(BaseModel):
    field: str
    message: str
    type: str


class ErrorResponse(BaseModel):
    error: str = Field(description="kind: invalid_request, no_feasible_design, too_large, ...")
    detail: str = Field(description="one line naming the field and, where known, what it allows")
    errors: list[ErrorItem] = Field(default_factory=list)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "the body is not JSON (invalid_json) or a header is malformed (bad_request)"),
        (408, "the body was not sent in full within body_timeout_s (timeout)"),
        (413, "body or workload too large (too_large)"),
        (422, "invalid input (invalid_request), or no design fits the budget"),
        (500, "an unexpected server error (internal_error); the server log has the details"),
        (503, "still queued when request_timeout_s passed (overloaded); retry later"),
        (504, "still computing when request_timeout_s passed (timeout)"),
    )
}
