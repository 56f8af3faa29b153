"""What the model sees: one input enlarged with its pixel values, and a row of examples."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from hourglass.viz.figure import new_figure
from hourglass.viz.images import require_images, show, tile, to_unit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hourglass.viz.images import Model

MAX_ANNOTATED = 12  # write every pixel's value only while an image is small enough to read them


def inputs(model: Model, X: ArrayLike, labels: ArrayLike | None = None, n: int = 10) -> Figure:
    """The first input enlarged (with its numbers, when small) beside ``n`` examples with labels.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A model fitted on images (it gives the pixel range and the image shape).
    X : array-like, shape (n, H, W[, C])
        Images in the data's own units; the first ``n`` are shown.
    labels : array-like of shape (n,), optional
        Shown in the title; labels are never used in training.
    n : int, default 10
        How many examples to show.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The model was trained on a table.

    Examples
    --------
    >>> import numpy as np
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> fig = inputs(model, images, labels=np.arange(32) % 3, n=4)
    >>> fig.axes[0].get_title()
    'one input: 4x4 = 16 numbers'
    """
    require_images(model, "input figure")
    X = np.asarray(X)[:n]
    images = to_unit(model, X)
    h, w = images.shape[1:3]
    fig = new_figure(8.0, 2.8)
    big, row = fig.subplots(1, 2, width_ratios=[1, 2.6])
    show(big, images[0])
    if max(h, w) <= MAX_ANNOTATED and images.ndim == 3:
        for (r, c), value in np.ndenumerate(np.asarray(X[0]).reshape(h, w)):
            shade = images[0, r, c]
            big.text(
                c, r, f"{value:.0f}", ha="center", va="center", fontsize=6, color="black" if shade > 0.5 else "white"
            )
    big.set_title(f"one input: {h}x{w} = {h * w} numbers", fontsize=9)
    cols = (len(images) + 1) // 2
    show(row, tile(images, cols))
    if labels is not None:
        names = [str(v) for v in np.asarray(labels)[: len(images)]]
        row.set_title("examples, labelled " + " ".join(names) + " (labels are never used in training)", fontsize=9)
    else:
        row.set_title(f"{len(images)} examples", fontsize=9)
    return fig
