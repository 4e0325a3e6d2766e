"""Exact ConfigID accuracy on the public AIrchitect v2 data, on the release's own split.

Run: ``.venv/bin/python bench/airchitect_v2.py --csv CONV_OR_GEMM.csv`` (``make v2`` runs both
release files). Steps:

1. import the file (``airchitect data import --format airchitect-v2``; degenerate rows kept,
   flagged ``found`` = False);
2. split it as the release does (:data:`PUBLISHED`): every data row in file order,
   ``RandomState(0).permutation(n)``, the first ``n - floor(0.95 n)`` rows (5,078 of 101,556)
   are the test set; validation rows (``--val-fraction`` of the rest, seed 1) come out of the
   training part only;
3. train :class:`airchitect.models.configid.ConfigIdClassifier` (config ``--config``, by default
   ``models/configs/airchitect_v2_<conv|gemm>.yaml``) on the remaining training rows;
4. predict every test row at batch 1 and compare with its ConfigID. A degenerate test row (no
   layer to encode) is answered with the training rows' majority ConfigID.

``--val-only`` stops after scoring the validation rows (for choosing hyperparameters; the test
rows are never read). Reports exact ConfigID accuracy, #PE-exact and buffer-exact under both
digit readings (PE-major: PE = ConfigID // 12 + 1, buffer = ConfigID % 12 + 1; buffer-major:
PE = ConfigID % 64 + 1, buffer = ConfigID // 64 + 1), the majority answer, and the training
wall time. Writes JSON (``--out``, temp file + rename) and prints a markdown row. A run stopped
by a signal says so and exits 128 + the signal number.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from airchitect.data_gen.airchitect_v2 import import_v2, published_split
from airchitect.data_gen.dataset import read_dataset
from airchitect.data_gen.manifest import Manifest
from airchitect.models.configid import ConfigIdClassifier, ConfigIdConfig

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench/results"
CONFIGS = ROOT / "models/configs"  # airchitect_v2_conv.yaml, airchitect_v2_gemm.yaml
PUBLISHED = (
    "the release's split: train_test_split(all 101,556 rows in file order, train_size=0.95, "
    "random_state=0) = RandomState(0).permutation(101556), first 5,078 = test; released "
    "weights on it: 73.79 % exact ConfigID at batch 1,000, 70.80 % at batch 1"
)
RELEASED_BATCH1 = 0.7080


class Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, _frame) -> None:
    raise Stopped(signum)


def config_ids(frame: pd.DataFrame) -> np.ndarray:
    """PE-major ConfigID ``(pe - 1) * 12 + (buffer level - 1)`` of found rows (v2 space:
    pe_rows is the PE count, l2_kib is buffer level x 16 KiB)."""
    pe = frame["pe_rows"].to_numpy(dtype=np.int64)
    buf = np.rint(frame["l2_kib"].to_numpy(dtype=np.float64) / 16).astype(np.int64)
    return (pe - 1) * 12 + (buf - 1)


def split_rows(data_dir: Path) -> pd.DataFrame:
    """Every dataset row with its data-row index (from its line) and ``test`` flag."""
    manifest = Manifest.load(data_dir)
    gen = manifest.generator
    if len(gen["files"]) != 1:
        raise ValueError("give one v2 file per run: the split is per file")
    frame = read_dataset(data_dir)
    lines = frame["layer_name"].str.removeprefix("line").astype(np.int64).to_numpy()
    blank = np.asarray(gen["blank_lines"][0], dtype=np.int64)
    frame["data_row"] = lines - 2 - np.searchsorted(blank, lines)
    frame["test"] = published_split(frame["data_row"].to_numpy(), gen["data_rows"][0])
    return frame.sort_values("data_row").reset_index(drop=True)


def readings(guess: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Exact, PE-exact and buffer-exact accuracy under both digit readings."""
    out = {"config_id_exact": float((guess == truth).mean())}
    for name, pe, buf in (("pe_major", lambda z: z // 12, lambda z: z % 12),
                          ("buffer_major", lambda z: z % 64, lambda z: z // 64)):  # fmt: skip
        out[f"{name}_pe_exact"] = float((pe(guess) == pe(truth)).mean())
        out[f"{name}_buffer_exact"] = float((buf(guess) == buf(truth)).mean())
    return out


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="airchitect-v2-"))
    data_dir = work / "data"
    start = time.perf_counter()
    summary = import_v2([args.csv], data_dir)
    import_s = time.perf_counter() - start
    rows = split_rows(data_dir)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    kind = summary["kind_per_file"][args.csv.name]
    config_path = args.config or CONFIGS / f"airchitect_v2_{kind}.yaml"
    raw = yaml.safe_load(config_path.read_text()) | {
        k: yaml.safe_load(v) for k, v in overrides.items()
    }
    config = ConfigIdConfig.from_dict(raw)
    train_all = rows[~rows["test"] & rows["found"]]
    val_mask = np.random.RandomState(1).rand(len(train_all)) < args.val_fraction
    train, val = train_all[~val_mask], train_all[val_mask]
    y_train, y_val = config_ids(train), config_ids(val)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    model = ConfigIdClassifier(config).fit(train, y_train, val=(val, y_val), log=log)
    val_acc = readings(model.predict(val), y_val)
    result = {
        "csv": str(args.csv), "config_file": str(config_path), "config": raw, "import_s": import_s,
        "data_rows": summary["data_rows_per_file"], "degenerate": summary["degenerate_per_file"],
        "train_rows": len(train), "val_rows": len(val), "train_s": model.fit_seconds_,
        "val": val_acc, "published_split": PUBLISHED, "work_dir": str(work),
    }  # fmt: skip
    if args.save_model:
        model.save(work / "model")
    if args.val_only:
        return result
    test = rows[rows["test"]]
    found = test["found"].to_numpy()
    majority = int(pd.Series(config_ids(train_all)).mode().iloc[0])
    truth = pd.read_csv(args.csv, usecols=["ConfigID"])["ConfigID"].to_numpy()[test["data_row"]]
    guess = np.full(len(test), majority, dtype=np.int64)
    start = time.perf_counter()
    found_rows = test[found]
    guess[found] = [model.predict(found_rows.iloc[i : i + 1])[0] for i in range(len(found_rows))]
    predict_ms = (time.perf_counter() - start) * 1e3 / max(1, len(found_rows))
    assert (guess[found] == model.predict(found_rows)).all(), "an answer depends on its batch"
    result |= {
        "test_rows": len(test), "test_rows_degenerate": int((~found).sum()),
        "test": readings(guess, truth),
        "majority_config_id": majority,
        "majority": readings(np.full(len(test), majority), truth),
        "released_weights_batch1": RELEASED_BATCH1, "predict_ms_per_row_batch1": predict_ms,
    }  # fmt: skip
    return result


def _write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)


def _print(r: dict) -> None:
    part = "test" if "test" in r else "val"
    a = r[part]
    print(f"| file | rows (train/val/{part}) | exact ConfigID | PE-major #PE / buffer | "
          "buffer-major #PE / buffer | majority | train s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    maj = f"{r['majority']['config_id_exact']:.2%}" if "majority" in r else "-"
    n_part = r.get("test_rows", r["val_rows"])
    print(f"| {Path(r['csv']).name} | {r['train_rows']:,}/{r['val_rows']:,}/{n_part:,} | "
          f"**{a['config_id_exact']:.2%}** | {a['pe_major_pe_exact']:.2%} / "
          f"{a['pe_major_buffer_exact']:.2%} | {a['buffer_major_pe_exact']:.2%} / "
          f"{a['buffer_major_buffer_exact']:.2%} | {maj} | {r['train_s']:.0f} |")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="one AIrchitect v2 CSV file")
    parser.add_argument("--config", type=Path, default=None, help="default: per file kind")
    parser.add_argument("--set", action="append", default=[], help="override: field=value")
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--val-only", action="store_true", help="score validation rows only")
    parser.add_argument("--work", type=Path, default=None, help="keep the dataset/model here")
    parser.add_argument("--save-model", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--verbose", action="store_true", help="validation accuracy per epoch")
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    try:
        result = run(args)
    except Stopped as exc:
        print(f"airchitect_v2: stopped by {exc} before finishing; no result written",
              file=sys.stderr)  # fmt: skip
        return 128 + exc.signum
    except (ValueError, OSError) as exc:
        print(f"airchitect_v2: error: {exc}", file=sys.stderr)
        return 2
    out = args.out or OUT_DIR / f"airchitect_v2_{args.csv.stem}.json"
    _write(result, out)
    _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
