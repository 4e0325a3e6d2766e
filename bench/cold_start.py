"""Cold start: the exact commands a user types, each as a fresh process, timed by wall clock.

- ``airchitect recommend --model resnet50``: end to end, the answer printed (target < 1.5 s);
- ``airchitect recomend --model resnet50``: a typo, its one-line error (target < 0.5 s);
- ``airchitect serve``: from the command to the first 200 of ``GET /v1/health`` (target < 5 s).

Medians of ``--repeats`` runs, with the CPU seconds (user + system) of the one-shot commands,
which is what the wall time comes to on an idle core; the load average and core count are
recorded beside them, since on a shared machine the wall figures move with what else runs.

    python bench/cold_start.py --repeats 5 --out bench/results/cold_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TARGETS_S = {"recommend": 1.5, "typo": 0.5, "serve_ready": 5.0}


def _airchitect() -> list[str]:
    """The console script next to this interpreter (what `make install` puts on PATH)."""
    script = Path(sys.executable).with_name("airchitect")
    return [str(script)] if script.exists() else [shutil.which("airchitect") or "airchitect"]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(args: list[str], expect: int, cpu: list[float]) -> float:
    """Wall seconds of one run; its CPU seconds (user + system) are appended to ``cpu``."""
    cpu_start, start = _children_cpu_s(), time.perf_counter()
    out = subprocess.run([*_airchitect(), *args], capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    cpu.append(_children_cpu_s() - cpu_start)
    if out.returncode != expect:
        raise SystemExit(f"{args}: exit {out.returncode}, expected {expect}\n{out.stderr[-2000:]}")
    return wall


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_ready(timeout_s: float = 120.0) -> float:
    port = _free_port()
    cmd = [*_airchitect(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout_s:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited with {proc.returncode} before it was ready")
            try:
                url = f"http://127.0.0.1:{port}/v1/health"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
        raise SystemExit(f"serve not ready within {timeout_s:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(repeats: int) -> dict:
    load_before = os.getloadavg()
    cpu: dict[str, list[float]] = {"recommend": [], "typo": []}
    runs = {
        "recommend": [_timed(["recommend", "--model", "resnet50"], 0, cpu["recommend"])
                      for _ in range(repeats)],
        "typo": [_timed(["recomend", "--model", "resnet50"], 2, cpu["typo"])
                 for _ in range(repeats)],
        "serve_ready": [_serve_ready() for _ in range(repeats)],
    }  # fmt: skip
    return {
        "commands": {
            "recommend": "airchitect recommend --model resnet50",
            "typo": "airchitect recomend --model resnet50",
            "serve_ready": "airchitect serve --workers 1, until GET /v1/health answers 200",
        },
        "median_s": {k: round(statistics.median(v), 3) for k, v in runs.items()},
        "runs_s": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        # CPU seconds of the process: what the wall time would be on an idle core
        "median_cpu_s": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "target_s": TARGETS_S,
        "cores": os.cpu_count(),
        "load_avg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cold_start.json"))
    args = parser.parse_args()
    result = measure(args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, median in result["median_s"].items():
        verdict = "meets" if median < TARGETS_S[key] else "misses"
        cpu_s = result["median_cpu_s"].get(key)
        cpu_text = f", CPU {cpu_s:.3f} s" if cpu_s is not None else ""
        print(f"{key:12s} median {median:6.3f} s{cpu_text} (target < {TARGETS_S[key]} s: "
              f"{verdict}); runs {result['runs_s'][key]}")  # fmt: skip
    print(f"load average (1 min) before/after: {result['load_avg_1m_before_after']} "
          f"on {result['cores']} cores")  # fmt: skip


if __name__ == "__main__":
    main()
