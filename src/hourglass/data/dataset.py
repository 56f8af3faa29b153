"""The in-memory (or memory-mapped) form every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    """Rows of samples plus optional labels. Labels only ever colour plots; training never sees them.

    ``X`` has shape ``(n, *sample_shape)``: ``(n, features)`` for tables, ``(n, H, W)`` or
    ``(n, H, W, C)`` for images. It may be a read-only memory map for data larger than RAM.
    """

    X: np.ndarray
    y: np.ndarray | None
    kind: str  # "image" or "table"
    name: str
    feature_names: list[str] | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.X.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.sample_shape))
