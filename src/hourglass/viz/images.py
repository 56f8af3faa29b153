"""Turning model rows into pictures: display range, tiling many small images into one array."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from numpy.typing import ArrayLike

from hourglass.errors import HourglassError
from hourglass.viz.figure import new_figure

if TYPE_CHECKING:  # the figures take fitted estimators; importing them here would load torch for nothing
    from typing import TypeAlias

    from hourglass.anomaly import AnomalyDetector
    from hourglass.estimator import Autoencoder

    Model: TypeAlias = Autoencoder | AnomalyDetector  # either fitted estimator: the figures read what they share

PAD_VALUE = 0.5  # mid-grey gutters separate black-background digits without looking like ink


def require_images(model: Model, what: str) -> None:
    if getattr(model, "kind_", None) != "image":
        raise HourglassError(f"the {what} draws images; this model was trained on a table")


def pixel_range(model: Model) -> tuple[float, float]:
    """The pixel values the training images spanned (what black and white mean)."""
    lo = float(np.min(model.scaler_.offset))
    hi = float(np.max(model.scaler_.offset + model.scaler_.scale))
    return lo, hi if hi > lo else lo + 1.0


def to_unit(model: Model, rows: ArrayLike) -> np.ndarray:
    """Rows or images in the model's units -> images (n, H, W[, C]) with values clipped to [0, 1]."""
    lo, hi = pixel_range(model)
    images = np.asarray(rows, np.float32).reshape(-1, *model.sample_shape_)
    return np.clip((images - lo) / (hi - lo), 0.0, 1.0)


def tile(images: np.ndarray, cols: int, pad: int = 1, rows: int | None = None) -> np.ndarray:
    """Lay images (n, H, W[, C]) out row by row on one canvas with ``pad``-pixel gutters."""
    n, h, w = images.shape[:3]
    cols = max(1, min(cols, n))
    rows = rows or -(-n // cols)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, *images.shape[3:]), PAD_VALUE, np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = image
    return canvas


def centers(count: int, size: int, pad: int = 1) -> np.ndarray:
    """Pixel centres of ``count`` tiles of ``size`` along one axis of a ``tile`` canvas."""
    return pad + np.arange(count) * (size + pad) + (size - 1) / 2


def show(ax: Axes, canvas: np.ndarray, **kwargs: Any) -> AxesImage:
    """Draw a [0, 1] canvas: grey images white-on-black, colour images as they are."""
    ax.set_xticks([])
    ax.set_yticks([])
    if canvas.ndim == 3 and canvas.shape[2] == 1:
        canvas = canvas[..., 0]
    return ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", **kwargs)


def pairs_figure(
    top: np.ndarray,
    bottom: np.ndarray,
    labels: tuple[str, str],
    notes: list[str],
    cols: int,
    title: str,
    note_label: str = "",
) -> Figure:
    """``top`` images above ``bottom`` ones, ``cols`` pairs per row of blocks, a note under each pair.

    Used for original/rebuilt and generated/nearest-training: the eye compares straight down.
    """
    n, h, w = top.shape[:3]
    cols = max(1, min(cols, n))
    blocks = -(-n // cols)
    inches = 0.5 if cols > 12 else 0.6
    fig = new_figure(1.3 + cols * inches, 0.45 + blocks * (2 * inches + 0.3))
    axes = fig.subplots(blocks, 1, squeeze=False)[:, 0]
    for b, ax in enumerate(axes):
        idx = list(range(b * cols, min((b + 1) * cols, n)))
        # The last block is padded with blank tiles so every block draws its digits at one scale.
        blank = np.full((cols - len(idx), *top.shape[1:]), PAD_VALUE, np.float32)
        show(ax, tile(np.concatenate([top[idx], blank, bottom[idx], blank]), cols))
        ax.set_yticks(centers(2, h), labels, fontsize=8)
        ax.set_xticks(centers(len(idx), w), [notes[i] for i in idx], fontsize=7)
        ax.tick_params(length=0)
        ax.set_anchor("W")
    axes[-1].set_xlabel(note_label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
