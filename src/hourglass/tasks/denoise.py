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
from matplotlib.figure import Figure
from scipy import ndimage
from sklearn.utils.validation import check_is_fitted

from hourglass.data.noise import corrupt_array, parse_noise

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder

BLUR_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0)  # the blur's width is picked per run, on the clean data

# A classical filter: (noisy, clean, spatial axes) -> (filtered, label); clean is only used to tune.
Classical = Callable[[np.ndarray, np.ndarray, tuple[int, ...]], tuple[np.ndarray, str]]
CLASSICAL: dict[str, Classical] = {}


def classical(name: str) -> Callable[[Classical], Classical]:
    def add(fn: Classical) -> Classical:
        CLASSICAL[name] = fn
        return fn

    return add


def _per_axis(value: float, other: float, spatial: tuple[int, ...], ndim: int) -> tuple[float, ...]:
    """A filter width along the image axes only (``other`` elsewhere): never across samples or channels."""
    return tuple(value if axis in spatial else other for axis in range(ndim))


@classical("median")
def median(noisy: np.ndarray, clean: np.ndarray, spatial: tuple[int, ...]) -> tuple[np.ndarray, str]:
    return ndimage.median_filter(noisy, size=_per_axis(3, 1, spatial, noisy.ndim)), "median filter 3x3"


@classical("gaussian")
def gaussian_blur(noisy: np.ndarray, clean: np.ndarray, spatial: tuple[int, ...]) -> tuple[np.ndarray, str]:
    # The width is chosen with the clean images in hand, an advantage the autoencoder never gets.
    blurred = {s: ndimage.gaussian_filter(noisy, sigma=_per_axis(s, 0, spatial, noisy.ndim)) for s in BLUR_SIGMAS}
    best = min(blurred, key=lambda s: float(np.mean((blurred[s] - clean) ** 2)))
    return blurred[best], f"Gaussian blur σ={best:g}"


def psnr(mse: float, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(data_range² / MSE)."""
    return float(10 * np.log10(data_range**2 / max(mse, 1e-12)))


@dataclass
class DenoiseEvaluation:
    """Noisy vs denoised vs classical filters on one dataset, all in scaled units, samples in shape."""

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
    """Corrupt clean ``X`` with ``noise`` (fixed ``seed``), denoise it, and score everything."""
    check_is_fitted(model)
    spec = parse_noise(noise)
    flat = model._validate(X, reset=False)
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


def denoise_figure(evaluation: DenoiseEvaluation, n: int = 10) -> Figure:
    """Rows clean | noisy | denoised (| better classical filter), one column per sample, PSNR in labels."""
    ev = evaluation
    rows = [("clean", ev.clean), ("noisy", ev.noisy), ("autoencoder", ev.denoised)]
    if ev.best_classical is not None:
        rows.append((ev.best_classical, ev.filtered[ev.best_classical]))
    n = min(n, len(ev.clean))
    lo, hi = (0.0, 1.0) if ev.data_range == 1.0 else (float(ev.clean.min()), float(ev.clean.max()))
    strips = ev.clean.ndim == 2  # table rows drawn as 1-pixel-high strips
    fig = Figure(figsize=(1.0 * n + 1.6, (0.45 if strips else 1.05) * len(rows) + 0.5), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (key, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            image = np.clip((images[c][None, :] if strips else images[c]) - lo, 0, hi - lo) / (hi - lo)
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto" if strips else None)
            ax.set_xticks([])
            ax.set_yticks([])
        label = "clean" if key == "clean" else f"{ev.labels[key]}\n{ev.psnr[key]:.1f} dB"
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"denoising {ev.noise} (PSNR on all {len(ev.clean):,} samples)", fontsize=10)
    return fig


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
