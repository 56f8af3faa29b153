"""The interpolation walk: decode evenly spaced codes on the way from input A to input B."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from PIL import Image

from hourglass.errors import HourglassError
from hourglass.params import WALK_PATHS
from hourglass.viz.figure import new_figure
from hourglass.viz.images import pixel_range, require_images, show, tile, to_unit

if TYPE_CHECKING:
    from hourglass.viz.images import Model


def linear(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + t[:, None] * (b - a)


def spherical(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Slerp about the origin: for a Gaussian prior (VAE), it keeps the walk at typical radii."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return linear(a, b, t)
    omega = np.arccos(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    if omega < 1e-6:
        return linear(a, b, t)
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


# Named in hourglass.params, which --help reads without importing matplotlib.
PATHS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = dict(
    zip(WALK_PATHS, (linear, spherical), strict=True)
)


def walk(
    model: Model, a: ArrayLike, b: ArrayLike, steps: int = 10, path: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Encode ``a`` and ``b`` (one sample each), decode ``steps`` points between their codes.

    ``path`` defaults to the model's own (``walk_path``): spherical for a VAE, linear otherwise.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator (images or tables).
    a, b : array-like, shape sample_shape
        The two samples, in the data's own units.
    steps : int, default 10
        Points on the way, both ends included (at least 2).
    path : {"linear", "spherical"}, optional
        How to move between the codes (``PATHS``); by default the model's own.

    Returns
    -------
    codes : np.ndarray, shape (steps, latent_dim)
        The codes walked through.
    frames : np.ndarray, shape (steps, *sample_shape)
        Their decodings in the model's units; the first and last frames are exactly the decoded codes of
        A and B.

    Raises
    ------
    HourglassError
        ``steps`` under 2, or an unknown ``path``.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> codes, frames = walk(model, images[0], images[1], steps=5)
    >>> codes.shape, frames.shape
    ((5, 2), (5, 4, 4))
    """
    if steps < 2:
        raise HourglassError(f"a walk needs at least 2 steps (the two ends); got {steps}")
    path = path or model.model_.walk_path
    if path not in PATHS:
        raise HourglassError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
    ends = model.codes(np.stack([np.asarray(a), np.asarray(b)])).astype(np.float64)
    codes = PATHS[path](ends[0], ends[1], np.linspace(0.0, 1.0, steps))
    codes[0], codes[-1] = ends  # exact ends, whatever rounding the path formula does
    frames = model.runner_.inverse_transform(codes.astype(np.float32)).reshape(steps, *model.sample_shape_)
    return codes, frames


def walk_strip(model: Model, frames: np.ndarray, title: str = "Interpolation walk from A to B") -> Figure:
    """The frames side by side, A on the left, B on the right.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        The model fitted on images that made the frames.
    frames : np.ndarray, shape (steps, H, W[, C])
        ``walk``'s frames.
    title : str, default "Interpolation walk from A to B"

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
    >>> type(walk_strip(model, walk(model, images[0], images[1], steps=5)[1])).__name__
    'Figure'
    """
    require_images(model, "interpolation strip")
    images = to_unit(model, frames)
    fig = new_figure(min(1.0 + 0.6 * len(images), 12.0), 1.5)
    ax = fig.add_subplot()
    show(ax, tile(images, len(images)))
    ax.set_xlabel("A  \u2192  B", fontsize=9)
    ax.set_title(title, fontsize=10)
    return fig


def gif_frames(model: Model, frames: np.ndarray, size: int = 140) -> list[Image.Image]:
    """Each frame as an upscaled PIL image (nearest neighbor, so pixels stay crisp)."""
    require_images(model, "interpolation animation")
    lo, hi = pixel_range(model)
    out = []
    for frame in np.asarray(frames, np.float32):
        pixels = np.clip(np.rint((frame - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels.squeeze(-1) if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
        h, w = frame.shape[:2]
        scale = max(1, size // max(h, w))
        out.append(image.resize((w * scale, h * scale), Image.Resampling.NEAREST))
    return out


def walk_gif(model: Model, frames: np.ndarray, size: int = 140, ms: int = 120, hold_ms: int = 700) -> bytes:
    """An animated GIF of the walk, pausing on A and B, looping forever.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        The model fitted on images that made the frames.
    frames : np.ndarray, shape (steps, H, W[, C])
        ``walk``'s frames.
    size : int, default 140
        About the longest side in pixels; frames are enlarged by a whole factor, so pixels stay crisp.
    ms : int, default 120
        Milliseconds per frame.
    hold_ms : int, default 700
        Milliseconds on the first and last frame.

    Returns
    -------
    bytes
        The GIF file's contents (``save_bytes`` writes it).

    Raises
    ------
    HourglassError
        The model was trained on a table.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> walk_gif(model, walk(model, images[0], images[1], steps=5)[1])[:6]
    b'GIF89a'
    """
    images = gif_frames(model, frames, size)
    durations = [hold_ms] + [ms] * (len(images) - 2) + [hold_ms]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buf.getvalue()
