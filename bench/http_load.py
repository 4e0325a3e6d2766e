"""HTTP load test: recommend requests per second and latency percentiles of the served API.

Run: ``.venv/bin/python bench/http_load.py [--bundle serve/bundles/default] [--clients 50]
[--seconds 20 | --requests N] [--workers 2] [--cache-size 4096] [--think-ms 1000]``. Starts
``python -m airchitect.serve.http`` on a free loopback port in a subprocess (``--workers``
processes,
answer cache off unless ``--cache-size``, access log off), waits for ``/v1/health``, then
``--clients`` concurrent asyncio clients (httpx.AsyncClient, one connection each; closed loop,
or pausing a random think time of mean ``--think-ms`` between answer and next request, like
people) send single-layer ``POST /v1/recommend`` requests, cycling through a seeded pool of
varied layers (conv, fc, gemm), budgets (none, area, power, both) and objectives, until
``--seconds`` have passed or ``--requests`` have been sent. Reports requests/s, p50/p90/p99
latency (client side, queueing included) and the server's own compute time, counts 4xx answers
as ``rejected`` and 5xx or transport failures as ``errors``, writes bench/results/http_load.json
(temp file + rename) and prints a markdown row. Client and server share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np

from airchitect.serve.bundle import DEFAULT_BUNDLE, BundleError, read_meta

ROOT = Path(__file__).resolve().parents[1]
THINK_SEED = 0  # the think times are seeded, so runs are comparable
HEADER = ("| clients | think ms | workers | cache | requests | cache hits | req/s | p50 ms "
          "| p90 ms | p99 ms | server p50 ms | rejected | errors |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip


def request_pool(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` varied single-layer recommend bodies (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    pick = lambda values: values[int(rng.integers(len(values)))]  # noqa: E731
    bodies = []
    for i in range(n):
        op = pick(["conv", "conv", "fc", "gemm"])
        if op == "conv":
            layer = {"op": "conv", "k": pick([16, 32, 64, 128, 256, 512]),
                     "c": pick([3, 16, 32, 64, 128, 256]), "p": pick([7, 14, 28, 56, 112]),
                     "r": pick([1, 3, 5]), "stride": pick([1, 1, 2])}  # fmt: skip
            layer["q"], layer["s"] = layer["p"], layer["r"]
        elif op == "fc":
            layer = {"op": "fc", "k": pick([10, 256, 1000, 4096]), "c": pick([256, 1024, 4096]),
                     "n": pick([1, 8, 32])}  # fmt: skip
        else:
            layer = {"op": "gemm", "k": pick([64, 768, 3072]), "c": pick([64, 768, 3072]),
                     "p": pick([1, 32, 128, 512])}  # fmt: skip
        budget = pick(
            [
                None,
                {"area_mm2": pick([10.0, 20.0, 50.0, 200.0])},
                {"power_mw": pick([1000.0, 3000.0, 10000.0])},
                {"area_mm2": pick([20.0, 50.0]), "power_mw": pick([3000.0, 10000.0])},
            ]
        )
        body = {"layer": layer | {"name": f"q{i}"}, "objective": pick(["latency", "energy", "edp"]),
                "include_layers": True}  # fmt: skip
        if budget is not None:
            body["budget"] = budget
        bodies.append(body)
    return bodies


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    bundle: Path, port: int, threads: int, log: IO[bytes], workers: int = 1, cache_size: int = 0,
    timeout: float = 120,
) -> subprocess.Popen:  # fmt: skip
    """The server subprocess, once it answers; its stderr goes to ``log`` (a file, not a pipe:
    a pipe nobody reads would block a server that logs a lot)."""
    command = [sys.executable, "-m", "airchitect.serve.http", "--bundle", str(bundle),
               "--port", str(port), "--threads", str(threads), "--workers", str(workers),
               "--cache-size", str(cache_size), "--log-level", "warning",
               "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"server did not answer /v1/health within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def load(url: str, bodies: list[dict], clients: int, seconds: float,
               requests: int | None, think_s: float = 0.0) -> dict[str, Any]:  # fmt: skip
    """Run the clients; per request its latency, status and the server's compute time. Each
    client waits a think time between its answer and its next request: exponential with mean
    ``think_s`` (0: closed loop). Random, not fixed, as a load tester's user model has it: with
    a fixed pause, clients that start together stay in step and arrive in bursts."""
    latencies: list[float] = []
    server_ms: list[float] = []
    counts = {"ok": 0, "rejected": 0, "errors": 0, "cache_hits": 0}
    sent = 0
    failures: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        warm = await http.post("/v1/recommend", json=bodies[0])  # loads caches, not timed
        warm.raise_for_status()
        start = time.perf_counter()
        deadline = start + seconds

        async def client(i: int) -> None:
            nonlocal sent
            pauses = np.random.default_rng([THINK_SEED, i])
            if think_s:  # clients start spread over one think time, not all at once
                await asyncio.sleep(think_s * i / clients)
            while time.perf_counter() < deadline and (requests is None or sent < requests):
                if sent and think_s:
                    await asyncio.sleep(pauses.exponential(think_s))
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/recommend", json=body)
                except httpx.HTTPError as exc:
                    counts["errors"] += 1
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    counts["ok"] += 1
                    hit = r.headers.get("x-airchitect-cache") == "hit"
                    counts["cache_hits"] += hit
                    if not hit:  # a cached answer carries the compute time of its first asking
                        server_ms.append(r.json()["timings_ms"]["total"])
                elif 400 <= r.status_code < 500:
                    counts["rejected"] += 1
                    failures.append(f"{r.status_code}: {r.text[:200]}")
                else:
                    counts["errors"] += 1
                    failures.append(f"{r.status_code}: {r.text[:200]}")

        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "server_ms": server_ms, "counts": counts, "sent": sent,
            "elapsed": elapsed, "failures": failures}  # fmt: skip


#: wrk's Lua side: cycle through the bodies, pause an exponential think time before every
#: request (the first included, so connections do not all start at once), report as JSON.
WRK_SCRIPT = """
local bodies = {%(bodies)s}
local n, think_ms = 0, %(think_ms)r
math.randomseed(%(seed)d)
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"},
                    bodies[(n - 1) %% #bodies + 1])
end
if think_ms > 0 then
  delay = function() return -think_ms * math.log(1 - math.random()) end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK-JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, '
    .. '"read": %%d, "write": %%d, "status": %%d, "timeout": %%d, "p50": %%.1f, "p90": %%.1f, '
    .. '"p99": %%.1f, "mean": %%.1f, "max": %%.1f}\\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def wrk_load(url: str, bodies: list[dict], clients: int, seconds: float, think_s: float,
             seed: int) -> dict[str, Any]:  # fmt: skip
    """The same load from wrk (C, one thread): a Python client on these 2 shared cores spends
    milliseconds of CPU per request and its own queueing shows up as server latency."""
    lua = ", ".join(f"[==[{json.dumps(b)}]==]" for b in bodies)
    script = WRK_SCRIPT % {"bodies": lua, "think_ms": think_s * 1e3, "seed": seed}
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(script)
        f.flush()
        out = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", f.name,
             url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    report = json.loads(out.split("WRK-JSON", 1)[1])
    latency = {k: report[k] / 1e3 for k in ("p50", "p90", "p99", "mean", "max")}  # us -> ms
    errors = sum(report[k] for k in ("connect", "read", "write", "status", "timeout"))
    counts = {"ok": report["requests"] - report["status"], "rejected": 0, "errors": errors,
              "cache_hits": 0}  # fmt: skip
    failures = [
        f"wrk {kind} errors: {report[kind]}"
        for kind in ("connect", "read", "write", "status", "timeout")
        if report[kind]
    ]
    return {"latency_ms": latency, "server_ms": [], "counts": counts, "sent": report["requests"],
            "elapsed": report["duration_us"] / 1e6, "failures": failures}  # fmt: skip


def percentiles(values: list[float], scale: float = 1.0) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "max": None}
    arr = np.asarray(values) * scale
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(arr.mean()),
            "max": float(arr.max())}  # fmt: skip


def write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=None, help="stop after this many")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per query")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--cache-size",
        type=int,
        default=0,
        help="server answer cache per worker (0: every request computed)",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean of each client's random pause between requests (0: closed loop)",
    )
    parser.add_argument("--pool", type=int, default=256, help="distinct request bodies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/http_load.json")
    parser.add_argument(
        "--client",
        choices=("python", "wrk"),
        default="python",
        help="load generator: asyncio + httpx, or wrk (Debian package `wrk`)",
    )
    args = parser.parse_args()
    if args.client == "wrk" and (args.requests is not None or shutil.which("wrk") is None):
        parser.error("--client wrk needs the wrk command and runs for --seconds, not --requests")
    if args.clients < 1 or args.seconds <= 0 or (args.requests is not None and args.requests < 1):
        parser.error("--clients, --seconds and --requests must be positive")
    try:
        meta = read_meta(args.bundle)
    except BundleError as exc:
        raise SystemExit(f"error: {exc}") from None

    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = start_server(args.bundle, port, args.threads, log, args.workers, args.cache_size)
        try:
            url, bodies = f"http://127.0.0.1:{port}", request_pool(args.pool, args.seed)
            if args.client == "wrk":
                run = wrk_load(url, bodies, args.clients, args.seconds, args.think_ms / 1e3,
                               args.seed)  # fmt: skip
            else:
                run = asyncio.run(load(url, bodies, args.clients, args.seconds, args.requests,
                                       args.think_ms / 1e3))  # fmt: skip
                run["latency_ms"] = percentiles(run.pop("latencies"), 1e3)
        finally:
            stop_server(proc)

    done = run["counts"]["ok"] + run["counts"]["rejected"]
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "bundle": str(args.bundle), "space": meta["space"].get("name"),
        "space_hash": meta.get("space_hash"), "clients": args.clients,
        "seconds_limit": args.seconds, "requests_limit": args.requests,
        "elapsed_s": run["elapsed"], "requests": run["sent"], **run["counts"],
        "requests_per_s": done / run["elapsed"] if run["elapsed"] > 0 else None,
        "latency_ms": run["latency_ms"], "client": args.client,
        "server_compute_ms": percentiles(run["server_ms"]),
        "first_failures": run["failures"][:5], "server_threads": args.threads,
        "server_workers": args.workers, "cache_size": args.cache_size,
        "think_ms": args.think_ms, "pool": args.pool,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip
    write_atomic(args.out, result)

    lat, srv = result["latency_ms"], result["server_compute_ms"]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    print(HEADER)
    print(
        f"| {args.clients} | {args.think_ms:g} | {args.workers} | {args.cache_size} | "
        f"{run['sent']} | {result['cache_hits']} | "
        f"{result['requests_per_s'] or 0:.1f} | {ms(lat['p50'])} | {ms(lat['p90'])} | "
        f"{ms(lat['p99'])} | {ms(srv['p50'])} | {result['rejected']} | {result['errors']} |"
    )
    for line in run["failures"][:3]:
        print(f"failure: {line}", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
