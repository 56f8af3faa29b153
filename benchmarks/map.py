"""Neighbour-preserving 2-D maps (issue 13): PCA, the plain autoencoder, ``structure="neighbors"`` and UMAP.

Run: ``python benchmarks/map.py`` (one core; about 15 minutes with umap-learn installed, whose first fit
compiles numba for ~40 s: a warm-up fit on a few rows is made first and not timed). Options:
``--datasets mnist7,digits`` to run some, ``--seeds 3`` for medians over seeds, ``--weights 0.3,1,3`` to
compare several ``structure_weight`` values (how the default was chosen), ``--model mlp`` to train
Fashion-MNIST's 28x28 images on the MLP instead of the conv model that ``auto`` picks.

Datasets: mnist7 (stratified 80/20 split, seed 0), scikit-learn's digits as flat rows in [0, 1] (same
split), Fashion-MNIST (a 10,000-image training subset, scored on ``fashion-test``; when installed), and
the ADBench tables ``30_satellite`` and ``6_cardio`` coloured by their normal/anomaly labels (same
split). Each model row is the median over seeds of: 1-NN and 5-NN accuracy of the test codes against the
training codes, trustworthiness (k=5), silhouette, held-out MSE in scaled units, fit seconds, decode rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hourglass as hg
from hourglass.evaluations.maps import MapScores, evaluate_map

ADBENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adbench"
FIELDS = ("knn1", "knn5", "trust", "silhouette", "mse", "fit_s", "decode_rps")


def split(X: np.ndarray, y: np.ndarray) -> tuple:
    return tuple(train_test_split(X, y, test_size=0.2, stratify=y, random_state=0))


def datasets(names: list[str]) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for name in names:
        if name == "mnist7":
            d = hg.load_dataset("mnist7")
            out[name] = split(d.X, d.y)
        elif name == "digits":
            d = load_digits()
            out[name] = split((d.data / 16).astype(np.float32), d.target)
        elif name == "fashion":
            try:
                train, test = hg.load_dataset("fashion"), hg.load_dataset("fashion-test")
            except hg.HourglassError as e:
                print(f"fashion skipped: {e}")
                continue
            pick = np.sort(np.random.default_rng(0).choice(len(train), 10_000, replace=False))
            out[name] = (train.X[pick], test.X, train.y[pick], test.y)
        else:
            file = ADBENCH / f"{name}.npz"
            if not file.is_file():
                print(f"{name} skipped: no {file}")
                continue
            d = np.load(file)
            out[name] = split(d["X"].astype(np.float32), d["y"].astype(int))
    return out


def median(rows: list[MapScores]) -> MapScores:
    return MapScores(rows[0].name, 0, 0, 0, 0, 0, 0, 0, 0) if not rows else MapScores(
        rows[0].name, *(statistics.median(getattr(r, f) for r in rows) for f in FIELDS[:6]), 0.0,
        statistics.median(r.decode_rps for r in rows),
    )  # fmt: skip


def show(dataset: str, s: MapScores) -> None:
    mse = f"{s.mse:.5f}" if np.isfinite(s.mse) else "-"
    print(
        f"| {dataset} | {s.name} | {s.knn1:.3f} | {s.knn5:.3f} | {s.trust:.3f} | {s.silhouette:.3f} | {mse} "
        f"| {s.fit_s:.1f} | {s.decode_rps:,.0f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist7,digits,fashion,30_satellite,6_cardio")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weights", default="1", help="structure_weight values to compare")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--no-umap", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    umap = not args.no_umap
    if umap:
        try:
            import umap as umap_learn

            umap_learn.UMAP().fit(np.random.default_rng(0).normal(size=(300, 5)))  # numba compiles here
        except ImportError:
            umap = False
    print("| data | map | 1-NN | 5-NN | trust | silhouette | held-out MSE | fit s | decode rows/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    weights = [float(w) for w in args.weights.split(",")]
    for name, (X, X_test, y, y_test) in datasets(args.datasets.split(",")).items():
        settings = {"latent_dim": 2, "model": args.model, "device": "cpu"}
        plain, kept = [], {w: [] for w in weights}
        for seed in range(args.seeds):
            model = hg.Autoencoder(**settings, seed=seed).fit(X)
            first = evaluate_map(model, X, y, X_test, y_test, baselines=seed == 0, umap=umap and seed == 0)
            plain.append(first.scores[0])
            if seed == 0:
                for s in first.scores[1:]:
                    show(name, s)
            for w in weights:
                model = hg.Autoencoder(**settings, seed=seed, structure="neighbors", structure_weight=w).fit(X)
                s = evaluate_map(model, X, y, X_test, y_test, baselines=False, umap=False).scores[0]
                s.name = f"neighbors w={w:g}"
                kept[w].append(s)
        show(name, median(plain))
        for w in weights:
            show(name, median(kept[w]))
        # Decoding in bulk, as a user decodes a grid or a stream: 1,000,000 codes from the last model's range.
        codes = model.transform(X)
        grid = np.random.default_rng(0).uniform(codes.min(0), codes.max(0), (1_000_000, 2)).astype(np.float32)
        model.inverse_transform(grid[:10_000])
        start = time.perf_counter()
        model.inverse_transform(grid)
        print(f"{name}: {model.model_.name} decodes {1e6 / (time.perf_counter() - start):,.0f} rows/s in bulk")


if __name__ == "__main__":
    main()
