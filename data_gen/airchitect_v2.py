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
Each CSV row becomes one found label on the v2 space (``data_gen/spaces/airchitect_v2.yaml``):
design = the decoded (#PE, buffer level, dataflow), ``score`` = the file's ``rewards`` (MAESTRO
cycles), ``evals`` = 0 (no search was run here). The mapping and every other cost column come
from this project's mapper on that design, so ``score`` and ``cycles`` are the same design under
two models. The schema needs a whole design on a found row, so where no mapping fits the
buffers the row keeps the mapping that overflows them least, costed as if it fit, and
``failures`` = 1 ("no mapping fit on the evaluated point") flags it.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from airchitect.cost.batch import LayerBatch, MappingBatch
from airchitect.cost.mapper import Objective, best_dram_order, mapping_candidates
from airchitect.cost.model import evaluate
from airchitect.search.base import Candidate, Label, Task, make_candidate
from airchitect.space.budget import Budget
from airchitect.space.hardware import Dataflow, HardwareBatch
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer, conv2d, gemm
from data_gen.dataset import read_dataset
from data_gen.manifest import Manifest
from data_gen.schema import WorkloadSource, label_to_row
from data_gen.writer import DatasetWriter, file_sha256

FORMAT = "airchitect-v2"
LABEL_METHOD = "airchitect-v2"
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


class DegenerateLayer(V2FormatError):
    """A conv row whose kernel is larger than its input: no output pixel, no layer. The
    public release has a few (about 0.1 % of the conv file); ``skip_degenerate`` drops them."""


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
class V2Row:
    """One parsed CSV row; ``row`` counts data rows from 0, ``line`` is the file's line."""

    file: str
    row: int
    line: int
    kind: str  # "conv" or "gemm"
    dims: dict[str, int]
    df: str
    config_id: int
    rewards: float

    @property
    def dataflow(self) -> Dataflow:
        return DATAFLOWS[self.df]

    @property
    def family(self) -> str:
        return f"airchitect-v2-{self.kind}"

    def layer(self) -> Layer:
        """The workload: a stride-1 unpadded conv of the input X x Y, or an M x K x N GEMM."""
        d, name = self.dims, f"row{self.row}"
        if self.kind == "gemm":
            return gemm(name, m=d["M"], k=d["GEMM_K"], n=d["N"])
        return conv2d(name, in_channels=d["C"], out_channels=d["K"], in_hw=(d["Y"], d["X"]),
                      kernel=(d["R"], d["S"]))  # fmt: skip


def read_v2_csv(path: str | Path, scheme: str = DEFAULT_SCHEME) -> list[V2Row]:
    """Parse a v2 conv or GEMM file (kind from the header); errors name row and column."""
    return _read(Path(path), scheme)[1]


def _read(path: Path, scheme: str, skipped: list[str] | None = None) -> tuple[str, list[V2Row]]:
    """The file's kind (``conv``/``gemm``) and its rows; with ``skipped`` (a list), rows whose
    kernel is larger than their input are left out and described there instead of raising."""
    _scheme(scheme)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise V2FormatError(f"{path}: empty file (no header)")
        kind, order = _detect_kind(path, [h.strip() for h in header])
        rows: list[V2Row] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines are not rows
            where = f"{path}: line {reader.line_num} (row {len(rows)})"
            values = _parse_cells(where, order, cells, scheme)
            try:
                rows.append(_make_row(path, len(rows), reader.line_num, kind, values, where))
            except DegenerateLayer as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))
    return kind, rows


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


def _parse_cells(where: str, order: list[str], cells: list[str], scheme: str) -> dict[str, Any]:
    if len(cells) != len(order):
        raise V2FormatError(f"{where}: {len(cells)} fields, the header has {len(order)}")
    values: dict[str, Any] = {}
    for name, text in zip(order, (c.strip() for c in cells), strict=True):
        at = f"{where}, column {name!r}"
        if name == "df":
            values[name] = _dataflow_name(at, text)
        elif name == "rewards":
            values[name] = _positive_float(at, text)
        elif name == "ConfigID":
            values[name] = _config_id(at, text, scheme)
        else:
            values[name] = _positive_int(at, text)
    return values


def _integer(at: str, text: str) -> int:
    """An integer cell; ``765.0`` counts (the release mixes ``765`` and ``765.0`` styles)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer()):
        raise V2FormatError(f"{at}: expected an integer, got {text!r}")
    return int(number)


def _positive_int(at: str, text: str) -> int:
    value = _integer(at, text)
    if value < 1:
        raise V2FormatError(f"{at}: dimension must be a positive integer, got {text!r}")
    return value


def _config_id(at: str, text: str, scheme: str) -> int:
    value = _integer(at, text)
    ids = SCHEMES[scheme].ids
    if value not in ids:
        raise V2FormatError(
            f"{at}: ConfigID {value} out of range {ids.start}..{ids.stop - 1} (scheme {scheme})"
        )
    return value


def _positive_float(at: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise V2FormatError(f"{at}: expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise V2FormatError(f"{at}: rewards (latency) must be a positive number, got {text!r}")
    return value


def _dataflow_name(at: str, text: str) -> str:
    name = text.lower()
    if name not in DATAFLOWS:
        raise V2FormatError(f"{at}: df must be one of {', '.join(DATAFLOWS)}, got {text!r}")
    return name


def _make_row(
    path: Path, i: int, line: int, kind: str, values: dict[str, Any], where: str
) -> V2Row:
    dims = {c: values[c] for c in _COLUMNS[kind][:-3]}
    if kind == "conv":
        for size, kernel, what in (("Y", "R", "height"), ("X", "S", "width")):
            out = dims[size] - dims[kernel] + 1
            if out < 1:
                raise DegenerateLayer(
                    f"{where}, columns {size!r},{kernel!r}: output {what} {size}-{kernel}+1 = "
                    f"{out} < 1 ({size}={dims[size]}, {kernel}={dims[kernel]})"
                )
    return V2Row(path.name, i, line, kind, dims, values["df"], values["ConfigID"],
                 values["rewards"])  # fmt: skip


# ---- rows of the dataset -------------------------------------------------------------------------
def _overflowing_candidate(layer: Layer, space: DesignSpace, hw_index: int) -> Candidate:
    """Where no mapping fits: the one that overflows the buffers least, costed as if it fit."""
    hw = space.decode(space.unflat_index(hw_index))
    lay, hwb = LayerBatch.from_layers(layer), HardwareBatch.from_configs(hw)
    m = mapping_candidates(layer)  # the default options, as make_candidate's mapper uses
    m = MappingBatch(m.n_l2, m.p_l2, m.k_l2, m.c_l2, m.pe_reuse, best_dram_order(lay, m))
    cost = evaluate(lay, hwb, m)
    over = np.maximum(cost.l2_bytes_needed - hw.l2_kib * 1024, 0)
    over = over + np.maximum(cost.l1_bytes_needed - hw.l1_bytes, 0)
    i = int(np.lexsort((np.arange(len(m)), cost.cycles, over))[0])
    row = cost.row(i)
    return Candidate(hw_index, hw, m.mapping(i), row, float(row["cycles"]))


def v2_row_to_row(
    row: V2Row, space: DesignSpace, shard: int, scheme: str = DEFAULT_SCHEME
) -> dict[str, Any]:
    """The schema row of one v2 label: its design, our mapper's costs, ``score`` = rewards."""
    layer = row.layer()
    pe, buf = decode_config_id(row.config_id, scheme)
    hw_index = design_index(space, pe, buf, row.dataflow)
    cand = make_candidate(layer, space, hw_index, Objective.LATENCY)
    failures = 0 if cand is not None else 1
    if cand is None:
        cand = _overflowing_candidate(layer, space, hw_index)
    label = Label(Task(Budget(), Objective.LATENCY), LABEL_METHOD, 0, cand, (), failures)
    source = WorkloadSource(row.family, Path(row.file).stem, f"row{row.row}")
    out = label_to_row(layer, source, label, shard, seed=0)
    out["score"] = float(row.rewards)  # the label's own latency, not our model's
    return out


# ---- import --------------------------------------------------------------------------------------
def _check_args(paths: list[Path], shards: int, top_k: int) -> None:
    if not paths:
        raise ValueError("no input files given")
    if not _is_int(shards) or shards < 1:
        raise ValueError(f"field 'shards' must be an integer >= 1, got {shards!r}")
    if not _is_int(top_k) or top_k < 0:
        raise ValueError(f"field 'top_k' must be an integer >= 0, got {top_k!r}")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:  # the stem is the rows' model name, and row ids hash it
            raise ValueError(f"input files {stems[p.stem]} and {p} share the name {p.stem!r}")
        stems[p.stem] = p


def _generator(paths: list[Path], shards: int, scheme: str, space: DesignSpace) -> dict[str, Any]:
    """The manifest's generator config: a resume must see the same files, bytes and settings."""
    return {
        "format": FORMAT,
        "files": [p.name for p in paths],
        "file_sha256": [file_sha256(p) for p in paths],
        "config_id_scheme": scheme,
        "space": space.name,
        "objective": Objective.LATENCY.value,
        "shards": shards,
    }


def import_v2(
    csv_paths: Sequence[str | Path],
    out_dir: str | Path,
    shards: int = 1,
    top_k: int = 8,
    scheme: str = DEFAULT_SCHEME,
    skip_degenerate: bool = False,
) -> dict[str, Any]:
    """Write AIrchitect v2 CSV files as a dataset in ``out_dir``; resumes an interrupted import.

    ``top_k`` is accepted for symmetry with generation; v2 files carry only the winner, so the
    ``topk`` column stays empty. Every file is parsed before anything is written. A conv row
    whose kernel exceeds its input is an error naming it, or with ``skip_degenerate`` is left
    out and counted.
    """
    paths = [Path(p) for p in csv_paths]
    _check_args(paths, shards, top_k)
    _scheme(scheme)
    skipped: list[str] | None = [] if skip_degenerate else None
    files = {p.name: _read(p, scheme, skipped) for p in paths}
    rows = [r for _, file_rows in files.values() for r in file_rows]
    space = v2_space()
    template = Manifest.new(space, _generator(paths, shards, scheme, space), [0] * shards)
    writer = DatasetWriter(out_dir, template)
    bounds = [len(rows) * s // shards for s in range(shards + 1)]
    pending = writer.pending(range(shards))
    for s in pending:
        part = rows[bounds[s] : bounds[s + 1]]
        writer.commit(s, [v2_row_to_row(r, space, s, scheme) for r in part])
    summary = _summary({name: kind for name, (kind, _) in files.items()}, rows, out_dir, scheme)
    return summary | {"shards": shards, "shards_written": len(pending),
                      "rows_skipped_degenerate": len(skipped or []),
                      "first_skipped": (skipped or [])[:3]}  # fmt: skip


def _summary(
    kinds: dict[str, str], rows: list[V2Row], out_dir: str | Path, scheme: str
) -> dict[str, Any]:
    per_file = Counter(r.file for r in rows)
    failures = read_dataset(out_dir, columns=["failures"])["failures"]
    return {
        "out_dir": str(out_dir),
        "rows": len(rows),
        "rows_per_file": {name: per_file.get(name, 0) for name in kinds},
        "kind_per_file": kinds,
        "rows_per_df": {name: sum(r.df == name for r in rows) for name in DATAFLOWS},
        "distinct_config_ids": len({r.config_id for r in rows}),
        "config_id_scheme": scheme,
        "rows_without_fitting_mapping": int((failures > 0).sum()),
    }
