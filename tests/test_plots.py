"""Plots of one design: the files open and hold the expected axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from airchitect.cost.network import evaluate_network
from airchitect.plot_paths import check_plot_path
from airchitect.plots import design_figure, plot_design
from airchitect.search.analysis import analyse
from airchitect.space import Budget, DesignSpace, HardwareConfig
from airchitect.workloads.zoo import get_network


@pytest.fixture(scope="module")
def dqn_on_a_design():
    cost = evaluate_network(get_network("dqn"), HardwareConfig(16, 16, 64, 128, 16, 16, "ws"),
                            "edp")  # fmt: skip
    return cost, analyse(cost, DesignSpace.default(), Budget(area_mm2=20.0))


def test_the_figure_has_roofline_splits_and_tornado_with_units(dqn_on_a_design) -> None:
    fig = design_figure(*dqn_on_a_design)
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    assert labels[0] == ("operational intensity (MACs per DRAM byte)", "achieved MACs per cycle")
    assert "cycles" in labels[1][0] and "µJ" in labels[2][0] and "edp change" in labels[3][0]
    assert len(fig.axes[3].patches) == sum(
        w.objective_ratio is not None for w in dqn_on_a_design[1].what_if
    )  # one tornado bar per mappable move
    plt.close(fig)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_files_open(dqn_on_a_design, tmp_path, suffix) -> None:
    path = plot_design(*dqn_on_a_design, tmp_path / f"dqn{suffix}")
    if suffix == ".png":
        assert plt.imread(path).shape[2] in (3, 4)
    else:
        assert path.read_text().lstrip().startswith("<?xml")
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temp file


def test_a_bad_plot_path_is_a_named_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="--plot.*png or .svg"):
        check_plot_path(tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="--plot: folder"):
        check_plot_path(tmp_path / "missing" / "x.png")


def test_evaluate_writes_a_plot_of_a_preset(tmp_path) -> None:
    from typer.testing import CliRunner

    from airchitect.cli import app

    path = tmp_path / "dqn.svg"
    args = ["evaluate", "--model", "dqn", "--preset", "eyeriss-like", "--plot", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert path.read_text().lstrip().startswith("<?xml")
    bad = CliRunner().invoke(app, ["evaluate", "--model", "dqn", "--plot", "x.pdf"])
    assert bad.exit_code == 2 and "--plot" in bad.output
