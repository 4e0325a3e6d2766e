"""Dataset-generation throughput: labelled rows per minute on this machine.

Run: ``.venv/bin/python bench/generate_throughput.py [--n 2000] [--workers 2]``. Generates a
fresh dataset with the exhaustive labeller over the default space (zoo + synthetic workloads,
3 budgets x 3 objectives per workload) into a temporary directory, validates it, and reports
rows/min (wall clock, process start-up included) and the per-row cost. Writes
bench/results/generate_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from airchitect.data_gen.dataset import validate_dataset
from airchitect.data_gen.generate import GeneratorConfig
from airchitect.data_gen.pipeline import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--space", default="default")
    parser.add_argument("--out", default="bench/results/generate_throughput.json")
    args = parser.parse_args()
    config = GeneratorConfig(n=args.n, space=args.space)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = generate(config, Path(tmp) / "ds", workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
        problems = validate_dataset(Path(tmp) / "ds")
    result = {
        "n": args.n, "workers": args.workers, "space": args.space, "shards": config.n_shards,
        "seconds": seconds, "rows_per_minute": 60 * args.n / seconds,
        "core_seconds_per_row": args.workers * seconds / args.n, "valid": not problems,
    }  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    ms_per_row = result["core_seconds_per_row"] * 1e3
    print(f"{summary.rows_total:,} rows, {config.n_shards} shards, {args.workers} workers: "
          f"{seconds:.1f} s, {result['rows_per_minute']:,.0f} rows/min, "
          f"{ms_per_row:.0f} core-ms/row, valid={not problems}")  # fmt: skip


if __name__ == "__main__":
    main()
