"""Shared fixtures: a small real dataset, a tiny trained model and its serving bundle.

Built once per test session; the model is small and briefly trained, so tests here pin the
serving machinery (export, validity, fallbacks, HTTP), not recommendation quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # the machine is shared: one intra-op thread per process


@pytest.fixture(scope="session")
def serve_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from airchitect.data_gen.generate import GeneratorConfig
    from airchitect.data_gen.pipeline import generate

    out = tmp_path_factory.mktemp("serve_dataset")
    generate(GeneratorConfig(n=270, space="reduced", workloads="zoo+synthetic"), out,
             workers=1, progress=False)  # fmt: skip
    return out


@pytest.fixture(scope="session")
def serve_run(serve_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from airchitect.models.train import TrainConfig, train

    out = tmp_path_factory.mktemp("serve_run")
    config = TrainConfig(d_model=32, n_heads=4, encoder_layers=1, decoder_layers=1,
                         dim_feedforward=64, dropout=0.0, max_epochs=3, batch_size=64,
                         val_fraction=0.2, test_fraction=0.2,
                         ranker={"rows": 120, "val_rows": 50, "candidates": 6, "epochs": 3,
                                 "hidden": 16, "keep_if_better": False})  # fmt: skip
    train(serve_dataset, out, config)
    return out


@pytest.fixture(scope="session")
def bundle_dir(serve_run: Path, serve_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    from airchitect.serve.export import export_bundle

    out = tmp_path_factory.mktemp("serve_bundle") / "bundle"
    export_bundle(serve_run, serve_dataset, out)
    return out


@pytest.fixture(scope="session")
def service(bundle_dir: Path):
    from airchitect.serve.predictor import OnnxPredictor
    from airchitect.serve.recommend import RecommendService

    return RecommendService(OnnxPredictor(bundle_dir))
