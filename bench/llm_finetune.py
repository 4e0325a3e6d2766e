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

import numpy as np
import torch

from airchitect.models.bundle import bundle_file
from airchitect.models.evaluate import Scorecard, evaluate_run
from airchitect.models.finetune import FinetuneConfig, finetune
from airchitect.serve.bundle import DEFAULT_BUNDLE, META_NAME
from airchitect.serve.evaluate import served_method
from airchitect.serve.export import export_bundle

OUT = Path("bench/results/llm_finetune.json")


def card(name: str, bundle: Path, serving: Path | None, data: Path, split: str, rows: int,
         seconds: float) -> dict:  # fmt: skip
    """The model's scorecard (its ranker's order when it has one), the decoder's own order
    (``decoder_order_*``) and the serving bundle's answers (``served_*``) on the same rows:
    what ``airchitect recommend`` gives a user."""
    methods = {"served": served_method(serving)} if serving is not None else {}
    cards = {c.name: c for c in evaluate_run(bundle, data, split, baselines=False,
                                             max_rows=rows, extra_methods=methods)}  # fmt: skip
    score = cards["airchitect"]
    out = {"model": name, "train_seconds": seconds} | score.to_dict()
    out["_rows"] = {"model": score}
    for key, method in (("decoder_order", "airchitect, decoder order"), ("served", "served")):
        if method in cards:
            c = cards[method]
            out["_rows"][key] = c
            for field in ("exact_accuracy", "valid_share", "regret_geomean", "regret_p90"):
                out[f"{key}_{field}"] = getattr(c, field)
    return out


def paired_ratio(after: Scorecard, before: Scorecard, draws: int = 2000) -> dict[str, float]:
    """Geometric-mean regret of ``after`` over ``before`` on the rows both answered validly,
    with a 95 % paired bootstrap interval (rows resampled, seed 0): below 1 is better."""
    _, a, b = np.intersect1d(after.row_ids, before.row_ids, return_indices=True)
    with np.errstate(invalid="ignore"):  # inf - inf: a row neither answered validly
        log_ratio = np.log(after.row_regret[a]) - np.log(before.row_regret[b])
    log_ratio = log_ratio[np.isfinite(log_ratio)]
    rng = np.random.default_rng(0)
    means = log_ratio[rng.integers(0, len(log_ratio), (draws, len(log_ratio)))].mean(axis=1)
    low, high = np.exp(np.percentile(means, [2.5, 97.5]))
    return {"ratio": float(np.exp(log_ratio.mean())), "low": float(low), "high": float(high),
            "rows": len(log_ratio), "better": int((log_ratio < -1e-9).sum()),
            "worse": int((log_ratio > 1e-9).sum())}  # fmt: skip


def serving_bundle(model: Path, data: Path | None) -> Path | None:
    """``model``'s serving bundle: ``model`` itself when it is one, else exported beside its run
    (the neighbour index holds the run's own training rows of ``data``; None without data)."""
    if (model / META_NAME).exists():
        return model
    if data is None:
        return None
    out = model.parent / "serving"
    export_bundle(model.parent if model.suffix == ".pt" else model, data, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=DEFAULT_BUNDLE, help="run or bundle dir")
    parser.add_argument("--base-data", type=Path, default=None,
                        help="the base run's dataset, to export it for serving (a serving "
                        "bundle as --base needs none)")  # fmt: skip
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
    base_serving = serving_bundle(args.base, args.base_data)
    results = [card("base (no LLM data)", base, base_serving, args.data, split, args.test_rows,
                    0.0)]  # fmt: skip
    for freeze in ("encoder", "none"):
        start = time.perf_counter()
        config = FinetuneConfig(freeze=freeze, split=split, max_rows=args.max_rows,
                                max_epochs=args.epochs, lr=args.lr)  # fmt: skip
        out = finetune(base, args.data, args.work / f"freeze-{freeze}", config)
        seconds = time.perf_counter() - start
        name = "fine-tuned, decoder only" if freeze == "encoder" else "fine-tuned, all"
        serving = serving_bundle(out["bundle"], args.data)
        results.append(card(name, out["bundle"], serving, args.data, split, args.test_rows,
                            seconds))  # fmt: skip
    base_rows = results[0].pop("_rows")
    for r in results[1:]:  # each fine-tune against the base, row by row
        own = r.pop("_rows")
        r["against_base"] = {k: paired_ratio(own[k], base_rows[k]) for k in own if k in base_rows}
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"held_out": args.held_out, "max_rows": args.max_rows,
                               "epochs": args.epochs, "lr": args.lr, "results": results},
                              indent=1))  # fmt: skip
    tmp.replace(OUT)
    print(table(results, args.held_out))
    for r in results[1:]:
        for kind, p in r["against_base"].items():
            print(
                f"{r['model']}, {kind}: regret x{p['ratio']:.4f} of the base's "
                f"(95 % CI {p['low']:.4f}-{p['high']:.4f}; better on {p['better']}, worse on "
                f"{p['worse']} of {p['rows']} rows)"
            )


def table(results: list[dict], held_out: str) -> str:
    rows = [f"held-out families: {held_out}\n",
            "| model | exact design | valid | regret gmean | regret p90 | top-5 regret gmean |"
            " decoder order: regret gmean | served: exact | served: regret gmean | served: p90 "
            "| train s |",
            "| --- |" + " ---: |" * 10]  # fmt: skip
    for r in results:
        served = (f"{r['served_exact_accuracy']:.1%} | {r['served_regret_geomean']:.3f} "
                  f"| {r['served_regret_p90']:.2f}" if "served_regret_geomean" in r
                  else "– | – | –")  # fmt: skip
        unranked = f"{r.get('decoder_order_regret_geomean', float('nan')):.3f}"
        rows.append(f"| {r['model']} | {r['exact_accuracy']:.1%} | {r['valid_share']:.1%} "
                    f"| {r['regret_geomean']:.3f} | {r['regret_p90']:.2f} "
                    f"| {r['top5_regret_geomean']:.3f} | {unranked} | {served} "
                    f"| {r['train_seconds']:.0f} |")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    main()
