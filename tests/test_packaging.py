"""One top-level package: data_gen/, models/ and serve/ install as airchitect.* (issue 20)."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {
    "airchitect.data_gen": "data_gen", "airchitect.models": "models", "airchitect.serve": "serve"
}  # fmt: skip
OLD_NAMES = ("data_gen", "models", "serve")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_only_airchitect_is_installed_at_the_top():
    top_level = importlib.metadata.distribution("airchitect").read_text("top_level.txt")
    assert top_level is not None and top_level.split() == ["airchitect"]


def test_every_source_package_is_listed_and_mapped():
    config = _setuptools()
    assert {k: v for k, v in config["package-dir"].items() if k != "airchitect"} == MAPPED
    found = set()
    for package, folder in {"airchitect": "airchitect", **MAPPED}.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *parts)))
    assert found == set(config["packages"]), "pyproject's package list is out of date"


def _old_style_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                  if name.split(".")[0] in OLD_NAMES]  # fmt: skip
    return found


def test_no_code_imports_the_folders_by_their_old_top_level_names():
    """In a repository checkout ``import models`` happens to work (the root is on sys.path);
    in an installed copy it does not, so nothing may rely on it."""
    folders = ("airchitect", *OLD_NAMES, "tests", "bench")
    offenders = [hit for folder in folders for path in (ROOT / folder).rglob("*.py")
                 for hit in _old_style_imports(path)]  # fmt: skip
    assert offenders == []


def test_the_mapped_packages_import_from_outside_the_checkout(tmp_path):
    """From another directory (the repository root not on sys.path) the names resolve through
    the install, and the old ones do not."""
    code = ("import importlib.util as u, airchitect.serve.http, airchitect.models.features, "
            "airchitect.data_gen.pipeline; print([u.find_spec(n) is None for n in "
            f"{list(OLD_NAMES)!r}])")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[True, True, True]"
