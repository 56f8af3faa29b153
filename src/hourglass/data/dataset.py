"""The in-memory (or memory-mapped) form every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    """Rows of samples plus optional labels. Labels only ever colour plots; training never sees them.

    Attributes
    ----------
    X : np.ndarray
        Shape ``(n, *sample_shape)``: ``(n, features)`` for tables, ``(n, H, W)`` or ``(n, H, W, C)``
        for images. It may be a read-only memory map for data larger than RAM.
    y : np.ndarray of shape (n,), or None
        Labels, if the source had them.
    kind : {"image", "table"}
    name : str
        What the data is called in titles and messages.
    feature_names : list[str] or None, default None
        A table's column names.
    ids : np.ndarray of str, shape (n,), or None, default None
        What each row is called where a user looks for it: an image folder's file paths (relative to
        the folder). ``None`` means rows are named by their 0-based position in the source.

    Examples
    --------
    >>> import numpy as np
    >>> data = Dataset(np.zeros((10, 7, 7), np.uint8), None, kind="image", name="blank")
    >>> len(data), data.sample_shape, data.n_features
    (10, (7, 7), 49)
    """

    X: np.ndarray
    y: np.ndarray | None
    kind: str  # "image" or "table"
    name: str
    feature_names: list[str] | None = None
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample (``X.shape[1:]``)."""
        return tuple(int(s) for s in self.X.shape[1:])

    @property
    def n_features(self) -> int:
        """Values per sample, as the model sees them flattened."""
        return int(np.prod(self.sample_shape))
