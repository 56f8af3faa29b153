"""The detector's nearest-neighbour term: a row's mean distance to its ``k`` nearest reference rows.

Distances are Euclidean in min-max units of the training rows (each column's training range mapped to [0, 1],
a constant column left as it is), so that no column's units outweigh the others. The reference rows are the
training rows the autoencoders trained on, not the held-out ones that calibrate p-values (a held-out row
must be scored as a new row would be), at most ``MAX_REFERENCE`` of them drawn with the detector's seed. They
are kept as given (float32) in model.safetensors, with the range's ``low`` and ``span`` (float64).

Every reference row is compared (exact neighbours, no index that could miss one), in float64, where the
distance of any float32 row is finite. A rough pass finds the candidates: one float32 matrix product over a
block of rows gives each row's squared distances up to a constant, and the minima of strided groups of reference
rows bound the ``k``-th nearest from above. Every reference row whose rough distance lies within twice the
product's rounding bound of that (a bound that holds whatever order the product sums in) is a candidate, so the
true ``k`` nearest always are; the candidates' distances are then computed again in float64 from the
differences themselves. The rough pass decides only which rows are measured, never a distance, so the result
is exact and each row's bits depend on that row alone, whatever else is in its block.
A training row that is itself a reference row is scored without itself (``own``), so the training rows'
distances, which set the term's median and spread, are those of rows the detector has not seen.
"""

from __future__ import annotations

import numpy as np
import torch

from hourglass.errors import HourglassError

K = 5  # neighbours averaged (chosen with the weight; docs/benchmarks.md, "Anomaly detection: the recipe")
MAX_REFERENCE = 2_000  # reference rows kept: the folder grows by columns x 4 bytes per row
GROUP = 16  # reference rows per strided group whose minimum the rough pass keeps
SPARE_GROUPS = 3  # groups beyond k searched for candidates before a row's whole rough line is
BLOCK = 1024  # rows per block: one matrix product and a few Python steps serve them all
PAIRS = 1 << 16  # values per chunk of the exact pass's (candidate pairs x features) differences
TOO_BIG = 1e30  # squared norms from here on could overflow the rough float32 pass: every row is measured
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
        self._ref_np = self._ref.numpy()
        # Rough pass: [q, 1] @ [-2r; |r|^2] is |q - r|^2 - |q|^2, which ranks a row's reference rows in one product.
        # Padding columns (up to whole groups) read +inf, never a candidate.
        n_ref, n_features = self._ref.shape
        n_pad = -(-n_ref // GROUP) * GROUP
        ref_sq = (self._ref * self._ref).sum(dim=1)
        weights = torch.zeros(n_pad, n_features + 1, dtype=torch.float32)  # (out, in), as a linear layer's
        weights[:n_ref, :n_features] = -2 * self._ref.float()
        weights[:n_ref, n_features] = ref_sq.float()
        weights[n_ref:, n_features] = float("inf")
        self._weights = weights
        self._ref_sq_max = float(ref_sq.max())

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
        n_rows, n_ref = len(q), self.n_reference
        k = self.k
        if n_ref <= GROUP * (k + SPARE_GROUPS) or not self._ref_sq_max < TOO_BIG:
            # Few reference rows (or a range that could overflow the rough pass): measure every one.
            rows = torch.arange(n_rows).repeat_interleave(n_ref)
            return self._nearest(q, rows, torch.arange(n_ref).repeat(n_rows), own)
        q_sq = (q * q).sum(dim=1)
        # The margin assumes IEEE float32 products: where torch may multiply float32 in lower precision (a
        # ``set_float32_matmul_precision`` other than "highest"), the same product runs in float64, within it.
        dtype = torch.float32 if torch.get_float32_matmul_precision() == "highest" else torch.float64
        rough = torch.cat([q.to(dtype), q.new_ones(n_rows, 1, dtype=dtype)], dim=1) @ self._weights.to(dtype).T
        if own is not None:
            hit = own >= 0
            rough[hit.nonzero()[:, 0], own[hit]] = float("inf")
        # The k-th smallest group minimum is at least the k-th smallest rough value: k distinct rows reach it.
        groups = rough.view(n_rows, GROUP, -1)  # group g: columns g, g + G, g + 2G, ... (G = groups)
        n_groups = groups.shape[2]
        minima, best = groups.amin(dim=1).topk(k + SPARE_GROUPS, dim=1, largest=False)
        limit = minima[:, k - 1].double() + self._margin(q_sq)
        # A true k-nearest row's rough value is within the bound of its distance, so within twice the bound of
        # that k-th minimum (the margin): every row above the limit is farther than k candidates are.
        big = ~(q_sq < TOO_BIG)  # a row beyond float32's reach in the rough pass: every reference row
        limit[big] = float("inf")
        searched = minima[:, -1].double() > limit  # no candidate beyond the kept groups
        columns = (best[:, :, None] + n_groups * torch.arange(GROUP)).reshape(n_rows, -1)
        near = (rough.gather(1, columns).double() <= limit[:, None]) & searched[:, None]
        at = near.view(-1).nonzero()[:, 0]
        pair_rows, pair_cols = [at // columns.shape[1]], [columns.view(-1)[at]]
        rest = (~searched).nonzero()[:, 0]  # ties or a dense cluster beyond the kept groups: the whole line
        if len(rest):
            at = (~(rough[rest, :n_ref].double() > limit[rest, None])).nonzero()  # NaN (a big row) counts as near
            pair_rows.append(rest[at[:, 0]])
            pair_cols.append(at[:, 1])
        return self._nearest(q, torch.cat(pair_rows), torch.cat(pair_cols), own)

    def _margin(self, q_sq: torch.Tensor) -> torch.Tensor:
        """Twice the rough pass's worst rounding error of |r|^2 - 2 q.r, with room to spare: a float32 dot product
        of n terms is within n units of the last place of the sum of its terms' magnitudes, in any summation order,
        and |r|^2 + 2|q.r| <= |q|^2 + 2|r|^2; the inputs' rounding to float32 and float64's own error fit in the
        room, and the absolute term covers values flushed to zero."""
        n, unit = self._weights.shape[1], 2.0**-24
        relative = 2.02 * (n + 4) * unit / (1 - (n + 1) * unit)
        return relative * (q_sq + 2 * self._ref_sq_max) + 2e-37 * n * (1 + self._ref_sq_max)

    def _nearest(
        self, q: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, own: torch.Tensor | None
    ) -> torch.Tensor:
        """The mean of each row's ``k`` smallest exact distances among its candidate pairs ``(rows, cols)``,
        which hold every row's true ``k`` nearest."""
        n_rows, rows_np, cols_np = len(q), rows.numpy(), cols.numpy()
        order = np.argsort(rows_np, kind="stable")
        rows_np, cols_np = rows_np[order], cols_np[order]
        # Each pair's distance from the differences, summed by numpy over the features of that pair alone.
        q_np, exact = q.numpy(), np.empty(len(rows_np), np.float64)
        step = max(1, PAIRS // max(1, q_np.shape[1]))
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(0, len(rows_np), step):
                diff = q_np[rows_np[s : s + step]] - self._ref_np[cols_np[s : s + step]]
                np.square(diff, out=diff)
                exact[s : s + step] = np.sqrt(diff.sum(axis=1))
        if own is not None:
            exact[cols_np == own.numpy()[rows_np]] = np.inf
        counts = np.bincount(rows_np, minlength=n_rows)
        lines = np.full((n_rows, counts.max()), np.inf)
        lines[rows_np, np.arange(len(rows_np)) - (np.cumsum(counts) - counts)[rows_np]] = exact
        nearest = np.sort(lines, axis=1)[:, : self.k]
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
