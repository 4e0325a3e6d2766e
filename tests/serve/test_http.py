"""The HTTP API against a real server: uvicorn on a loopback port in a background thread,
serving the tiny bundle of ``conftest.py``, spoken to with httpx."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

import httpx
import pytest

from airchitect.serve.http import create_app
from airchitect.space import HARDWARE_KNOBS

from .live_server import serving

MAX_BODY = 64_000
MAX_LAYERS = 32
AREA = 20.0  # mm2: well above the reduced space's smallest design (~2.6 mm2)
CONV = {"name": "conv", "k": 64, "c": 64, "p": 28, "q": 28, "r": 3, "s": 3}
FC = {"name": "fc", "op": "fc", "k": 512, "c": 1024, "n": 4}
GEMM = {"name": "gemm", "op": "gemm", "k": 768, "c": 768, "p": 128}


@pytest.fixture(scope="module")
def base_url(service) -> Iterator[str]:
    with serving(create_app(service, max_body_bytes=MAX_BODY, max_layers=MAX_LAYERS)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def recommend(client: httpx.Client, **body) -> httpx.Response:
    return client.post("/v1/recommend", json=body)


def assert_error(response: httpx.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "errors"}
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    return body


def assert_valid_design(out: dict, n_layers: int, area: float | None = None) -> None:
    assert set(out["hardware"]) == set(HARDWARE_KNOBS)
    assert len(out["layers"]) == n_layers
    for row in out["layers"]:
        assert row["mapping"], row
        assert row["cost"]["valid"] is True
    if area is not None:
        assert out["total"]["area_mm2"] <= area
        assert out["budget"]["area_mm2"] == area


# -- service endpoints -----------------------------------------------------------------------------
def test_health(client, service):
    r = client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["bundle"]["space_hash"] == service.space.hash
    assert body["bundle"]["schema_version"] == service.predictor.meta["schema_version"]
    assert body["model"]["d_model"] == 32
    assert body["metrics"]  # the fixture's model was trained, so it has validation metrics
    assert body["ranker"]["config"]["candidates"] == 6  # and it has a candidate ranker
    assert {"decoder", "ranker", "kept"} <= set(body["ranker"]["validation"])
    assert body["limits"]["max_layers"] == MAX_LAYERS


def test_space(client, service):
    body = client.get("/v1/space").json()
    assert body["size"] == service.space.size
    assert body["hash"] == service.space.hash
    assert [k["name"] for k in body["knobs"]] == list(HARDWARE_KNOBS)
    dataflow = body["knobs"][-1]
    assert dataflow["kind"] == "categorical" and "ws" in dataflow["values"]
    assert "pe_reuse" in body["mapping"]


def test_openapi_documents_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/health", "/v1/space", "/v1/recommend", "/v1/evaluate"} <= set(schema["paths"])
    recommend_op = schema["paths"]["/v1/recommend"]["post"]
    assert {"200", "413", "422"} <= set(recommend_op["responses"])
    models = schema["components"]["schemas"]
    assert {"RecommendRequest", "RecommendResponse", "EvaluateRequest", "ErrorResponse"} <= set(
        models
    )
    assert models["RecommendRequest"]["properties"]["objective"]["enum"] == [
        "latency", "energy", "edp",
    ]  # fmt: skip
    assert client.get("/docs").status_code == 200


def test_unknown_route_and_method(client):
    assert_error(client.get("/v1/nope"), 404, "/v1/nope")
    assert_error(client.get("/v1/recommend"), 405, "GET")


# -- recommend -------------------------------------------------------------------------------------
def test_recommend_single_layer_within_budget(client):
    r = recommend(client, layer=CONV, budget={"area_mm2": AREA}, objective="latency")
    assert r.status_code == 200, r.text
    out = r.json()
    assert_valid_design(out, 1, AREA)
    assert out["objective"] == "latency"
    assert out["source"] in {"decoder", "neighbour", "fallback"}
    assert 0 < out["confidence"] <= 1
    assert out["refinement"] is None
    assert out["timings_ms"]["total"] > 0
    assert any(c["status"] == "chosen" for c in out["candidates"])


def test_recommend_layer_list(client):
    r = recommend(client, layers=[CONV, FC, GEMM], budget={"power_mw": 5000.0}, top_k=4,
                  neighbours=2)  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert_valid_design(out, 3)
    assert [row["layer"]["name"] for row in out["layers"]] == ["conv", "fc", "gemm"]
    assert out["total"]["power_mw"] <= 5000.0
    assert len(out["neighbours"]) <= 2


def test_recommend_zoo_model(client):
    r = recommend(client, model="dqn", batch=2, budget={"area_mm2": AREA})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["network"] == "dqn"
    assert_valid_design(out, 5, AREA)
    assert all(row["layer"]["n"] == 2 for row in out["layers"])

    brief = recommend(client, model="mlp", include_layers=False).json()
    assert brief.get("layers") is None and brief["total"]["macs"] > 0


def test_recommend_refine(client):
    r = recommend(client, model="mlp", budget={"area_mm2": AREA}, refine=10)
    assert r.status_code == 200, r.text
    out = r.json()
    assert_valid_design(out, 3, AREA)
    refinement = out["refinement"]
    assert refinement["evals"] >= 1
    assert refinement["improvement"] >= 1.0
    assert refinement["after"] <= refinement["before"]
    assert out["score"] == pytest.approx(refinement["after"], rel=1e-6)


def test_recommend_exact_and_time_budget(client):
    r = recommend(client, model="dqn", budget={"area_mm2": AREA}, exact=True)
    assert r.status_code == 200, r.text
    cert = r.json()["certificate"]
    assert cert["certified"] and cert["gap"] == 0 and cert["best"] == r.json()["score"]
    timed = recommend(client, model="mlp", time_budget_s=0.0).json()
    assert timed["certificate"]["lower_bound"] <= timed["score"]
    too_long = recommend(client, model="mlp", time_budget_s=1e6)
    assert too_long.status_code == 422 and "time_budget_s" in too_long.text


def test_every_answer_explains_itself_unless_asked_not_to(client):
    out = recommend(client, model="dqn", budget={"area_mm2": AREA}).json()
    explanation = out["explanation"]
    assert "-bound" in explanation["summary"] and explanation["what_if"]
    assert all(set(w) >= {"knob", "move", "objective_ratio", "fits"}
               for w in explanation["what_if"])  # fmt: skip
    assert recommend(client, model="dqn", explain=False).json()["explanation"] is None


def test_evaluate_matches_the_recommended_design(client):
    rec = recommend(client, layers=[CONV, FC], budget={"area_mm2": AREA}).json()
    r = client.post("/v1/evaluate", json={"layers": [CONV, FC], "hardware": rec["hardware"],
                                          "budget": {"area_mm2": AREA}})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["total"]["edp"] == pytest.approx(rec["total"]["edp"], rel=1e-9)
    assert out["hw_index"] == rec["hw_index"]
    assert out["budget"] == {"area_mm2": AREA, "power_mw": None, "feasible": True,
                             "exceeded": []}  # fmt: skip
    assert len(out["layers"]) == 2


def test_evaluate_off_grid_design_and_budget_report(client):
    hw = {"pe_rows": 12, "pe_cols": 14, "l1_bytes": 512, "l2_kib": 108, "dataflow": "rs",
          "noc_words_per_cycle": 8, "dram_bytes_per_cycle": 16}  # fmt: skip
    r = client.post("/v1/evaluate", json={"model": "dqn", "hardware": hw, "objective": "energy",
                                          "budget": {"power_mw": 1.0}})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["hw_index"] is None  # 12 rows is not on the reduced grid
    assert out["objective"] == "energy" and out["total"]["energy_pj"] > 0
    assert out["budget"]["feasible"] is False and out["budget"]["exceeded"] == ["power"]


# -- errors ----------------------------------------------------------------------------------------
def test_budget_too_tight(client):
    body = assert_error(recommend(client, layer=CONV, budget={"area_mm2": 0.001}), 422, "area")
    assert body["error"] == "no_feasible_design"
    assert body["errors"][0]["field"] == "budget"


def test_bad_objective(client):
    body = assert_error(recommend(client, layer=CONV, objective="speed"), 422, "objective",
                        "latency", "energy", "edp")  # fmt: skip
    assert body["errors"][0]["field"] == "objective"


def test_unknown_model(client):
    assert_error(recommend(client, model="resnet1000"), 422, "model", "resnet1000", "dqn")
    assert_error(recommend(client, model="dqn", seq_len=64), 422, "seq_len", "batch")


def test_bad_layers(client):
    body = assert_error(recommend(client, layer=CONV | {"k": -3}), 422, "layer.k")
    assert body["errors"][0]["field"] == "layer.k"
    assert_error(recommend(client, layers=[CONV, FC | {"c": 0}]), 422, "layers.1.c")
    assert_error(recommend(client, layer=CONV | {"op": "pool"}), 422, "layer.op", "conv", "bmm")
    assert_error(recommend(client, layer=CONV | {"groups": 3}), 422, "layer.k", "divisible")
    assert_error(recommend(client, layer=CONV | {"kk": 1}), 422, "layer.kk", "Extra")
    assert_error(recommend(client, layers=[CONV, CONV]), 422, "duplicate")


def test_layers_past_the_input_limits_are_refused(client):
    """Issue 19: these answered 200 with negative energies or zero MACs (int64 overflow)."""
    huge_stride = {"k": 8, "c": 8, "p": 4096, "q": 4096, "stride": 1 << 24}
    assert_error(recommend(client, layer=huge_stride), 422, "layer.stride", "4096")
    every_dim = {name: 1 << 24 for name in ("n", "k", "c", "p", "q", "r", "s")}
    body = assert_error(recommend(client, layer=every_dim), 422, "MACs", "exceed the limit")
    assert body["errors"][0]["field"] == "layer"
    hw = {"pe_rows": 16, "pe_cols": 16, "l1_bytes": 256, "l2_kib": 128, "dataflow": "ws",
          "noc_words_per_cycle": 16, "dram_bytes_per_cycle": 32}  # fmt: skip
    wide = client.post("/v1/evaluate", json={"layer": CONV, "hardware": hw | {"pe_rows": 4096}})
    assert_error(wide, 422, "hardware.pe_rows", "512")


@pytest.mark.parametrize("value", ["40", True, 1e10])
def test_budgets_are_strict_numbers(client, value):
    assert_error(recommend(client, layer=CONV, budget={"area_mm2": value}), 422, "budget.area_mm2")


def test_bad_workload_choice_and_settings(client):
    assert_error(recommend(client), 422, "exactly one workload")
    assert_error(recommend(client, layer=CONV, model="dqn"), 422, "exactly one workload")
    assert_error(recommend(client, layer=CONV, batch=4), 422, "batch", "model")
    assert_error(recommend(client, layer=CONV, refine=500), 422, "refine", "200")
    assert_error(recommend(client, layer=CONV, top_k=0), 422, "top_k")
    assert_error(recommend(client, layer=CONV, budget={"area_mm2": -1}), 422, "budget.area_mm2")
    bad_json = client.post("/v1/recommend", content=b"{nope",
                           headers={"content-type": "application/json"})  # fmt: skip
    assert_error(bad_json, 422, "JSON")


def test_evaluate_errors(client):
    hw = {"pe_rows": 16, "pe_cols": 16, "l1_bytes": 256, "l2_kib": 128, "dataflow": "ws",
          "noc_words_per_cycle": 16, "dram_bytes_per_cycle": 32}  # fmt: skip
    bad = client.post("/v1/evaluate", json={"layer": CONV, "hardware": hw | {"dataflow": "xs"}})
    assert_error(bad, 422, "hardware.dataflow", "ws", "os", "is", "rs")
    missing = client.post("/v1/evaluate", json={"layer": CONV, "hardware": {"pe_rows": 16}})
    assert_error(missing, 422, "hardware.pe_cols", "Field required")
    tiny = hw | {"l1_bytes": 1, "l2_kib": 0.01}
    body = assert_error(client.post("/v1/evaluate", json={"layer": CONV, "hardware": tiny}), 422,
                        "no mapping fits")  # fmt: skip
    assert body["error"] == "no_valid_mapping"


def test_oversized_body(client, base_url):
    padding = " " * (MAX_BODY + 10)
    announced = client.post("/v1/recommend", content=f'{{"model": "dqn"{padding}}}',
                            headers={"content-type": "application/json"})  # fmt: skip
    assert_error(announced, 413, "max_body_bytes")

    def chunks():  # no Content-Length: the limit must hold on the bytes actually read
        yield b'{"model": "dqn"'
        for _ in range(10):
            yield b" " * (MAX_BODY // 8)
        yield b"}"

    with httpx.Client(base_url=base_url, timeout=60) as fresh:
        streamed = fresh.post("/v1/recommend", content=chunks(),
                              headers={"content-type": "application/json"})  # fmt: skip
    assert_error(streamed, 413, "max_body_bytes")
    assert client.get("/v1/health").status_code == 200  # the server carries on


def test_too_many_layers(client):
    layers = [CONV | {"name": f"l{i}", "k": 8 * (i + 1)} for i in range(MAX_LAYERS + 1)]
    assert len(json.dumps({"layers": layers})) < MAX_BODY
    body = assert_error(recommend(client, layers=layers), 413, "max_layers")
    assert body["errors"][0]["field"] == "layers"


def test_concurrent_requests(client):
    def one(i: int) -> tuple[int, dict]:
        layer = CONV | {"k": 16 * (i + 1), "p": 14 + i}
        r = client.post("/v1/recommend", json={"layer": layer, "budget": {"area_mm2": AREA}})
        return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert [status for status, _ in results] == [200] * 8
    for i, (_, out) in enumerate(results):
        assert out["layers"][0]["layer"]["k"] == 16 * (i + 1)
        assert out["total"]["area_mm2"] <= AREA


# -- answers already given -------------------------------------------------------------------------
def test_a_repeated_request_is_answered_from_the_cache_byte_for_byte(client) -> None:
    body = {"layer": CONV | {"k": 48}, "objective": "energy", "budget": {"area_mm2": AREA}}
    first, again = recommend(client, **body), recommend(client, **body)
    assert first.status_code == again.status_code == 200
    assert first.headers["x-airchitect-cache"] == "miss"
    assert again.headers["x-airchitect-cache"] == "hit"
    assert again.content == first.content
    other = recommend(client, **(body | {"objective": "latency"}))  # a different question
    assert other.headers["x-airchitect-cache"] == "miss"


def test_the_answer_cache_forgets_the_least_recently_used() -> None:
    from airchitect.serve.http_guards import AnswerCache

    cache = AnswerCache(2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # a is now the most recent
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    assert cache.stats() == {"size": 2, "max_bytes": 256 << 20, "bytes": 4, "entries": 2,
                             "hits": 3, "misses": 1}  # fmt: skip
    off = AnswerCache(0)
    off.put("a", b"1")
    assert off.get("a") is None
    with pytest.raises(ValueError, match="cache size"):
        AnswerCache(-1)


def test_the_server_command_runs_several_workers(bundle_dir, tmp_path) -> None:
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airchitect", "serve", "--model", str(bundle_dir), "--port",
         str(port), "--workers", "2", "--cache-size", "0"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "server did not answer"
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(
                lambda i: httpx.post(f"{url}/v1/recommend", timeout=60,
                                     json={"layer": CONV | {"k": 16 * (i + 1)}}),
                range(4),
            ))  # fmt: skip
        assert [a.status_code for a in answers] == [200] * 4
        assert all(a.headers["x-airchitect-cache"] == "miss" for a in answers)
        assert httpx.get(f"{url}/v1/health").json()["limits"]["cache_size"] == 0
        # a client that pauses longer than uvicorn's own 5 s keep-alive keeps its connection
        # (http.client never reconnects by itself: a closed one raises RemoteDisconnected)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for pause_s in (0.0, 6.0):
                time.sleep(pause_s)
                conn.request("GET", "/v1/health")
                response = conn.getresponse()
                assert response.status == 200, f"after {pause_s} s"
                response.read()  # the whole body, so the next answer starts clean
                if pause_s == 0.0:
                    first_socket = conn.sock
            assert conn.sock is first_socket  # the same connection, not a new one
        finally:
            conn.close()
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_the_app_warms_its_service_up_before_taking_requests(bundle_dir) -> None:
    from fastapi.testclient import TestClient

    from airchitect.serve.predictor import OnnxPredictor
    from airchitect.serve.recommend import RecommendService

    fresh = RecommendService(OnnxPredictor(bundle_dir))
    assert "budget_grid" not in fresh.__dict__  # built lazily, by the first query
    with TestClient(create_app(fresh)) as local:  # runs the app's startup
        assert "budget_grid" in fresh.__dict__
        assert local.get("/v1/health").status_code == 200


# -- hardening: paths, deadlines, body timeouts, cache bytes, unparsable bodies (issue 19) ---------
TIGHT_S = 1.5  # request_timeout_s of the `tight` server


@pytest.fixture(scope="module")
def tight(service) -> Iterator[httpx.Client]:
    """A server with short request and body timeouts."""
    app = create_app(service, request_timeout_s=TIGHT_S, body_timeout_s=0.5)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def test_no_response_shows_a_filesystem_path(client, bundle_dir):
    from airchitect.serve.http import bundle_sha256

    r = client.get("/v1/health")
    bundle = r.json()["bundle"]
    assert "path" not in bundle and bundle["name"] == bundle_dir.name
    assert bundle["sha256"] == bundle_sha256(bundle_dir) and len(bundle["sha256"]) == 64
    assert str(bundle_dir.parent) not in r.text
    assert "dir" not in (bundle["data"] or {}) and "from" not in (bundle["export"] or {})


def test_every_operation_documents_every_error_status(client):
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "408", "413", "422", "500", "503", "504"):
                body = operation["responses"][status]["content"]["application/json"]
                assert body["schema"]["$ref"].endswith("/ErrorResponse"), (path, method, status)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"layer": {"k": 8, "c": 8, "name": "\xff"}}', "not UTF-8: byte 36 is 0xff"),
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
    ],
)
def test_a_body_that_does_not_parse_gets_a_documented_400_naming_why(client, body, words):
    r = client.post("/v1/recommend", content=body, headers={"content-type": "application/json"})
    out = assert_error(r, 400, "body: ", words)
    assert out["error"] == "invalid_json" and out["errors"][0]["field"] == "body"


def test_invalid_json_names_the_character(client):
    r = client.post(
        "/v1/recommend", content=b'{"layer": ', headers={"content-type": "application/json"}
    )
    assert_error(r, 422, "JSON decode error at character")


def test_a_body_sent_too_slowly_gets_408(tight):
    host, port = tight.base_url.host, tight.base_url.port
    with socket.create_connection((host, port), timeout=10) as sock:
        head = b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head + b'{"la')  # and no more of the 100 bytes announced
        start = time.monotonic()
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert time.monotonic() - start < 5
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    body = json.loads(payload)
    assert body["error"] == "timeout" and "not received in full within 0.5 s" in body["detail"]


def test_a_refinement_is_cut_to_the_request_deadline(tight):
    body = {"model": "resnet50", "budget": {"area_mm2": AREA}, "refine": 200, "explain": False,
            "include_layers": False}  # fmt: skip
    start = time.monotonic()
    r = tight.post("/v1/recommend", json=body)
    took = time.monotonic() - start
    assert r.status_code == 200, r.text
    refinement = r.json()["refinement"]
    assert took < TIGHT_S + 1.0, took
    assert refinement["interrupted"] is True and refinement["evals"] < 200
    again = tight.post("/v1/recommend", json=body)  # cut short: not what was asked, not kept
    assert again.headers["x-airchitect-cache"] == "miss"


def test_a_request_past_its_deadline_gets_503_or_504(service):
    app = create_app(service, request_timeout_s=1e-6)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/v1/recommend", json={"layer": CONV})
        assert r.status_code in (503, 504), r.text
        out = assert_error(r, r.status_code, "request: ", "request_timeout_s=1e-06 s")
        assert out["error"] == {503: "overloaded", 504: "timeout"}[r.status_code]
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"
        assert c.get("/v1/health").status_code == 200  # the server itself is fine


def test_the_answer_cache_is_bounded_in_bytes() -> None:
    from airchitect.serve.http_guards import AnswerCache

    cache = AnswerCache(100, max_bytes=25)
    cache.put("a", b"x" * 9)
    cache.put("b", b"x" * 9)
    cache.put("c", b"x" * 9)  # 30 bytes of keys and answers, over 25: a goes
    assert cache.get("a") is None and cache.get("b") and cache.get("c")
    assert cache.stats()["bytes"] == 20
    cache.put("big", b"x" * 40)  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("big") is None and cache.get("b") and cache.stats()["entries"] == 2
    cache.put("b", b"x")  # replacing an answer counts its new size
    assert cache.stats()["bytes"] == 12


def test_sigterm_stops_the_server_within_seconds_even_mid_refinement(bundle_dir, tmp_path):
    import signal
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airchitect.serve.http", "--bundle", str(bundle_dir),
         "--port", str(port), "--graceful-shutdown-s", "1", "--no-access-log"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "server did not answer"
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        # two refinements of ~5 s each on this bundle: they must not hold the exit
        bodies = [{"model": "resnet50", "budget": {"area_mm2": area}, "refine": 200}
                  for area in (AREA, AREA + 1)]  # fmt: skip
        with ThreadPoolExecutor(2) as pool:
            pending = [pool.submit(httpx.post, f"{url}/v1/recommend", json=body, timeout=60)
                       for body in bodies]  # fmt: skip
            time.sleep(1.0)
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            took = time.monotonic() - start
            for answer in pending:
                with suppress(httpx.TransportError):  # closed on shutdown: expected
                    answer.result()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert took < 4.0, f"SIGTERM took {took:.1f} s: {(tmp_path / 'server.log').read_text()}"


def test_a_refinement_stops_when_its_client_goes_away(service):
    slow = {"model": "resnet50", "budget": {"area_mm2": AREA + 2}, "refine": 200}  # ~5 s alone
    quick = {"layer": CONV | {"k": 40}, "budget": {"area_mm2": AREA}, "refine": 1}
    with serving(create_app(service)) as url:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up, closing its connection
            httpx.post(f"{url}/v1/recommend", json=slow, timeout=0.5)
        start = time.monotonic()  # the next search on the same lane need not wait for it
        r = httpx.post(f"{url}/v1/recommend", json=quick, timeout=30)
        took = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert took < 2.5, took


def test_the_schema_says_exactly_one_workload(client):
    models = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("RecommendRequest", "EvaluateRequest"):
        assert models[name]["oneOf"] == [{"required": ["layer"]}, {"required": ["layers"]},
                                         {"required": ["model"]}]  # fmt: skip
        assert models[name]["additionalProperties"] is False


def test_a_long_layer_list_does_not_hold_up_a_short_question(service):
    many = [CONV | {"name": f"l{i}", "k": 8 + i, "c": 16 + i % 7} for i in range(512)]
    with serving(create_app(service)) as url, ThreadPoolExecutor(1) as pool:
        big = pool.submit(httpx.post, f"{url}/v1/recommend", json={"layers": many}, timeout=120)
        time.sleep(0.5)  # the long one is computing
        start = time.monotonic()
        r = httpx.post(f"{url}/v1/recommend", json={"layer": CONV | {"k": 24}}, timeout=30)
        took, big_done = time.monotonic() - start, big.done()
        assert big.result().status_code == 200
    assert r.status_code == 200, r.text
    assert not big_done and took < 1.5, took


def test_a_cosearch_refinement_keeps_to_the_deadline_and_frees_its_lane(tight):
    body = {"family": "resnet", "variants": ["18", "34", "50"], "refine": 200,
            "budgets": [{"area_mm2": AREA}], "objective": "edp"}  # fmt: skip
    start = time.monotonic()
    r = tight.post("/v1/cosearch", json=body)
    assert r.status_code in (200, 504), r.text
    quick = {"layer": CONV | {"k": 56}, "budget": {"area_mm2": AREA}, "refine": 1}
    again = tight.post("/v1/recommend", json=quick)  # the same lane: free again by now
    assert again.status_code == 200, again.text
    assert time.monotonic() - start < TIGHT_S + 2.0
