"""The ``hourglass demo`` story on the bundled 49-pixel digits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from hourglass.data import load_dataset
from hourglass.estimator import Autoencoder


@dataclass
class DemoResult:
    model: Autoencoder
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mse: float  # held-out MSE per pixel, pixels in [0, 1]
    pca_mse: float
    seconds: float


def heldout_mse(model: Autoencoder, X_test: np.ndarray) -> float:
    return float(np.mean(((model.reconstruct(X_test) - X_test) / 255.0) ** 2))


def pca_mse(X_train: np.ndarray, X_test: np.ndarray, n_components: int) -> float:
    """The linear baseline: PCA with as many components as the code has numbers."""
    train, test = X_train.reshape(len(X_train), -1) / 255.0, X_test.reshape(len(X_test), -1) / 255.0
    pca = PCA(n_components).fit(train)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def train_demo(verbose: bool = True, seed: int = 0) -> DemoResult:
    data = load_dataset("mnist7")
    X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, test_size=0.2, random_state=seed)
    start = time.perf_counter()
    model = Autoencoder(latent_dim=2, seed=seed, verbose=verbose).fit(X_train)
    seconds = time.perf_counter() - start
    return DemoResult(
        model,
        X_train,
        X_test,
        y_train,
        y_test,
        heldout_mse(model, X_test),
        pca_mse(X_train, X_test, 2),
        seconds,
    )


def run_demo(out: str | Path = "runs/demo", verbose: bool = True) -> DemoResult:
    out = Path(out)
    if verbose:
        print("hourglass demo: 5,000 MNIST digits at 7x7 (49 pixels) squeezed through a 2-number code")
    result = train_demo(verbose)
    result.model.save(out / "model")
    if verbose:
        print(
            f"trained in {result.seconds:.1f} s; held-out MSE per pixel: autoencoder {result.mse:.4f}, "
            f"PCA-2 {result.pca_mse:.4f} ({result.pca_mse / result.mse:.2f}x worse)"
        )
        print(f"model written to {out / 'model'}")
    return result
