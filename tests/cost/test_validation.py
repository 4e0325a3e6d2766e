"""The cost model reproduces published figures (../shared/reference, shipped in the package)."""

from pathlib import Path

import pytest

from airchitect.cost import validation

CHECKS = validation.all_checks()
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: f"{c.source}-{c.layer}-{c.metric}")
def test_reference_figure_is_reproduced(check):
    assert check.ok, f"model {check.model} vs reference {check.reference} ({check.error_pct:+.1f}%)"


def test_every_reference_file_has_checks():
    sources = {c.source.split(" ")[0] for c in CHECKS}
    assert {"SCALE-Sim", "Eyeriss", "MAESTRO", "Timeloop"} <= sources
    assert sum(c.source == "SCALE-Sim ws 32x32" for c in CHECKS) == 5


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/reference not beside the checkout")
@pytest.mark.parametrize(
    "name", sorted(p.name for p in (SHARED.glob("*.csv"))) if SHARED.is_dir() else []
)
def test_packaged_reference_matches_shared(name):
    packaged = validation.read_reference(name)
    assert packaged == validation.read_reference(name, SHARED)


def test_scalesim_closed_form_holds_for_a_non_alexnet_layer():
    """SCALE-Sim's folds * (2R + C + T - 2) - 1 on a layer the reference does not list."""
    from airchitect.workloads.layer import Layer

    layer = Layer("x", n=1, k=70, c=20, p=9, q=9, r=3, s=3, precision_bytes=1)
    cost = validation._best(layer, validation.SCALESIM_WS32, "latency")
    folds = -(-20 * 9 // 32) * -(-70 // 32)
    assert cost["compute_cycles"] == folds * (2 * 32 + 32 + 81 - 2) - 1
