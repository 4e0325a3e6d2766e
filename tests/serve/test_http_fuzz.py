"""Fuzzing the HTTP API on a live loopback server: bodies drawn from the request schema, with
hostile values mixed in (huge and negative integers, NaN and infinities, strings for numbers,
wrong types, deep nesting, bytes that are not UTF-8).

Whatever comes in, the answer is a documented status, never a 5xx other than the deadline's
503/504; an error has the shared body with a one-line ``detail``; a 200 is a valid design whose
costs are positive and finite. Derandomised and bounded (a short request deadline), so CI runs
the same examples in the same time every run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airchitect.serve.http import create_app
from airchitect.space import HARDWARE_KNOBS
from airchitect.workloads import list_networks

from .live_server import serving

DOCUMENTED = {200, 400, 408, 413, 422, 503, 504}
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

huge = st.sampled_from([0, -1, 2**24, 2**31, 2**53 + 1, 2**63, -(2**63), 10**30])
junk = st.one_of(
    huge, st.floats(), st.text(max_size=8), st.booleans(), st.none(),
    st.just([1]), st.just({"a": 1}), st.just("40"),
)  # fmt: skip


def mostly(valid: st.SearchStrategy) -> st.SearchStrategy:
    """``valid`` 39 times in 40, else junk: most bodies get far enough to be computed."""
    return st.integers(0, 39).flatmap(lambda i: junk if i == 0 else valid)


dim = mostly(st.one_of(st.integers(1, 512), st.integers(1, 4)))


def _maybe(values: dict[str, st.SearchStrategy]) -> st.SearchStrategy[dict]:
    """Dicts with any subset of ``values``' keys, each present or absent."""
    return st.fixed_dictionaries({}, optional=values)


layer = st.fixed_dictionaries(
    {"k": dim, "c": dim},
    optional={
        "name": mostly(st.text(min_size=1, max_size=12)),
        "op": mostly(st.sampled_from(["conv", "fc", "gemm", "dwconv"])),
        "n": dim, "p": dim, "q": dim, "r": mostly(st.sampled_from([1, 3, 5])),
        "s": mostly(st.sampled_from([1, 3, 5])), "stride": dim, "dilation": dim,
        "groups": mostly(st.sampled_from([1, 2, 4])),
        "precision_bytes": mostly(st.sampled_from([1, 2, 4])),
    },
)  # fmt: skip
budget = _maybe({"area_mm2": mostly(st.floats(1, 200)),
                 "power_mw": mostly(st.floats(50, 20_000))})  # fmt: skip
workload = st.one_of(
    st.fixed_dictionaries({"layer": layer}),
    st.fixed_dictionaries({"layers": st.lists(layer, min_size=1, max_size=4)}),
    st.fixed_dictionaries({"model": mostly(st.sampled_from(list_networks()))},
                          optional={"batch": mostly(st.integers(1, 8))}),
    _maybe({"layer": layer, "layers": st.lists(layer, max_size=2), "model": junk}),
)  # fmt: skip
recommend_body = st.tuples(workload, _maybe({
    "budget": mostly(budget),
    "objective": mostly(st.sampled_from(["latency", "energy", "edp"])),
    "refine": mostly(st.integers(0, 3)),
    "top_k": mostly(st.integers(1, 8)),
    "neighbours": mostly(st.integers(0, 4)),
    "exact": mostly(st.booleans()),
    "time_budget_s": mostly(st.floats(0, 1)),
    "include_layers": st.booleans(),
    "explain": st.booleans(),
})).map(lambda parts: parts[0] | parts[1])  # fmt: skip
hardware = st.fixed_dictionaries(
    {
        "pe_rows": mostly(st.sampled_from([4, 8, 16, 32, 64, 512])),
        "pe_cols": mostly(st.sampled_from([4, 8, 16, 32, 64, 512])),
        "l1_bytes": mostly(st.sampled_from([16, 64, 256, 1024])),
        "l2_kib": mostly(st.sampled_from([0.5, 32.0, 128.0, 512.0, 4096.0])),
        "noc_words_per_cycle": mostly(st.sampled_from([1.0, 4.0, 16.0, 64.0])),
        "dram_bytes_per_cycle": mostly(st.sampled_from([1.0, 8.0, 32.0])),
        "dataflow": mostly(st.sampled_from(["ws", "os", "is", "rs"])),
    }
)  # fmt: skip
evaluate_body = st.tuples(workload, st.fixed_dictionaries({"hardware": hardware}),
                          _maybe({"budget": budget})).map(
    lambda parts: parts[0] | parts[1] | parts[2]
)  # fmt: skip
raw_body = st.one_of(
    st.binary(max_size=64),
    st.integers(1, 3000).map(lambda depth: b'{"layer": ' * depth + b"{}" + b"}" * depth),
    st.just(b'{"layer": {"k": 8, "c": 8, "name": "\xff"}}'),
    st.just(b'{"layer": {"k": NaN, "c": Infinity}}'),
)


@pytest.fixture(scope="module")
def client(service) -> Iterator[httpx.Client]:
    app = create_app(service, max_body_bytes=64_000, max_layers=32, request_timeout_s=2.0)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def _post(client: httpx.Client, path: str, body: dict | bytes) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()  # NaN tokens and all
    return client.post(path, content=data, headers={"content-type": "application/json"})


def _check(response: httpx.Response) -> dict:
    assert response.status_code in DOCUMENTED, (response.status_code, response.text)
    out = response.json()  # every answer is JSON, errors included
    kind = "" if response.status_code == 200 else f" {out['error']}"
    event(f"status {response.status_code}{kind}")
    if response.status_code != 200:
        assert set(out) == {"error", "detail", "errors"}, out
        assert out["detail"] and "\n" not in out["detail"], out
        assert "Traceback" not in out["detail"]
    return out


def _assert_sound_cost(out: dict) -> None:
    assert set(out["hardware"]) == set(HARDWARE_KNOBS)
    total = out["total"]
    for name in ("macs", "cycles", "energy_pj", "edp", "area_mm2", "power_mw"):
        assert isinstance(total[name], int | float) and math.isfinite(total[name]), (name, total)
        assert total[name] > 0, (name, total)
    assert 0 <= total["utilization"] <= 1


@FUZZ
@given(body=recommend_body)
def test_recommend_answers_every_body_soundly(client, body):
    response = _post(client, "/v1/recommend", body)
    out = _check(response)
    if response.status_code == 200:
        _assert_sound_cost(out)
        area = (out.get("budget") or {}).get("area_mm2")
        if area is not None:
            assert out["total"]["area_mm2"] <= area * (1 + 1e-9)


@FUZZ
@given(body=evaluate_body)
def test_evaluate_answers_every_body_soundly(client, body):
    response = _post(client, "/v1/evaluate", body)
    out = _check(response)
    if response.status_code == 200:
        _assert_sound_cost(out)
        assert isinstance(out["budget"]["feasible"], bool)


@FUZZ
@given(body=raw_body)
def test_bodies_that_are_not_json_get_a_named_4xx(client, body):
    response = _post(client, "/v1/recommend", body)
    _check(response)
    assert response.status_code in (400, 422), response.text
