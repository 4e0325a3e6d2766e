"""_manifest.json: what a dataset directory holds and how it was made.

Its name starts with ``_`` so that Parquet readers skip it (pandas, pyarrow datasets, Spark and
DuckDB's ``*.parquet`` glob read only the shards). Datasets written before were given
``manifest.json``: it is still read, and replaced by ``_manifest.json`` on the next save
(``airchitect data migrate DIR`` does only that).

The manifest carries the design space itself (not just its hash), so a dataset can be read,
validated and learned from without the space file it was generated with. It holds no
timestamps: the same generation command writes the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from airchitect import __version__
from airchitect.cost.model import COST_MODEL_VERSION
from airchitect.data_gen.schema import SCHEMA_VERSION
from airchitect.space.space import DesignSpace

MANIFEST_NAME = "_manifest.json"
#: The manifest's name in datasets written before it moved out of readers' way.
LEGACY_MANIFEST_NAME = "manifest.json"
#: The only names a manifest may list: the writer's shard file names, with no path in them.
SHARD_NAME = re.compile(r"shard-\d{5,}\.parquet")
#: Fields that must agree before a generation may resume into an existing directory.
RESUME_FIELDS: tuple[str, ...] = (
    "schema_version", "space_hash", "cost_model_version", "generator", "seeds",
)  # fmt: skip

_FIELD_TYPES: dict[str, type] = {
    "schema_version": int, "created_by": str, "space": dict, "space_hash": str,
    "cost_model_version": str, "generator": dict, "seeds": list, "shards": dict,
}  # fmt: skip


class ManifestError(ValueError):
    """A manifest is missing, malformed or disagrees with the one a generation would write."""


@dataclass
class Manifest:
    """A dataset's identity and contents; ``shards`` maps file name -> {rows, sha256, seed}."""

    schema_version: int
    created_by: str
    space: dict[str, Any]
    space_hash: str
    cost_model_version: str
    generator: dict[str, Any]
    seeds: list[int]
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def new(cls, space: DesignSpace, generator: dict[str, Any], seeds: list[int]) -> Manifest:
        """A manifest with no finished shards for a generation over ``space``."""
        return cls(
            schema_version=SCHEMA_VERSION,
            created_by=f"airchitect {__version__}",
            space=_plain(space.to_dict()),
            space_hash=space.hash,
            cost_model_version=COST_MODEL_VERSION,
            generator=_plain(generator),
            seeds=[int(s) for s in seeds],
        )

    # ---- serialisation ------------------------------------------------------------------------
    def to_json(self) -> str:
        """Canonical text: sorted keys, so equal manifests are equal bytes."""
        return json.dumps(asdict(self), sort_keys=True, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "<text>") -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: expected a JSON object")
        names = {f.name for f in fields(cls)}
        missing, extra = names - data.keys(), data.keys() - names
        if missing:
            raise ManifestError(f"{source}: missing field(s) {sorted(missing)}")
        if extra:
            raise ManifestError(f"{source}: unknown field(s) {sorted(extra)}")
        for name, kind in _FIELD_TYPES.items():
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise ManifestError(f"{source}: field {name!r} must be {kind.__name__}")
        _check_shard_names(data["shards"], source)
        return cls(**data)

    @classmethod
    def load(cls, directory: str | Path) -> Manifest:
        path = manifest_path(directory)
        if path is None:
            raise ManifestError(
                f"{Path(directory) / MANIFEST_NAME}: no manifest (not a dataset directory?)"
            )
        return cls.from_json(path.read_text("utf-8"), str(path))

    def save(self, directory: str | Path) -> Path:
        """Write atomically: a crash leaves either the old manifest or the new one. A legacy
        ``manifest.json`` is removed once ``_manifest.json`` is in place (which wins if both are
        there after a crash)."""
        path = Path(directory) / MANIFEST_NAME
        tmp = path.with_name(MANIFEST_NAME + ".tmp")
        with open(tmp, "wb") as f:
            f.write(self.to_json().encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        (path.parent / LEGACY_MANIFEST_NAME).unlink(missing_ok=True)
        fsync_dir(path.parent)
        return path

    # ---- comparisons --------------------------------------------------------------------------
    def without_shards(self) -> Manifest:
        return replace(self, shards={})

    def resume_mismatch(self, requested: Manifest) -> str | None:
        """The first field (``generator.<key>`` for the config) on which a resume would differ."""
        for name in RESUME_FIELDS:
            mine, theirs = _plain(getattr(self, name)), _plain(getattr(requested, name))
            if name == "generator" and isinstance(mine, dict) and isinstance(theirs, dict):
                for key in sorted(mine.keys() | theirs.keys()):
                    if mine.get(key) != theirs.get(key):
                        return _differs(f"generator.{key}", mine.get(key), theirs.get(key))
            if mine != theirs:
                return _differs(name, mine, theirs)
        return None


def manifest_path(directory: str | Path) -> Path | None:
    """The manifest file of a dataset directory (``_manifest.json``, else a legacy
    ``manifest.json``), or ``None`` when it has neither."""
    for name in (MANIFEST_NAME, LEGACY_MANIFEST_NAME):
        path = Path(directory) / name
        if path.is_file():
            return path
    return None


def migrate(directory: str | Path) -> Path | None:
    """Rename a legacy dataset's ``manifest.json`` to ``_manifest.json`` (contents unchanged);
    the new path, or ``None`` when there was nothing to migrate."""
    path = manifest_path(directory)
    if path is None:
        raise ManifestError(
            f"{Path(directory) / MANIFEST_NAME}: no manifest (not a dataset directory?)"
        )
    if path.name == MANIFEST_NAME:
        return None
    return Manifest.from_json(path.read_text("utf-8"), str(path)).save(directory)


def _check_shard_names(shards: dict[str, Any], source: str) -> None:
    """Shard names are plain file names inside the dataset directory (``shard-00007.parquet``):
    a manifest naming ``../../etc/passwd`` or an absolute path must never get a file read."""
    for name, entry in shards.items():
        if not SHARD_NAME.fullmatch(name):
            shown = json.dumps(name)[:80]
            raise ManifestError(
                f"{source}: field 'shards' names {shown}, not a shard file name like "
                "shard-00000.parquet inside the dataset directory"
            )
        if not isinstance(entry, dict):
            raise ManifestError(f"{source}: field 'shards.{name}' must be dict")


def _differs(name: str, existing: Any, requested: Any) -> str:
    return f"{name}: existing dataset has {_short(existing)}, this run has {_short(requested)}"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """JSON round trip: tuples become lists, so a config compares equal to its reloaded self."""
    return json.loads(json.dumps(value, sort_keys=True, allow_nan=False))


def fsync_dir(directory: Path) -> None:
    """Make a rename durable; some platforms cannot open directories, which is harmless."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
