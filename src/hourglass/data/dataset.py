"""The in-memory (or memory-mapped) form every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Dataset:
    """Rows of samples plus optional labels. Labels only ever colour plots; training never sees them.

    Rows are numbered one way everywhere: row N is the 0-based position N in the source as hourglass reads
    it, so ``load_dataset("mnist7").X[N]`` is the digit the demo report calls #N and its explorer calls
    row N, and the ``row_id`` column of every table a command writes holds that N (an image folder's
    files are numbered in their sorted order, and also named by their path).

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
    index : np.ndarray of int, shape (n,), or None, default None
        Each row's 0-based position in the source, where it is not simply ``0 .. n-1``: a chunk of a
        larger file, or what is left after rows were dropped (``drop_nonfinite``).
    source : str or None, default None
        Where the rows came from (a file's resolved path, a built-in name), when whoever read them says so:
        an estimator fitted on this Dataset saves it, so that commands find that data again (``explore MODEL``).
    options : dict or None, default None
        How the source was read (its label column, an image folder's size and colour ...), saved beside it,
        so that new data is read alike.

    Examples
    --------
    >>> import numpy as np
    >>> data = Dataset(np.zeros((10, 7, 7), np.uint8), None, kind="image", name="blank")
    >>> len(data), data.sample_shape, data.n_features
    (10, (7, 7), 49)
    >>> data.take(np.array([2, 5])).row_index().tolist()
    [2, 5]
    """

    X: np.ndarray
    y: np.ndarray | None
    kind: str  # "image" or "table"
    name: str
    feature_names: list[str] | None = None
    ids: np.ndarray | None = None
    index: np.ndarray | None = None
    source: str | None = None
    options: dict | None = None

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

    def row_index(self) -> np.ndarray:
        """Each row's 0-based position in the source (``index``, or ``0 .. n-1``)."""
        return np.arange(len(self), dtype=np.int64) if self.index is None else np.asarray(self.index, np.int64)

    def take(self, rows: np.ndarray | slice) -> Dataset:
        """The rows ``rows`` (positions, a boolean mask or a slice), their labels, ids and source positions kept."""

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else np.asarray(values)[rows]

        if isinstance(rows, slice):  # a memory map stays one, and a chunk's numbers cost only the chunk
            X = self.X[rows]
            index = np.arange(*rows.indices(len(self)), dtype=np.int64) if self.index is None else self.index[rows]
        else:
            X, index = np.asarray(self.X)[rows], self.row_index()[rows]
        return replace(self, X=X, y=pick(self.y), ids=pick(self.ids), index=index)
