"""GET /v1/workloads and POST /v1/workload (files as layers), and the offline docs pages,
against a real server on the tiny bundle of ``conftest.py``."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import httpx
import pytest

from airchitect.serve.http import create_app

from .live_server import serving
from .onnx_models import tiny_cnn_onnx

MAX_LAYERS = 128
MAX_BODY = 200_000


@pytest.fixture(scope="module")
def client(service) -> Iterator[httpx.Client]:
    app = create_app(service, max_body_bytes=MAX_BODY, max_layers=MAX_LAYERS)
    with serving(app) as url, httpx.Client(base_url=url, timeout=120) as c:
        yield c


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_error(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert "\n" not in body["detail"] and body["detail"].startswith(field), body
    assert "Traceback" not in response.text and "/tmp" not in response.text
    return body["detail"]


def test_workloads_lists_the_zoo_with_shape_fields_and_the_llm_configs(client) -> None:
    body = client.get("/v1/workloads").json()
    nets = {n["name"]: n["shape"] for n in body["networks"]}
    assert nets["resnet50"] == {"batch": 1}
    assert nets["bert_base"] == {"batch": 1, "seq_len": 128}
    assert "llama-3-8b" in body["llm_configs"] and body["phases"] == ["prefill", "decode"]


def test_an_onnx_upload_becomes_the_layers_recommend_takes(client) -> None:
    out = client.post("/v1/workload", json={"onnx": b64(tiny_cnn_onnx()), "name": "tiny",
                                            "batch": 2})  # fmt: skip
    assert out.status_code == 200, out.text
    body = out.json()
    assert body["name"] == "tiny" and body["source"] == "onnx" and body["warnings"] == []
    conv, fc = body["layers"]
    assert (conv["name"], conv["n"], conv["k"], conv["c"], conv["r"]) == ("conv1", 2, 16, 8, 3)
    assert (fc["op"], fc["k"], fc["c"]) == (body["layers"][1]["op"], 10, 16 * 14 * 14)
    answer = client.post("/v1/recommend", json={"layers": body["layers"]})
    assert answer.status_code == 200, answer.text
    assert [r["layer"]["name"] for r in answer.json()["layers"]] == ["conv1", "fc"]


def test_skipped_onnx_nodes_are_reported_without_a_server_path(client) -> None:
    out = client.post("/v1/workload", json={"onnx": b64(tiny_cnn_onnx(with_unsupported=True))})
    assert out.status_code == 200, out.text
    (note,) = out.json()["warnings"]
    assert "ConvTranspose" in note and note.startswith("onnx.onnx:") and "/tmp" not in note


def test_an_llm_config_by_name_or_as_a_config_object(client) -> None:
    shipped = client.post("/v1/workload", json={"llm_config": "gpt2", "phase": "decode",
                                                "seq_len": 64})  # fmt: skip
    assert shipped.status_code == 200, shipped.text
    layers = shipped.json()["layers"]
    assert shipped.json()["name"] == "gpt2-decode" and layers[-1]["name"] == "lm_head"
    config = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 128, "num_hidden_layers": 2,
              "vocab_size": 1000}  # fmt: skip
    own = client.post("/v1/workload", json={"llm_config": config, "name": "toy", "seq_len": 16})
    assert own.status_code == 200, own.text
    assert own.json()["name"] == "toy" and 2 < len(own.json()["layers"]) <= MAX_LAYERS


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"onnx": "not base64!"}, 422, "onnx"),
        ({"onnx": b64(b"\x00garbage")}, 422, "onnx"),
        ({}, 422, "body"),
        ({"onnx": b64(tiny_cnn_onnx()), "llm_config": "gpt2"}, 422, "body"),
        ({"onnx": b64(tiny_cnn_onnx()), "seq_len": 8}, 422, "body"),
        ({"llm_config": "../../etc/passwd"}, 422, "llm_config"),
        ({"llm_config": {"model_type": "llama"}}, 422, "llm_config"),
        ({"llm_config": "gpt2", "batch": -1}, 422, "batch"),
        ({"llm_config": "llama-3-8b"}, 413, "layers"),  # 32 decoder layers > MAX_LAYERS
        ({"onnx": "A" * MAX_BODY}, 413, "body"),
    ],
)
def test_bad_uploads_are_one_line_4xx_naming_the_field(client, body, status, field) -> None:
    assert_error(client.post("/v1/workload", json=body), status, field)


def test_docs_and_redoc_load_only_local_assets(client) -> None:
    for page, assets in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
                         ("/redoc", ("redoc.standalone.js",))):  # fmt: skip
        html = client.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assert not re.search(r"https?://", html.text), f"{page} names an external host"
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assert {u.rsplit("/", 1)[-1] for u in urls} >= set(assets)
        for url in urls:
            assert url.startswith("/"), url
            assert client.get(url).status_code == 200, url
    assert client.get("/openapi.json").json()["paths"]["/v1/workload"]


def test_the_page_and_its_files_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert not re.search(r"""(?:src|href)=["']https?://""", page.text)
    for url in re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", page.text):
        assert client.get(url).status_code == 200, url
    assert client.get("/static/missing.js").json()["error"] == "not_found"
