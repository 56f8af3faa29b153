"""Reconstructions: held-out originals above, what the hourglass rebuilt below, error under each."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hourglass.errors import HourglassError
from hourglass.viz.figure import new_figure
from hourglass.viz.images import pairs_figure, to_unit


def reconstructions(model: Any, X: Any, n: int = 10, cols: int = 10) -> Figure:
    """The first ``n`` rows of ``X`` and their reconstructions, with each one's MSE (pixels in [0, 1]).

    Table models get one panel per row instead: original and rebuilt values feature by feature.
    """
    X = np.asarray(X)
    if len(X) == 0 or n < 1:
        raise HourglassError("need at least one example to show reconstructions")
    X = X[:n]
    rebuilt = model.reconstruct(X)
    if model.kind_ != "image":
        return _table_reconstructions(model, X, rebuilt)
    original, recon = to_unit(model, X), to_unit(model, rebuilt)
    errors = ((original - recon) ** 2).reshape(len(X), -1).mean(axis=1)
    title = f"Reconstructions: original above, rebuilt from a {model.model_.latent_dim}-number code below"
    return pairs_figure(
        original,
        recon,
        ("original", "rebuilt"),
        [f"{e:.3f}" for e in errors],
        cols,
        title,
        note_label="MSE per image (pixels in [0, 1])",
    )


def _table_reconstructions(model: Any, X: np.ndarray, rebuilt: np.ndarray) -> Figure:
    X, rebuilt = X.reshape(len(X), -1).astype(np.float64), rebuilt.reshape(len(X), -1)
    names = getattr(model, "feature_names_in_", None)
    names = list(names) if names is not None else [f"x{i + 1}" for i in range(X.shape[1])]
    rows = min(len(X), 6)
    fig = new_figure(max(5.0, 0.35 * len(names) + 1.5), 1.5 * rows + 0.6)
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)[:, 0]
    # In the model's scaled units so features of different units share one axis.
    original, recon = model.scaler_.transform(X), model.scaler_.transform(rebuilt)
    for i, ax in enumerate(axes):
        mse = float(np.mean((original[i] - recon[i]) ** 2))
        ax.plot(names, original[i], "o-", label="original", markersize=3)
        ax.plot(names, recon[i], "s--", label="rebuilt", markersize=3)
        ax.set_ylabel(f"row {i}\nMSE {mse:.3f}", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].tick_params(axis="x", rotation=90, labelsize=7)
    fig.suptitle("Reconstructions (scaled units): original vs rebuilt", fontsize=10)
    return fig
