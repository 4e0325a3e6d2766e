"""Importing AIrchitect v2 CSV files: ConfigID decoding, parsing errors, the written dataset."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from airchitect.cost.mapper import Objective
from airchitect.data_gen.airchitect_v2 import (
    BUFFER_LEVELS,
    CONV_COLUMNS,
    DATAFLOWS,
    PE_LEVELS,
    SCHEMES,
    V2FormatError,
    config_id_of_design,
    decode_config_id,
    encode_config_id,
    import_v2,
    published_split,
    published_test_count,
    read_v2_csv,
    v2_space,
)
from airchitect.data_gen.airchitect_v2_rows import DEGENERATE_METHOD, layer_columns
from airchitect.data_gen.dataset import read_dataset, validate_dataset
from airchitect.data_gen.manifest import MANIFEST_NAME
from airchitect.data_gen.writer import ResumeError
from airchitect.search.base import make_candidate
from airchitect.space.hardware import Dataflow
from airchitect.workloads.layer import OpType, conv2d, gemm

FIXTURES = Path(__file__).parent / "fixtures"
CONV = FIXTURES / "v2_conv.csv"
GEMM = FIXTURES / "v2_gemm.csv"
CONV_ROWS, GEMM_ROWS = 32, 17
#: The fixture's large GEMM on buffer level 10: no mapping of it fits 160 KiB.
OVERFLOW_ROW = ("v2_gemm", "line18")
RELEASE = Path(__file__).parents[3] / "shared/data/airchitect-v2"
RELEASE_ROWS = 101_556


# ---- ConfigID ------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_decode_encode_are_inverses_over_every_id(scheme):
    ids = SCHEMES[scheme].ids
    assert len(ids) == PE_LEVELS * BUFFER_LEVELS == 768
    pairs = [decode_config_id(i, scheme) for i in ids]
    assert sorted(pairs) == [(p, b) for p in range(1, 65) for b in range(1, 13)]
    assert [encode_config_id(p, b, scheme) for p, b in pairs] == list(ids)


def test_chosen_decoding_fits_the_published_ids():
    """PE-major, 0-based: 1..767 are valid, 767 is the biggest design, 12k the smallest buffer."""
    assert SCHEMES["pe-major"].ids == range(0, 768)
    assert all(1 <= encode_config_id(p, b) <= 767 for p in range(1, 65) for b in range(2, 13))
    assert decode_config_id(767) == (64, 12)  # the release's most frequent label
    assert decode_config_id(0) == (1, 1)
    assert {decode_config_id(i)[1] for i in range(0, 768, 12)} == {1}
    # the published runs 757..767, 565..575, 373..383 are 64, 48 and 32 PEs
    assert {decode_config_id(i)[0] for i in range(757, 768)} == {64}
    assert {decode_config_id(i)[0] for i in range(565, 576)} == {48}
    assert decode_config_id(373) == (32, 2)
    ids = np.concatenate([read_v2_csv(f).frame["ConfigID"].to_numpy() for f in (CONV, GEMM)])
    assert all(1 <= i <= 767 and i % 12 for i in ids)


def test_alternative_decodings_are_available():
    assert decode_config_id(768, "pe-major-1") == (64, 12)
    assert decode_config_id(767, "buffer-major") == (64, 12)
    assert decode_config_id(373, "buffer-major") == (54, 6)
    with pytest.raises(ValueError, match="1..768"):
        decode_config_id(0, "pe-major-1")
    with pytest.raises(ValueError, match="unknown ConfigID scheme"):
        decode_config_id(1, "readme")


@pytest.mark.parametrize("bad", [-1, 768, 769, True, 3.0, "5"])
def test_decode_rejects_ids_outside_the_scheme(bad):
    with pytest.raises(ValueError, match="0..767"):
        decode_config_id(bad)


@pytest.mark.parametrize(("pe", "buf"), [(0, 1), (65, 1), (1, 0), (1, 13), (True, 1)])
def test_encode_rejects_levels_out_of_range(pe, buf):
    with pytest.raises(ValueError, match="pe_index|buffer_index"):
        encode_config_id(pe, buf)


# ---- the space -----------------------------------------------------------------------------------
def test_space_file():
    space = v2_space()
    knobs = {k.name: k.json_values() for k in space.knobs}
    assert knobs["pe_rows"] == list(range(1, 65)) and knobs["pe_cols"] == [1]
    assert knobs["l2_kib"] == [16 * b for b in range(1, 13)]
    assert knobs["dataflow"] == ["ws", "os", "rs"]
    assert all(len(knobs[k]) == 1 for k in ("l1_bytes", "noc_words_per_cycle",
                                            "dram_bytes_per_cycle"))  # fmt: skip
    assert space.size == 64 * 12 * 3


# ---- reading -------------------------------------------------------------------------------------
def test_read_conv_and_gemm_files():
    conv, gemm_file = read_v2_csv(CONV), read_v2_csv(GEMM)
    assert (conv.data_rows, gemm_file.data_rows) == (CONV_ROWS, GEMM_ROWS)
    assert (conv.kind, gemm_file.kind) == ("conv", "gemm")
    first = conv.frame.iloc[0]  # 386,238,32,192,7,7,dla,767,564819642
    assert (first["row"], first["line"], first["ConfigID"], first["rewards"]) == (
        0, 2, 767, 564819642.0)  # fmt: skip
    work = layer_columns(conv)
    assert [int(work[d][0]) for d in "kcpqrs"] == [386, 238, 186, 26, 7, 7]
    assert first["df"] == "dla" and work["op"][0] == OpType.CONV.value
    g = layer_columns(gemm_file)  # M=386, N=4836, GEMM_K=11662
    assert g["op"][0] == OpType.GEMM.value and (g["p"][0], g["k"][0], g["c"][0]) == (
        386,
        4836,
        11662,
    )
    assert conv.frame["rewards"].iloc[6] == 406173183.0  # written "406173183.0"
    assert DATAFLOWS == {"dla": Dataflow.WS, "eye": Dataflow.RS, "shi": Dataflow.OS}


def test_layer_columns_match_the_layer_builders():
    """The vectorised columns are what conv2d()/gemm() build, row for row."""
    conv, gemm_file = read_v2_csv(CONV), read_v2_csv(GEMM)
    work = layer_columns(conv)
    for i, r in conv.frame.iterrows():
        layer = conv2d(
            "x",
            in_channels=int(r["C"]),
            out_channels=int(r["K"]),
            in_hw=(int(r["Y"]), int(r["X"])),
            kernel=(int(r["R"]), int(r["S"])),
        )
        assert [int(work[d][i]) for d in ("k", "c", "p", "q", "r", "s", "macs")] == [
            layer.k, layer.c, layer.p, layer.q, layer.r, layer.s, layer.macs]  # fmt: skip
    work = layer_columns(gemm_file)
    for i, r in gemm_file.frame.iterrows():
        layer = gemm("x", m=int(r["M"]), k=int(r["GEMM_K"]), n=int(r["N"]))
        assert [int(work[d][i]) for d in ("k", "c", "p", "q", "macs")] == [
            layer.k, layer.c, layer.p, layer.q, layer.macs]  # fmt: skip


def test_integral_floats_count_as_integers(tmp_path):
    path = _write(tmp_path, "ok.csv", "K,C,X,Y,R,S,df,ConfigID,rewards", "8.0,4,16,16,3,3,EYE,0,10")
    row = read_v2_csv(path).frame.iloc[0]
    assert row["K"] == 8 and row["ConfigID"] == 0 and row["df"] == "eye"


def _write(tmp_path: Path, name: str, header: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join((header, *lines)) + "\n")
    return path


CONV_HEADER = ",".join(CONV_COLUMNS)
GOOD = "64,32,56,56,3,3,dla,767,1200000"
BAD_FILES = {
    "missing column": ("K,C,X,Y,R,S,df,rewards", ["64,32,56,56,3,3,dla,1"], r"missing .*ConfigID"),
    "unknown column": (CONV_HEADER + ",extra", [GOOD + ",1"], r"unknown .*extra"),
    "neither kind": ("A,B,df,ConfigID,rewards", ["1,2,dla,3,4"], "neither a conv file"),
    "bad df": (CONV_HEADER, [GOOD, "64,32,56,56,3,3,tpu,767,5"], r"line 3, column 'df'"),
    "ConfigID -1": (CONV_HEADER, ["64,32,56,56,3,3,dla,-1,5"], r"line 2, column 'ConfigID'"),
    "ConfigID 768": (CONV_HEADER, ["64,32,56,56,3,3,dla,768,5"], r"column 'ConfigID'.*0..767"),
    "ConfigID 769": (CONV_HEADER, ["64,32,56,56,3,3,dla,769,5"], r"column 'ConfigID'.*0..767"),
    "zero dim": (CONV_HEADER, [GOOD, GOOD, "0,32,56,56,3,3,dla,767,5"], r"line 4, column 'K'"),
    "negative dim": (CONV_HEADER, ["64,-2,56,56,3,3,dla,767,5"], r"column 'C'.*positive"),
    "fractional dim": (CONV_HEADER, ["64,32,56.5,56,3,3,dla,767,5"], r"column 'X'.*integer"),
    "text dim": (CONV_HEADER, ["64,32,56,abc,3,3,dla,767,5"], r"column 'Y'.*integer.*'abc'"),
    "zero rewards": (CONV_HEADER, ["64,32,56,56,3,3,dla,767,0"], r"column 'rewards'"),
    "nan rewards": (CONV_HEADER, ["64,32,56,56,3,3,dla,767,nan"], r"column 'rewards'"),
    "too few fields": (CONV_HEADER, ["64,32,56,56,3,3,dla,767"], r"line 2, column 'rewards'"),
    "too many fields": (CONV_HEADER, [GOOD, GOOD + ",7"], r"line 3: 10 fields, the header has 9"),
    "negative gemm": (
        "M,N,GEMM_K,df,ConfigID,rewards",
        ["4,-1,8,shi,5,9.0"],
        r"line 2, column 'N'",
    ),
    "blank then bad": (CONV_HEADER, [GOOD, "", "64,32,56,x,3,3,dla,767,5"], r"line 4, column 'Y'"),
    "dim past int64": (
        CONV_HEADER,
        ["9223372036854775808,32,56,56,3,3,dla,767,5"],
        r"line 2, column 'K'.*at most 4,294,967,296",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_name_the_line_and_column(tmp_path, case):
    header, lines, pattern = BAD_FILES[case]
    path = _write(tmp_path, "bad.csv", header, *lines)
    with pytest.raises(V2FormatError, match=pattern) as info:
        read_v2_csv(path)
    assert str(path) in str(info.value)


def test_blank_lines_keep_line_numbers_and_are_not_rows(tmp_path):
    path = _write(tmp_path, "gaps.csv", CONV_HEADER, GOOD, "", GOOD, " , ,", GOOD)
    frame = read_v2_csv(path).frame
    assert frame["line"].tolist() == [2, 4, 6] and frame["row"].tolist() == [0, 1, 2]


def test_empty_file_and_duplicate_names(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(V2FormatError, match="empty file"):
        read_v2_csv(empty)
    other = tmp_path / "sub"
    other.mkdir()
    shutil.copy(CONV, other / CONV.name)
    with pytest.raises(ValueError, match="share the name"):
        import_v2([CONV, other / CONV.name], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything was written


# ---- importing -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("v2") / "ds"
    summary = import_v2([CONV, GEMM], out, shards=3)
    return out, summary


def _source(path: Path) -> dict:
    """(model, layer_name) -> CSV row of a fixture file."""
    f = read_v2_csv(path)
    return {(path.stem, f"line{r['line']}"): r for _, r in f.frame.iterrows()}


def test_import_writes_a_valid_dataset(imported):
    out, summary = imported
    assert validate_dataset(out) == []
    df = read_dataset(out)
    assert len(df) == summary["rows"] == CONV_ROWS + GEMM_ROWS
    assert summary["data_rows_per_file"] == {"v2_conv.csv": CONV_ROWS, "v2_gemm.csv": GEMM_ROWS}
    assert summary["kind_per_file"] == {"v2_conv.csv": "conv", "v2_gemm.csv": "gemm"}
    assert sum(summary["rows_per_df"].values()) == len(df)
    assert summary["shards_written"] == 3 and sorted(df["shard"].unique()) == [0, 1, 2]
    assert df["found"].all() and (df["evals"] == 0).all()
    assert set(df["label_method"]) == {"airchitect-v2"} and set(df["objective"]) == {"latency"}
    assert df["area_budget_mm2"].isna().all() and df["power_budget_mw"].isna().all()
    assert all(len(t) == 0 for t in df["topk"])
    assert df["row_id"].is_unique


def test_rows_keep_the_source_label(imported):
    out, _ = imported
    df = read_dataset(out)
    source = _source(CONV) | _source(GEMM)
    for _, row in df.iterrows():
        v2 = source[(row["model"], row["layer_name"])]
        assert row["family"] == f"airchitect-v2-{'gemm' if 'M' in v2 else 'conv'}"
        assert row["score"] == v2["rewards"]
        assert row["dataflow"] == DATAFLOWS[v2["df"]].name.lower()


def test_config_id_is_recoverable_from_every_row(imported):
    out, summary = imported
    space = v2_space()
    df = read_dataset(out)
    source = _source(CONV) | _source(GEMM)
    got = [config_id_of_design(space, int(r.pe_rows), float(r.l2_kib)) for _, r in df.iterrows()]
    want = [source[(m, n)]["ConfigID"] for m, n in zip(df["model"], df["layer_name"], strict=True)]
    assert got == want
    assert summary["distinct_config_ids"] == len(set(want))


def test_rows_without_a_fitting_mapping_are_flagged(imported):
    out, summary = imported
    df = read_dataset(out).set_index(["model", "layer_name"])
    space = v2_space()
    flagged = df[df["failures"] > 0]
    assert OVERFLOW_ROW in flagged.index
    assert summary["rows_without_fitting_mapping"] == len(flagged)
    r = _source(GEMM)[OVERFLOW_ROW]
    layer = gemm("x", m=int(r["M"]), k=int(r["GEMM_K"]), n=int(r["N"]))
    assert make_candidate(layer, space, int(df.loc[OVERFLOW_ROW, "hw_index"]),
                          Objective.LATENCY) is None  # fmt: skip
    assert np.isfinite(flagged["cycles"]).all() and (flagged["cycles"] > 0).all()
    assert (df.drop(flagged.index)["failures"] == 0).all()


def test_full_mapper_fits_where_the_reduced_one_does(tmp_path, imported):
    """The exhaustive mapper never fits fewer rows, and never maps a row slower."""
    out, _ = imported
    full = import_v2([CONV, GEMM], tmp_path / "full", mapper="full")
    fast, slow = read_dataset(out), read_dataset(tmp_path / "full")
    assert full["rows_without_fitting_mapping"] <= int((fast["failures"] > 0).sum())
    both = (fast["failures"] == 0) & (slow["failures"] == 0)
    assert (slow["cycles"][both] <= fast["cycles"][both] * (1 + 1e-9)).all()


def test_two_imports_write_identical_bytes(imported, tmp_path):
    out, _ = imported
    again = tmp_path / "again"
    import_v2([CONV, GEMM], again, shards=3)
    for name in sorted(p.name for p in out.iterdir()):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_reimport_resumes_and_a_changed_file_is_refused(tmp_path):
    out = tmp_path / "ds"
    first = import_v2([GEMM], out, shards=2)
    shards = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "shard-00001.parquet").unlink()  # as if killed before the last shard
    second = import_v2([GEMM], out, shards=2)
    assert (first["shards_written"], second["shards_written"]) == (2, 1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == shards
    assert import_v2([GEMM], out, shards=2)["shards_written"] == 0
    changed = tmp_path / GEMM.name
    changed.write_text(GEMM.read_text().replace("564819642.0", "564819643.0"))
    with pytest.raises(ResumeError, match="file_sha256"):
        import_v2([changed], out, shards=2)
    assert (out / MANIFEST_NAME).read_bytes() == shards[MANIFEST_NAME]


# ---- degenerate rows and line numbers ------------------------------------------------------------
CONV_BAD = "86,50,8,8,9,9,eye,767,1000"  # Y=8 < R=9: no output row
GEMM_BAD = "86,0,4050,eye,767,1000.0"  # N = 0: that conv row as a GEMM


@pytest.mark.parametrize(
    ("fixture", "bad", "what"),
    [(CONV, CONV_BAD, r"'Y','R'.*< 1"), (GEMM, GEMM_BAD, r"\['N'\]: zero-size")],
)
def test_degenerate_rows_are_kept_flagged_or_skipped_and_counted(tmp_path, fixture, bad, what):
    lines = fixture.read_text().splitlines()
    src = tmp_path / f"with_bad_{fixture.name}"
    src.write_text("\n".join([lines[0], lines[1], bad, *lines[2:]]) + "\n")  # the bad row: line 3
    kept = import_v2([src], tmp_path / "kept")
    df = read_dataset(tmp_path / "kept").set_index("layer_name")
    assert validate_dataset(tmp_path / "kept") == []
    assert kept["rows"] == len(lines) and kept["rows_skipped_degenerate"] == 0
    assert not df.loc["line3", "found"] and df.loc["line3", "label_method"] == DEGENERATE_METHOD
    assert df.drop("line3")["found"].all()
    assert re.search(f"line 3.*{what}", kept["first_degenerate"][0])
    skipped = import_v2([src], tmp_path / "skipped", skip_degenerate=True)
    assert skipped["rows_skipped_degenerate"] == 1 and skipped["rows"] == len(lines) - 1
    names = read_dataset(tmp_path / "skipped")["layer_name"].tolist()
    # rows after the skipped one keep their own line numbers: no drift
    assert names == [f"line{n}" for n in [2, *range(4, len(lines) + 2)]]


def test_error_after_a_skipped_row_names_its_own_line(tmp_path):
    src = _write(
        tmp_path, "late.csv", CONV_HEADER, GOOD, CONV_BAD, GOOD, "64,32,56,56,3,3,xx,767,5"
    )
    with pytest.raises(V2FormatError, match=r"line 5, column 'df'.*'xx'"):
        import_v2([src], tmp_path / "out", skip_degenerate=True)


# ---- the published split -------------------------------------------------------------------------
def test_published_split_counts_and_first_indices():
    assert published_test_count(RELEASE_ROWS) == 5078
    test = published_split(np.arange(RELEASE_ROWS), RELEASE_ROWS)
    assert test.sum() == 5078
    # the first test rows of train_test_split(range(101556), train_size=0.95, random_state=0)
    first = [60657, 14974, 5551, 71826, 91576]
    assert np.random.RandomState(0).permutation(RELEASE_ROWS)[:5].tolist() == first
    assert test[first].all() and test[first].sum() == 5
    with pytest.raises(ValueError, match="0..9"):
        published_split(np.array([10]), 10)


@pytest.mark.skipif(not (RELEASE / "conv_dataset_100k.csv").exists(), reason="release not here")
@pytest.mark.parametrize("name", ["conv_dataset_100k.csv", "gemm_dataset_100k.csv"])
def test_release_imports_and_its_test_majority_is_21_03_percent(tmp_path, name):
    """Both release files: all rows parse, 119 / 21 degenerate, the published test split's
    majority ConfigID is 21.03 %, and a renamed copy gives the same split."""
    f = read_v2_csv(RELEASE / name)
    assert f.data_rows == RELEASE_ROWS
    assert int(f.frame["degenerate"].sum()) == (119 if f.kind == "conv" else 21)
    test = published_split(f.frame["row"].to_numpy(), f.data_rows)
    ids = f.frame.loc[test, "ConfigID"]
    assert len(ids) == 5078 and ids.value_counts().index[0] == 767
    assert round(ids.value_counts().iloc[0] / len(ids) * 100, 2) == 21.03
    renamed = tmp_path / "whatever.csv"
    shutil.copy(RELEASE / name, renamed)
    again = read_v2_csv(renamed)
    assert (published_split(again.frame["row"].to_numpy(), again.data_rows) == test).all()


# ---- the benchmark script ------------------------------------------------------------------------
BENCH = Path(__file__).parents[2] / "bench/airchitect_v2.py"
TINY = ["--set", "hidden=16", "--set", "layers=1", "--set", "moduli=[2,3,4]"]


def _bench(tmp_path: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, str(BENCH), "--csv", str(CONV), "--work", str(tmp_path / "w"),
           "--out", str(tmp_path / "r.json"), "--val-fraction", "0.2", *TINY, *args]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_bench_trains_on_the_published_split_and_scores_at_batch_1(tmp_path):
    proc = _bench(tmp_path, "--set", "epochs=2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["test_rows"] == published_test_count(CONV_ROWS) == 2
    assert result["train_rows"] + result["val_rows"] == CONV_ROWS - 2
    assert set(result["test"]) >= {"config_id_exact", "pe_major_pe_exact", "buffer_major_pe_exact"}
    assert "random_state=0" in result["published_split"] and "| v2_conv.csv |" in out


def test_bench_stopped_by_a_signal_says_so_and_exits_non_zero(tmp_path):
    proc = _bench(tmp_path, "--set", "epochs=100000", "--verbose")
    proc.stderr.readline()  # the first epoch's line: past the imports, into training
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
