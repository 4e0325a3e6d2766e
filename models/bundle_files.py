"""Files of a run directory that need no torch: the bundle's path and atomic JSON writes.

Split from :mod:`airchitect.models.bundle` so that serving (the ranker's arrays, run metadata)
reads and
writes them without importing torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

BUNDLE_NAME = "model.pt"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``run.json`` and the like, atomically (a temp name, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    os.replace(tmp, path)


def bundle_file(path: str | Path) -> Path:
    """A run directory's ``model.pt``, or the path itself when it is a file."""
    path = Path(path)
    file = path / BUNDLE_NAME if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"no {BUNDLE_NAME} at {path}")
    return file
