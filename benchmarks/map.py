"""Neighbour-preserving 2-D maps (issues 13 and 24): the plain autoencoder, ``structure="neighbors"`` and UMAP.

Run: ``python benchmarks/map.py`` (one core; umap-learn, when installed, is timed after a warm-up fit that
compiles its numba code). Options: ``--datasets mnist7,digits`` to run some, ``--seeds 3`` for medians over
seeds, ``--weights 0.3,1,3`` to compare several ``structure_weight`` values, ``--model mlp,conv`` to train
each dataset on each of these models (``auto``: conv for Fashion-MNIST's 28x28 images, else the MLP), ``--scale
5000,20000,60000`` to add Fashion-MNIST area-averaged to 7x7 at those training sizes (the first rows of a fixed
permutation of its 60,000 training images, scored on its 10,000 test images), ``--cache DIR`` to reuse UMAP's
fits from an earlier run (marked so in the table).

Datasets: mnist7 (stratified 80/20 split, seed 0), scikit-learn's digits as flat rows in [0, 1] (same
split), Fashion-MNIST (a 10,000-image training subset, scored on ``fashion-test``; when installed), and
the ADBench tables ``30_satellite`` and ``6_cardio`` coloured by their normal/anomaly labels (same
split). One table, a row per map: 1-NN and 5-NN accuracy of the test codes against the training codes (issue
24's points 1 and 3), leave-one-out 1-NN of the training rows' codes, the map the explorer shows (point 2),
held-out MSE in scaled units, fit seconds (wall and this process's CPU: the machine may be shared) and
transform rows/s (CPU). "placed": a fit with ``placement="neighbors"`` (new rows placed by their nearest
training rows, as UMAP's ``transform``; its MSE decodes those places, with the decoder refit to read them).
Model rows are medians over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

import hourglass as hg

ADBENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adbench"
DEFAULT = "mnist7,digits,fashion,30_satellite,6_cardio"


@dataclass
class Row:
    """One map's scores on one dataset (nan: not measured)."""

    name: str
    knn1: float
    knn5: float
    loo1: float  # leave-one-out 1-NN of the training rows' codes
    mse: float
    fit_s: float
    fit_cpu: float
    transform_rps: float  # rows per second of CPU time


def split(X: np.ndarray, y: np.ndarray) -> tuple:
    return tuple(train_test_split(X, y, test_size=0.2, stratify=y, random_state=0))


def fashion7(n: int) -> tuple:
    """Fashion-MNIST area-averaged to 7x7 (uint8): the first ``n`` of a fixed permutation of the training
    images, and all test images."""

    def shrink(X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), 7, 4, 7, 4).astype(np.float32).mean(axis=(2, 4)).round().astype(np.uint8)

    train, test = hg.load_dataset("fashion"), hg.load_dataset("fashion-test")
    if n > len(train.X):
        raise SystemExit(f"--scale {n}: Fashion-MNIST has {len(train.X):,} training images (map_layout.py goes beyond)")
    pick = np.sort(np.random.default_rng(0).permutation(len(train.X))[:n])
    return shrink(train.X[pick]), shrink(test.X), train.y[pick], test.y


def datasets(names: list[str], scale: list[int]) -> dict[str, tuple]:
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
    for n in scale:
        out[f"fashion7-{n // 1000}k"] = fashion7(n)
    return out


def knn_scores(train: np.ndarray, test: np.ndarray, y: np.ndarray, y_test: np.ndarray) -> tuple[float, float, float]:
    """Test 1-NN and 5-NN accuracy against the training codes, and the training codes' leave-one-out 1-NN."""
    knn = [KNeighborsClassifier(k).fit(train, y).score(test, y_test) for k in (1, 5)]
    nearest = NearestNeighbors(n_neighbors=2).fit(train).kneighbors(return_distance=False)
    own = nearest[:, 0] == np.arange(len(train))  # a duplicate may come first; then the row itself is second
    other = np.where(own, nearest[:, 1], nearest[:, 0])
    return float(knn[0]), float(knn[1]), float(np.mean(y[other] == y))


def timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def model_row(name: str, model: hg.Autoencoder, wall: float, cpu: float, data: tuple) -> Row:
    X, X_test, y, y_test = data
    z = model.transform(X)
    model.transform(X_test[:64])  # warm-up: the first call pays one-time costs
    z_test, _, t_cpu = timed(model.transform, X_test)
    flat_test = model.scaler_.transform(model._rows(X_test))
    rebuilt = model.scaler_.transform(model.inverse_transform(z_test).reshape(len(z_test), -1))
    mse = float(np.mean((rebuilt - flat_test) ** 2))
    return Row(name, *knn_scores(z, z_test, y, y_test), mse, wall, cpu, len(X_test) / max(t_cpu, 1e-9))


def umap_row(name: str, data: tuple, model: hg.Autoencoder, cache: Path | None) -> Row:
    """UMAP fitted on the rows as ``model`` scales them."""
    X, X_test, y, y_test = data
    file = cache / f"umap-{name}-{len(X)}.json" if cache else None
    if file is not None and file.exists():
        row = Row(**json.loads(file.read_text()))
        row.name = "UMAP (cached)"
        return row
    import umap as umap_learn

    flat, flat_test = (model.scaler_.transform(model._rows(rows)).astype(np.float32) for rows in (X, X_test))
    reducer, wall, cpu = timed(umap_learn.UMAP(n_components=2, random_state=0).fit, flat)
    reducer.transform(flat_test[:64])
    z_test, _, t_cpu = timed(reducer.transform, flat_test)
    row = Row("UMAP", *knn_scores(reducer.embedding_, z_test, y, y_test), math.nan, wall, cpu, len(X_test) / t_cpu)
    if file is not None:
        file.write_text(json.dumps(row.__dict__))
    torch.set_num_threads(1)  # numba's OpenMP layer changes the thread count torch shares
    return row


def median(rows: list[Row]) -> Row:
    columns = list(zip(*(astuple(r) for r in rows), strict=True))[1:]
    return Row(rows[0].name, *(statistics.median(column) for column in columns))


def show(dataset: str, row: Row, plain_mse: float) -> None:
    mse = "-" if not math.isfinite(row.mse) else f"{row.mse:.5f}"
    if math.isfinite(row.mse) and math.isfinite(plain_mse) and row.mse != plain_mse:
        mse += f" ({100 * (row.mse / plain_mse - 1):+.1f}%)"
    print(
        f"| {dataset} | {row.name} | {row.knn1:.3f} | {row.knn5:.3f} | {row.loo1:.3f} | {mse} | {row.fit_s:.1f} "
        f"| {row.fit_cpu:.1f} | {row.transform_rps:,.0f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DEFAULT, help="comma-separated; '' for none")
    parser.add_argument("--scale", default="", help="Fashion-MNIST 7x7 training sizes, e.g. 5000,20000,60000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weights", default="1", help="structure_weight values to compare")
    parser.add_argument("--model", default="auto", help="comma-separated model families, e.g. mlp,conv")
    parser.add_argument("--no-umap", action="store_true")
    parser.add_argument("--cache", default="", help="a folder to keep UMAP's fits in and reuse them from")
    args = parser.parse_args()
    torch.set_num_threads(1)
    umap = not args.no_umap
    if umap:
        try:
            import umap as umap_learn

            warm = np.random.default_rng(0).random((5_000, 10))  # above umap-learn's exact-kNN limit
            umap_learn.UMAP(n_epochs=5).fit(warm).transform(warm[:64])  # numba compiles here, untimed
            torch.set_num_threads(1)  # numba's OpenMP layer changes the thread count torch shares
        except ImportError:
            umap = False
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.datasets.split(",") if n]
    scale = [int(n) for n in args.scale.split(",") if n]
    print("| data | map | test 1-NN | 5-NN | train LOO 1-NN | held-out MSE | fit s | fit CPU s | transform rows/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    weights = [float(w) for w in args.weights.split(",")]
    models = args.model.split(",")
    runs = [(name, data, m) for name, data in datasets(names, scale).items() for m in models]
    for name, data, family in runs:
        X = data[0]
        settings = {"latent_dim": 2, "model": family, "device": "cpu"}
        label = f"{name} ({family})" if len(models) > 1 else name
        plain, kept, placed = [], {w: [] for w in weights}, {w: [] for w in weights}
        for seed in range(args.seeds):
            model, wall, cpu = timed(hg.Autoencoder(**settings, seed=seed).fit, X)
            plain.append(model_row("hourglass", model, wall, cpu, data))
            if umap and seed == 0:
                show(label, umap_row(name, data, model, cache), math.nan)
            for w in weights:
                # Two fits: a placing model's decoder is refit to read places, so its encoder's codes are not
                # what the default model (placement=None) gives.
                for option, rows in ((None, kept[w]), ("neighbors", placed[w])):
                    neighbors = {"structure": "neighbors", "structure_weight": w, "placement": option}
                    model, wall, cpu = timed(hg.Autoencoder(**settings, seed=seed, **neighbors).fit, X)
                    rows.append(
                        model_row(f"neighbors w={w:g}" + (", placed" if option else ""), model, wall, cpu, data)
                    )
        base = median(plain)
        show(label, base, math.nan)
        for w in weights:
            show(label, median(kept[w]), base.mse)
            show(label, median(placed[w]), base.mse)
        # Decoding in bulk, as a user decodes a grid or a stream: 1,000,000 codes from the last model's range.
        codes = model.transform(X)
        grid = np.random.default_rng(0).uniform(codes.min(0), codes.max(0), (1_000_000, 2)).astype(np.float32)
        model.inverse_transform(grid[:10_000])
        start = time.perf_counter()
        model.inverse_transform(grid)
        print(f"{label}: {model.model_.name} decodes {1e6 / (time.perf_counter() - start):,.0f} rows/s in bulk")


if __name__ == "__main__":
    main()
