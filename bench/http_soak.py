"""HTTP soak: bounded load with 10 % bad bodies and one worker killed mid-run (issue 19).

Run: ``.venv/bin/python bench/http_soak.py [--seconds 120] [--clients 16] [--workers 2]
[--bad-share 0.1]``. Starts ``python -m airchitect.serve.http`` (``--workers`` processes, default
answer
cache, access log off) on a free loopback port, then ``--clients`` closed-loop asyncio clients
send ``POST /v1/recommend`` for ``--seconds``: single layers, layer lists and zoo networks from
a seeded pool, and with probability ``--bad-share`` a bad body (not JSON, not UTF-8, nested
deeply, numbers out of range or of the wrong type, two workloads, an unknown network). Halfway
through, one worker process gets SIGKILL. Reports requests, answers by status code, transport
failures (connections of the killed worker), p50/p99 latency, and the server's memory (RSS of
its processes) after warm-up and at the end, into bench/results/http_soak.json (temp file +
rename), and prints a summary. Pass: zero 5xx, every bad body answered 4xx, memory within the
answer caches' bound of its start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_load import free_port, percentiles, request_pool, start_server, stop_server, write_atomic  # noqa: E402, I001

from airchitect.serve.bundle import DEFAULT_BUNDLE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BAD_BODIES: list[bytes] = [
    b'{"layer": {"k": 64, "c": ',  # truncated JSON
    b'{"layer": {"k": 8, "c": 8, "name": "\xff"}}',  # not UTF-8
    b'{"layer": ' * 3000 + b"{}" + b"}" * 3000,  # nested deeply
    b'{"layer": {"k": 8, "c": 8, "p": 4096, "q": 4096, "stride": 16777216}}',  # overflow bait
    b'{"layer": {"k": 1000000000000, "c": 1000000000000}}',  # out of range
    b'{"layer": {"k": "64", "c": 64}}',  # a string for a number
    b'{"layer": {"k": 64, "c": 64}, "budget": {"area_mm2": true}}',  # a bool for a number
    b'{"layer": {"k": 64, "c": 64}, "model": "resnet50"}',  # two workloads
    b'{"model": "resnet5000"}',  # no such network
    b'{"layer": {"k": NaN, "c": Infinity}}',  # non-finite
    b"[1, 2, 3]",  # not an object
    b"",  # empty
]


def workload_pool(n: int, seed: int) -> list[bytes]:
    """Good bodies: mostly single layers, some layer lists and zoo networks."""
    import json

    bodies = [json.dumps(b).encode() for b in request_pool(n, seed)]
    singles = request_pool(32, seed + 1)
    for i in range(0, 32, 4):
        layers = [b["layer"] for b in singles[i : i + 4]]
        bodies.append(json.dumps({"layers": layers, "budget": {"area_mm2": 40.0}}).encode())
    for model in ("resnet18", "mobilenet_v2", "bert_base"):
        for objective in ("latency", "edp"):
            body = {"model": model, "budget": {"area_mm2": 40.0}, "objective": objective,
                    "include_layers": False}  # fmt: skip
            bodies.append(json.dumps(body).encode())
    return bodies


def server_rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its children (uvicorn's supervisor and workers), in MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total / 1024


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under its supervisor ``pid`` (spawned by multiprocessing; its
    resource tracker is a child too, and is not one)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    workers = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline or b"airchitect.serve.http" in cmdline:
            workers.append(child)
    return workers


async def soak(url: str, good: list[bytes], clients: int, seconds: float, bad_share: float,
               server_pid: int, seed: int) -> dict[str, Any]:  # fmt: skip
    statuses: Counter[str] = Counter()
    bad_statuses: Counter[str] = Counter()
    transport: Counter[str] = Counter()
    latencies: list[float] = []
    killed: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=150, limits=limits) as http:
        start = time.perf_counter()
        deadline = start + seconds

        async def client(i: int) -> None:
            rng = np.random.default_rng([seed, i])
            while time.perf_counter() < deadline:
                bad = rng.random() < bad_share
                pool = BAD_BODIES if bad else good
                body = pool[int(rng.integers(len(pool)))]
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/recommend", content=body, headers=headers)
                except httpx.HTTPError as exc:
                    transport[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[str(r.status_code)] += 1
                if bad:
                    bad_statuses[str(r.status_code)] += 1

        async def killer() -> None:
            await asyncio.sleep(seconds / 2)
            workers = worker_pids(server_pid)
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.update(pid=workers[0], at_s=round(time.perf_counter() - start, 1))
            await asyncio.sleep(5)
            killed["workers_after_5s"] = len(worker_pids(server_pid))

        await asyncio.gather(killer(), *(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return {"elapsed_s": elapsed, "statuses": dict(statuses), "bad_statuses": dict(bad_statuses),
            "transport_failures": dict(transport), "latencies": latencies,
            "killed": killed}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bad-share", type=float, default=0.1)
    parser.add_argument("--pool", type=int, default=512, help="distinct single-layer bodies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/http_soak.json")
    args = parser.parse_args()

    port = free_port()
    good = workload_pool(args.pool, args.seed)
    with tempfile.TemporaryFile() as log:
        proc = start_server(args.bundle, port, 1, log, args.workers, cache_size=4096)
        try:
            url = f"http://127.0.0.1:{port}"
            for body in good[-6:]:  # networks once each, so their first compute is not timed
                httpx.post(f"{url}/v1/recommend", content=body, timeout=120,
                           headers={"content-type": "application/json"})  # fmt: skip
            rss_before = server_rss_mib(proc.pid)
            run = asyncio.run(soak(url, good, args.clients, args.seconds, args.bad_share,
                                   proc.pid, args.seed))  # fmt: skip
            rss_after = server_rss_mib(proc.pid)
            run["killed"]["workers_at_end"] = len(worker_pids(proc.pid))
            health = httpx.get(f"{url}/v1/health", timeout=10).status_code
        finally:
            stop_server(proc)
    statuses = run.pop("statuses")
    requests = sum(statuses.values())
    five_xx = sum(n for code, n in statuses.items() if code.startswith("5"))
    bad = run.pop("bad_statuses")
    result = {
        "config": vars(args) | {"bundle": args.bundle.name, "out": str(args.out.name)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "requests": requests, "requests_per_s": requests / run["elapsed_s"],
        "statuses": dict(sorted(statuses.items())), "five_xx": five_xx,
        "bad_bodies": sum(bad.values()), "bad_statuses": dict(sorted(bad.items())),
        "transport_failures": run["transport_failures"], "killed_worker": run["killed"],
        "latency_ms": percentiles(run.pop("latencies"), 1000.0),
        "rss_mib": {"after_warm_up": round(rss_before, 1), "at_end": round(rss_after, 1)},
        "health_after": health,
    }  # fmt: skip
    write_atomic(args.out, result)
    lat = result["latency_ms"]
    print(f"{requests} requests in {run['elapsed_s']:.0f} s ({result['requests_per_s']:.1f}/s), "
          f"statuses {result['statuses']}, 5xx {five_xx}, bad bodies {result['bad_bodies']} "
          f"-> {result['bad_statuses']}, transport failures {result['transport_failures']}, "
          f"p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms, RSS {rss_before:.0f} -> "
          f"{rss_after:.0f} MiB, killed {result['killed_worker']}, health {health}")  # fmt: skip


if __name__ == "__main__":
    main()
