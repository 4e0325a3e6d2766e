"""Exact ConfigID accuracy on the public AIrchitect v2 data, next to its published figure.

Run: ``.venv/bin/python bench/airchitect_v2.py --csv CONV.csv [--csv GEMM.csv] [--epochs 40]``.

The CSVs are the release's ``dse_dataset/*_dataset_100k.csv`` (maestro-project/AIrchitect-v2),
or a prefix of them: a file cut mid-row (a partial download) keeps its complete rows only. Give
the conv file *or* the gemm file, not both: row i of the gemm file is row i of the conv file
written as a GEMM (M=K, N=output pixels, K=C*R*S; same df, ConfigID and rewards), so together
they would put one workload on both sides of the split. The rows are imported with
``airchitect import --format airchitect-v2`` (design = decoded ConfigID on the v2 space,
dataflow as given), split 95/5 at random with seed 0 (a further 5 % of the 95 is the
validation set for early stopping; the few rows whose kernel exceeds the input, which describe
no layer, are left out), and a recommender with the shipped model's configuration is trained
with the dataflow as a *given* knob: v2 asks for the best (#PE, buffer) of a layer *under* a
dataflow. Every test row is then predicted at batch 1 and its top-1 (#PE, buffer) compared
with the label's: exact ConfigID accuracy. The majority ConfigID of the training rows is
reported beside it. Writes bench/results/airchitect_v2.json (temp file + rename) and prints a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from data_gen.airchitect_v2 import import_v2
from models.data import RecommenderDataModule
from models.predict import Predictor
from models.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/results/airchitect_v2.json"
DEFAULT_CONFIG = ROOT / "models/configs/default.yaml"
PUBLISHED = "a little over 70 % (AIrchitect v2 artefacts, same 95/5 split)"


def complete_rows(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` without a cut last row: text after the last newline may stop
    mid-number even when it has every field, so it is dropped."""
    text = src.read_text()
    lines = text.split("\n")[:-1]  # the piece after the last newline, if any, is cut
    dst.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def config_ids(predictor: Predictor, frame) -> np.ndarray:
    """(#PE index, buffer index) of the top-1 design per row, each row its own batch of 1."""
    out = []
    for i in range(len(frame)):
        (best,) = predictor.predict(frame.iloc[i : i + 1], top_k=1, within_budget=False)[0][:1]
        out.append(best.index_vector)
    return np.array(out)[:, [0, 3]]  # pe_rows, l2_kib: the v2 space's two free knobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, action="append", required=True)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--work", type=Path, default=None, help="keep the dataset/run here")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="airchitect-v2-"))
    work.mkdir(parents=True, exist_ok=True)
    clean = []
    for path in args.csv:
        target = work / f"clean_{path.name}"
        complete_rows(path, target)
        clean.append(target)
    data_dir, run_dir = work / "data", work / "run"
    summary = import_v2(clean, data_dir, skip_degenerate=True)
    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text())  # the shipped model's sizes and lr
    config = TrainConfig.from_dict(shipped | {
        "max_epochs": args.epochs, "patience": 6, "split": "random", "test_fraction": 0.05,
        "val_fraction": 0.05, "seed": 0, "given_knobs": ("dataflow",),
    })  # fmt: skip
    start = time.perf_counter()
    bundle = train(data_dir, run_dir, config)
    train_s = time.perf_counter() - start
    dm = RecommenderDataModule(data_dir, split="random", val_fraction=0.05, test_fraction=0.05,
                               seed=0)  # fmt: skip
    dm.setup()
    train_rows, test = dm.frames["train"], dm.frames["test"]
    space = dm.space
    truth = space.unflat_index(test["hw_index"].to_numpy(dtype=np.int64))[:, [0, 3]]
    start = time.perf_counter()
    guess = config_ids(Predictor(bundle, batch_size=1), test)
    predict_ms = (time.perf_counter() - start) * 1e3 / max(1, len(test))
    train_ids = space.unflat_index(train_rows["hw_index"].to_numpy(dtype=np.int64))[:, [0, 3]]
    values, counts = np.unique(train_ids, axis=0, return_counts=True)
    majority = values[np.argmax(counts)]
    result = {
        "csv": [str(p) for p in args.csv], "rows": summary["rows"],
        "rows_skipped_degenerate": summary["rows_skipped_degenerate"],
        "rows_per_file": summary["rows_per_file"], "train_rows": len(train_rows),
        "val_rows": len(dm.frames["val"]), "test_rows": len(test),
        "config_id_accuracy": float((guess == truth).all(axis=1).mean()),
        "pe_accuracy": float((guess[:, 0] == truth[:, 0]).mean()),
        "buffer_accuracy": float((guess[:, 1] == truth[:, 1]).mean()),
        "majority_config_id_accuracy": float((truth == majority).all(axis=1).mean()),
        "published": PUBLISHED, "epochs": args.epochs, "train_s": train_s,
        "predict_ms_per_row_batch1": predict_ms, "work_dir": str(work),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print("| rows (train/val/test) | ConfigID accuracy | #PE | buffer | majority ConfigID |")
    print("|---|---|---|---|---|")
    r = result
    print(f"| {r['train_rows']:,}/{r['val_rows']:,}/{r['test_rows']:,} | "
          f"{r['config_id_accuracy']:.1%} | {r['pe_accuracy']:.1%} | "
          f"{r['buffer_accuracy']:.1%} | {r['majority_config_id_accuracy']:.1%} |")  # fmt: skip


if __name__ == "__main__":
    main()
