"""A nearest-neighbour anomaly term, as the detector could carry it (issue 23's prototype, for the benchmarks only).

The term is the mean Euclidean distance from a row to its ``k`` nearest reference rows, in min-max units of
the training rows (every column's training range mapped to [0, 1], so no column's units dominate). The
reference rows are the training rows the autoencoders trained on (the held-out ones calibrate p-values), or
a random ``cap`` of them; a reference row scoring itself does not count its own zero distance.

Scoring is a plain block scan: ``torch.cdist`` of a block of rows against all reference rows, then the ``k``
smallest. The reference rows would go in model.safetensors (float32: ``cap x columns x 4`` bytes).
"""

from __future__ import annotations

import numpy as np
import torch

BLOCK = 1024  # query rows per distance block: a block's (BLOCK x reference) matrix stays a few MB


class KnnTerm:
    """Mean distance to the ``k`` nearest reference rows (higher = more anomalous)."""

    def __init__(self, k: int = 3, cap: int | None = None, seed: int = 0) -> None:
        self.k, self.cap, self.seed = k, cap, seed

    def fit(self, X: np.ndarray, rows: np.ndarray | None = None) -> KnnTerm:
        """``X``: every training row (they set the min-max range); ``rows``: the reference rows' indices."""
        X = np.asarray(X, np.float32)
        self.low = X.min(axis=0)
        span = X.max(axis=0) - self.low
        self.span = np.where(span > 0, span, 1.0).astype(np.float32)  # a constant column maps to 0
        rows = np.arange(len(X)) if rows is None else np.sort(rows)
        if self.cap is not None and len(rows) > self.cap:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, self.cap, replace=False))
        self.rows = rows
        self.ref = torch.from_numpy(self._scale(X[rows]))
        return self

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, np.float32) - self.low) / self.span).astype(np.float32)

    def score(self, X: np.ndarray, self_rows: np.ndarray | None = None) -> np.ndarray:
        """Each row's term (float64). ``self_rows[i]`` is the reference position of row ``i`` when it is itself a
        reference row (its own distance is left out), else -1; None for rows from elsewhere."""
        q = torch.from_numpy(self._scale(X))
        k = min(self.k, len(self.ref) - (self_rows is not None))
        out = np.empty(len(q))
        for i in range(0, len(q), BLOCK):
            d = torch.cdist(q[i : i + BLOCK], self.ref)
            if self_rows is not None:
                own = torch.from_numpy(self_rows[i : i + BLOCK])
                hit = own >= 0
                d[hit.nonzero()[:, 0], own[hit]] = float("inf")
            out[i : i + BLOCK] = d.topk(k, dim=1, largest=False).values.mean(dim=1).double().numpy()
        return out

    def score_training(self, X: np.ndarray) -> np.ndarray:
        """The term on the training rows ``fit`` saw, each reference row without itself."""
        position = np.full(len(X), -1, np.int64)
        position[self.rows] = np.arange(len(self.rows))
        return self.score(X, position)

    def nbytes(self) -> int:
        return self.ref.numel() * 4


def robust(values: np.ndarray) -> tuple[float, float]:
    """The detector's ``_robust``: median and interquartile range (else mean absolute deviation, else 1)."""
    values = values[np.isfinite(values)]
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else np.mean(np.abs(values - median))
    return float(median), float(spread) if spread > 0 else 1.0
