"""Where a plot may be written: checked before any work, without importing matplotlib."""

from __future__ import annotations

from pathlib import Path

PLOT_SUFFIXES = (".png", ".svg")


def check_plot_path(path: Path) -> Path:
    """The plot file to write; a clear error for an unsupported suffix or a missing folder."""
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ValueError(f"--plot: {str(path)!r} must end in .png or .svg")
    if not path.parent.is_dir():
        raise ValueError(f"--plot: folder {str(path.parent)!r} does not exist")
    return path
