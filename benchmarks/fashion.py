"""Fashion-MNIST: MLP vs conv vs VAE autoencoders beside PCA, at codes of 2 and 16 numbers.

Run: ``python benchmarks/fashion.py`` (needs Debian's dataset-fashion-mnist; ``make`` installs it).
Prints a Markdown table and writes docs/fashion_latent_map.png. To stay within a few minutes on a
2-core CPU every model trains on a subset of the 60,000 training images (``--train``, default
10,000) for a fixed ``--epochs`` budget with default settings otherwise; all are scored on the full
10,000-image test split, pixels in [0, 1]. PCA is fitted on the same subset in the same run.

"Time to PCA quality" is when a model's validation MSE (its 10% hold-out of the subset) first
falls below PCA's test MSE with as many components; an epoch's time is taken as the run's mean
epoch time. "samples/s" counts training images per second of training, validation passes included.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

import hourglass as hg
from hourglass import viz
from hourglass.training.state import History

MODELS = ("mlp", "conv", "vae")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(((a.astype(np.float64) - b) / 255.0) ** 2))


def time_to(history: History, target: float) -> float | None:
    """Seconds until the validation loss first reaches ``target`` (mean epoch time per epoch)."""
    reached = [i for i, v in enumerate(history.val) if v <= target]
    if not reached:
        return None
    return history.seconds / len(history.train) * (reached[0] + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10_000, help="training images used (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per model (default: %(default)s)")
    parser.add_argument("--latents", default="2,16", help="code widths (default: %(default)s)")
    parser.add_argument("--map", default="docs/fashion_latent_map.png", help="latent map PNG ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    train, test = hg.load_dataset("fashion"), hg.load_dataset("fashion-test")
    X = train.X[np.random.default_rng(0).permutation(len(train))[: args.train]]
    X_test = test.X
    flat, flat_test = X.reshape(len(X), -1) / 255.0, X_test.reshape(len(X_test), -1) / 255.0

    rows, fitted = [], {}
    for k in (int(k) for k in args.latents.split(",")):
        pca = PCA(k, random_state=0).fit(flat)
        pca_mse = float(np.mean((pca.inverse_transform(pca.transform(flat_test)) - flat_test) ** 2))
        rows.append((k, f"PCA ({k} components)", pca_mse, "", "", "", ""))
        for name in MODELS:
            model = hg.Autoencoder(latent_dim=k, model=name, epochs=args.epochs, seed=0).fit(X)
            h = model.history_
            fitted[name, k] = model
            speed = len(h.train) * round(len(X) * (1 - model.validation_fraction)) / h.seconds
            reach = time_to(h, pca_mse)
            label = f"{name} {'-'.join(map(str, model.model_.hidden))}" + (
                f" ({model.model_.body} body, beta {model.beta:g})" if name == "vae" else ""
            )
            rows.append(
                (
                    k,
                    label,
                    mse(model.reconstruct(X_test), X_test),
                    f"{len(h.train)} (best {h.best_epoch})",
                    f"{h.seconds:.1f}",
                    f"{speed:,.0f}",
                    "not reached" if reach is None else f"{reach:.1f} s",
                )
            )
            print(f"  latent {k}: {label} done in {h.seconds:.1f} s", flush=True)

    print(
        f"\nFashion-MNIST, {len(X):,} training images (of {len(train):,}), {args.epochs} epochs each, "
        f"test MSE on all {len(X_test):,} test images; {platform.processor() or platform.machine()}, "
        f"1 torch thread, torch {torch.__version__}\n"
    )
    print("| code | model | test MSE | epochs | train s | samples/s | time to PCA quality |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for k, label, value, epochs, seconds, speed, reach in rows:
        print(f"| {k} | {label} | {value:.4f} | {epochs} | {seconds} | {speed} | {reach} |")

    if args.map and ("conv", 2) in fitted:
        model = fitted["conv", 2]
        start = time.perf_counter()
        fig = viz.latent_map(model, X_test, test.y, title="Fashion-MNIST test images: conv autoencoder, 2-D code")
        viz.save_png(fig, Path(args.map))
        print(f"\nlatent map of the test split written to {args.map} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
