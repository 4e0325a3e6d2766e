"""Writing a dataset directory: deterministic Parquet shards and a manifest, resumable.

A shard counts as finished only when the manifest lists it *and* its file has the recorded
sha256. Each commit writes the shard file first and records it second, both atomically, so a
kill at any point leaves at worst an unrecorded shard; generation is deterministic per shard
seed, so the resumed run rewrites it with the same bytes. One writer per directory at a time
(:class:`airchitect.data_gen.lock.DatasetLock` enforces it for ``generate``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from airchitect.data_gen.lock import LOCK_NAME
from airchitect.data_gen.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    fsync_dir,
    manifest_path,
)
from airchitect.data_gen.schema import dataset_schema, rows_to_table

SHARD_RE = re.compile(r"^shard-(\d{5,})\.parquet$")
TMP_SUFFIX = ".tmp"
#: Fixed writer settings: the same table always gives the same bytes (for one pyarrow version).
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 64 * 1024,  # bounded row groups keep streamed reads' memory small
    "store_schema": True,
}


class ResumeError(ManifestError):
    """An output directory holds a different dataset (or other files); pick a new --out."""


def shard_name(shard_id: int) -> str:
    """File name of a shard: ``shard_name(7) == "shard-00007.parquet"``."""
    if shard_id < 0:
        raise ValueError(f"shard id must be >= 0, got {shard_id}")
    return f"shard-{shard_id:05d}.parquet"


def parse_shard_name(name: str) -> int | None:
    """The shard id of a shard file name, ``None`` for any other name."""
    match = SHARD_RE.match(name)
    return int(match.group(1)) if match else None


def table_bytes(table: pa.Table) -> bytes:
    """The Parquet file of ``table`` in memory, written with :data:`PARQUET_OPTIONS`."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def write_shard(table: pa.Table, path: str | Path) -> str:
    """Write ``table`` atomically (``.shard-*.parquet.tmp``, fsync, rename); return its sha256.

    The temporary name starts with a dot, so a reader of the directory during a generation
    (pandas, pyarrow, Spark skip dot files; DuckDB's ``*.parquet`` glob does not match it) never
    sees a half-written shard."""
    path = Path(path)
    data = table_bytes(table)
    tmp = path.with_name("." + path.name + TMP_SUFFIX)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DatasetWriter:
    """Commits shards into ``out_dir``, resuming a compatible dataset that is already there.

    ``manifest_template`` (see :meth:`Manifest.new`) says what this run would generate; an
    existing manifest that disagrees on schema version, space, cost model, generator config or
    seeds is refused with the differing field named.
    """

    def __init__(self, out_dir: str | Path, manifest_template: Manifest) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._remove_temporaries()
        self.manifest = self._open(manifest_template)

    def _remove_temporaries(self) -> None:
        """Half-written files from a killed run are never part of the dataset."""
        for path in self.out_dir.iterdir():
            if path.name.endswith(TMP_SUFFIX) and path.is_file():
                path.unlink()

    def _open(self, template: Manifest) -> Manifest:
        if manifest_path(self.out_dir) is not None:
            existing = Manifest.load(self.out_dir)
            problem = existing.resume_mismatch(template)
            if problem:
                raise ResumeError(
                    f"{self.out_dir}: cannot resume, it holds a different dataset ({problem}); "
                    "choose a new --out directory"
                )
            return existing
        if any(p.name != LOCK_NAME for p in self.out_dir.iterdir()):
            raise ResumeError(
                f"{self.out_dir}: not empty and has no {MANIFEST_NAME}; refusing to write a "
                "dataset into it; choose a new --out directory"
            )
        manifest = template.without_shards()
        manifest.save(self.out_dir)  # recorded up front, so a resume is checked from the start
        return manifest

    def shard_path(self, shard_id: int) -> Path:
        return self.out_dir / shard_name(shard_id)

    def is_finished(self, shard_id: int) -> bool:
        """Listed in the manifest and its file exists with the recorded checksum."""
        return self._state(shard_id) == "finished"

    def pending(self, shard_ids: Iterable[int]) -> list[int]:
        """The shards of ``shard_ids`` still to generate, in the order given."""
        return [i for i in shard_ids if not self.is_finished(i)]

    def damaged(self, shard_ids: Iterable[int]) -> dict[int, str]:
        """Shards of ``shard_ids`` the manifest lists as finished whose file is missing or
        fails its checksum, each with a line saying so (they are pending: a resume redoes them)."""
        states = {i: self._state(i) for i in shard_ids}
        return {
            i: f"{shard_name(i)}: {state}; regenerating it"
            for i, state in states.items()
            if state not in ("finished", "new")
        }

    def _state(self, shard_id: int) -> str:
        """``finished``, ``new`` (never recorded) or what is wrong with a recorded shard."""
        entry = self.manifest.shards.get(shard_name(shard_id))
        path = self.shard_path(shard_id)
        if entry is None:
            return "new"
        if not path.is_file():
            return "listed in the manifest but missing"
        if file_sha256(path) != entry["sha256"]:
            return "corrupt or truncated (its checksum differs from the manifest's)"
        return "finished"

    def commit(
        self, shard_id: int, rows: Sequence[dict[str, Any]] | pa.Table, seed: int | None = None
    ) -> dict[str, Any]:
        """Write shard ``shard_id`` and then record it; ``seed`` defaults to the manifest's."""
        if seed is None:
            if not 0 <= shard_id < len(self.manifest.seeds):
                raise ValueError(
                    f"shard {shard_id}: no seed in the manifest ({len(self.manifest.seeds)} "
                    "seeds); pass seed="
                )
            seed = self.manifest.seeds[shard_id]
        table = rows if isinstance(rows, pa.Table) else rows_to_table(rows)
        if not table.schema.equals(dataset_schema(), check_metadata=True):
            raise ValueError(f"shard {shard_id}: table schema differs from dataset_schema()")
        sha = write_shard(table, self.shard_path(shard_id))
        entry = {"rows": table.num_rows, "sha256": sha, "seed": int(seed)}
        self.manifest.shards[shard_name(shard_id)] = entry
        self.manifest.shards = dict(sorted(self.manifest.shards.items()))
        self.manifest.save(self.out_dir)
        return entry

    def finished(self) -> list[int]:
        """Ids of the shards recorded in the manifest (checksums not re-verified)."""
        ids = (parse_shard_name(name) for name in self.manifest.shards)
        return sorted(i for i in ids if i is not None)
