"""Input scaling learned on the training data, saved with the model and undone on output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hourglass.errors import HourglassError

KINDS = ("minmax", "standard", "none")
CHUNK_ROWS = 65_536


@dataclass
class Scaler:
    """``scaled = (x - offset) / scale`` per feature; both vectors have one entry per feature."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, kind: str, per_feature: bool = True) -> Scaler:
        """Learn the statistics in chunks (so memory-mapped arrays stay on disk).

        ``per_feature=False`` pools every value (images: a pixel that is always dark must not be
        stretched to full range).
        """
        if kind not in KINDS:
            raise HourglassError(f"unknown scaling {kind!r}; choose one of {', '.join(KINDS)}")
        n_features = X.shape[1]
        if kind == "none":
            return cls(kind, np.zeros(n_features, np.float32), np.ones(n_features, np.float32))
        axis = 0 if per_feature else None
        if kind == "minmax":
            lo = np.full(n_features, np.inf)
            hi = np.full(n_features, -np.inf)
            for chunk in _chunks(X):
                lo = np.minimum(lo, chunk.min(axis=axis))
                hi = np.maximum(hi, chunk.max(axis=axis))
            offset, spread = lo, hi - lo
        else:
            total = np.zeros(n_features)
            squares = np.zeros(n_features)
            count = 0
            for chunk in _chunks(X):
                total += chunk.sum(axis=axis)
                squares += np.square(chunk).sum(axis=axis)
                count += chunk.shape[0] if per_feature else chunk.size
            offset = total / count
            spread = np.sqrt(np.maximum(squares / count - offset**2, 0.0))
        # A constant feature keeps scale 1 so it maps to 0 instead of dividing by zero.
        spread = np.where(spread > 1e-12 * np.maximum(1.0, np.abs(offset)), spread, 1.0)
        return cls(kind, np.asarray(offset, np.float32), np.asarray(spread, np.float32))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, np.float32) - self.offset) / self.scale).astype(np.float32, copy=False)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float32) * self.scale + self.offset).astype(np.float32, copy=False)


def _chunks(X: np.ndarray):
    for start in range(0, X.shape[0], CHUNK_ROWS):
        yield np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64)
