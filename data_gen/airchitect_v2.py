"""Importing the public AIrchitect v2 dataset (``--format airchitect-v2``) into our schema.

The AIrchitect v2 release (Seo, Ramachandran et al., DATE 2025; maestro-project/AIrchitect-v2)
labels random conv and GEMM workloads with the latency-optimal (#PE, buffer) pair that ConfuciuX
found over a MAESTRO model. Conv files have columns ``K,C,X,Y,R,S,df,ConfigID,rewards``, GEMM
files ``M,N,GEMM_K,df,ConfigID,rewards``. ``X``/``Y`` are the input width/height (MAESTRO's
convention; stride 1, no padding, so the output is ``X-S+1`` by ``Y-R+1``); ``df`` is ``dla``,
``eye`` or ``shi`` (NVDLA, Eyeriss, ShiDianNao: our ws, rs, os); ``rewards`` is the latency.

ConfigID decoding
-----------------
The README gives ``ConfigID = #PE * max(Buffer Size) + Buffer Size`` with #PE in 1..64 and
buffer in 1..12. Read literally with 1-based levels that spans 13..780, which the data rule out.
The candidates are PE-major or buffer-major, with 0- or 1-based levels. We decode PE-major,
0-based: ``ConfigID = (pe - 1) * 12 + (buffer - 1)``, IDs 0..767. Why:

- the release's loader trains a ``64 * 12 = 768``-way classifier on the raw ConfigID, so the
  labels must lie in 0..767 (the 1-based variant's 768 would be out of range);
- the most frequent ID is 767 = 63*12 + 11, the largest array with the largest buffer, which is
  what a latency objective picks. The release's IDs run 1..767 and none of the several hundred
  rows we checked is a multiple of 12 (under this reading: the smallest buffer never wins). In
  the 1-based variant ``(pe-1)*12 + buf`` the *largest* buffer would be the one that never wins;
- the IDs that are not 767 come in runs such as 757..767, 565..575, 373..383, 285..287, 93..95:
  blocks of 12 that end at 12k - 1. PE-major reads them as 64, 48, 32, 24 and 8 PEs with a
  varying buffer, counts that divide the (even, multiple-of-8) dimensions well. Buffer-major
  would read 757..767 as 54..64 PEs and 565..575 likewise, so counts such as 54 or 58 would win
  as often as 64. The rewards agree: the NVDLA-style row K=134, C=32, X=176, Y=224, R=S=9 with
  ID 373 does 12.60e9 MACs in 396.3e6 cycles, 31.8 MACs/cycle: 99% of the 32 PEs PE-major
  decodes, versus 59% of buffer-major's 54.

The alternatives stay available as :data:`SCHEMES` (``pe-major-1``, ``buffer-major``,
``buffer-major-1``); every scheme's decode and encode are exact inverses over its 768 IDs.

Rows and costs
--------------
Parsing is vectorised (pandas): both 101,556-row files import in seconds. Every message and
every row's ``layer_name`` (``line<N>``) use the CSV's own line number. The rows themselves
(design, our cost model's mapping and costs, ``score`` = rewards) are built column-wise in
:mod:`airchitect.data_gen.airchitect_v2_rows`. Degenerate rows (119 conv rows with a kernel larger
than
the input, 21 GEMM rows with N = 0 in the release) are kept with a flag or skipped with a
count. :func:`published_split` reproduces the release's train/test split by row position.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from airchitect.cost.mapper import Objective
from airchitect.data_gen.airchitect_v2_rows import DEGENERATE_METHOD, MAPPERS, file_table
from airchitect.data_gen.dataset import read_dataset
from airchitect.data_gen.lock import DatasetLock
from airchitect.data_gen.manifest import Manifest
from airchitect.data_gen.writer import DatasetWriter, file_sha256
from airchitect.limits import LAYER_DIM_LIMIT
from airchitect.space.hardware import Dataflow
from airchitect.space.space import DesignSpace

FORMAT = "airchitect-v2"
SPACE_PATH = Path(__file__).with_name("spaces") / "airchitect_v2.yaml"
PE_LEVELS = 64
BUFFER_LEVELS = 12
CONV_COLUMNS: tuple[str, ...] = ("K", "C", "X", "Y", "R", "S", "df", "ConfigID", "rewards")
GEMM_COLUMNS: tuple[str, ...] = ("M", "N", "GEMM_K", "df", "ConfigID", "rewards")
_COLUMNS = {"conv": CONV_COLUMNS, "gemm": GEMM_COLUMNS}
#: NVDLA keeps weights stationary, Eyeriss rows, ShiDianNao outputs.
DATAFLOWS: dict[str, Dataflow] = {"dla": Dataflow.WS, "eye": Dataflow.RS, "shi": Dataflow.OS}


class V2FormatError(ValueError):
    """An AIrchitect v2 file does not parse; the message names the file, row and column."""


# ---- ConfigID ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigIdScheme:
    """One reading of ConfigID: which level is the major digit, and the first ID (0 or 1)."""

    name: str
    pe_major: bool
    first_id: int

    @property
    def ids(self) -> range:
        return range(self.first_id, self.first_id + PE_LEVELS * BUFFER_LEVELS)


SCHEMES: dict[str, ConfigIdScheme] = {
    s.name: s
    for s in (
        ConfigIdScheme("pe-major", True, 0),  # the one the data support (module docstring)
        ConfigIdScheme("pe-major-1", True, 1),
        ConfigIdScheme("buffer-major", False, 0),
        ConfigIdScheme("buffer-major-1", False, 1),
    )
}
DEFAULT_SCHEME = "pe-major"


def _scheme(name: str) -> ConfigIdScheme:
    if name not in SCHEMES:
        raise ValueError(f"unknown ConfigID scheme {name!r}; known: {', '.join(SCHEMES)}")
    return SCHEMES[name]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def decode_config_id(config_id: int, scheme: str = DEFAULT_SCHEME) -> tuple[int, int]:
    """``(pe_index, buffer_index)``, 1-based levels in 1..64 and 1..12, of a ConfigID."""
    s = _scheme(scheme)
    if not _is_int(config_id) or int(config_id) not in s.ids:
        raise ValueError(
            f"ConfigID must be an integer in {s.ids.start}..{s.ids.stop - 1} "
            f"(scheme {s.name}), got {config_id!r}"
        )
    z = int(config_id) - s.first_id
    if s.pe_major:
        pe, buf = divmod(z, BUFFER_LEVELS)
    else:
        buf, pe = divmod(z, PE_LEVELS)
    return pe + 1, buf + 1


def encode_config_id(pe_index: int, buffer_index: int, scheme: str = DEFAULT_SCHEME) -> int:
    """The ConfigID of 1-based levels ``pe_index`` (1..64) and ``buffer_index`` (1..12)."""
    s = _scheme(scheme)
    for name, value, top in (("pe_index", pe_index, PE_LEVELS),
                             ("buffer_index", buffer_index, BUFFER_LEVELS)):  # fmt: skip
        if not _is_int(value) or not 1 <= value <= top:
            raise ValueError(f"{name} must be an integer in 1..{top}, got {value!r}")
    pe, buf = int(pe_index) - 1, int(buffer_index) - 1
    z = pe * BUFFER_LEVELS + buf if s.pe_major else buf * PE_LEVELS + pe
    return z + s.first_id


# ---- the v2 space --------------------------------------------------------------------------------
def v2_space() -> DesignSpace:
    """The imported dataset's own space: 64 PE counts x 12 buffer levels x ws/os/rs."""
    space = DesignSpace.from_yaml(SPACE_PATH)
    knobs = {k.name: k.cardinality for k in space.knobs}
    if (knobs["pe_rows"], knobs["l2_kib"]) != (PE_LEVELS, BUFFER_LEVELS):
        raise ValueError(
            f"{SPACE_PATH}: pe_rows/l2_kib must list {PE_LEVELS}/{BUFFER_LEVELS} values"
        )
    return space


def _knob(space: DesignSpace, name: str) -> tuple:
    return next(k.values for k in space.knobs if k.name == name)


def design_index(space: DesignSpace, pe_index: int, buffer_index: int, dataflow: Dataflow) -> int:
    """Flat grid index of a v2 design: level ``i`` is the ``i``-th value of its knob."""
    vector = [pe_index - 1, 0, 0, buffer_index - 1, 0, 0, _knob(space, "dataflow").index(dataflow)]
    return space.flat_index(np.array(vector, dtype=np.int64))


def config_id_of_design(
    space: DesignSpace, pe_rows: int, l2_kib: float, scheme: str = DEFAULT_SCHEME
) -> int:
    """The raw ConfigID behind a row's design columns (the inverse of the import's decoding)."""
    pe = _knob(space, "pe_rows").index(pe_rows) + 1
    buf = _knob(space, "l2_kib").index(l2_kib) + 1
    return encode_config_id(pe, buf, scheme)


# ---- reading -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class V2File:
    """One parsed CSV file. ``frame`` holds one row per data row, in file order, with the
    file's columns (dimensions as int64, ``df`` lower-case, ``ConfigID``, ``rewards``) plus
    ``line`` (the file's own 1-based line number), ``row`` (the 0-based data-row index, the
    position the published split permutes) and ``degenerate`` (the row describes no layer)."""

    path: Path
    kind: str  # "conv" or "gemm"
    frame: pd.DataFrame

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def data_rows(self) -> int:
        return len(self.frame)

    @property
    def dims(self) -> tuple[str, ...]:
        return _COLUMNS[self.kind][:-3]


_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_v2_csv(path: str | Path, scheme: str = DEFAULT_SCHEME) -> V2File:
    """Parse a v2 conv or GEMM file (kind from the header), vectorised: 1e5 rows in about a
    second. A bad cell raises :class:`V2FormatError` naming the file, line and column."""
    _scheme(scheme)
    path = Path(path)
    header = _header(path)
    kind, order = _detect_kind(path, header)
    try:
        raw = pd.read_csv(path, dtype=str, na_filter=False, skip_blank_lines=False,
                          index_col=False, encoding="utf-8-sig")  # fmt: skip
    except pd.errors.ParserError as exc:
        found = _FIELDS_RE.search(str(exc))
        if found is None:
            raise V2FormatError(f"{path}: not a CSV file ({exc})") from None
        n, line, saw = found.groups()
        raise V2FormatError(f"{path}: line {line}: {saw} fields, the header has {n}") from None
    raw.columns = order
    cells = raw.apply(lambda col: col.str.strip())
    lines = np.arange(len(cells), dtype=np.int64) + 2  # line 1 is the header
    blank = (cells == "").all(axis=1).to_numpy()
    cells, lines = cells[~blank].reset_index(drop=True), lines[~blank]
    frame = pd.DataFrame({"line": lines, "row": np.arange(len(lines), dtype=np.int64)})
    for name in order:
        frame[name] = _parse_column(path, name, cells[name], lines, scheme, kind)
    frame = frame[["line", "row", *_COLUMNS[kind]]]
    frame["degenerate"] = _degenerate(kind, frame)
    return V2File(path, kind, frame)


def _header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as exc:
        raise V2FormatError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    if header is None:
        raise V2FormatError(f"{path}: empty file (no header)")
    return [h.strip() for h in header]


def _detect_kind(path: Path, header: list[str]) -> tuple[str, list[str]]:
    """``conv`` or ``gemm`` by the dimension columns present; then the header must match."""
    dups = sorted(h for h, n in Counter(header).items() if n > 1)
    if dups:
        raise V2FormatError(f"{path}: header repeats column(s) {dups}")
    overlap = {k: len(set(header) & set(cols[:-3])) for k, cols in _COLUMNS.items()}
    if overlap["conv"] == overlap["gemm"]:
        raise V2FormatError(
            f"{path}: header {header} is neither a conv file ({','.join(CONV_COLUMNS)}) nor a "
            f"GEMM file ({','.join(GEMM_COLUMNS)})"
        )
    kind = max(overlap, key=overlap.__getitem__)
    missing = [c for c in _COLUMNS[kind] if c not in header]
    unknown = [h for h in header if h not in _COLUMNS[kind]]
    if missing or unknown:
        raise V2FormatError(
            f"{path}: {kind} file header: missing column(s) {missing}, unknown column(s) "
            f"{unknown}; expected {','.join(_COLUMNS[kind])}"
        )
    return kind, header


def _fail_at(path: Path, name: str, text: pd.Series, lines: np.ndarray, bad, why: str):
    """Raise for the first row flagged in ``bad``, naming its line, column and cell."""
    i = int(np.flatnonzero(np.asarray(bad))[0])
    raise V2FormatError(f"{path}: line {lines[i]}, column {name!r}: {why}, got {text.iloc[i]!r}")


def _parse_column(
    path: Path, name: str, text: pd.Series, lines: np.ndarray, scheme: str, kind: str
) -> np.ndarray:
    if name == "df":
        lower = text.str.lower()
        bad = ~lower.isin(list(DATAFLOWS)).to_numpy()
        if bad.any():
            _fail_at(path, name, text, lines, bad, f"df must be one of {', '.join(DATAFLOWS)}")
        return lower.to_numpy(dtype=object)
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    finite = np.isfinite(number)
    if name == "rewards":
        bad = ~finite | ~(number > 0)
        if bad.any():
            _fail_at(path, name, text, lines, bad, "rewards (latency) must be a positive number")
        return number
    # integers; "765.0" counts (the release mixes "765" and "765.0" styles)
    bad = ~finite | (np.floor(np.where(finite, number, 0)) != number)
    if bad.any():
        _fail_at(path, name, text, lines, bad, "expected an integer")
    # beyond the layer limit a dimension overflows the cost model (and int64 past 2**63)
    bad = np.abs(number) > LAYER_DIM_LIMIT
    if bad.any():
        _fail_at(path, name, text, lines, bad, f"must be at most {LAYER_DIM_LIMIT:,} = 2**32")
    value = number.astype(np.int64)
    if name == "ConfigID":
        ids = SCHEMES[scheme].ids
        bad = (value < ids.start) | (value >= ids.stop)
        if bad.any():
            _fail_at(
                path,
                name,
                text,
                lines,
                bad,
                f"ConfigID out of range {ids.start}..{ids.stop - 1} (scheme {scheme})",
            )
        return value
    low = 0 if kind == "gemm" else 1  # a GEMM with a zero dimension is degenerate, not an error
    bad = value < low
    if bad.any():
        what = "a non-negative integer" if low == 0 else "a positive integer"
        _fail_at(path, name, text, lines, bad, f"dimension must be {what}")
    return value


def _degenerate(kind: str, frame: pd.DataFrame) -> np.ndarray:
    """Rows that describe no layer: a conv kernel larger than its input (no output pixel), or
    a GEMM with a zero dimension (the release has GEMM rows with N = 0: those conv rows)."""
    if kind == "conv":
        return ((frame["R"] > frame["Y"]) | (frame["S"] > frame["X"])).to_numpy()
    return (frame[list(GEMM_COLUMNS[:3])] == 0).any(axis=1).to_numpy()


def describe_degenerate(file: V2File, i: int) -> str:
    """One line naming degenerate row ``i`` of ``file`` by its line and columns."""
    r = file.frame.iloc[i]
    if file.kind == "gemm":
        zero = [c for c in GEMM_COLUMNS[:3] if r[c] == 0]
        return f"{file.path}: line {r['line']}, column(s) {zero}: zero-size GEMM, no layer"
    for size, kernel, what in (("Y", "R", "height"), ("X", "S", "width")):
        if r[kernel] > r[size]:
            return (f"{file.path}: line {r['line']}, columns {size!r},{kernel!r}: output {what} "
                    f"{size}-{kernel}+1 = {r[size] - r[kernel] + 1} < 1 ({size}={r[size]}, "
                    f"{kernel}={r[kernel]})")  # fmt: skip
    raise ValueError(f"row {i} of {file.path} is not degenerate")


# ---- the published split -------------------------------------------------------------------------
#: The release's split: ``train_test_split(rows, train_size=0.95, random_state=0)`` over every
#: data row in file order, i.e. ``RandomState(0).permutation(n)`` with the first
#: ``n - floor(0.95 n)`` indices (5,078 of 101,556) as the test set.
PUBLISHED_TRAIN_SIZE = 0.95
PUBLISHED_SEED = 0


def published_test_count(data_rows: int) -> int:
    """Test rows of the published split of a file with ``data_rows`` rows (scikit-learn's
    ``n - floor(train_size * n)``)."""
    return data_rows - int(math.floor(PUBLISHED_TRAIN_SIZE * data_rows))


def published_split(rows: np.ndarray, data_rows: int) -> np.ndarray:
    """``True`` where data-row index ``rows[i]`` (0-based, file order) is in the published
    test set of a file of ``data_rows`` rows. Depends on positions only, never on the file's
    name or the rows' ids."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= data_rows):
        raise ValueError(f"row indices must lie in 0..{data_rows - 1}")
    perm = np.random.RandomState(PUBLISHED_SEED).permutation(data_rows)
    test = np.zeros(data_rows, dtype=bool)
    test[perm[: published_test_count(data_rows)]] = True
    return test[rows]


# ---- import --------------------------------------------------------------------------------------
DEGENERATE_CHOICES: tuple[str, ...] = ("keep", "skip")


def _check_args(paths: list[Path], shards: int, top_k: int, degenerate: str) -> None:
    if not paths:
        raise ValueError("no input files given")
    if not _is_int(shards) or shards < 1:
        raise ValueError(f"field 'shards' must be an integer >= 1, got {shards!r}")
    if not _is_int(top_k) or top_k < 0:
        raise ValueError(f"field 'top_k' must be an integer >= 0, got {top_k!r}")
    if degenerate not in DEGENERATE_CHOICES:
        raise ValueError(
            f"field 'degenerate' must be one of {', '.join(DEGENERATE_CHOICES)}, got {degenerate!r}"
        )
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:  # the stem is the rows' model name, and row ids hash it
            raise ValueError(f"input files {stems[p.stem]} and {p} share the name {p.stem!r}")
        stems[p.stem] = p


def _generator(
    files: list[V2File], shards: int, scheme: str, space: DesignSpace, degenerate: str,
    mapper: str,
) -> dict[str, Any]:  # fmt: skip
    """The manifest's generator config: a resume must see the same files, bytes and settings;
    ``data_rows`` and ``blank_lines`` let a reader recover each row's data-row index (the
    published split's position) from its line."""
    return {
        "format": FORMAT,
        "files": [f.name for f in files],
        "file_sha256": [file_sha256(f.path) for f in files],
        "data_rows": [f.data_rows for f in files],
        "blank_lines": [_blank_lines(f) for f in files],
        "config_id_scheme": scheme,
        "space": space.name,
        "objective": Objective.LATENCY.value,
        "shards": shards,
        "degenerate": degenerate,
        "mapper": mapper,
    }


def _blank_lines(file: V2File) -> list[int]:
    """Lines between the header and the last row that hold no row (blank lines)."""
    lines = file.frame["line"].to_numpy()
    if len(lines) == 0:
        return []
    every = np.arange(2, int(lines[-1]) + 1)
    return every[~np.isin(every, lines)].tolist()


def import_v2(
    csv_paths: Sequence[str | Path],
    out_dir: str | Path,
    shards: int = 1,
    top_k: int = 8,
    scheme: str = DEFAULT_SCHEME,
    skip_degenerate: bool = False,
    mapper: str = "reduced",
) -> dict[str, Any]:
    """Write AIrchitect v2 CSV files as a dataset in ``out_dir``; resumes an interrupted import.

    ``top_k`` is accepted for symmetry with generation; v2 files carry only the winner, so the
    ``topk`` column stays empty. Every file is parsed before anything is written. Degenerate
    rows (no layer) are kept as ``found`` = False rows flagged by their ``label_method``, or
    with ``skip_degenerate`` left out and counted. ``mapper`` picks how our cost model maps the
    label design (:data:`airchitect.data_gen.airchitect_v2_rows.MAPPERS`). ``out_dir`` is locked
    while
    it is written: a second writer fails at once
    (:class:`airchitect.data_gen.lock.DatasetLockedError`).
    """
    paths = [Path(p) for p in csv_paths]
    degenerate = "skip" if skip_degenerate else "keep"
    _check_args(paths, shards, top_k, degenerate)
    _scheme(scheme)
    if mapper not in MAPPERS:
        raise ValueError(f"field 'mapper' must be one of {', '.join(MAPPERS)}, got {mapper!r}")
    files = [read_v2_csv(p, scheme) for p in paths]
    space = v2_space()
    generator = _generator(files, shards, scheme, space, degenerate, mapper)
    with DatasetLock(out_dir):  # one writer per dataset directory, as for generation
        return _write(files, out_dir, space, generator, shards, scheme, skip_degenerate, mapper)


def _write(files, out_dir, space, generator, shards, scheme, skip_degenerate, mapper) -> dict:
    writer = DatasetWriter(out_dir, Manifest.new(space, generator, [0] * shards))
    pending = writer.pending(range(shards))
    if pending:
        keeps = [~f.frame["degenerate"].to_numpy() if skip_degenerate
                 else np.ones(f.data_rows, dtype=bool) for f in files]  # fmt: skip
        table = pa.concat_tables(
            [
                file_table(f, space, scheme, keep, mapper)
                for f, keep in zip(files, keeps, strict=True)
            ]
        )
        bounds = [table.num_rows * s // shards for s in range(shards + 1)]
        for s in pending:
            part = table.slice(bounds[s], bounds[s + 1] - bounds[s])
            i = part.schema.get_field_index("shard")
            shard = pa.array(np.full(part.num_rows, s, dtype=np.int32))
            part = part.set_column(i, part.schema.field(i), shard)
            writer.commit(s, part)
    return _summary(files, out_dir, scheme, skip_degenerate) | {
        "shards": shards, "shards_written": len(pending)}  # fmt: skip


def _summary(
    files: list[V2File], out_dir: str | Path, scheme: str, skip_degenerate: bool
) -> dict[str, Any]:
    degenerate = {f.name: int(f.frame["degenerate"].sum()) for f in files}
    frames = [f.frame for f in files]
    written = read_dataset(out_dir, columns=["failures", "found"])
    described = [describe_degenerate(f, int(i)) for f in files
                 for i in np.flatnonzero(f.frame["degenerate"].to_numpy())]  # fmt: skip
    return {
        "out_dir": str(out_dir),
        "rows": len(written),
        "data_rows_per_file": {f.name: f.data_rows for f in files},
        "kind_per_file": {f.name: f.kind for f in files},
        "rows_per_df": {n: int(sum((fr["df"] == n).sum() for fr in frames)) for n in DATAFLOWS},
        "distinct_config_ids": len(set().union(*(set(fr["ConfigID"]) for fr in frames))),
        "config_id_scheme": scheme,
        "degenerate_per_file": degenerate,
        "degenerate": "skipped"
        if skip_degenerate
        else f"kept (found=False, label_method={DEGENERATE_METHOD})",  # fmt: skip
        "rows_skipped_degenerate": sum(degenerate.values()) if skip_degenerate else 0,
        "first_degenerate": described[:3],
        "rows_without_fitting_mapping": int(((written["failures"] > 0) & written["found"]).sum()),
    }
