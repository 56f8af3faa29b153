"""Training speed and quality: hourglass defaults vs a plain PyTorch loop vs PCA-2, on two datasets.

Run: ``python benchmarks/train_speed.py`` (``--repeats 3`` for medians). Prints a Markdown table per
dataset: mnist7 (uint8 7x7 images) and scikit-learn's digits as flat rows in [0, 1] (``X = data / 16``,
64 columns, the way a scikit-learn user passes them). The reference is the loop a PyTorch user writes
first: features-128-64-2 ReLU MLP, sigmoid output, Adam 1e-3, batch 64, 100 epochs, batches sliced from
one tensor (no DataLoader). Both run on one thread so the comparison is about the training recipe, not
thread contention.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from torch import nn

import hourglass as hg


def reference_fit(
    X_train: np.ndarray, epochs: int = 100, batch: int = 64, seed: int = 0, sigmoid: bool = True
) -> nn.Module:
    """The loop a PyTorch user writes first (``sigmoid=False``: identity output, for standardised tables)."""
    torch.manual_seed(seed)
    widths = [X_train.shape[1], 128, 64, 2]
    enc, dec = [], []
    for a, b in itertools.pairwise(widths):
        enc += [nn.Linear(a, b), nn.ReLU()]
    for a, b in itertools.pairwise(widths[::-1]):
        dec += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*enc[:-1], *dec[:-1], nn.Sigmoid() if sigmoid else nn.Identity())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X = torch.as_tensor(X_train)
    for _ in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), batch):
            xb = X[perm[i : i + batch]]
            loss = nn.functional.mse_loss(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported)")
    parser.add_argument("--encode-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    mnist7 = compare("mnist7 (uint8 7x7 images)", hg.load_dataset("mnist7").X, 255.0, 3.0, args.repeats)
    digits = (load_digits().data / 16).astype(np.float32)
    compare("digits as flat rows in [0, 1]", digits, 1.0, 2.5, args.repeats)
    encode_speed(mnist7, args)


def compare(name: str, X: np.ndarray, unit: float, target: float, repeats: int) -> hg.Autoencoder:
    """Reference loop, hourglass defaults and PCA-2 on one dataset, in one run; prints the table."""
    X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
    Xtr = X_train.reshape(len(X_train), -1).astype(np.float32) / unit
    Xte = X_test.reshape(len(X_test), -1).astype(np.float32) / unit

    rows = []
    times, mses = [], []
    for r in range(repeats):
        start = time.perf_counter()
        ref = reference_fit(Xtr, seed=r)
        times.append(time.perf_counter() - start)
        with torch.no_grad():
            mses.append(float(torch.mean((ref(torch.as_tensor(Xte)) - torch.as_tensor(Xte)) ** 2)))
    ref_time = statistics.median(times)
    rows.append(
        (
            "PyTorch reference (100 epochs, batch 64)",
            ref_time,
            100 * len(Xtr) / ref_time,
            statistics.median(mses),
            "100",
        )
    )

    times, mses, epochs = [], [], []
    for r in range(repeats):
        start = time.perf_counter()
        model = hg.Autoencoder(latent_dim=2, seed=r).fit(X_train)
        times.append(time.perf_counter() - start)
        mses.append(float(np.mean(((model.reconstruct(X_test) - X_test) / unit) ** 2)))
        epochs.append(len(model.history_.train))
    hg_time = statistics.median(times)
    n_seen = statistics.median(epochs) * len(Xtr) * (1 - model.validation_fraction)
    rows.append(
        (
            "hourglass defaults (early stop)",
            hg_time,
            n_seen / hg_time,
            statistics.median(mses),
            f"{statistics.median(epochs):.0f}",
        )
    )

    start = time.perf_counter()
    pca = PCA(2).fit(Xtr)
    pca_time = time.perf_counter() - start
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(Xte)) - Xte) ** 2))
    rows.append(("PCA, 2 components", pca_time, float("nan"), pca_mse, "-"))

    print(
        f"\n### {name}\n\nmachine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch thread(s), torch {torch.__version__}, hourglass {hg.__version__}, {repeats} repeats (medians)\n"
    )
    print("| method | wall time (s) | samples/s | held-out MSE per pixel | epochs |")
    print("|---|---:|---:|---:|---:|")
    for name, t, sps, mse, ep in rows:
        sps_text = "-" if np.isnan(sps) else f"{sps:,.0f}"
        print(f"| {name} | {t:.2f} | {sps_text} | {mse:.5f} | {ep} |")
    verdict = "met" if hg_time <= ref_time / target and rows[1][3] <= rows[0][3] else "NOT met"
    print(
        f"\nspeed-up {ref_time / hg_time:.1f}x at MSE ratio {rows[1][3] / rows[0][3]:.3f} "
        f"(target: >= {target}x and ratio <= 1): {verdict}"
    )
    return model


def encode_speed(model: hg.Autoencoder, args: argparse.Namespace) -> None:
    """Rows/s of ``transform`` for the 49-pixel model."""
    big = np.random.default_rng(0).integers(0, 256, size=(args.encode_rows, 49)).astype(np.float32)
    model.transform(big[:1000])
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.transform(big)
        times.append(time.perf_counter() - start)
    t = statistics.median(times)
    print(
        f"\nencode: {args.encode_rows:,} rows x 49 features in {t:.3f} s = {args.encode_rows / t:,.0f} rows/s "
        f"(target >= 1,000,000 rows/s)"
    )


if __name__ == "__main__":
    main()
