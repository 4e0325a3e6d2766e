"""The answering paths stay free of torch and Lightning (numpy, onnxruntime and faiss only):
importing torch costs seconds on every command. Each check runs in a fresh interpreter, since
this test process may have imported torch already."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "pytorch_lightning", "optuna")

CHECK = """
import sys
heavy = [m for m in {heavy!r} if m in sys.modules]
assert not heavy, f"imported {{heavy}}"
"""


def _fresh(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code + CHECK.format(heavy=HEAVY)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


def test_importing_the_serving_path_imports_no_torch():
    _fresh("import airchitect.cli, airchitect.serve.recommend, airchitect.serve.http, "
           "airchitect.serve.predictor, airchitect.serve.network_answer, "
           "airchitect.workloads.importers")  # fmt: skip


@pytest.mark.parametrize(
    "commands",
    [
        [["recommend", "--model", "dqn", "--area-mm2", "40"],
         ["recommend", "--layer", "k=64,c=64,p=14,q=14,r=3,s=3", "--json"],
         ["evaluate", "--model", "dqn"], ["workloads", "list"],
         ["workloads", "show", "--llm-config", "gpt2", "--phase", "decode"],
         ["pareto", "--model", "dqn", "--area-mm2", "40"]],
    ],
)  # fmt: skip
def test_answering_commands_import_no_torch(commands):
    code = f"""
from typer.testing import CliRunner
from airchitect.cli import app
for args in {commands!r}:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output[-2000:])
"""
    _fresh(code)


def test_serving_app_starts_without_torch():
    _fresh("from airchitect.serve.http import create_app, load_service; create_app(load_service())")
