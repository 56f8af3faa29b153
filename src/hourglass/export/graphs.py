"""What the exported graphs compute, as ``nn.Module`` wrappers around a fitted estimator.

Each wrapper folds the estimator's input scaling and output unscaling into the network, so the graph takes
raw rows (float32, in the user's units) and gives codes, rows in the user's units, or a detector's scores:

- ``Encoder``: rows -> codes, ``model.encode(clip((rows - offset) / scale))`` (as ``transform``);
- ``Decoder``: codes -> rows, ``model.decode(codes) * scale + offset`` (as ``inverse_transform``);
- ``Scorer``: rows -> scores (float64, higher = more normal), as ``AnomalyDetector.score_samples``; the
  isolation forest is walked by gathers (``ForestWalk``), the same heap layout ``Forest.score`` walks, and the
  nearest-neighbour term compares every reference row (``NeighborDistance``).

They hold the estimator's own modules and arrays (nothing is copied or retrained), so PyTorch evaluating
a wrapper and the estimator's public methods compute the same numbers; ``hourglass.export.onnx`` traces them.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from hourglass.anomaly import AnomalyDetector
from hourglass.anomaly.iforest import Forest, average_path_length
from hourglass.anomaly.knn import Neighbors
from hourglass.anomaly.scores import weights
from hourglass.estimator import _Estimator
from hourglass.models.ensemble import EnsembleMLP


class _Scaling(nn.Module):
    """The estimator's ``Scaler`` as buffers (float32, one entry per feature), traced into the graph as constants."""

    offset: torch.Tensor
    scale: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, estimator: _Estimator) -> None:
        super().__init__()
        scaler = estimator.scaler_
        self.register_buffer("offset", torch.as_tensor(scaler.offset, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scaler.scale, dtype=torch.float32))
        self.clip = scaler.low is not None and scaler.high is not None
        if self.clip:
            low, high = scaler.clip_window()
            self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def scaled(self, rows: torch.Tensor) -> torch.Tensor:
        x = (rows - self.offset) / self.scale
        return torch.clamp(x, self.low, self.high) if self.clip else x

    def unscaled(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset


class Encoder(nn.Module):
    """Raw rows (n, features) -> codes (n, latent_dim), as ``estimator.transform``."""

    def __init__(self, estimator: _Estimator) -> None:
        super().__init__()
        self.scaling, self.model = _Scaling(estimator), estimator.model_

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.model.encode(self.scaling.scaled(rows))


class Decoder(nn.Module):
    """Codes (n, latent_dim) -> rows (n, features) in the data's units, as ``estimator.inverse_transform``."""

    def __init__(self, estimator: _Estimator) -> None:
        super().__init__()
        self.scaling, self.model = _Scaling(estimator), estimator.model_

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.scaling.unscaled(self.model.decode(codes))


class ForestWalk(nn.Module):
    """``Forest.score`` as tensor ops: every row down every tree at once, one level per step.

    The trees are in ``Forest``'s heap layout (children of slot ``i`` at ``2i + 1`` and ``2i + 2``), so a
    level is two gathers and a comparison and the depth is a constant of the graph: no loop, no branch.
    Comparisons are in float32 against float32 thresholds, as ``Forest.score`` makes them, so every row
    takes the same path; the path lengths add up in float64.
    """

    feature: torch.Tensor  # (trees, 2**depth - 1) split columns, int64
    threshold: torch.Tensor  # (trees, 2**depth - 1) float32
    value: torch.Tensor  # (trees, 2**depth) path length at each last-level slot, float64

    def __init__(self, forest: Forest, n_features: int) -> None:
        super().__init__()
        feature, threshold, value, depth = forest._heap
        self.depth, self.n_features = int(depth), int(n_features)
        self.register_buffer("feature", torch.as_tensor(feature, dtype=torch.int64))
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float32))
        self.register_buffer("value", torch.as_tensor(value, dtype=torch.float64))
        self.norm = forest.n_trees * float(average_path_length(forest.max_samples))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``-IsolationForest.score_samples`` of raw float32 rows (n, features), as float64 (n,)."""
        trees = self.feature.shape[0]
        flat = rows.reshape(-1)
        # Where row r's values start in ``flat``, for every tree: (trees, n).
        starts = (torch.arange(rows.shape[0], device=rows.device) * self.n_features).unsqueeze(0)
        node = torch.zeros_like(starts).expand(trees, -1)
        for _ in range(self.depth):
            column = self.feature.gather(1, node)
            seen = flat.index_select(0, (column + starts).reshape(-1)).reshape(column.shape)
            node = 2 * node + 1 + (seen > self.threshold.gather(1, node)).to(torch.int64)
        leaf = node - (2**self.depth - 1)
        total = self.value.gather(1, leaf).sum(dim=0)
        if self.norm == 0:  # one training row: every path is 0 long, and scikit-learn scores 1
            return torch.ones_like(total)
        return torch.pow(2.0, -(total / self.norm))


class NeighborDistance(nn.Module):
    """The nearest-neighbour term (``anomaly.knn.Neighbors.score``): raw float32 rows (n, features) -> the mean
    distance to the ``k`` nearest reference rows in min-max units, float64 (n,). Every reference row is compared;
    squared distances come from ``|q|^2 + |r|^2 - 2 q.r`` in float64 (one matrix product, which ONNX runs), so
    they agree with the exact ones to float64 rounding."""

    low: torch.Tensor  # (features,) float64
    span: torch.Tensor
    reference: torch.Tensor  # (reference rows, features) in min-max units, float64
    reference_sq: torch.Tensor  # their squared norms

    def __init__(self, knn: Neighbors) -> None:
        super().__init__()
        self.k = knn.k
        arrays = knn.arrays
        self.register_buffer("low", torch.as_tensor(arrays["low"], dtype=torch.float64))
        self.register_buffer("span", torch.as_tensor(arrays["span"], dtype=torch.float64))
        reference = (torch.as_tensor(arrays["reference"], dtype=torch.float64) - self.low) / self.span
        self.register_buffer("reference", reference)
        self.register_buffer("reference_sq", (reference * reference).sum(dim=1))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        q = (rows.to(torch.float64) - self.low) / self.span
        squared = (q * q).sum(dim=1, keepdim=True) + self.reference_sq - 2 * q @ self.reference.T
        nearest = torch.topk(squared, self.k, dim=1, largest=False).values
        return torch.sqrt(torch.clamp(nearest, min=0.0)).mean(dim=1)


class Scorer(nn.Module):
    """Raw rows (n, features) -> anomaly detector scores (n,), float64, as ``AnomalyDetector.score_samples``:
    minus the members' mean squared error (scaled units), or with more terms (the forest, the nearest-neighbour
    distance) minus the weighted sum of their robust z-scores."""

    median: torch.Tensor  # the terms' training medians (error, then forest and distance where present), float64
    spread: torch.Tensor  # and their interquartile ranges
    weight: torch.Tensor  # and their weights in the score

    def __init__(self, detector: AnomalyDetector) -> None:
        super().__init__()
        self.scaling, self.model = _Scaling(detector), cast(EnsembleMLP, detector.model_)
        self.forest = None if detector.forest_ is None else ForestWalk(detector.forest_, detector.n_features_in_)
        self.knn = None if detector.knn_ is None else NeighborDistance(detector.knn_)
        fusion = np.zeros((2, 1)) if detector.fusion_ is None else detector.fusion_
        self.register_buffer("median", torch.as_tensor(fusion[0], dtype=torch.float64))
        self.register_buffer("spread", torch.as_tensor(fusion[1], dtype=torch.float64))
        self.register_buffer("weight", torch.as_tensor(weights(detector.forest_, detector.knn_, detector.knn_weight)))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        error = self.model.row_errors(self.scaling.scaled(rows)).to(torch.float64)
        if self.forest is None and self.knn is None:
            return -error
        terms = [error, *([self.forest(rows)] if self.forest is not None else [])]
        terms += [self.knn(rows)] if self.knn is not None else []
        total = (terms[0] - self.median[0]) / self.spread[0] * self.weight[0]
        for j in range(1, len(terms)):
            total = total + (terms[j] - self.median[j]) / self.spread[j] * self.weight[j]
        return -total
