"""How well a model denoises: PSNR of noisy vs denoised vs classical filters, and a before/after figure.

Everything is measured in the model's *scaled* units, where the noise was added too. For images
(min-max scaling) pixels span [0, 1], so PSNR = 10·log10(1 / MSE) dB; for other scalings the
peak is the clean data's range in scaled units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage
from sklearn.utils.validation import check_is_fitted

from hourglass.data.noise import corrupt_array, parse_noise

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder

BLUR_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0)  # the blur's width is picked per run, on the clean data

# A classical filter: (noisy, clean, spatial axes) -> (filtered, label); clean is only used to tune.
Classical = Callable[[np.ndarray, np.ndarray, tuple[int, ...]], tuple[np.ndarray, str]]


def _per_axis(value: float, other: float, spatial: tuple[int, ...], ndim: int) -> tuple[float, ...]:
    """A filter width along the image axes only (``other`` elsewhere): never across samples or channels."""
    return tuple(value if axis in spatial else other for axis in range(ndim))


def median(noisy: np.ndarray, clean: np.ndarray, spatial: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """A 3x3 median filter over the ``spatial`` axes of ``noisy``; ``clean`` is not used. Returns (filtered, label)."""
    return ndimage.median_filter(noisy, size=_per_axis(3, 1, spatial, noisy.ndim)), "median filter 3x3"


def gaussian_blur(noisy: np.ndarray, clean: np.ndarray, spatial: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """A Gaussian blur over the ``spatial`` axes, its width the one of ``BLUR_SIGMAS`` closest to ``clean`` (by MSE).

    Returns (filtered, label).
    """
    # The width is chosen with the clean images in hand, an advantage the autoencoder never gets.
    blurred = {s: ndimage.gaussian_filter(noisy, sigma=_per_axis(s, 0, spatial, noisy.ndim)) for s in BLUR_SIGMAS}
    best = min(blurred, key=lambda s: float(np.mean((blurred[s] - clean) ** 2)))
    return blurred[best], f"Gaussian blur σ={best:g}"


# The filters ``evaluate_denoise`` runs on images, by name.
CLASSICAL: dict[str, Classical] = {"median": median, "gaussian": gaussian_blur}


def psnr(mse: float, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(data_range² / MSE).

    Parameters
    ----------
    mse : float
        Mean squared error; values under 1e-12 count as 1e-12, so a perfect match is finite (120 dB).
    data_range : float, default 1.0
        The peak: the span of the clean values (1 for pixels scaled to [0, 1]).

    Returns
    -------
    float

    Examples
    --------
    >>> psnr(0.01)
    20.0
    """
    return float(10 * np.log10(data_range**2 / max(mse, 1e-12)))


@dataclass
class DenoiseEvaluation:
    """Noisy vs denoised vs classical filters on one dataset, all in scaled units, samples in shape.

    ``evaluate_denoise`` makes one; ``table`` prints it, ``denoise_figure`` draws it.

    Attributes
    ----------
    noise : str
        The noise spec the clean data was corrupted with.
    seed : int
        The seed it was drawn with.
    data_range : float
        The PSNR peak: 1.0 for min-max scaled data, else the clean data's range in scaled units.
    mse : dict of str to float
        Method (``"noisy"``, ``"autoencoder"``, then each classical filter) -> MSE against the clean data.
    labels : dict of str to str
        Method -> how to print it.
    best_classical : str or None
        The classical filter with the lower MSE this run (images only; None for tables).
    clean, noisy, denoised : np.ndarray, shape (n, *sample_shape)
        The clean data, its corrupted copy and the model's output, in scaled units.
    filtered : dict of str to np.ndarray
        Classical method -> its output (empty for tables).
    trained_noise : str or None
        The noise the model was trained with (None: it was not trained to denoise).
    """

    noise: str
    seed: int
    data_range: float
    mse: dict[str, float]  # method -> mean squared error against the clean data
    labels: dict[str, str]  # method -> how to print it
    best_classical: str | None  # the classical filter with the lower MSE this run (images only)
    clean: np.ndarray
    noisy: np.ndarray
    denoised: np.ndarray
    filtered: dict[str, np.ndarray]  # classical method -> its output
    trained_noise: str | None  # the noise the model was trained with

    @property
    def psnr(self) -> dict[str, float]:
        """Method -> PSNR in dB against the clean data (``mse`` with peak ``data_range``)."""
        return {k: psnr(v, self.data_range) for k, v in self.mse.items()}

    @property
    def gain_db(self) -> float | None:
        """dB the autoencoder gains over the better classical filter (None without one)."""
        if self.best_classical is None:
            return None
        return self.psnr["autoencoder"] - self.psnr[self.best_classical]

    def rows(self) -> list[tuple[str, float, float]]:
        """(method, MSE, PSNR dB) per method, for a report table."""
        return [(self.labels[k], mse, self.psnr[k]) for k, mse in self.mse.items()]

    def table(self) -> str:
        """A text report: the noise, MSE and PSNR per method, the gain over the better classical filter."""
        peak = "pixels scaled to [0, 1]" if self.data_range == 1.0 else f"peak = clean range {self.data_range:.3g}"
        lines = [
            f"noise {self.noise} (seed {self.seed}) on {len(self.clean):,} samples; "
            f"PSNR = 10·log10(peak² / MSE), {peak}",
            f"{'method':<26}{'MSE':>10}{'PSNR (dB)':>11}",
        ]
        for (label, mse, db), key in zip(self.rows(), self.mse, strict=True):
            mark = "  <- better classical" if key == self.best_classical else ""
            lines.append(f"{label:<26}{mse:>10.5f}{db:>11.2f}{mark}")
        if self.best_classical is not None and self.gain_db is not None:
            lines.append(f"autoencoder vs {self.labels[self.best_classical]}: {self.gain_db:+.2f} dB")
        if self.trained_noise is None:
            lines.append("note: this model was trained without noise; train with --noise for a real denoiser")
        return "\n".join(lines)


def evaluate_denoise(model: Autoencoder, X: Any, noise: str, seed: int = 0) -> DenoiseEvaluation:
    """Corrupt clean ``X`` with ``noise`` (fixed ``seed``), denoise it, and score everything.

    The noise is added in the model's scaled units, as in training. Images are also run through each
    classical filter (``CLASSICAL``), clipped to the pixel range, for comparison.

    Parameters
    ----------
    model : Autoencoder
        A fitted autoencoder, best one trained with ``noise=`` (a denoising autoencoder).
    X : array-like, shape (n, *sample_shape)
        Clean rows in the data's own units (held-out ones measure what the model learned).
    noise : str
        A noise spec such as ``"gaussian:0.3"`` or ``"gaussian:0.3+mask:0.1"``.
    seed : int, default 0
        Seeds the noise, so a seed always gives the same noisy data.

    Returns
    -------
    DenoiseEvaluation

    Raises
    ------
    HourglassError
        ``noise`` does not parse, or ``X`` does not fit the model.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import Autoencoder
    >>> images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)
    >>> model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0, noise="gaussian:0.2").fit(images)
    >>> ev = evaluate_denoise(model, images, "gaussian:0.2")
    >>> list(ev.mse), ev.data_range, ev.denoised.shape
    (['noisy', 'autoencoder', 'median', 'gaussian'], 1.0, (32, 4, 4))
    """
    check_is_fitted(model)
    spec = parse_noise(noise)
    flat = model._rows(X)
    shape = (len(flat), *model.sample_shape_) if model.kind_ == "image" else flat.shape
    clean = model.scaler_.transform(flat)
    noisy = corrupt_array(clean, spec, seed)
    denoised = model.scaler_.transform(model.denoise(model.scaler_.inverse_transform(noisy)))
    images = model.kind_ == "image"
    minmax = model.scaler_.kind == "minmax"
    data_range = 1.0 if minmax else float(np.ptp(clean)) or 1.0
    mse = {"noisy": _mse(noisy, clean), "autoencoder": _mse(denoised, clean)}
    labels = {"noisy": "noisy input", "autoencoder": "denoising autoencoder"}
    filtered: dict[str, np.ndarray] = {}
    if images:
        spatial = (1, 2)  # (n, H, W[, C])
        for name, fn in CLASSICAL.items():
            out, labels[name] = fn(noisy.reshape(shape), clean.reshape(shape), spatial)
            # Clipping to the valid pixel range is free knowledge a classical pipeline would use.
            filtered[name] = np.clip(out, 0.0, 1.0) if minmax else out
            mse[name] = _mse(filtered[name], clean.reshape(shape))
    best = min(filtered, key=mse.__getitem__) if filtered else None
    return DenoiseEvaluation(
        noise=spec.spec,
        seed=int(seed),
        data_range=data_range,
        mse=mse,
        labels=labels,
        best_classical=best,
        clean=clean.reshape(shape),
        noisy=noisy.reshape(shape),
        denoised=denoised.reshape(shape),
        filtered=filtered,
        trained_noise=model.noise,
    )


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
