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
    """Index of each sample's nearest training example and the RMS distance to it (scaled units).

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        The fitted estimator whose scaling the distance is measured in.
    samples : np.ndarray, shape (m, *sample_shape)
        Generated samples (``model.sample``), in the data's own units.
    X_train : array-like, shape (n, *sample_shape)
        The training data.

    Returns
    -------
    index : np.ndarray of shape (m,)
        Row of ``X_train`` nearest each sample.
    distance : np.ndarray of shape (m,)
        Root-mean-square difference per value, in scaled units.

    Raises
    ------
    HourglassError
        ``X_train``'s samples hold another number of values than the model's.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> index, distance = nearest_training(model, images[:3], images)
    >>> index.tolist(), distance.round(6).tolist()  # each training image is its own nearest
    ([0, 1, 2], [0.0, 0.0, 0.0])
    """
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
    """Generated samples above, the closest training image below, with their RMS pixel distance.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A model fitted on images.
    samples : np.ndarray, shape (m, H, W[, C])
        Generated samples (``model.sample``).
    X_train : array-like, shape (n, H, W[, C])
        The training images.
    cols : int, default 16
        Pairs per row of the figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The model was trained on a table.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> type(samples_beside_nearest(model, model.sample(4, seed=0), images)).__name__
    'Figure'
    """
    require_images(model, "samples figure")
    X_train = np.asarray(X_train)
    index, distance = nearest_training(model, samples, X_train)
    # Where the codes came from, as ``Autoencoder.sample`` draws them: a VAE from its own N(0, I) prior.
    prior = "N(0, I), the VAE's prior" if model.model_.learns_prior else "a Gaussian mixture over training codes"
    title = f"Generated (codes drawn from {prior}) vs nearest training image"
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
    """Just the samples, tiled.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A model fitted on images.
    samples : np.ndarray, shape (m, H, W[, C])
        Generated samples (``model.sample``), or any images in the data's own units.
    cols : int, default 8
        Images per row.
    title : str, default "Generated samples"

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The model was trained on a table.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> type(sample_grid(model, model.sample(4, seed=0))).__name__
    'Figure'
    """
    require_images(model, "samples grid")
    images = to_unit(model, samples)
    cols = max(1, min(cols, len(images)))
    rows = -(-len(images) // cols)
    fig = new_figure(0.5 * cols + 0.6, 0.5 * rows + 0.6)
    show(fig.add_subplot(), tile(images, cols))
    fig.suptitle(title, fontsize=10)
    return fig
