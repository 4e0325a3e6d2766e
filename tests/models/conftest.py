"""Shared fixtures: one small real dataset (reduced space) generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# the machine is shared: one intra-op thread keeps the tests from starving other jobs
torch.set_num_threads(1)

DATASET_ROWS = 450


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of ~450 labelled rows over the reduced space (zoo networks, 5 families)."""
    from airchitect.data_gen.generate import GeneratorConfig
    from airchitect.data_gen.pipeline import generate

    out = tmp_path_factory.mktemp("models_dataset")
    config = GeneratorConfig(n=DATASET_ROWS, space="reduced", workloads="zoo+synthetic")
    generate(config, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def dataset_frame(dataset_dir: Path):
    from airchitect.data_gen.dataset import read_dataset

    return read_dataset(dataset_dir)
