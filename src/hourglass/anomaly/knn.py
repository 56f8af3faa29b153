"""The detector's nearest-neighbour term: a row's mean distance to its ``k`` nearest reference rows.

Distances are Euclidean in min-max units of the training rows (each column's training range mapped to [0, 1],
a constant column left as it is), so that no column's units outweigh the others. The reference rows are the
training rows the autoencoders trained on, not the held-out ones that calibrate p-values (a held-out row
must be scored as a new row would be), at most ``MAX_REFERENCE`` of them drawn with the detector's seed. They
are kept as given (float32) in model.safetensors, with the range's ``low`` and ``span`` (float64).

Every reference row is compared (exact neighbours, no index that could miss one), in float64, where the
distance of any float32 row is finite. A fast pass (matrix products over whole row groups, as the
autoencoder's term runs) keeps ``k + SPARE`` candidates per row; their distances are then computed again
from the differences themselves, so the result is exact and each row's bits depend on that row alone.
A training row that is itself a reference row is scored without itself (``own``), so the training rows'
distances, which set the term's median and spread, are those of rows the detector has not seen.
"""

from __future__ import annotations

import numpy as np
import torch

from hourglass.errors import HourglassError
from hourglass.runtime.forward import batch_invariant

K = 5  # neighbours averaged (chosen with the weight; docs/benchmarks.md, "Anomaly detection: the recipe")
MAX_REFERENCE = 2_000  # reference rows kept: the folder grows by columns x 4 bytes per row
SPARE = 8  # candidates beyond k from the fast pass, re-measured exactly
BLOCK = 256  # rows per distance block: its (rows x reference) and (rows x candidates x features) arrays stay small
NAMES = ("reference", "low", "span")
FLOAT64_MAX = float(np.finfo(np.float64).max)


class Neighbors:
    """Mean distance to the ``k`` nearest reference rows (float64, higher = more anomalous).

    Attributes
    ----------
    arrays : dict[str, np.ndarray]
        ``reference`` (float32, (rows, features), the rows as given), ``low`` and ``span`` (float64,
        (features,)): what model.safetensors holds under ``knn.``.
    k : int
        Neighbours averaged.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    >>> knn = Neighbors.fit(X, np.arange(300), seed=0)
    >>> knn.k, knn.arrays["reference"].shape
    (5, (300, 3))
    >>> d = knn.score(np.array([[0, 0, 0], [8, 8, 8]], np.float32))
    >>> bool(d[1] > d[0])  # the far-out row is far from every training row
    True
    """

    def __init__(self, arrays: dict[str, np.ndarray], k: int, n_features: int, where: str = "knn") -> None:
        _check(arrays, k, n_features, where)
        self.arrays = {name: arrays[name] for name in NAMES}
        self.k = int(k)
        low, span = (torch.from_numpy(self.arrays[name]) for name in ("low", "span"))
        self._low, self._span = low, span
        self._ref = self._scaled(torch.from_numpy(self.arrays["reference"]))
        self._ref_sq = (self._ref * self._ref).sum(dim=1)
        self._ref_np = self._ref.numpy()

    @classmethod
    def fit(cls, X: np.ndarray, rows: np.ndarray, seed: int, k: int = K) -> Neighbors:
        """The term for training rows ``X`` (as given; they set the min-max range), its reference rows drawn
        from those numbered ``rows`` (at most ``MAX_REFERENCE``, seeded)."""
        rows = np.sort(np.asarray(rows, np.int64))
        if len(rows) > MAX_REFERENCE:
            rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_REFERENCE, replace=False))
        low = np.asarray(X.min(axis=0), np.float32).astype(np.float64)
        span = np.asarray(X.max(axis=0), np.float32).astype(np.float64) - low
        span = np.where(span > 0, span, 1.0)  # a constant column stays where it is
        reference = np.ascontiguousarray(np.asarray(X[rows], np.float32))
        n_ref = len(reference)
        knn = cls({"reference": reference, "low": low, "span": span}, min(k, max(1, n_ref - 1)), X.shape[1])
        knn.rows = rows
        return knn

    rows: np.ndarray | None = None  # after ``fit``: the training rows that are reference rows, in order

    @property
    def n_reference(self) -> int:
        return len(self._ref)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        return (x.double() - self._low) / self._span

    def score(self, X: np.ndarray | torch.Tensor, own: np.ndarray | None = None) -> np.ndarray:
        """Each row's mean distance to its ``k`` nearest reference rows. ``own[i]``: the reference position of row
        ``i`` when it is a reference row itself (its own distance is left out), else -1."""
        out = np.empty(len(X), np.float64)
        for start in range(0, len(X), BLOCK):  # block by block: a memory-mapped X is read a block at a time
            part = X[start : start + BLOCK]
            part = part.cpu() if isinstance(part, torch.Tensor) else torch.from_numpy(np.asarray(part, np.float32))
            block = self._scaled(part)
            mine = None if own is None else torch.from_numpy(np.asarray(own[start : start + BLOCK], np.int64))
            out[start : start + len(block)] = self._block(block, mine).numpy()
        return out

    def score_training(self, X: np.ndarray) -> np.ndarray:
        """The term of the training rows ``fit`` saw, each reference row measured without itself."""
        own = np.full(len(X), -1, np.int64)
        own[self.rows] = np.arange(self.n_reference)
        return self.score(X, own)

    def _block(self, q: torch.Tensor, own: torch.Tensor | None) -> torch.Tensor:
        ref, n_ref = self._ref, self.n_reference
        # Fast pass: squared distances by |q|^2 + |r|^2 - 2 q.r, over whole row groups, for the candidates only.
        rough = batch_invariant(lambda rows: (rows * rows).sum(dim=1, keepdim=True) - 2 * rows @ ref.T, q)
        rough = rough + self._ref_sq
        if own is not None:
            hit = own >= 0
            rough[hit.nonzero()[:, 0], own[hit]] = float("inf")
        keep = min(n_ref, self.k + SPARE)
        candidates = rough.topk(keep, dim=1, largest=False).indices
        # Exact pass: each candidate's distance from the differences themselves, row by row.
        # numpy sums each row's squares on its own (pairwise, single-threaded), whatever else is in the block.
        with np.errstate(over="ignore", invalid="ignore"):
            exact = np.sqrt(np.square(q.numpy()[:, None, :] - self._ref_np[candidates.numpy()]).sum(axis=2))
        if own is not None:
            exact[candidates.numpy() == own.numpy()[:, None]] = np.inf
        nearest = np.sort(exact, axis=1)[:, : self.k]
        # A row beyond float64 on the way (none from float32 input within a sane range) reads as far as can be.
        return torch.from_numpy(np.nan_to_num(nearest.mean(axis=1), nan=FLOAT64_MAX, posinf=FLOAT64_MAX))


def _check(arrays: dict[str, np.ndarray], k: int, n_features: int, where: str) -> None:
    """A saved term's arrays and k, checked before use: names, dtypes, shapes, finite values, positive spans."""
    missing = [f"knn.{name}" for name in NAMES if name not in arrays]
    extra = sorted(f"knn.{name}" for name in arrays if name not in NAMES)
    if missing or extra:
        raise HourglassError(
            f"{where}: the nearest-neighbour arrays are incomplete (missing {missing}, unknown {extra})"
        )
    dtypes = {"reference": np.float32, "low": np.float64, "span": np.float64}
    for name, dtype in dtypes.items():
        if arrays[name].dtype != dtype:
            raise HourglassError(f"{where}: knn.{name} is {arrays[name].dtype}, not {np.dtype(dtype)}")
    reference = arrays["reference"]
    if reference.ndim != 2 or reference.shape[1] != n_features or not 1 <= len(reference) <= MAX_REFERENCE:
        raise HourglassError(
            f"{where}: knn.reference has shape {list(reference.shape)}; expected [1 to {MAX_REFERENCE} rows, "
            f"{n_features}]"
        )
    for name in ("low", "span"):
        if arrays[name].shape != (n_features,):
            raise HourglassError(f"{where}: knn.{name} has shape {list(arrays[name].shape)}; expected [{n_features}]")
    for name in NAMES:
        if not np.isfinite(arrays[name]).all():
            raise HourglassError(f"{where}: knn.{name} holds values that are not finite")
    if not (arrays["span"] > 0).all():
        raise HourglassError(f"{where}: knn.span holds values that are not positive")
    if not 1 <= k <= max(1, len(reference) - 1):
        raise HourglassError(f"{where}: knn k is {k}, outside 1 to {max(1, len(reference) - 1)} for its reference rows")
