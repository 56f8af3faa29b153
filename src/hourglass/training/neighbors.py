"""Neighbor-preserving codes: UMAP's map of the rows fit was given, which the encoder learns to draw.

``Autoencoder(structure="neighbors")`` trains the code to keep each row's nearest neighbors near, in three
steps, all at ``fit`` and all from the run's seed:

* ``fuzzy_graph`` builds UMAP's graph of the scaled rows ``fit`` was given, held-out ones too (McInnes, Healy
  and Melville 2018): each row's ``k`` nearest neighbors (scikit-learn's exact ``NearestNeighbors``; pynndescent beyond
  ``EXACT_ROWS``), weighted ``exp(-(d - rho) / sigma)`` with ``rho`` the distance to the nearest neighbor
  and ``sigma`` set so that the weights sum to ``log2(k + 1)``, then symmetrised by the fuzzy union
  ``A + A^T - A * A^T``. ``n_neighbors=k`` counts the neighbors besides the row itself (umap-learn's
  ``n_neighbors=k + 1``).
* ``layout`` (``hourglass.training.layout``) places the rows in the code's width by UMAP's own objective
  and optimisation: the cross-entropy of the graph's edges against ``q = 1 / (1 + a d^(2b))`` of
  ``min_dist=0.1``, umap-learn's stochastic moves with its schedule, from a spectral start; no network, so
  its work grows with the graph as umap-learn's does.
* the autoencoder then trains as usual with one more term, the mean squared distance of each batch row's
  code to its place in the layout (``models.base.anchored``), weighted by ``Structure.weight`` times the
  data's variance (the mean per-feature variance of the scaled rows), so one weight means the same for pixels
  and standardised tables.

This is parametric UMAP's aim (Sainburg, McInnes and Gentner, Neural Computation 2021) by another road:
parametric UMAP puts the cross-entropy itself in every training step, where it costs the encoding of six
more rows per edge, and the decoder must chase codes that keep moving. Here the codes' targets stand still,
so the decoder learns them as it goes, with no refit after the fit; the fit is several times faster at the
same neighbor accuracy (docs/benchmarks.md, "Constants in training/ and what chose them").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse

from hourglass.errors import HourglassError
from hourglass.params import AUTOENCODER
from hourglass.training.layout import Graph, layout

SMOOTH_STEPS = 64  # bisection steps for each row's sigma
# Exact kNN costs O(n^2 d); pynndescent's approximate graph costs far less on large data, but it compiles numba
# on its first use in a process, which outweighs the saving below about this many rows.
EXACT_ROWS = 30_000
MIN_SCALE = 1e-3  # sigma's floor, relative to the mean neighbor distance (umap-learn's MIN_K_DIST_SCALE)


def nearest(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each row's ``k`` nearest other rows (Euclidean), nearest first.

    Exact (scikit-learn, brute force) up to ``EXACT_ROWS`` rows; beyond, pynndescent's approximate graph
    when it is installed (one thread, a fixed seed: the same rows give the same graph).
    """
    if X.shape[0] > EXACT_ROWS:
        try:
            from pynndescent import NNDescent
        except ImportError:
            pass
        else:
            # numba's OpenMP layer sets the OpenMP thread count that torch shares; left changed, the training
            # after it ran on more threads than the user set (several times slower on a busy machine).
            threads = torch.get_num_threads()
            try:
                idx, dist = NNDescent(X, n_neighbors=k + 1, random_state=0, n_jobs=1).neighbor_graph
            finally:
                torch.set_num_threads(threads)
            return _drop_self(idx, dist.astype(np.float64))
    from sklearn.neighbors import NearestNeighbors

    dist, idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors()  # no X: a row is not its own neighbor
    return dist.astype(np.float64), idx


def _drop_self(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k+1 neighbors that include the row itself (usually, not always, first) -> the k others."""
    n, width = idx.shape
    other = idx != np.arange(n)[:, None]
    other[other.sum(axis=1) == width, -1] = False  # the row itself was missed: drop the farthest
    k = width - 1
    return dist[other].reshape(n, k), idx[other].reshape(n, k)


def fuzzy_graph(X: np.ndarray, k: int) -> Graph:
    """UMAP's fuzzy simplicial set of rows ``X`` with ``k`` neighbors per row (see the module's doc)."""
    n = X.shape[0]
    if not 1 <= k < n:
        raise HourglassError(f"n_neighbors must be at least 1 and below the number of training rows ({n}); got {k}")
    dist, idx = nearest(np.asarray(X, np.float32), k)
    positive = np.where(dist > 0, dist, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0  # all neighbors are duplicates of the row
    gap = np.maximum(dist - rho[:, None], 0.0)
    target = np.log2(k + 1)
    lo, hi, sigma = np.zeros(n), np.full(n, np.inf), np.ones(n)
    for _ in range(SMOOTH_STEPS):  # bisection on every row at once: sum_j exp(-gap_j / sigma) = target
        too_big = np.exp(-gap / sigma[:, None]).sum(axis=1) > target
        hi = np.where(too_big, sigma, hi)
        lo = np.where(too_big, lo, sigma)
        sigma = np.where(np.isinf(hi), sigma * 2, (lo + hi) / 2)
    floor = MIN_SCALE * np.where(rho > 0, dist.mean(axis=1), dist.mean())
    sigma = np.maximum(sigma, np.maximum(floor, 1e-12))
    weights = np.exp(-gap / sigma[:, None])
    a = sparse.csr_matrix((weights.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    union = (a + a.T - a.multiply(a.T)).tocoo()
    keep = union.data > 0
    order = np.lexsort((union.col[keep], union.row[keep]))  # a fixed order, whatever scipy's internals
    return Graph(
        heads=union.row[keep][order].astype(np.int64),
        tails=union.col[keep][order].astype(np.int64),
        weights=np.clip(union.data[keep][order], 0.0, 1.0).astype(np.float32),
        n=n,
    )


@dataclass
class Structure:
    """The neighbor term's settings, as ``TrainConfig.structure``."""

    n_neighbors: int = AUTOENCODER.n_neighbors
    weight: float = AUTOENCODER.structure_weight

    def prepare(self, rows: torch.Tensor, dim: int, seed: int) -> tuple[torch.Tensor, float]:
        """The layout of these (scaled, training) rows, on their device, and the term's weight in the loss."""
        flat = rows.detach().cpu().numpy()
        graph = fuzzy_graph(flat, self.n_neighbors)
        places = layout(graph, flat, dim, seed).astype(np.float64)
        # Centred and scaled to unit variance, the scale of a code the decoder reads comfortably.
        places -= places.mean(axis=0)
        scale = max(float(places.std()), 1e-12)
        anchors = (places / scale).astype(np.float32)
        self.laid_out = (flat, anchors, scale)  # for a placement to keep (not a field: no part of the settings)
        spread = float(rows.var(dim=0).double().mean()) if rows.shape[0] > 1 else 1.0
        return torch.from_numpy(anchors).to(rows.device), self.weight * spread
