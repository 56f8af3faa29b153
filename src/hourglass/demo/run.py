"""The demo's model and what every report section is given: the digits' split, the trained autoencoder, the
held-out errors beside PCA's, and the run's output folder (``DemoRun``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from hourglass.data import load_dataset
from hourglass.demo.report import Section, figure
from hourglass.estimator import Autoencoder
from hourglass.params import AUTOENCODER
from hourglass.viz.figure import png_bytes, save_bytes


@dataclass
class DemoResult:
    """The demo model and its split of mnist7. ``index_train`` and ``index_test`` give each row's number in
    mnist7 (``load_dataset("mnist7").X[index_test[i]]`` is ``X_test[i]``): the number the report and the
    explorer call it by."""

    model: Autoencoder
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mse: float  # held-out MSE per pixel, pixels in [0, 1]
    pca_mse: float
    seconds: float
    index_train: np.ndarray
    index_test: np.ndarray


def heldout_mse(model: Autoencoder, X_test: np.ndarray) -> float:
    return float(np.mean(((model.reconstruct(X_test) - X_test) / 255.0) ** 2))


def pca_mse(X_train: np.ndarray, X_test: np.ndarray, n_components: int) -> float:
    """The linear baseline: PCA with as many components as the code has numbers."""
    train, test = X_train.reshape(len(X_train), -1) / 255.0, X_test.reshape(len(X_test), -1) / 255.0
    pca = PCA(n_components).fit(train)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def versus_pca(mse: float, pca: float) -> str:
    """The autoencoder's held-out error beside PCA's, in words that hold whichever is lower.

    >>> versus_pca(0.0125, 0.0200)
    "the autoencoder's error is 1.60x lower than PCA-2's"
    >>> versus_pca(0.0225, 0.0200)
    "the autoencoder's error is 1.12x higher than PCA-2's: undertrained"
    """
    if mse <= pca:
        return f"the autoencoder's error is {pca / mse:.2f}x lower than PCA-2's"
    return f"the autoencoder's error is {mse / pca:.2f}x higher than PCA-2's: undertrained"


# `hourglass demo --quick`: every model of the story trains this many epochs on the first QUICK_ROWS digits
# (mnist7's order is shuffled, so they hold every class; being the first, digit #N keeps its number), and the
# neighbor-preserving map is left out. Enough steps for every model to beat predicting the mean (a check that
# warns looks broken), and for every other figure and section to be drawn from a real (if undertrained) model,
# in seconds: a check that an install works. Fewer epochs left the detector no better than the mean; more rows
# cost far more than more epochs (docs/benchmarks.md, "The demo").
QUICK_EPOCHS, QUICK_ROWS = 40, 1_000


def train_demo(verbose: bool = True, seed: int = 0, epochs: int | None = None, rows: int | None = None) -> DemoResult:
    """Train the 2-number-code autoencoder on mnist7's training split (``epochs``: None for its default;
    ``rows``: the first this many digits only, None for all)."""
    data = load_dataset("mnist7")
    # The split is of row numbers, so every digit keeps its number in mnist7 (the same split as of the rows).
    numbers = np.arange(min(rows or len(data), len(data)))
    index_train, index_test = train_test_split(numbers, test_size=0.2, random_state=seed)
    y = np.asarray(data.y)  # mnist7 is labelled
    X_train, X_test, y_train, y_test = data.X[index_train], data.X[index_test], y[index_train], y[index_test]
    start = time.perf_counter()
    train = replace(data.take(index_train), source="mnist7")  # the saved model names its data: explore maps it
    model = Autoencoder(latent_dim=2, seed=seed, verbose=verbose, epochs=epochs or AUTOENCODER.epochs).fit(train)
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
        index_train,
        index_test,
    )


@dataclass
class DemoRun:
    """What every section builder gets: the trained result, the output folder, shared codes."""

    result: DemoResult
    out: Path
    epochs: int | None = None  # what each model the sections train gets (None: its own default)
    started: float = field(default_factory=time.perf_counter)
    files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every digit in mnist7's order, so that X_all[N] is digit #N everywhere (report, explorer,
        # load_dataset), and its code, computed once: the latent map and the walk's path share one picture.
        r = self.result
        order = np.argsort(np.concatenate([r.index_train, r.index_test]))
        self.X_all = np.concatenate([r.X_train, r.X_test])[order]
        self.y_all = np.concatenate([r.y_train, r.y_test])[order]
        self.codes_all = r.model.transform(self.X_all)

    def save(self, name: str, data: bytes) -> bytes:
        """Write one output file into the demo folder (atomically) and remember it."""
        save_bytes(data, self.out / name)
        self.files.append(name)
        return data

    def figure(self, name: str, fig: Figure, caption: str) -> str:
        """Save ``fig`` as ``name`` and return it as an embedded report figure."""
        return figure(self.save(name, png_bytes(fig)), caption)


# A report section: drawn from the run, or None to leave itself out.
SectionBuilder = Callable[[DemoRun], Section | None]
