"""The learned recommender.

- ``features``: workload/task rows -> fixed token sequences (``FeatureStats`` travel with a model)
- ``ordinal``: the unified ordinal representation of ordinal knobs
- ``network``: ``Recommender`` (plain ``nn.Module``, ONNX-exportable) and ``RecommenderConfig``
- ``losses``: supervised contrastive loss
- ``data``: ``RecommenderDataModule`` (splits, targets, streaming)
- ``lightning_module``: ``RecommenderModule`` (losses, metrics, optimiser)
- ``train``: ``TrainConfig``, ``train()`` -> run directory with ``model.pt``
- ``bundle``: ``load_bundle``/``save_bundle`` (torch only)
- ``predict``: ``Predictor`` -> top-k designs and embeddings (torch only)

Nothing is imported here, so ``import airchitect.models.predict`` does not pull in Lightning.
"""
