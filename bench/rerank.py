"""Re-ranking: how many candidates serving maps in full, against the regret of its answer.

Run: ``.venv/bin/python bench/rerank.py --bundle serve/bundles/default --data data/base``.
Asks the service for each of ``--rows`` held-out rows (the bundle's own test split, a seeded
sample), once per setting, side by side in one process; writes ``--out`` (default
bench/results/rerank.json; temp file + rename) and prints a markdown table. Regret = cost of
the answer (best mapping, row's budget) / cost of the exact label.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from airchitect.models.data import RecommenderDataModule
from airchitect.models.evaluate import scorecard
from airchitect.serve.bundle import DEFAULT_BUNDLE, read_meta
from airchitect.serve.evaluate import served_designs
from airchitect.serve.recommend import Settings
from airchitect.space.space import DesignSpace

OUT = Path("bench/results/rerank.json")
SETTINGS = {
    "the screen's best only (before)": Settings(screen_ratio=1.0, max_finalists=1),
    "within 2x of the screen's best, at most 4": Settings(max_finalists=4),
    "within 2x of the screen's best, at most 6 (default)": Settings(),
    "within 2x of the screen's best, at most 8": Settings(max_finalists=8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--data", type=Path, default=Path("data/base"))
    parser.add_argument("--split", default=None, help="default: the bundle's own")
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    meta = read_meta(args.bundle)
    cfg = meta["train_config"]
    dm = RecommenderDataModule(args.data, split=args.split or cfg["split"],
                               val_fraction=cfg["val_fraction"],
                               test_fraction=cfg["test_fraction"], seed=cfg["seed"])  # fmt: skip
    dm.setup()
    test = dm.frames["test"]
    test = test.sample(min(args.rows, len(test)), random_state=1).reset_index(drop=True)
    space = DesignSpace.from_dict(meta["space"])
    results = []
    for name, settings in SETTINGS.items():
        start = time.perf_counter()
        answers = served_designs(args.bundle, test, settings)
        ms_per_row = (time.perf_counter() - start) / len(test) * 1e3
        card = scorecard(name, test, space, answers)
        results.append({"settings": name, "rows": card.rows, "valid_share": card.valid_share,
                        "regret_geomean": card.regret_geomean, "regret_p90": card.regret_p90,
                        "ms_per_row": ms_per_row})  # fmt: skip
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"bundle": str(args.bundle), "data": str(args.data),
                               "results": results}, indent=1))  # fmt: skip
    tmp.replace(args.out)
    print("| re-ranking | valid | regret gmean | regret p90 | ms per row |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['settings']} | {r['valid_share']:.1%} | {r['regret_geomean']:.4f} "
              f"| {r['regret_p90']:.3f} | {r['ms_per_row']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
