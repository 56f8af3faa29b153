"""Anomaly figures: how the errors of normal and anomalous rows spread, where an image went wrong, and what
its nearest normal (``AnomalyDetector.nearest_normal``) would change."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from hourglass.viz.figure import new_figure
from hourglass.viz.images import PAD_VALUE, centers, pixel_range, require_images, show, tile, to_unit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hourglass.anomaly import AnomalyDetector, NearestNormal


def score_histogram(error: np.ndarray, is_anomaly: np.ndarray, threshold: float, title: str) -> Figure:
    """Histograms of the reconstruction errors of normal and anomalous rows, the threshold dashed.

    Parameters
    ----------
    error : np.ndarray of shape (n,)
        Reconstruction error per row (``-detector.score_samples(X)``), in scaled units; drawn on a log scale.
    is_anomaly : np.ndarray of shape (n,)
        True for the rows counted as anomalies (known labels, or the detector's own verdicts).
    threshold : float
        The error above which a row is called an anomaly.
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> error = np.random.default_rng(0).lognormal(size=100)
    >>> fig = score_histogram(error, error > 3.0, threshold=3.0, title="errors")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['normal (83)', 'anomaly (17)', 'threshold']
    """
    error, is_anomaly = np.asarray(error, np.float64), np.asarray(is_anomaly, bool)
    # Errors are heavy-tailed: log-spaced bins keep both the bulk and the tail readable.
    lo = max(float(error.min()), 1e-8)
    bins = np.geomspace(lo, max(float(error.max()), lo * 10, threshold * 1.1), 60)
    fig = new_figure(7, 4)
    ax = fig.subplots()
    ax.hist(np.maximum(error[~is_anomaly], lo), bins=bins.tolist(), alpha=0.6, label=f"normal ({(~is_anomaly).sum()})")
    ax.hist(np.maximum(error[is_anomaly], lo), bins=bins.tolist(), alpha=0.6, label=f"anomaly ({is_anomaly.sum()})")
    ax.axvline(threshold, color="black", linestyle="--", label="threshold")
    ax.set(xscale="log", xlabel="reconstruction error (scaled units, log)", ylabel="rows")
    ax.set_title(title, fontsize=10)
    ax.legend()
    return fig


def error_gallery(detector: AnomalyDetector, X: ArrayLike, notes: list[str], title: str) -> Figure:
    """Images of ``X`` (top) above their per-pixel squared errors from ``detector.explain`` (bottom).

    Parameters
    ----------
    detector : AnomalyDetector
        A detector fitted on images.
    X : array-like, shape (n, H, W[, C])
        The images to show, in the data's own units (a handful: one column each).
    notes : list of str
        One note per image, under its column (its score, its label).
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The detector was trained on a table.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import AnomalyDetector
    >>> images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)
    >>> det = AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> type(error_gallery(det, images[:3], ["a", "b", "c"], "worst rebuilt")).__name__
    'Figure'
    """
    require_images(detector, "error gallery")
    X = np.asarray(X)
    images, errors = to_unit(detector, X), detector.explain(X)
    n, w = errors.shape[0], errors.shape[2]
    if errors.ndim == 4:  # colour images: one heat per pixel, summed over channels
        errors = errors.sum(axis=3)
    heat = tile(errors, n)
    heat[tile(np.zeros_like(errors), n) == PAD_VALUE] = np.nan  # gutters stay grey, not "hot"
    fig = new_figure(1.4 + 0.75 * n, 2.6)
    top, bottom = fig.subplots(2, 1)
    show(top, tile(images, n))
    top.set_ylabel("image", fontsize=8)
    # One scale for every tile, from zero, so a hotter tile really is a worse-rebuilt pixel.
    cmap = matplotlib.colormaps["hot"].with_extremes(bad=str(PAD_VALUE))
    im = bottom.imshow(heat, cmap=cmap, vmin=0.0, vmax=float(np.max(errors)) or 1.0, interpolation="nearest")
    bottom.set_yticks([])
    bottom.set_xticks(centers(n, w), notes, fontsize=7)
    bottom.tick_params(length=0)
    bottom.set_ylabel("error", fontsize=8)
    bar = fig.colorbar(im, ax=[top, bottom], shrink=0.5, anchor=(0.0, 0.0), pad=0.01)
    bar.set_label("squared error\n(scaled units)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def nearest_normal_triples(
    detector: AnomalyDetector, found: NearestNormal, notes: list[str] | None = None, title: str = ""
) -> Figure:
    """Each image (top row), its nearest normal (middle) and their difference (bottom, red = brighter than normal).

    Parameters
    ----------
    detector : AnomalyDetector
        The detector fitted on images that found them.
    found : NearestNormal
        ``detector.nearest_normal(X)`` for a handful of images (one column each).
    notes : list of str, optional
        One note per image, under its column.
    title : str, default ""

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The detector was trained on a table.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import AnomalyDetector
    >>> images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)
    >>> det = AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> fig = nearest_normal_triples(det, det.nearest_normal(images[:3], steps=5))
    >>> [ax.get_ylabel() for ax in fig.axes[:3]]
    ['row', 'nearest\\nnormal', 'difference']
    """
    require_images(detector, "nearest-normal figure")
    n, w = len(found.row), found.row.shape[2]
    # The difference in the display's units (the pixel range is 1); colour channels summed, one heat per pixel.
    lo, hi = pixel_range(detector)
    difference = found.difference / (hi - lo)
    if difference.ndim == 4:
        difference = difference.sum(axis=3)
    heat = tile(difference, n)
    heat[tile(np.zeros_like(difference), n) == PAD_VALUE] = np.nan  # gutters stay grey, not "no change"
    fig = new_figure(1.4 + 0.75 * n, 3.6)
    axes = fig.subplots(3, 1)
    for ax, images, label in zip(axes[:2], (found.row, found.normal), ("row", "nearest\nnormal"), strict=True):
        show(ax, tile(to_unit(detector, images), n))
        ax.set_ylabel(label, fontsize=8)
    # One symmetric scale for every tile: white is "as normal", red extra brightness, blue missing.
    limit = float(np.max(np.abs(difference))) or 1.0
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=str(PAD_VALUE))
    im = axes[2].imshow(heat, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    axes[2].set_yticks([])
    axes[2].set_xticks(centers(n, w), notes or [""] * n, fontsize=7)
    axes[2].tick_params(length=0)
    axes[2].set_ylabel("difference", fontsize=8)
    bar = fig.colorbar(im, ax=list(axes), shrink=0.4, anchor=(0.0, 0.0), pad=0.01)
    bar.set_label("row - normal\n(share of the\npixel range)", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return fig
