"""Reconstructions: held-out originals above, what the hourglass rebuilt below, error under each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from hourglass.errors import HourglassError
from hourglass.viz.figure import new_figure
from hourglass.viz.images import pairs_figure, to_unit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hourglass.viz.images import Model


def reconstructions(
    model: Model, X: ArrayLike, n: int = 10, cols: int = 10, row_ids: ArrayLike | None = None
) -> Figure:
    """The first ``n`` rows of ``X`` and their reconstructions, with each one's MSE (pixels in [0, 1]).

    Table models get one panel per row instead: original and rebuilt values feature by feature.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator.
    X : array-like, shape (n, *sample_shape)
        Rows in the data's own units (held-out ones show what the model learned, not what it memorised).
    n : int, default 10
        How many rows to show (tables: at most 6 panels).
    cols : int, default 10
        Image pairs per row of the figure.
    row_ids : sequence of int, optional
        Each row's number in the data it was taken from, shown beside it (``hourglass encode``'s ``row_id``);
        by default its position in ``X``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> fig = reconstructions(model, images, n=4)
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()]
    ['original', 'rebuilt']
    """
    X = np.asarray(X)
    if len(X) == 0 or n < 1:
        raise HourglassError("need at least one example to show reconstructions")
    X = X[:n]
    ids = list(range(len(X))) if row_ids is None else np.asarray(row_ids, dtype=np.int64).ravel().tolist()[: len(X)]
    if len(ids) != len(X):
        raise HourglassError(f"row_ids holds {len(ids)} numbers for {len(X)} rows")
    rebuilt = model.reconstruct(X)
    if model.kind_ != "image":
        return _table_reconstructions(model, X, rebuilt, ids)
    original, recon = to_unit(model, X), to_unit(model, rebuilt)
    errors = ((original - recon) ** 2).reshape(len(X), -1).mean(axis=1)
    title = f"Reconstructions: original above, rebuilt from a {model.model_.latent_dim}-number code below"
    return pairs_figure(
        original,
        recon,
        ("original", "rebuilt"),
        [f"#{i} {e:.3f}" for i, e in zip(ids, errors, strict=True)],
        cols,
        title,
        note_label="row number and MSE per image (pixels in [0, 1])",
    )


def _table_reconstructions(model: Model, X: np.ndarray, rebuilt: np.ndarray, ids: list[int]) -> Figure:
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
        ax.set_ylabel(f"row {ids[i]}\nMSE {mse:.3f}", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].tick_params(axis="x", rotation=90, labelsize=7)
    fig.suptitle("Reconstructions (scaled units): original vs rebuilt", fontsize=10)
    return fig
