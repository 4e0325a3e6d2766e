"""The web page at ``/``, end to end: a real server on loopback (the tiny bundle of
``conftest.py``) driven by headless Debian chromium through Playwright.

The design the page shows must be the one ``POST /v1/recommend`` answers for the same query;
a bad input must show as one line; the page and ``/docs`` must fetch nothing from another
host. Screenshots go to ``tests/artifacts/`` (git-ignored; their paths are printed).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the ``playwright`` package (the
dev extra): without them the tests skip, and fail where the ``CI`` variable is set.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airchitect.serve.http import create_app

from .live_server import serving
from .onnx_models import tiny_cnn_onnx

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ANSWER_TIMEOUT_MS = 120_000


def _need_browser() -> None:
    why = None
    if not CHROMIUM.is_file():
        why = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright package is missing (it is in the dev extra)"
    if why and os.environ.get("CI"):
        pytest.fail(f"the web page test needs a browser on CI: {why}")
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def base_url(service) -> Iterator[str]:
    with serving(create_app(service)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    _need_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # fresh user-data-dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900}, accept_downloads=True,
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture
def page(browser, base_url: str):
    """A tab whose every request must go to the server under test, with no script error."""
    tab = browser.new_page()
    requests: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    tab.close()
    elsewhere = [u for u in requests if not u.startswith((base_url, "data:", "blob:"))]
    assert not elsewhere, f"requests to other hosts: {elsewhere[:5]}"
    assert not errors, f"script errors: {errors}"


def screenshot(tab, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def open_page(tab, base_url: str) -> None:
    tab.goto(f"{base_url}/")
    tab.wait_for_selector("body[data-ready=true]")


def submit(tab) -> None:
    tab.click("#submit")
    tab.wait_for_selector("#design[data-shown-ms]", timeout=ANSWER_TIMEOUT_MS)


def shown_design(tab) -> dict[str, str]:
    return {
        cell.get_attribute("data-knob"): cell.get_attribute("data-value")
        for cell in tab.query_selector_all("#hardware [data-knob]")
    }


def assert_same_design(shown: dict[str, str], hardware: dict[str, Any]) -> None:
    assert set(shown) == set(hardware)
    for knob, value in hardware.items():
        same = shown[knob] == value if isinstance(value, str) else float(shown[knob]) == value
        assert same, f"{knob}: page shows {shown[knob]}, the API answers {value}"


def shown_number(tab, selector: str) -> float:
    return float(tab.inner_text(selector).split()[0].replace(",", ""))


def test_the_page_shows_the_design_the_api_recommends(page, base_url: str) -> None:
    open_page(page, base_url)
    page.select_option("#network", "mobilenet_v2")
    page.fill("#area_mm2", "40")
    page.fill("#power_mw", "2000")
    page.select_option("#objective", "latency")
    submit(page)
    query = {"model": "mobilenet_v2", "budget": {"area_mm2": 40, "power_mw": 2000},
             "objective": "latency"}  # fmt: skip
    answer = httpx.post(f"{base_url}/v1/recommend", json=query, timeout=120).json()

    assert_same_design(shown_design(page), answer["hardware"])
    total = answer["total"]
    for selector, value in (("[data-total=latency_ms]", total["seconds"] * 1e3),
                            ("[data-total=energy_mj]", total["energy_pj"] * 1e-9)):  # fmt: skip
        assert shown_number(page, selector) == pytest.approx(value, rel=5e-3)
    # the design first, then the chart, the per-layer table and the what-if table
    y = {s: page.locator(s).bounding_box()["y"] for s in ("#design", "#plot", "#layers")}
    assert y["#design"] < y["#plot"] < y["#layers"]
    assert page.locator("#layers tbody tr").count() == len(answer["layers"])
    assert page.locator("#plot svg rect title").count() == len(answer["layers"])
    assert page.locator("#what-if tbody tr").count() == len(answer["explanation"]["what_if"])
    assert page.inner_text("#summary").startswith(answer["explanation"]["summary"])

    with page.expect_download() as download:
        page.click("#download")
    saved = json.loads(Path(download.value.path()).read_text())
    saved.pop("timings_ms"), answer.pop("timings_ms")  # the API's own timings may differ
    assert saved == answer
    screenshot(page, "page-design")


def test_a_bad_budget_is_shown_as_one_line(page, base_url: str) -> None:
    open_page(page, base_url)
    page.fill("#area_mm2", "-4")
    page.click("#submit")
    error = page.wait_for_selector("#error:not([hidden])")
    text = error.inner_text()
    assert text.startswith("422: budget.area_mm2") and "\n" not in text, text
    one_line = "e => e.getClientRects().length === 1 && e.scrollHeight <= e.clientHeight + 1"
    assert page.eval_on_selector("#error", one_line)
    assert page.locator("#design").is_hidden()
    screenshot(page, "page-error")


@pytest.mark.parametrize("kind", ["onnx", "llm"])
def test_an_uploaded_file_gets_the_design_the_api_gives_its_layers(
    page, base_url: str, kind: str
) -> None:
    open_page(page, base_url)
    page.check(f"input[name=source][value={kind}]")
    if kind == "onnx":
        data = tiny_cnn_onnx()
        page.set_input_files("#onnx-file", files=[
            {"name": "tiny.onnx", "mimeType": "application/octet-stream", "buffer": data}
        ])  # fmt: skip
        page.fill("#batch", "2")
        request = {"onnx": base64.b64encode(data).decode(), "name": "tiny", "batch": 2}
    else:
        page.select_option("#llm-config", "gpt2")
        page.select_option("#phase", "decode")
        page.fill("#seq_len", "64")
        request = {"llm_config": "gpt2", "phase": "decode", "seq_len": 64}
    page.fill("#area_mm2", "40")
    submit(page)
    imported = httpx.post(f"{base_url}/v1/workload", json=request, timeout=120).json()
    query = {"layers": imported["layers"], "budget": {"area_mm2": 40}, "objective": "edp"}
    answer = httpx.post(f"{base_url}/v1/recommend", json=query, timeout=120).json()
    assert_same_design(shown_design(page), answer["hardware"])
    assert imported["name"] in page.inner_text("#design-title")
    assert page.locator("#layers tbody tr").count() == len(imported["layers"])


def test_the_docs_page_renders_offline(page, base_url: str) -> None:
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".opblock", timeout=60_000)  # Swagger UI drew the operations
    assert page.locator(".opblock").count() >= 6
    assert "/v1/recommend" in page.inner_text("#swagger-ui")
