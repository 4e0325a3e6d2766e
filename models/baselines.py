"""Baselines the recommender must beat, on the same split and the same metrics.

- majority: the designs most often best in training, the same for every row;
- nearest neighbours: the best designs of the k training rows nearest in feature space (faiss);
- MLP classifier: AIrchitect v1's formulation, one class per design, over the same token
  features flattened (one-hot ids and standardised values). At 1e5 rows training sees ~9,000
  distinct designs, and a 9,000-way output layer makes the baseline cost more than the model
  it is compared with (hours on one core), so the classes are the ``max_classes`` designs most
  often best in training (2,048 cover ~82 % of the 1e5 default rows); rows labelled with
  rarer designs are left out of its training.
Each returns candidates `(rows, k)` of flat hardware indices, best first (-1 pads).
"""

from __future__ import annotations

import faiss
import numpy as np
import pandas as pd
import torch
from torch import nn

from airchitect.models.features import FeatureStats, encode_features

faiss.omp_set_num_threads(1)


def dense_features(frame: pd.DataFrame, stats: FeatureStats) -> np.ndarray:
    """Flat features `(rows, vocab + tokens)`: one-hot token ids next to their values."""
    ids, values = encode_features(frame, stats)
    one_hot = np.zeros((len(frame), stats.vocab_size), dtype=np.float32)
    np.put_along_axis(one_hot, ids, 1.0, axis=1)
    return np.concatenate([one_hot, values.astype(np.float32)], axis=1)


def _pad(lists: list[list[int]], k: int) -> np.ndarray:
    return np.array([(x + [-1] * k)[:k] for x in lists], dtype=np.int64)


def majority(train: pd.DataFrame, test: pd.DataFrame, k: int = 5) -> np.ndarray:
    """The ``k`` designs most often best in training (ties: lower grid index first)."""
    designs, counts = np.unique(train["hw_index"].to_numpy(), return_counts=True)
    top = designs[np.lexsort((designs, -counts))][:k].tolist()
    return _pad([top] * len(test), k)


def nearest_neighbours(
    train: pd.DataFrame, test: pd.DataFrame, stats: FeatureStats, k: int = 5, neighbours: int = 16
) -> np.ndarray:
    """Designs of the nearest training rows, ranked by votes, then by the nearest voter."""
    index = faiss.IndexFlatL2(stats.vocab_size + stats.n_tokens)
    index.add(dense_features(train, stats))
    _, nearest = index.search(dense_features(test, stats), min(neighbours, len(train)))
    labels = train["hw_index"].to_numpy()[nearest]  # (rows, neighbours), nearest first
    out = []
    for row in labels:
        designs, first, votes = np.unique(row, return_index=True, return_counts=True)
        order = np.lexsort((first, -votes))
        out.append(designs[order][:k].tolist())
    return _pad(out, k)


def mlp_classifier(
    train: pd.DataFrame, test: pd.DataFrame, stats: FeatureStats, k: int = 5,
    epochs: int = 12, seed: int = 0, max_classes: int = 2048,
) -> np.ndarray:  # fmt: skip
    """A two-layer MLP over flat features, one class per frequent training design
    (AIrchitect v1)."""
    torch.manual_seed(seed)
    designs, counts = np.unique(train["hw_index"].to_numpy(), return_counts=True)
    classes = np.sort(designs[np.lexsort((designs, -counts))][:max_classes])
    labels = train["hw_index"].to_numpy()
    kept = np.isin(labels, classes)
    x = torch.from_numpy(dense_features(train[kept], stats))
    y = torch.from_numpy(np.searchsorted(classes, labels[kept]).astype(np.int64))
    net = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                        nn.Linear(256, len(classes)))  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(256):
            optimiser.zero_grad()
            nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        logits = net(torch.from_numpy(dense_features(test, stats)))
    top = logits.topk(min(k, len(classes)), dim=1).indices.numpy()
    return _pad([classes[row].tolist() for row in top], k)
