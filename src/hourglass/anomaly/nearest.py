"""A flagged row's nearest normal: the closest row the detector's decoder draws that the detector scores normal.

``AnomalyDetector.top_features`` compares a row with its reconstruction, which an anomaly distorts: the
decoder half-copies the odd part and smears the error over the rest. Here the code is searched
instead: minimise ``||x - G(z)||^2`` over codes ``z`` (in scaled units, so every column counts alike)
and keep, along the way, the nearest decoded row ``G(z)`` whose own score passes the detector's rule
(``verdicts``: the threshold ``offset_``, or a p-value level). The row minus that normal is what would
have to change: "this pixel should be darker", "x3 is 3.1 sd above normal".

The search starts from the row's own code and from the nearest normal one of ``N_POOL`` codes drawn
from the detector's code prior (a mixture fitted to the training codes, saved with every detector), so
no training row is stored. L-BFGS (``torch.optim.LBFGS``) walks each start towards the row; every
``CHECK_EVERY`` iterations the decoded rows are scored by the whole detector, isolation forest included
(which has no gradient). The code searched is the ensemble's whole code, every member's side by side, and
``G`` their averaged decoding: the decoder whose rows the detector scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hourglass.inference import InferenceModel
from hourglass.runtime.device import CPU_THREADS, torch_threads
from hourglass.training.prior import Prior

# A detector's judgement, handed in by ``AnomalyDetector.nearest_normal``: rows in the data's units -> their
# ``score_samples``; scores -> whether each passes the detector's rule.
Score = Callable[[np.ndarray], np.ndarray]
Passes = Callable[[np.ndarray], np.ndarray]

N_POOL = 1024  # prior codes decoded to find each row a second, normal start
CHECK_EVERY = 5  # L-BFGS iterations between scorings of the decoded rows
SEARCH_ROWS = 256  # rows searched together: bounds the decoded candidates held at once
TARGET_LIMIT = 1e6  # scaled units the search aims at most (float32 squares it and sums it safely)
PIXEL_PHRASE = "pixel ({where}) should be {way}: {value:.3g} here, {normal:.3g} in the normal"


@dataclass(frozen=True)
class Deviation:
    """One feature of a row set against its nearest normal (``NearestNormal.ranked``)."""

    feature: str
    value: float  # the row's, in the data's units
    normal: float  # the nearest normal's
    gap: float  # (value - normal) / the feature's scale: sd with standardised tables, the range's share for pixels
    phrase: str  # the same in words


@dataclass(frozen=True)
class NearestNormal:
    """What ``AnomalyDetector.nearest_normal`` found for each row.

    Attributes
    ----------
    row : np.ndarray of float, shape (n, *sample_shape)
        The rows asked about, in the data's units.
    normal : np.ndarray of float, shape (n, *sample_shape)
        Each row's nearest normal, a decoded code, in the data's units.
    difference : np.ndarray of float, shape (n, *sample_shape)
        ``row - normal``: what would have to change for the row to pass.
    score : np.ndarray of float64, shape (n,)
        ``score_samples`` of each normal.
    is_normal : np.ndarray of bool, shape (n,)
        Whether the normal passes the detector's rule. False where the search found no decoded row that
        does (then ``normal`` is the best-scored row it saw).
    distance : np.ndarray of float64, shape (n,)
        Root mean squared ``difference`` in scaled units (what the search minimised).
    scale : np.ndarray of float, shape (features,)
        The detector's per-feature scale: ``difference / scale`` is in scaled units.
    names : list of str
        The detector's feature names.
    kind : str
        ``"image"`` or ``"table"``.
    scaling : str
        The detector's scaling (``"standard"``: scaled units are the training standard deviation).
    """

    row: np.ndarray
    normal: np.ndarray
    difference: np.ndarray
    score: np.ndarray
    is_normal: np.ndarray
    distance: np.ndarray
    scale: np.ndarray
    names: list[str]
    kind: str
    scaling: str

    def gaps(self) -> np.ndarray:
        """``difference`` in scaled units, flattened: shape (n, features)."""
        # float64: a float32 row near its range's edge, over a scale below 1, would overflow float32.
        return self.difference.reshape(len(self.difference), -1).astype(np.float64) / self.scale

    def ranked(self, i: int = 0, k: int = 5) -> list[Deviation]:
        """Row ``i``'s ``k`` features farthest from its normal (in scaled units), farthest first.

        Examples
        --------
        >>> import numpy as np
        >>> from hourglass.anomaly import AnomalyDetector
        >>> X = np.random.default_rng(0).normal(size=(300, 3))
        >>> det = AnomalyDetector(hidden=(8,), epochs=2).fit(X)
        >>> found = det.nearest_normal([[0.0, 9.0, 0.0]])
        >>> found.ranked(0, k=1)[0].phrase  # doctest: +ELLIPSIS
        'x2 is ... sd above normal'
        """
        gaps = self.gaps()[i]
        row, normal = self.row.reshape(len(self.row), -1)[i], self.normal.reshape(len(self.normal), -1)[i]
        order = np.argsort(-np.abs(gaps), kind="stable")[: max(int(k), 0)]
        return [
            Deviation(self.names[j], float(row[j]), float(normal[j]), float(gaps[j]), self._phrase(j, row, normal))
            for j in order
        ]

    def phrases(self, i: int = 0, k: int = 5) -> list[str]:
        """``ranked(i, k)`` in words: ``"x3 is 3.1 sd above normal"``, ``"pixel (3, 5) should be darker: ..."``."""
        return [d.phrase for d in self.ranked(i, k)]

    def _phrase(self, j: int, row: np.ndarray, normal: np.ndarray) -> str:
        diff = float(row[j] - normal[j])
        if self.kind == "image":
            where = ", ".join(map(str, np.unravel_index(j, self.row.shape[1:])))
            way = "darker" if diff > 0 else "brighter"
            return PIXEL_PHRASE.format(where=where, way=way, value=row[j], normal=normal[j])
        side = "above" if diff > 0 else "below"
        if self.scaling == "standard":
            sd = abs(diff) / float(self.scale[j])
            return f"{self.names[j]} is {sd:{'.1f' if sd < 1e6 else '.3g'}} sd {side} normal"
        return f"{self.names[j]} is {abs(diff):.3g} {side} normal"


def nearest_normal(
    runner: InferenceModel,
    flat: np.ndarray,
    *,
    score: Score,
    passes: Passes,
    prior: Prior | None,
    names: list[str],
    steps: int,
    seed: int,
) -> NearestNormal:
    """Each of the checked rows ``flat``'s nearest normal under the detector's ``score`` and rule (``passes``):
    see ``AnomalyDetector.nearest_normal``. ``prior`` is the mixture over the training codes (None: the search
    starts from the row's own code alone); ``names`` the feature names its phrases use."""
    shape = (len(flat), *runner.sample_shape_)
    scaler = runner.scaler_
    scaled = (np.asarray(flat, np.float64) - scaler.offset) / scaler.scale
    # The search runs in float32, which a row some 1e19 scaled units out overflows: it aims at the row pulled in
    # to TARGET_LIMIT scaled units along each feature (the same side, far beyond anything the decoder draws),
    # while the distance it reports is to the row itself.
    target = np.clip(scaled, -TARGET_LIMIT, TARGET_LIMIT).astype(np.float32)
    starts = [runner.run(runner.model_.encode, target, runner.latent_dim, np.float32, scale_input=False)]
    blocks = [slice(i, i + SEARCH_ROWS) for i in range(0, len(flat), SEARCH_ROWS)]
    pool_codes, pool_rows = _normal_pool(runner, score, passes, prior, seed)
    if len(pool_codes):
        decoded = (pool_rows - scaler.offset) / scaler.scale
        starts.append(pool_codes[np.concatenate([np.argmin(_sq_distances(target[b], decoded), 1) for b in blocks])])
    found = [_search(runner, score, passes, target[b], [s[b] for s in starts], steps) for b in blocks]
    # Decoded rows are fractional: float64 rows stay float64, any other (pixels too) come back float32.
    normal = np.concatenate([f[0] for f in found]).astype(np.float64 if flat.dtype == np.float64 else np.float32)
    scores = np.concatenate([f[1] for f in found])
    row = np.asarray(flat, normal.dtype)
    return NearestNormal(
        row=row.reshape(shape),
        normal=normal.reshape(shape),
        difference=(row - normal).reshape(shape),
        score=scores,
        is_normal=passes(scores),
        distance=np.sqrt(np.mean(((normal - scaler.offset) / scaler.scale - scaled) ** 2, axis=1, dtype=np.float64)),
        scale=scaler.scale,
        names=names,
        kind=runner.kind_,
        scaling=scaler.kind,
    )


def _normal_pool(
    runner: InferenceModel, score: Score, passes: Passes, prior: Prior | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prior codes whose decoded rows the detector calls normal, and those rows (data units); empty without a prior."""
    if prior is None:
        return np.zeros((0, runner.latent_dim), np.float32), np.zeros((0, runner.n_features_in_))
    codes = prior.sample(N_POOL, seed).astype(np.float32)
    rows = runner.inverse_transform(codes)
    keep = passes(score(rows))
    return codes[keep], rows[keep]


def _search(
    runner: InferenceModel, score: Score, passes: Passes, target: np.ndarray, starts: list[np.ndarray], steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest normal decoded row (data units) and its score, for each scaled row of ``target``."""
    model = runner.model_
    device = next(model.parameters()).device
    n, width = target.shape
    goal = torch.as_tensor(np.tile(target, (len(starts), 1)), device=device)
    z = torch.as_tensor(np.concatenate(starts), device=device).clone().requires_grad_(True)
    # One L-BFGS over every row's codes: the rows' losses are independent, and sharing the line search reached
    # rows far from the training codes that a search per row stopped short of (and ran far faster). The
    # price: a row's normal can shift slightly with the rows searched beside it.
    opt = torch.optim.LBFGS([z], max_iter=CHECK_EVERY, history_size=20, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        value = ((model.decode(z) - goal) ** 2).mean(dim=1).sum()
        (z.grad,) = torch.autograd.grad(value, [z])  # the weights' gradients are not wanted
        return value

    path = [z.detach().clone()]
    model.eval()
    with torch_threads(CPU_THREADS if device.type == "cpu" else None), torch.enable_grad():
        for _ in range(-(-steps // CHECK_EVERY)):
            opt.step(loss)
            path.append(z.detach().clone())
        with torch.no_grad():
            decoded = model.decode(torch.cat(path)).cpu().numpy().reshape(len(path) * len(starts), n, width)
    # Every code visited is a candidate; the nearest the detector scores normal wins (the best-scored if none).
    candidates = decoded * runner.scaler_.scale + runner.scaler_.offset
    finite = np.isfinite(candidates).all(axis=2)
    scores = np.full(finite.shape, -np.inf)
    scores[finite] = score(candidates[finite])
    normal = passes(scores)  # a row too far out to decode scores -inf: never normal
    distance = np.where(normal, np.mean((decoded - target) ** 2, axis=2), np.inf)
    best = np.where(normal.any(axis=0), np.argmin(distance, axis=0), np.argmax(scores, axis=0))
    rows = np.arange(n)
    return candidates[best, rows], scores[best, rows]


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` and ``b``, (len(a), len(b))."""
    return (a**2).sum(axis=1)[:, None] - 2 * a @ b.T + (b**2).sum(axis=1)[None]
