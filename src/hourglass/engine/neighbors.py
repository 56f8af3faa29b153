"""Neighbour-preserving codes: UMAP's fuzzy k-nearest-neighbour graph, and its cross-entropy on the code.

``Autoencoder(structure="neighbors")`` adds this term to the reconstruction loss, as parametric UMAP does
(Sainburg, McInnes and Gentner, Neural Computation 2021), on PyTorch and inside hourglass's own loop:

* ``fuzzy_graph`` builds, once at ``fit``, UMAP's graph of the scaled training rows (McInnes, Healy and
  Melville 2018): each row's ``k`` nearest neighbours (scikit-learn's exact ``NearestNeighbors``), weighted
  ``exp(-(d - rho) / sigma)`` with ``rho`` the distance to the nearest neighbour and ``sigma`` set so that
  the weights sum to ``log2(k + 1)``, then symmetrised by the fuzzy union ``A + A^T - A * A^T``.
  ``n_neighbors=k`` counts the neighbours besides the row itself (umap-learn's ``n_neighbors=k + 1``).
* ``EdgeSampler`` draws, for each training batch, edges in proportion to their weight and, for each edge's
  head, ``NEGATIVES`` rows among the step's own heads and tails (as parametric UMAP does; umap-learn draws
  them uniformly from all rows, which costs a third more rows to encode per step for no better map); all
  from the training loop's own generator, so the same seed gives the same weights and a checkpoint's
  random state resumes them.
* ``neighbor_loss`` is UMAP's cross-entropy on the codes of those rows, with the low-dimensional
  similarity ``q = 1 / (1 + a d^(2b))`` of ``min_dist=0.1``: ``-log q`` pulls each edge together and
  ``-log(1 - q)`` pushes each head from its negatives.

The term is weighted by ``structure_weight`` times the data's variance (the mean per-feature variance of
the scaled rows, the error of a code that carries nothing), so one weight means the same for pixels in
[0, 1] and standardised tables.

The codes the term moves are ones the decoder must chase while they move, so after the fit the decoder
alone is trained on the final codes (``train._refit_decoder``): the map is unchanged and the held-out
error falls back towards the plain autoencoder's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse

from hourglass.errors import HourglassError

# umap.umap_.find_ab_params(spread=1.0, min_dist=0.1): umap-learn's defaults.
A, B = 1.5769434604658400, 0.8950608779639974
# Edges drawn per reconstructed row: the map forms over many more edge draws than rows (mnist7, 1-NN
# of a 2-D code: 0.62 at 1, 0.65 at 4, 0.69 at 16 edges per row with the rate cut on plateaus; without
# the cuts, seed 0: 0.71 at 4, 0.72 at 16 for 3.5x the fit time). The number of optimiser steps matters
# more than edges per step: 512-row batches with 2 edges per row reached 0.60 in 100 epochs, 128-row
# batches with 4 reached 0.76 (structure_weight=10).
EDGES_PER_ROW = 4
NEGATIVES = 5  # negatives per edge, as umap-learn's negative_sample_rate
EPS = 1e-3  # added to squared distances, as in umap-learn's repulsive gradient: bounded at d = 0
SMOOTH_STEPS = 64  # bisection steps for each row's sigma
# Exact kNN costs O(n^2 d): 1.7 s at 5,000 Fashion-MNIST rows, 16 s at 20,000, 146 s at 60,000 on one core;
# pynndescent 0.3 / 1.8 / 7.8 s at 99% recall, plus ~30 s compiling numba on first use in a process.
EXACT_ROWS = 30_000
MIN_SCALE = 1e-3  # sigma's floor, relative to the mean neighbour distance (umap-learn's MIN_K_DIST_SCALE)


@dataclass(frozen=True)
class Graph:
    """A symmetric graph on ``n`` rows as a directed edge list (each edge both ways), weights in (0, 1]."""

    heads: np.ndarray
    tails: np.ndarray
    weights: np.ndarray
    n: int

    def matrix(self) -> sparse.csr_matrix:
        return sparse.csr_matrix((self.weights, (self.heads, self.tails)), shape=(self.n, self.n))


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
            idx, dist = NNDescent(X, n_neighbors=k + 1, random_state=0, n_jobs=1).neighbor_graph
            return _drop_self(idx, dist.astype(np.float64))
    from sklearn.neighbors import NearestNeighbors

    dist, idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors()  # no X: a row is not its own neighbour
    return dist.astype(np.float64), idx


def _drop_self(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k+1 neighbours that include the row itself (usually, not always, first) -> the k others."""
    n, width = idx.shape
    other = idx != np.arange(n)[:, None]
    other[other.sum(axis=1) == width, -1] = False  # the row itself was missed: drop the farthest
    k = width - 1
    return dist[other].reshape(n, k), idx[other].reshape(n, k)


def fuzzy_graph(X: np.ndarray, k: int) -> Graph:
    """UMAP's fuzzy simplicial set of rows ``X`` with ``k`` neighbours per row (see the module's doc)."""
    n = X.shape[0]
    if not 1 <= k < n:
        raise HourglassError(
            f"n_neighbors must be at least 1 and below the number of training rows ({n}, after the "
            f"validation rows are held out); got {k}"
        )
    dist, idx = nearest(np.asarray(X, np.float32), k)
    positive = np.where(dist > 0, dist, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0  # all neighbours are duplicates of the row
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


class EdgeSampler:
    """Draws the rows the neighbour term needs for one batch, from the training loop's generator."""

    def __init__(self, graph: Graph, device: torch.device) -> None:
        cdf = np.cumsum(graph.weights, dtype=np.float64)
        self.cdf = torch.from_numpy(cdf / cdf[-1])
        self.heads, self.tails = torch.from_numpy(graph.heads), torch.from_numpy(graph.tails)
        self.device = device

    def draw(self, m: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of ``2m`` rows - ``m`` edge heads, then their ``m`` tails - and for each head the
        positions among those ``2m`` of its ``NEGATIVES`` negatives, shape (m, NEGATIVES)."""
        edges = torch.searchsorted(self.cdf, torch.rand(m, generator=gen, dtype=torch.float64))
        edges.clamp_(max=len(self.heads) - 1)
        negatives = torch.randint(2 * m, (m, NEGATIVES), generator=gen)
        rows = torch.cat([self.heads[edges], self.tails[edges]])
        return rows.to(self.device), negatives.to(self.device)


def neighbor_loss(codes: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """UMAP's cross-entropy per edge: ``codes`` are those of ``EdgeSampler.draw``'s rows, in its order.

    With ``t = log(a) + b log(d^2 + EPS)``: ``-log q = softplus(t)`` (attraction, per edge) and
    ``-log(1 - q) = softplus(-t)`` (repulsion, summed over each edge's negatives).
    """
    head, tail = codes.chunk(2)
    pos = (head - tail).square().sum(dim=1)
    neg = (head[:, None, :] - codes[negatives]).square().sum(dim=2)
    log_a = float(np.log(A))
    attract = torch.nn.functional.softplus(log_a + B * torch.log(pos + EPS))
    repel = torch.nn.functional.softplus(-(log_a + B * torch.log(neg + EPS)))
    return attract.mean() + repel.sum(dim=1).mean()


@dataclass
class Structure:
    """The neighbour term's settings, as ``TrainConfig.structure``."""

    n_neighbors: int = 15
    weight: float = 1.0

    def prepare(self, rows: torch.Tensor, device: torch.device) -> tuple[EdgeSampler, float]:
        """The sampler over the graph of these (scaled, training) rows, and the term's weight in the loss."""
        graph = fuzzy_graph(rows.detach().cpu().numpy(), self.n_neighbors)
        spread = float(rows.var(dim=0).double().mean()) if rows.shape[0] > 1 else 1.0
        return EdgeSampler(graph, device), self.weight * spread
