"""Generated samples, each beside its nearest training image so a person can see it is new."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from sklearn.neighbors import NearestNeighbors

from hourglass.errors import HourglassError
from hourglass.viz.figure import new_figure
from hourglass.viz.images import pairs_figure, require_images, show, tile, to_unit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hourglass.viz.images import Model


def nearest_training(model: Model, samples: np.ndarray, X_train: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Index of each sample's nearest training example and the RMS distance to it (scaled units)."""
    X_train = np.asarray(X_train)
    if X_train.size // max(len(X_train), 1) != model.n_features_in_:
        raise HourglassError(
            f"training data has {X_train.shape[1:]} values per sample; the model makes {model.sample_shape_}"
        )
    train = model.scaler_.transform(X_train.reshape(len(X_train), -1))
    query = model.scaler_.transform(np.asarray(samples).reshape(len(samples), -1))
    distance, index = NearestNeighbors(n_neighbors=1).fit(train).kneighbors(query)
    return index[:, 0], distance[:, 0] / np.sqrt(train.shape[1])


def samples_beside_nearest(model: Model, samples: np.ndarray, X_train: ArrayLike, cols: int = 16) -> Figure:
    """Generated samples above, the closest training image below, with their RMS pixel distance."""
    require_images(model, "samples figure")
    X_train = np.asarray(X_train)
    index, distance = nearest_training(model, samples, X_train)
    title = "Generated (codes drawn from a Gaussian mixture over training codes) vs nearest training image"
    return pairs_figure(
        to_unit(model, samples),
        to_unit(model, X_train[index]),
        ("generated", "nearest\ntraining"),
        [f"{d:.2f}" for d in distance],
        cols,
        title,
        note_label="RMS pixel distance to the nearest training image (pixels in [0, 1])",
    )


def sample_grid(model: Model, samples: np.ndarray, cols: int = 8, title: str = "Generated samples") -> Figure:
    """Just the samples, tiled."""
    require_images(model, "samples grid")
    images = to_unit(model, samples)
    cols = max(1, min(cols, len(images)))
    rows = -(-len(images) // cols)
    fig = new_figure(0.5 * cols + 0.6, 0.5 * rows + 0.6)
    show(fig.add_subplot(), tile(images, cols))
    fig.suptitle(title, fontsize=10)
    return fig
