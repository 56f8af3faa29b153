"""How the data's images are drawn, measured so the drawing pad can draw the same way.

A digit on the pad is a pure white line as wide as the finger; an MNIST digit is a grey, blurred stroke that fills
a fixed box in the middle of the frame, because MNIST was made by fitting each digit into a 20x20 box, centring it
by its centre of mass and area-averaging it (mnist7 averages again, to 7x7). Fed raw strokes, the model sees
nothing like its data, and every drawing scores as an outlier. The pad therefore repeats the recipe (explorer.js
renders the strokes with an anti-aliased pen at several times the model's resolution and area-averages them), and
this module measures, from the data itself, what the recipe needs: the background and ink values, how far the ink
spreads (which sets the pen's width), and the box and centre the drawings fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SAMPLE = 2000  # images measured: the statistics settle long before
MASS = (0.02, 0.98)  # a drawing's extent along an axis: where this share of its ink lies


def extent_and_centre(ink: np.ndarray) -> tuple[float, float, float]:
    """One image's ink (H, W, non-negative): its extent (the larger of the two axes' spans that hold MASS of
    the ink, in pixels) and its centre of mass (y, x), in pixels from the top-left corner.

    explorer.js measures a drawing with the same rule (``extentAndCentre``), so the drawing is scaled until it
    spans what the data's images span, however that rule treats a blurred edge.
    """
    total = float(ink.sum())
    spans = []
    for profile in (ink.sum(axis=1), ink.sum(axis=0)):
        edges = np.arange(len(profile) + 1, dtype=np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(profile) / total])
        low, high = np.interp(MASS, cumulative, edges)
        spans.append(high - low)
    ys, xs = np.indices(ink.shape, dtype=np.float64) + 0.5
    return max(spans), float((ink * ys).sum() / total), float((ink * xs).sum() / total)


def ink_style(images: np.ndarray) -> dict[str, Any] | None:
    """What a drawing must look like to resemble ``images`` (n, H, W[, C]), for the pad; None without any ink.

    Returns ``background`` and ``ink`` (the values of blank paper, the frame's edge, and of a solid stroke, in the
    data's units),
    ``spread`` (the share-weighted mean ink of an inked pixel, sum(v^2)/sum(v) with v the ink from 0 to 1: near 1
    for crisp strokes, lower the more a stroke is thinned and blurred by area-averaging; the page picks the pen
    width that gives the same), ``extent`` and ``centre`` (the median image's extent and centre of mass, pixels).
    """
    gray = np.asarray(images[: min(len(images), SAMPLE)], np.float64)
    if gray.ndim == 4:
        gray = gray.mean(axis=3)
    border = np.concatenate([gray[:, 0], gray[:, -1], gray[:, 1:-1, 0], gray[:, 1:-1, -1]], axis=1)
    background = float(np.median(border))  # the paper: what the frame's edge mostly shows
    low, high = np.percentile(gray, [0.1, 99.9])
    ink = float(high if abs(high - background) >= abs(low - background) else low)  # light on dark, or dark on light
    if ink == background:
        return None
    v = np.clip((gray - background) / (ink - background), 0.0, 1.0)
    inked = v.sum(axis=(1, 2)) > 0
    if not inked.any():
        return None
    shapes = np.array([extent_and_centre(image) for image in v[inked]])
    return {
        "background": background,
        "ink": ink,
        "spread": float((v**2).sum() / v.sum()),
        "extent": float(np.median(shapes[:, 0])),
        "centre": [float(np.median(shapes[:, 1])), float(np.median(shapes[:, 2]))],
    }
