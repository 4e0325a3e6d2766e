"""Fine-tuning on LLM workloads, judged on LLM families the fine-tuning never saw.

Run (after ``airchitect generate --n 4500 --workloads llm --top-k 32 --out data/llm``):
``.venv/bin/python bench/llm_finetune.py --data data/llm``. ``--base`` is a run directory or a
serving bundle; the default is the shipped model, so no training run is needed.

The base model was trained without LLM data. The held-out families' rows (``--held-out``,
default Qwen2 and Phi) are the test rows of every model. Compared on them:

- **base**: the base model as it is (before fine-tuning);
- **fine-tuned, decoder only** / **fine-tuned, all**: the base fine-tuned on at most
  ``--max-rows`` rows of the other LLM families (``freeze=encoder`` / ``none``);

Writes bench/results/llm_finetune.json (temp file + rename) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from models.bundle import bundle_file
from models.evaluate import evaluate_run
from models.finetune import FinetuneConfig, finetune
from serve.bundle import DEFAULT_BUNDLE

OUT = Path("bench/results/llm_finetune.json")


def card(name: str, bundle: Path, data: Path, split: str, rows: int, seconds: float) -> dict:
    (score,) = evaluate_run(bundle, data, split, baselines=False, max_rows=rows)
    return {"model": name, "train_seconds": seconds} | score.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=DEFAULT_BUNDLE, help="run or bundle dir")
    parser.add_argument("--data", type=Path, default=Path("data/llm"))
    parser.add_argument("--work", type=Path, default=Path("runs/llm_finetune"))
    parser.add_argument("--held-out", default="llm-qwen2,llm-phi")
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--test-rows", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = f"family:{args.held_out}"
    base = bundle_file(args.base)
    results = [card("base (no LLM data)", base, args.data, split, args.test_rows, 0.0)]
    for freeze in ("encoder", "none"):
        start = time.perf_counter()
        config = FinetuneConfig(freeze=freeze, split=split, max_rows=args.max_rows,
                                max_epochs=args.epochs, lr=args.lr)  # fmt: skip
        out = finetune(base, args.data, args.work / f"freeze-{freeze}", config)
        name = "fine-tuned, decoder only" if freeze == "encoder" else "fine-tuned, all"
        results.append(card(name, out["bundle"], args.data, split, args.test_rows,
                            time.perf_counter() - start))  # fmt: skip
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"held_out": args.held_out, "max_rows": args.max_rows,
                               "epochs": args.epochs, "lr": args.lr, "results": results},
                              indent=1))  # fmt: skip
    tmp.replace(OUT)
    print(table(results, args.held_out))


def table(results: list[dict], held_out: str) -> str:
    rows = [f"held-out families: {held_out}\n",
            "| model | exact design | valid | regret gmean | regret p90 | top-5 regret gmean |"
            " train s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in results:
        rows.append(f"| {r['model']} | {r['exact_accuracy']:.1%} | {r['valid_share']:.1%} "
                    f"| {r['regret_geomean']:.3f} | {r['regret_p90']:.2f} "
                    f"| {r['top5_regret_geomean']:.3f} | {r['train_seconds']:.0f} |")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    main()
