"""Choose the ranker's label bonus on validation rows (never test rows) for a trained run.

Maps the decoder's candidates of ``--rows`` training rows and ``--val-rows`` validation rows
once, fits one ranker per bonus, and prints each one's validation top-1 regret, best-of-5
regret and exact-design share next to the decoder's own order. Results go to
``bench/results/ranker_bonus.json``.

    python bench/ranker.py --model runs/ship40 --data data/base
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from airchitect.models.finetune import run_splits, sample_rows
from airchitect.models.predict import Predictor
from airchitect.models.ranker import RankerConfig, fit_ranker, rank_table, validate

RESULTS = Path(__file__).parent / "results" / "ranker_bonus.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--val-rows", type=int, default=2_000)
    parser.add_argument("--bonus", type=float, nargs="+", default=[0.0, 0.06, 0.1, 0.15, 0.25])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = RankerConfig(rows=args.rows, val_rows=args.val_rows)
    predictor = Predictor(args.model)
    frames = run_splits(predictor.bundle, args.data, max(args.rows, args.val_rows), base.seed)
    train = sample_rows(frames["train"], args.rows, base.seed)  # the rows train-ranker uses
    val = sample_rows(frames["val"], args.val_rows, base.seed)
    start = time.perf_counter()
    train_table = rank_table(predictor, train, base.candidates, True)
    val_table = rank_table(predictor, val, base.candidates, True)
    results = {"model": args.model, "rows": len(train), "val_rows": len(val),
               "mapping_s": time.perf_counter() - start, "bonus": {}}  # fmt: skip
    for bonus in args.bonus:
        start = time.perf_counter()
        config = RankerConfig(**{**base.to_dict(), "label_bonus": bonus})
        summary = validate(fit_ranker(train_table, config), val_table)
        results["bonus"][str(bonus)] = summary | {"fit_s": time.perf_counter() - start}
        d, r = summary["decoder"], summary["ranker"]
        print(f"bonus {bonus:.2f}: regret {r['regret']:.4f} (decoder {d['regret']:.4f}), "
              f"top-5 {r['top5_regret']:.4f} ({d['top5_regret']:.4f}), "
              f"exact {r['exact']:.2%} ({d['exact']:.2%})", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
