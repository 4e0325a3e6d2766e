"""The web page: time from pressing "Recommend" to the design shown, for ResNet-50 in the browser.

``airchitect serve`` (the shipped bundle, one worker) on a free loopback port, driven by
headless Debian chromium through Playwright. Each run reloads the page, picks the network and
budget, clicks, and waits for the design panel; the page itself records the milliseconds from
its submit handler to the first animation frame after the answer is drawn (``data-shown-ms``),
and this script the wall time from its click to the panel seen. Two servers: one with the
answer cache off (every answer computed) and one with it on (the same question again is a hit).

    python bench/web_page.py --repeats 7 --out bench/results/web_page.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip


def _airchitect() -> list[str]:
    script = Path(sys.executable).with_name("airchitect")
    return [str(script)] if script.exists() else [shutil.which("airchitect") or "airchitect"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(cache_size: int):
    port = _free_port()
    cmd = [*_airchitect(), "serve", "--port", str(port), "--workers", "1",
           "--cache-size", str(cache_size)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("serve not ready within 120 s") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(url: str, repeats: int, network: str, area_mm2: float) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    page_ms, wall_ms = [], []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1200, "height": 900},
        )  # fmt: skip
        page = browser.new_page()
        for _ in range(repeats):
            page.goto(f"{url}/")
            page.wait_for_selector("body[data-ready=true]")
            page.select_option("#network", network)
            page.fill("#area_mm2", str(area_mm2))
            start = time.perf_counter()
            page.click("#submit")
            page.wait_for_selector("#design[data-shown-ms]", timeout=120_000)
            wall_ms.append((time.perf_counter() - start) * 1e3)
            page_ms.append(float(page.get_attribute("#design", "data-shown-ms")))
        browser.close()
    return {"page_ms": page_ms, "wall_ms": wall_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--network", default="resnet50")
    parser.add_argument("--area-mm2", type=float, default=40.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/web_page.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    result: dict = {"network": args.network, "area_mm2": args.area_mm2, "objective": "edp",
                    "repeats": args.repeats, "runs": {}}  # fmt: skip
    for label, cache_size in (("computed (cache off)", 0), ("cached (cache on)", 4096)):
        with server(cache_size) as url:
            runs = measure(url, args.repeats, args.network, args.area_mm2)
        if cache_size:  # the first question of the cached server is computed, not a hit
            runs = {k: v[1:] for k, v in runs.items()}
        result["runs"][label] = {k: [round(x, 1) for x in v] for k, v in runs.items()}
        medians = {k: round(statistics.median(v), 1) for k, v in runs.items()}
        result["runs"][label]["median"] = medians
        print(f"{label:22s} submit -> design shown: median {medians['page_ms']:7.1f} ms "
              f"(page clock), {medians['wall_ms']:7.1f} ms (script clock); "
              f"runs {result['runs'][label]['page_ms']}")  # fmt: skip
    result |= {"cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
               "load_avg_1m_before_after": [round(load_before, 2),
                                            round(os.getloadavg()[0], 2)]}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average (1 min) before/after: {result['load_avg_1m_before_after']} on "
          f"{result['cores']} cores; written {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
