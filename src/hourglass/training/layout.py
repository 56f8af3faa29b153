"""The neighbor layout: places for the training rows that keep the fuzzy graph's edges short, by UMAP's own
optimisation (umap-learn's ``optimize_layout_euclidean``), vectorised.

UMAP's cross-entropy between the graph's weights and ``q = 1 / (1 + a d^(2b))`` is minimised by stochastic
moves: an edge of weight ``w`` is drawn every ``max(w) / w`` epochs (umap-learn's ``make_epochs_per_sample``),
each draw pulls its two ends together and pushes its head away from ``NEGATIVES`` rows drawn at random, every
move bounded by ``CLIP`` per coordinate and scaled by a step that falls linearly from 1 to 0. So the work grows
with the graph, as umap-learn's does: every edge is drawn as often on a million rows as on a thousand.

One setting differs from umap-learn's defaults: the push is ``REPULSION`` times as strong (umap-learn's
``repulsion_strength``). UMAP's sampled push is weaker than its loss says (Böhm, Berens and Kobak, JMLR 2022,
"Attraction-repulsion spectrum in neighbor embeddings"); a stronger one parts the groups that the pull alone
leaves touching, so a row's nearest place is more often one of its own kind, at no extra work (the maps'
leave-one-out 1-NN beside umap-learn's: docs/benchmarks.md, "Neighbor-preserving maps").

umap-learn moves the rows after each edge, in numba; here an epoch's edges move the rows in batches of
``n / 2`` edges (each row moved about once a batch), each batch from the positions at its start, in a few
numpy passes: fast on one thread in Python, and the maps keep neighbors about as umap-learn's do (whole
epochs at once keep fewer on large graphs; docs/benchmarks.md, "Neighbor-preserving maps").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import ArpackError, eigsh

# umap.umap_.find_ab_params(spread=1.0, min_dist=0.1): umap-learn's defaults.
A, B = 1.5769434604658400, 0.8950608779639974
# umap-learn's epochs: 500 for graphs up to SMALL_GRAPH rows, 200 above (its default n_epochs=None).
SMALL_GRAPH = 10_000
EPOCHS_SMALL, EPOCHS_LARGE = 500, 200
NEGATIVES = 5  # rows each drawn edge's head is pushed from, as umap-learn's negative_sample_rate
REPULSION = 2.0  # the push's weight against the pull (umap-learn's repulsion_strength, 1 there): see above
EPS = 1e-3  # added to squared distances in the push, as umap-learn's: bounded at d = 0
CLIP = 4.0  # the largest move along one coordinate, as umap-learn's clip
SPAN = 10.0  # the start is scaled to [0, SPAN] in each coordinate, as umap-learn's


@dataclass(frozen=True)
class Graph:
    """A symmetric graph on ``n`` rows as a directed edge list (each edge both ways), weights in (0, 1]."""

    heads: np.ndarray
    tails: np.ndarray
    weights: np.ndarray
    n: int

    def matrix(self) -> sparse.csr_matrix:
        return sparse.csr_matrix((self.weights, (self.heads, self.tails)), shape=(self.n, self.n))


def epochs(n: int) -> int:
    """umap-learn's number of layout epochs for a graph on ``n`` rows."""
    return EPOCHS_SMALL if n <= SMALL_GRAPH else EPOCHS_LARGE


def spectral_start(graph: Graph, dim: int) -> np.ndarray | None:
    """UMAP's starting layout: the graph Laplacian's leading non-trivial eigenvectors.

    ``None`` on a graph in several pieces, whose leading eigenvectors only say which piece a row is in
    (umap-learn lays each piece out on its own; the caller starts from PCA instead)."""
    n_parts, _ = csgraph.connected_components(graph.matrix(), directed=False)
    if n_parts > 1 or graph.n <= dim + 2:
        return None
    W = graph.matrix()
    norm = sparse.diags(1 / np.sqrt(np.asarray(W.sum(axis=1)).ravel()))
    laplacian = sparse.identity(graph.n) - norm @ W @ norm
    try:
        values, vectors = eigsh(laplacian, k=dim + 1, which="SM", tol=1e-4, v0=np.ones(graph.n), maxiter=graph.n * 5)
    except ArpackError:
        return None
    return vectors[:, np.argsort(values)[1 : dim + 1]]


def layout(graph: Graph, rows: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """Places of the graph's rows in ``dim`` dimensions that keep its edges short (see the module's doc), in
    the layout's own units (those of ``q``'s ``a`` and ``b``).

    From the spectral start (PCA of ``rows`` on a graph in pieces), scaled to ``[0, SPAN]``; every random draw
    comes from ``seed``, so the same graph and seed give the same places."""
    start = spectral_start(graph, dim)
    if start is None:
        centred = rows - rows.mean(axis=0)
        start = np.linalg.svd(centred, full_matrices=False)[0][:, :dim]  # PCA, up to a scale
    start = SPAN * (start - start.min(axis=0)) / np.maximum(np.ptp(start, axis=0), 1e-12)
    return optimize(graph, start, epochs(graph.n), np.random.default_rng(seed))


def optimize(graph: Graph, start: np.ndarray, n_epochs: int, rng: np.random.Generator) -> np.ndarray:
    """UMAP's stochastic moves from ``start`` (rows by coordinates) over ``n_epochs`` epochs: the new places."""
    w = graph.weights.astype(np.float64)
    drawn = w >= w.max() / n_epochs  # umap-learn drops edges drawn less than once in the run
    order = rng.permutation(int(drawn.sum()))
    heads, tails = graph.heads[drawn][order], graph.tails[drawn][order]
    period = w.max() / w[drawn][order]  # epochs between two draws of an edge
    due = period.copy()
    places = np.ascontiguousarray(start.T, dtype=np.float32)  # one contiguous row per coordinate
    batch = max(graph.n // 2, 1)  # each batch moves each row about once (an edge moves two)
    for epoch in range(n_epochs):
        edges = np.flatnonzero(due <= epoch)
        due[edges] += period[edges]
        for part in np.split(edges, range(batch, len(edges), batch)):
            move(places, heads[part], tails[part], np.float32(1 - epoch / n_epochs), rng)
    return places.T.copy()


def move(places: np.ndarray, heads: np.ndarray, tails: np.ndarray, step: np.float32, rng: np.random.Generator) -> None:
    """One batch of UMAP's moves, in place on ``places`` (coordinates by rows): each edge pulls its head and
    tail together and pushes its head from ``NEGATIVES`` random rows (``REPULSION`` times umap-learn's push), all
    from the positions before the batch."""
    dim, n = places.shape
    m = len(heads)
    head = np.take(places, heads, axis=1)
    diff = head - np.take(places, tails, axis=1)
    d2 = np.maximum(np.einsum("dm,dm->m", diff, diff), np.float32(1e-12))  # 0 only where diff is 0: no move
    power = np.power(d2, np.float32(B))
    pull = diff * (np.float32(-2 * A * B) * power / (d2 * (1 + np.float32(A) * power)))
    np.clip(pull, -CLIP, CLIP, out=pull)
    away = np.take(places, rng.integers(n, size=NEGATIVES * m), axis=1).reshape(dim, NEGATIVES, m)
    np.subtract(head[:, None, :], away, out=away)
    d2 = np.einsum("dkm,dkm->km", away, away)
    factor = np.power(d2, np.float32(B))
    factor *= np.float32(A)
    factor += 1
    factor *= np.float32(EPS) + d2
    np.divide(np.float32(2 * B * REPULSION), factor, out=factor)
    away *= factor
    np.clip(away, -CLIP, CLIP, out=away)
    push = away.sum(axis=1)
    push += pull
    push *= step
    pull *= step
    for d in range(dim):
        places[d] += np.bincount(heads, push[d], n) - np.bincount(tails, pull[d], n)
