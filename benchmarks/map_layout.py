"""The neighbor layout alone at scale (issue 24): its graph and layout times and how well it keeps labels.

Run: ``python benchmarks/map_layout.py --rows 5000,20000,60000,500000`` (one core). Fashion-MNIST area-averaged
to 7x7 and scaled to [0, 1], as ``benchmarks/map.py --scale`` reads it; beyond its 60,000 training images the
rows are those images shifted by one pixel (at 28x28, before averaging) in each of eight directions, the
originals first, up to 540,000 rows: new images, not copies. For each size: CPU seconds of the fuzzy graph
(kNN: exact up to ``EXACT_ROWS``, pynndescent beyond, its numba compiled by a warm-up first) and of the
layout, and the layout's leave-one-out 1-NN accuracy by label (what ``placement="neighbors"`` shows as the map
of the training rows). ``--fit`` also fits ``Autoencoder(latent_dim=2, structure="neighbors",
placement="neighbors")`` on the rows and scores the test images' codes (encoder and placed) by 1-NN against
the training rows' (``benchmarks/map.py --scale`` compares whole fits with UMAP and the plain model).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

import hourglass as hg
from hourglass.training.layout import layout
from hourglass.training.neighbors import EXACT_ROWS, fuzzy_graph

SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def fashion_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of 49 values in [0, 1] and their labels (see the module's doc)."""
    train = hg.load_dataset("fashion")
    order = np.random.default_rng(0).permutation(len(train.X))
    images, labels = [train.X[order]], [train.y[order]]
    for dy, dx in SHIFTS[: max(0, -(-n // len(order)) - 1)]:
        images.append(np.roll(train.X[order], (dy, dx), axis=(1, 2)))
        labels.append(train.y[order])
    X, y = np.concatenate(images)[:n], np.concatenate(labels)[:n]
    small = X.reshape(len(X), 7, 4, 7, 4).astype(np.float32).mean(axis=(2, 4)).round()
    return (small.reshape(len(X), 49) / np.float32(255)).astype(np.float32), y


def leave_one_out(places: np.ndarray, y: np.ndarray) -> float:
    nearest = NearestNeighbors(n_neighbors=2).fit(places).kneighbors(return_distance=False)
    other = np.where(nearest[:, 0] == np.arange(len(y)), nearest[:, 1], nearest[:, 0])
    return float(np.mean(y[other] == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="5000,20000,60000,500000")
    parser.add_argument("--neighbors", type=int, default=15)
    parser.add_argument("--fit", action="store_true", help="also fit the autoencoder with placement")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    if max(sizes) > EXACT_ROWS:
        from pynndescent import NNDescent

        NNDescent(np.random.default_rng(0).random((5_000, 49)), n_neighbors=16, random_state=0, n_jobs=1)
    print("| rows | graph CPU s | layout CPU s | layout LOO 1-NN |")
    print("|---:|---:|---:|---:|")
    for n in sizes:
        X, y = fashion_rows(n)
        start = time.process_time()
        graph = fuzzy_graph(X, args.neighbors)
        built = time.process_time()
        places = layout(graph, X, 2, seed=0)
        done = time.process_time()
        print(f"| {n:,} | {built - start:.1f} | {done - built:.1f} | {leave_one_out(places, y):.3f} |", flush=True)
        if args.fit:
            fit(X, y)


def fit(X: np.ndarray, y: np.ndarray) -> None:
    """Fit with the placement; print test 1-NN of the encoder's and the placed codes, fit CPU and rows kept."""
    from sklearn.neighbors import KNeighborsClassifier

    test = hg.load_dataset("fashion-test")
    small = test.X.reshape(len(test.X), 7, 4, 7, 4).astype(np.float32).mean(axis=(2, 4)).round()
    X_test = (small.reshape(len(small), 49) / np.float32(255)).astype(np.float32)
    start = time.process_time()
    model = hg.Autoencoder(latent_dim=2, device="cpu", structure="neighbors", placement="neighbors").fit(X)
    cpu = time.process_time() - start
    placed = KNeighborsClassifier(1).fit(model.transform(X), y).score(model.transform(X_test), test.y)
    kept, model.runner_.placement = model.runner_.placement, None
    encoder = KNeighborsClassifier(1).fit(model.transform(X), y).score(model.transform(X_test), test.y)
    print(
        f"  fit {cpu:.0f} s CPU, {len(model.history_.train)} epochs; test 1-NN: encoder {encoder:.3f}, placed "
        f"{placed:.3f}; {len(kept.rows):,} rows kept",
        flush=True,
    )


if __name__ == "__main__":
    main()
