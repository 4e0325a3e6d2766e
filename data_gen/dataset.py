"""Reading, validating and summarising a dataset directory.

Only shards the manifest lists are part of the dataset; anything else in the directory (an
unrecorded shard from a killed run, a temporary file) is ignored by the readers and reported
by :func:`validate_dataset`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from airchitect.data_gen.manifest import Manifest, ManifestError
from airchitect.data_gen.schema import (
    DESIGN_COLUMNS,
    HARDWARE_COLUMNS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TOPK_COLUMN,
    dataset_schema,
)
from airchitect.data_gen.writer import TMP_SUFFIX, file_sha256, parse_shard_name, shard_name
from airchitect.space.hardware import Dataflow
from airchitect.space.space import DesignSpace

MAX_EXAMPLES = 3  # row ids quoted per problem; the count says how many there are in all


# ---- reading -------------------------------------------------------------------------------------
def shard_paths(directory: str | Path, manifest: Manifest | None = None) -> list[Path]:
    """Files of the finished shards, in shard order."""
    directory = Path(directory)
    manifest = manifest or Manifest.load(directory)
    named = [(parse_shard_name(name), name) for name in manifest.shards]
    return [directory / name for i, name in sorted(named, key=lambda x: (x[0] is None, x))]


def _readable(directory: str | Path) -> list[Path]:
    """Finished shard files; a listed one that is gone is an error, not a silent gap."""
    paths = shard_paths(directory)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{directory}: shard file(s) {missing} listed in the manifest are missing; "
            "run validate, or resume the generation to rewrite them"
        )
    return paths


def read_dataset(directory: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Every finished shard as one DataFrame, in shard order (``columns``: a subset)."""
    schema = dataset_schema()
    columns = list(columns) if columns is not None else schema.names
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise KeyError(f"unknown column(s) {unknown}; the dataset has {schema.names}")
    tables = [pq.read_table(path, columns=columns) for path in _readable(directory)]
    if not tables:
        return schema.empty_table().select(columns).to_pandas()
    return pa.concat_tables(tables).to_pandas()


def iter_batches(
    directory: str | Path, batch_size: int = 65_536, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the finished shards as record batches, in shard order, without loading them all."""
    paths = [str(p) for p in _readable(directory)]
    if not paths:
        return
    dataset = ds.dataset(paths, format="parquet", schema=dataset_schema())
    cols = list(columns) if columns is not None else None
    yield from dataset.to_batches(columns=cols, batch_size=batch_size)


# ---- validation ----------------------------------------------------------------------------------
def validate_dataset(directory: str | Path) -> list[str]:
    """Everything wrong with a dataset directory, one line each; empty means valid."""
    directory = Path(directory)
    try:
        manifest = Manifest.load(directory)
    except (ManifestError, TypeError) as exc:
        return [str(exc)]
    if manifest.schema_version != SCHEMA_VERSION:
        return [
            f"schema version mismatch: manifest has {manifest.schema_version}, "
            f"this airchitect reads version {SCHEMA_VERSION}"
        ]
    problems: list[str] = []
    space = _manifest_space(manifest, problems)
    problems += _file_problems(directory, manifest)
    row_ids: list[pa.ChunkedArray] = []
    for path in shard_paths(directory, manifest):
        if path.is_file():
            problems += _shard_problems(path, manifest.shards[path.name], space, row_ids)
    problems += _duplicate_problems(row_ids)
    return problems


def _manifest_space(manifest: Manifest, problems: list[str]) -> DesignSpace | None:
    """The dataset's own space, rebuilt from the manifest (``None`` and a problem if it can't)."""
    try:
        space = DesignSpace.from_dict(manifest.space)
    except Exception as exc:  # any malformed space content is a dataset problem, not a crash
        problems.append(f"manifest space cannot be rebuilt: {exc}")
        return None
    if space.hash != manifest.space_hash:
        problems.append(
            f"manifest space_hash {manifest.space_hash[:12]}... does not match its space "
            f"({space.hash[:12]}...)"
        )
    return space


def _file_problems(directory: Path, manifest: Manifest) -> list[str]:
    """Shard files missing, unlisted or left over, and planned shards not generated yet."""
    listed = set(manifest.shards)
    on_disk = {p.name for p in directory.iterdir() if parse_shard_name(p.name) is not None}
    problems = [
        f"missing shard file {n} (listed in the manifest)" for n in sorted(listed - on_disk)
    ]
    problems += [f"extra shard file {n} (not in the manifest)" for n in sorted(on_disk - listed)]
    problems += [f"manifest lists {n!r}, not a shard file name" for n in sorted(listed)
                 if parse_shard_name(n) is None]  # fmt: skip
    problems += [f"leftover temporary file {p.name} (from an interrupted run)"
                 for p in sorted(directory.iterdir()) if p.name.endswith(TMP_SUFFIX)]  # fmt: skip
    todo = [i for i in range(len(manifest.seeds)) if shard_name(i) not in listed]
    if todo:
        problems.append(
            f"incomplete: {len(todo)} of {len(manifest.seeds)} planned shards not generated "
            f"(first {shard_name(todo[0])}); resume the generation"
        )
    return problems


def _shard_problems(
    path: Path, entry: dict[str, Any], space: DesignSpace | None, row_ids: list
) -> list[str]:
    name = path.name
    problems = []
    if file_sha256(path) != entry.get("sha256"):
        problems.append(f"{name}: checksum mismatch (changed or corrupted since it was written)")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # a corrupted file can fail in many ways inside Arrow
        return problems + [f"{name}: unreadable ({exc})"]
    schema_problem = _schema_problem(table.schema)
    if schema_problem:
        return problems + [f"{name}: schema mismatch ({schema_problem})"]
    if table.num_rows != entry.get("rows"):
        problems.append(f"{name}: {table.num_rows} rows, manifest says {entry.get('rows')}")
    problems += _id_problems(table, parse_shard_name(name), entry.get("seed"))
    problems += _design_problems(table, space)
    row_ids.append(table["row_id"])
    return [p if p.startswith(name) else f"{name}: {p}" for p in problems]


def _schema_problem(schema: pa.Schema) -> str | None:
    want = dataset_schema()
    if schema.equals(want, check_metadata=False):
        version = (schema.metadata or {}).get(SCHEMA_VERSION_KEY)
        ok = version == str(SCHEMA_VERSION).encode()
        return None if ok else f"file schema version {version!r}, expected {SCHEMA_VERSION}"
    missing = [n for n in want.names if n not in schema.names]
    extra = [n for n in schema.names if n not in want.names]
    typed = [n for n in want.names if n in schema.names and schema.field(n) != want.field(n)]
    parts = [f"{label} {cols}" for label, cols in
             (("missing", missing), ("extra", extra), ("wrong type", typed)) if cols]  # fmt: skip
    return "; ".join(parts) or "column order differs"


def _id_problems(table: pa.Table, shard_id: int | None, seed: Any) -> list[str]:
    problems = []
    if table.num_rows and pc.any(pc.not_equal(table["shard"], shard_id)).as_py():
        problems.append(f"rows with a shard column other than {shard_id}")
    if table.num_rows and pc.any(pc.not_equal(table["seed"], seed)).as_py():
        problems.append(f"rows with a seed other than the manifest's {seed}")
    return problems


def _design_problems(table: pa.Table, space: DesignSpace | None) -> list[str]:
    """Found rows need a full design on the dataset's grid; unfound rows need none."""
    found = table["found"].to_numpy(zero_copy_only=False)
    null = np.column_stack([table[c].is_null().to_numpy(zero_copy_only=False)
                            for c in DESIGN_COLUMNS]).reshape(len(found), -1)  # fmt: skip
    ids = table["row_id"].to_numpy(zero_copy_only=False)
    problems = []
    holes = found & null.any(axis=1)
    if holes.any():
        cols = [c for c, bad in zip(DESIGN_COLUMNS, null[holes].any(axis=0), strict=True) if bad]
        problems.append(_rows(f"found row(s) with a null design (columns {cols[:4]})", ids, holes))
    stray = ~found & ~null.all(axis=1)
    if stray.any():
        problems.append(_rows("row(s) with found=False but a design", ids, stray))
    if space is None:
        return problems
    ok = found & ~null.any(axis=1)
    off = np.zeros(len(found), dtype=bool)
    off[ok] = off_grid(space, {c: table[c].to_numpy(zero_copy_only=False)[ok]
                               for c in ("hw_index",) + HARDWARE_COLUMNS})  # fmt: skip
    if off.any():
        problems.append(_rows("design(s) off the space grid or with a wrong hw_index", ids, off))
    return problems + _topk_problems(table, space)


def _topk_problems(table: pa.Table, space: DesignSpace) -> list[str]:
    entries = pc.list_flatten(table[TOPK_COLUMN])
    if not len(entries):
        return []
    flat = entries.combine_chunks() if isinstance(entries, pa.ChunkedArray) else entries
    # flatten(), unlike field(), honours the struct array's offset into its children
    children = dict(zip([f.name for f in flat.type], flat.flatten(), strict=True))
    columns = {
        c: children[c].to_numpy(zero_copy_only=False) for c in ("hw_index",) + HARDWARE_COLUMNS
    }
    bad = int(off_grid(space, columns).sum())
    return [f"{bad} runner-up design(s) off the space grid or with a wrong hw_index"] if bad else []


def off_grid(space: DesignSpace, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Per row: a knob value off ``space``'s grid, or ``hw_index`` not its flat grid index."""
    n = len(columns["hw_index"])
    bad = np.zeros(n, dtype=bool)
    vectors = np.zeros((n, len(space.knobs)), dtype=np.int64)
    for j, knob in enumerate(space.knobs):
        if knob.name == "dataflow":
            grid = pd.Index([Dataflow.parse(v).name.lower() for v in knob.values])
            values = np.asarray(columns[knob.name], dtype=object)
        else:
            grid = pd.Index([float(v) for v in knob.values])
            values = np.asarray(columns[knob.name], dtype=np.float64)
        pos = grid.get_indexer(values)
        bad |= pos < 0
        vectors[:, j] = np.maximum(pos, 0)
    if n:
        bad |= space.flat_index(vectors) != np.asarray(columns["hw_index"], dtype=np.int64)
    return bad


def _duplicate_problems(row_ids: list[pa.ChunkedArray]) -> list[str]:
    if not row_ids:
        return []
    ids = pd.Series(pa.chunked_array([c for a in row_ids for c in a.chunks], pa.string()))
    dup = ids[ids.duplicated()].unique()
    if not len(dup):
        return []
    return [f"{len(dup)} row_id(s) appear more than once (e.g. {list(dup[:MAX_EXAMPLES])})"]


def _rows(what: str, ids: np.ndarray, mask: np.ndarray) -> str:
    return f"{int(mask.sum())} {what}, e.g. row_id {list(ids[mask][:MAX_EXAMPLES])}"


# ---- statistics ----------------------------------------------------------------------------------
_STATS_COLUMNS = ["family", "model", "objective", "label_method", "evals", "found", "hw_index"]


def dataset_stats(directory: str | Path) -> dict[str, Any]:
    """Counts, label distribution and grid coverage; JSON-serialisable (string keys)."""
    manifest = Manifest.load(directory)
    space = DesignSpace.from_dict(manifest.space)
    df = read_dataset(directory, columns=_STATS_COLUMNS + list(HARDWARE_COLUMNS))
    found = df[df["found"].astype(bool)]
    distinct = int(found["hw_index"].nunique())
    return {
        "rows": len(df),
        "shards": len(manifest.shards),
        "shards_planned": len(manifest.seeds),
        "space": manifest.space.get("name", ""),
        "space_size": space.size,
        "rows_per_family": _counts(df["family"]),
        "rows_per_model": _counts(df["model"]),
        "rows_per_objective": _counts(df["objective"]),
        "rows_per_label_method": _counts(df["label_method"]),
        "found": len(found),
        "found_share": len(found) / len(df) if len(df) else 0.0,
        "evals_median": float(df["evals"].median()) if len(df) else 0.0,
        "evals_total": int(df["evals"].sum()),
        "label_distribution": _label_distribution(found, space),
        "distinct_designs": distinct,
        "coverage": distinct / space.size,
        "knob_histograms": {k.name: _histogram(found[k.name], k.values) for k in space.knobs},
    }


def _key(value: Any) -> str:
    """A grid value as a stats key: dataflow names, integral numbers without ``.0``."""
    if isinstance(value, Dataflow):
        return value.name.lower()
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _counts(series: pd.Series) -> dict[str, int]:
    counts = series.value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}


def _histogram(series: pd.Series, grid: Sequence[Any]) -> dict[str, int]:
    """Counts per grid value, in grid order, zeros included."""
    counts = {_key(v): 0 for v in grid}
    for value, n in series.value_counts().items():
        counts[_key(value)] = counts.get(_key(value), 0) + int(n)
    return counts


def _label_distribution(found: pd.DataFrame, space: DesignSpace) -> dict[str, dict[str, int]]:
    knobs = {k.name: k.values for k in space.knobs}
    arrays = {
        f"{_key(r)}x{_key(c)}": int(((found["pe_rows"] == r) & (found["pe_cols"] == c)).sum())
        for r in knobs["pe_rows"]
        for c in knobs["pe_cols"]
    }
    return {
        "dataflow": _histogram(found["dataflow"], knobs["dataflow"]),
        "pe_array": {k: v for k, v in arrays.items() if v},
        "l2_kib": _histogram(found["l2_kib"], knobs["l2_kib"]),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """Human-readable summary of :func:`dataset_stats`."""
    lines = [
        f"rows: {stats['rows']:,} in {stats['shards']} of {stats['shards_planned']} shards",
        f"found a design: {stats['found']:,} ({stats['found_share']:.1%})",
        f"evaluations per label: median {stats['evals_median']:g}, total {stats['evals_total']:,}",
        f"space {stats['space']!r}: {stats['distinct_designs']:,} distinct designs labelled of "
        f"{stats['space_size']:,} ({stats['coverage']:.2%})",
    ]
    for key in ("family", "model", "objective", "label_method"):
        lines.append(f"rows per {key}: {_inline(stats[f'rows_per_{key}'])}")
    for key, counts in stats["label_distribution"].items():
        lines.append(f"labels per {key}: {_inline(counts)}")
    lines.append("knob histograms (best designs):")
    lines += [f"  {knob}: {_inline(counts)}" for knob, counts in stats["knob_histograms"].items()]
    return "\n".join(lines)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v:,}" for k, v in counts.items()) or "-"
