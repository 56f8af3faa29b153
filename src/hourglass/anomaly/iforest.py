"""scikit-learn's ``IsolationForest`` as plain arrays: fitted by scikit-learn, saved without pickle, scored in torch.

``Forest.fit`` trains an ``IsolationForest`` and keeps only numbers: per tree, padded to the largest tree,
the children (``left``/``right``, -1 at leaves and padding), the split ``feature`` (a global column index)
and ``threshold`` (a row goes left when ``x[feature] <= threshold``), and at each leaf its ``value``, the
leaf's depth plus ``c(n)``, the average path length still expected among the ``n`` training rows left there.
``Forest.score`` is ``-IsolationForest.score_samples``: ``2 ** (-mean value over trees / c(max_samples))``,
near 1 for rows isolated in few splits (anomalies), about 0.5 or less for the rest.

Scoring walks all rows down a tree at once, one level per step (numpy, on the CPU): each tree is laid out
as a complete binary tree (heap order: the children of slot ``i`` are ``2i + 1`` and ``2i + 2``), where a
leaf above the last level is continued by "always left" slots, so a step is three gathers and a comparison,
with no branch and no per-row Python. Each row is computed on its own, so its score is the same bits in any
batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hourglass.errors import HourglassError

MAX_TREES = 1_000  # bounds what a loaded file may ask for: trees x 2**depth slots are allocated
MAX_DEPTH = 12  # the default forest (256 rows per tree) is 8 deep; scikit-learn's is ceil(log2(max_samples))
MAX_FIT_ROWS = 100_000  # each tree sees 256 rows: fit on a seeded subsample of bigger (memory-mapped) data
NAMES = ("left", "right", "feature", "threshold", "value")
DTYPES = {"left": np.int32, "right": np.int32, "feature": np.int32, "threshold": np.float64, "value": np.float64}


def average_path_length(n: ArrayLike) -> np.ndarray:
    """``c(n)``: the mean depth of an unsuccessful search in a binary search tree of ``n`` keys (as scikit-learn).

    Examples
    --------
    >>> average_path_length([1, 2, 256]).round(4)
    array([ 0.    ,  1.    , 10.2448])
    """
    n = np.asarray(n, dtype=np.float64)
    out = np.where(n == 2, 1.0, 0.0)
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class Forest:
    """An isolation forest's trees as arrays of shape (trees, nodes); see the module docstring.

    Attributes
    ----------
    arrays : dict[str, np.ndarray]
        ``left``, ``right``, ``feature`` (int32), ``threshold`` and ``value`` (float64), each (trees, nodes).
    max_samples : int
        Rows each tree was grown on (its path lengths are normalised by ``c(max_samples)``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    >>> forest = Forest.fit(X, seed=0)
    >>> forest.n_trees, forest.max_samples
    (100, 256)
    >>> scores = forest.score(np.array([[0, 0, 0], [8, 8, 8]], np.float32))
    >>> bool(scores[1] > scores[0])  # the far-out row isolates sooner: a higher anomaly score
    True
    """

    def __init__(self, arrays: dict[str, np.ndarray], max_samples: int, n_features: int, where: str = "forest") -> None:
        _check(arrays, max_samples, n_features, where)
        self.arrays = {name: arrays[name] for name in NAMES}
        self.max_samples = int(max_samples)
        self._heap = _heap_layout(self.arrays, where)

    @classmethod
    def fit(cls, X: np.ndarray, seed: int, rows: np.ndarray | None = None) -> Forest:
        """Fit scikit-learn's ``IsolationForest(random_state=seed)`` (defaults otherwise) on the rows of ``X``
        (those numbered ``rows`` when given)."""
        from sklearn.ensemble import IsolationForest

        if rows is not None and len(rows) > MAX_FIT_ROWS:
            rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_FIT_ROWS, replace=False))
        elif rows is None and len(X) > MAX_FIT_ROWS:
            rows = np.sort(np.random.default_rng(seed).choice(len(X), MAX_FIT_ROWS, replace=False))
        if rows is not None:  # picked before converting, so a memory map is read only in part
            X = X[rows]
        return cls.from_sklearn(IsolationForest(random_state=seed).fit(np.asarray(X, np.float32)))

    @classmethod
    def from_sklearn(cls, forest: Any) -> Forest:
        """The arrays of a fitted ``IsolationForest`` (any ``n_estimators``, ``max_samples``, ``max_features``)."""
        n_features = forest.n_features_in_
        trees = [est.tree_ for est in forest.estimators_]
        width = max(t.node_count for t in trees)
        arrays = {name: np.zeros((len(trees), width), DTYPES[name]) for name in NAMES}
        arrays["left"][:] = arrays["right"][:] = -1
        # Trees see X[:, features] only when the forest subsamples features (scikit-learn's own rule).
        subsampled = forest._max_features != n_features
        for i, (tree, features) in enumerate(zip(trees, forest.estimators_features_, strict=True)):
            n, leaf = tree.node_count, tree.children_left == -1
            arrays["left"][i, :n], arrays["right"][i, :n] = tree.children_left, tree.children_right
            local = np.where(leaf, 0, tree.feature)
            arrays["feature"][i, :n] = np.asarray(features)[local] if subsampled else local
            arrays["threshold"][i, :n] = np.where(leaf, 0.0, tree.threshold)
            # As scikit-learn adds it up: path length (root = 1) + c(n_node_samples) - 1.
            value = tree.compute_node_depths() + average_path_length(tree.n_node_samples) - 1.0
            arrays["value"][i, :n] = np.where(leaf, value, 0.0)
        return cls(arrays, int(forest.max_samples_), n_features)

    @property
    def n_trees(self) -> int:
        return self.arrays["left"].shape[0]

    def score(self, x: np.ndarray) -> np.ndarray:
        """``-IsolationForest.score_samples`` of float32 rows ``x`` (n, features), as float64 (n,)."""
        feature, threshold, value, depth = self._heap
        n = x.shape[0]
        # Column-major rows: a tree's step reads x[feature, row] for every row, n apart per feature.
        by_feature = np.ascontiguousarray(x.T, dtype=np.float32).reshape(-1)
        rows = np.arange(n)
        total = np.zeros(n)
        # One tree at a time keeps its arrays in cache (faster than all trees at once), and adds the trees
        # in a fixed order, as scikit-learn does: a row's sum never depends on what else is in the batch.
        for tree_feature, tree_threshold, tree_value in zip(feature * n, threshold, value, strict=True):
            node = np.zeros(n, np.int64)
            for _ in range(depth):
                right = by_feature.take(tree_feature.take(node) + rows) > tree_threshold.take(node)
                node *= 2
                node += 1
                node += right
            total += tree_value.take(node - len(tree_feature))
        norm = self.n_trees * float(average_path_length(self.max_samples))
        if norm == 0:  # one training row: every path is 0 long, and scikit-learn scores 1
            return np.ones(n)
        return 2.0 ** -(total / norm)


def _check(arrays: dict[str, np.ndarray], max_samples: int, n_features: int, where: str) -> None:
    """Refuse, in one ``HourglassError`` line, arrays that are not a forest this module wrote."""

    def refuse(problem: str) -> None:
        raise HourglassError(f"{where}: isolation forest arrays do not match ({problem})")

    missing = sorted(set(NAMES) - arrays.keys())
    extra = sorted(arrays.keys() - set(NAMES))
    if missing or extra:
        refuse(f"tensor {missing[0]!r} is missing" if missing else f"unexpected tensor {extra[0][:80]!r}")
    shape = arrays["left"].shape
    if len(shape) != 2 or not (1 <= shape[0] <= MAX_TREES and 1 <= shape[1] < 2 ** (MAX_DEPTH + 1)):
        refuse(f"'left' has shape {shape}; need (trees, nodes), at most {MAX_TREES} trees")
    for name in NAMES:
        a = arrays[name]
        if a.shape != shape or a.dtype != DTYPES[name]:
            refuse(f"{name!r} is {a.dtype} of shape {a.shape}; need {np.dtype(DTYPES[name])} of shape {shape}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            refuse(f"{name!r} holds NaN or infinite values")
    if not (isinstance(max_samples, int | np.integer) and max_samples >= 1):
        refuse(f"max_samples must be a positive integer, not {max_samples!r}")
    left, right, feature, value = arrays["left"], arrays["right"], arrays["feature"], arrays["value"]
    index = np.arange(shape[1])
    leaf = left < 0
    # Children come after their parent, and each node has one parent: every tree is a tree (no cycle, no sharing).
    if not ((leaf == (right < 0)) & (leaf | ((left > index) & (right > index)))).all():
        refuse("'left'/'right' must both be -1 (a leaf) or later nodes of the same tree")
    if (np.maximum(left, right) >= shape[1]).any():
        refuse("'left'/'right' point past the last node")
    children = np.sort(np.concatenate([left, right], axis=1), axis=1)
    if ((children[:, 1:] == children[:, :-1]) & (children[:, 1:] >= 0)).any():
        refuse("a node is the child of two nodes")
    if ((feature < 0) | (feature >= n_features)).any():
        refuse(f"'feature' must index one of the {n_features} features")
    if (value < 0).any():
        refuse("'value' (path lengths) must not be negative")


def _heap_layout(arrays: dict[str, np.ndarray], where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Each tree as a complete binary tree of the forest's depth D: ``feature``/``threshold`` (trees, 2**D - 1)
    for the split slots, ``value`` (trees, 2**D) for the last level; a shallower leaf sits at its leftmost
    descendant and the slots above it send every row left (threshold +inf)."""
    left, right = arrays["left"], arrays["right"]
    levels = []  # per depth: (tree, node, heap slot) of the nodes there
    tree = np.arange(left.shape[0])
    node = slot = np.zeros_like(tree)
    while len(tree):
        levels.append((tree, node, slot))
        if len(levels) > MAX_DEPTH + 1:
            raise HourglassError(f"{where}: isolation forest arrays do not match (a tree is deeper than {MAX_DEPTH})")
        inner = left[tree, node] >= 0
        t, n, s = tree[inner], node[inner], slot[inner]
        tree = np.concatenate([t, t])
        node = np.concatenate([left[t, n], right[t, n]])
        slot = np.concatenate([2 * s + 1, 2 * s + 2])
    depth = len(levels) - 1
    feature = np.zeros((left.shape[0], 2**depth - 1), np.int64)
    # Rows are float32: x <= t exactly when x <= the largest float32 not above t, so compare in float32.
    threshold = np.full(feature.shape, np.inf, np.float32)
    value = np.zeros((left.shape[0], 2**depth), np.float64)
    for level, (tree, node, slot) in enumerate(levels):
        inner = arrays["left"][tree, node] >= 0
        t, n, s = tree[inner], node[inner], slot[inner]
        feature[t, s] = arrays["feature"][t, n]
        threshold[t, s] = _float32_floor(arrays["threshold"][t, n])
        t, n, s = tree[~inner], node[~inner], slot[~inner]
        value[t, (s + 1) * 2 ** (depth - level) - 2**depth] = arrays["value"][t, n]
    return feature, threshold, value, depth


def _float32_floor(t: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 ``t``."""
    with np.errstate(over="ignore"):
        down = t.astype(np.float32)
    return np.where(down > t, np.nextafter(down, np.float32(-np.inf)), down)
