"""Anomaly figures: how the scores of normal and anomalous rows spread about the threshold, where an image went
wrong, and what its nearest normal (``AnomalyDetector.nearest_normal``) would change."""

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


def score_histogram(
    detector: AnomalyDetector, scores: ArrayLike, is_anomaly: ArrayLike, title: str, *, alpha: float | None = None
) -> Figure:
    """Histograms of the detector's scores for normal and anomalous rows, with the threshold it flags by.

    The x axis is what the detector decides on: ``score_samples`` (higher = more normal), the quantity
    ``hourglass score`` writes, and its threshold, ``detector.threshold(alpha)``; rows left of the line are the
    ones it flags. Scores can be negative and heavy-tailed, so the axis is ``asinh``: linear over the bulk
    (about one interquartile range of the scores either side of zero), logarithmic in the tails.

    Parameters
    ----------
    detector : AnomalyDetector
        The fitted detector that scored the rows (it names the score and sets the threshold).
    scores : array-like of shape (n,)
        ``detector.score_samples(X)``. A row too far out to measure (-inf) is drawn in the outermost bin.
    is_anomaly : array-like of shape (n,)
        True for the rows counted as anomalies (known labels, or the detector's own verdicts).
    title : str
    alpha : float, optional
        Draw the threshold of ``predict(X, alpha=alpha)`` (p-value below ``alpha``) instead of ``offset_``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # images: 32 random 4x4 images; detector: AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2).fit(images)
    >>> scores = detector.score_samples(images)
    >>> fig = score_histogram(detector, scores, detector.predict(images) == -1, "training images")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]  # doctest: +ELLIPSIS
    ['normal (...)', 'anomaly (...)', 'threshold -...: flagged left of it']
    """
    score, is_anomaly = np.asarray(scores, np.float64), np.asarray(is_anomaly, bool)
    threshold = detector.threshold(alpha)
    finite = score[np.isfinite(score)]
    lo = min(float(finite.min()) if len(finite) else threshold, threshold)
    hi = max(float(finite.max()) if len(finite) else threshold, threshold)
    score = np.clip(score, lo, hi)  # -inf into the outermost bin
    # asinh's linear part spans the bulk of the scores, so the normal rows are not squeezed against zero.
    q1, q3 = np.percentile(finite, [25, 75]) if len(finite) else (0.0, 0.0)
    width = float(q3 - q1) or max(abs(lo), abs(hi), 1.0) / 100
    pad = 0.02 * (np.arcsinh(hi / width) - np.arcsinh(lo / width)) or 0.1
    edges = width * np.sinh(np.linspace(np.arcsinh(lo / width) - pad, np.arcsinh(hi / width) + pad, 61))
    fig = new_figure(7, 4)
    ax = fig.subplots()
    ax.set_xscale("asinh", linear_width=width)
    ax.hist(score[~is_anomaly], bins=edges.tolist(), alpha=0.6, label=f"normal ({(~is_anomaly).sum()})")
    ax.hist(score[is_anomaly], bins=edges.tolist(), alpha=0.6, label=f"anomaly ({is_anomaly.sum()})")
    rule = f" (p < {alpha:g})" if alpha is not None else ""
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}{rule}: flagged left of it")
    ax.axvspan(float(edges[0]), threshold, color="tab:red", alpha=0.06, zorder=0)
    ax.set_xlim(float(edges[0]), float(edges[-1]))
    ax.set_xticks(_ticks(float(edges[0]), float(edges[-1]), width), minor=False)
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:g}".replace("-", "\u2212"))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set(xlabel=_score_label(detector), ylabel="rows")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _score_label(detector: AnomalyDetector) -> str:
    """What ``score_samples`` is, for an axis (see ``AnomalyDetector.score_samples``)."""
    terms = ["reconstruction error"]
    terms += ["isolation forest"] if getattr(detector, "forest_", None) is not None else []
    terms += ["nearest-neighbour distance"] if getattr(detector, "knn_", None) is not None else []
    if len(terms) == 1:
        what = "minus the mean squared reconstruction error (scaled units)"
    else:
        what = f"minus the weighted sum of {len(terms)} robust z-scores, {' + '.join(terms)}"
    return f"detector score (higher = more normal; asinh scale)\n= {what}"


def _ticks(lo: float, hi: float, width: float, n: int = 9) -> list[float]:
    """Round values (0 and 1, 2, 5 times powers of ten, either sign) spread evenly along an asinh axis."""
    span = max(abs(lo), abs(hi), width)
    powers = 10.0 ** np.arange(np.floor(np.log10(width)) - 1, np.ceil(np.log10(span)) + 1)
    steps = np.outer(powers, [1, 2, 5]).ravel()
    candidates = np.sort(np.r_[0.0, steps, -steps])
    candidates = candidates[(candidates >= lo) & (candidates <= hi)]
    # Greedy from zero outwards: keep a value when it lies far enough, on the axis, from the last one kept.
    gap = (np.arcsinh(hi / width) - np.arcsinh(lo / width)) / n
    kept = [0.0] if lo <= 0 <= hi else []
    for side in (candidates[candidates > 0], candidates[candidates < 0][::-1]):
        last = kept[0] if kept else None
        for value in side:
            if last is None or abs(np.arcsinh(value / width) - np.arcsinh(last / width)) >= gap:
                kept.append(float(value))
                last = value
    return sorted(kept)


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
    >>> # images: 32 random 4x4 images; detector: AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2).fit(images)
    >>> type(error_gallery(detector, images[:3], ["a", "b", "c"], "worst rebuilt")).__name__
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
    >>> # images: 32 random 4x4 images; detector: AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2).fit(images)
    >>> fig = nearest_normal_triples(detector, detector.nearest_normal(images[:3], steps=5))
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
