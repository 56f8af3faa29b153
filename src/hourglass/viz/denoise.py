"""The denoising evaluation drawn: clean, noisy and denoised rows, and the better classical filter, with PSNR."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from hourglass.evaluations.denoise import DenoiseEvaluation


def denoise_figure(evaluation: DenoiseEvaluation, n: int = 10) -> Figure:
    """Rows clean | noisy | denoised (| better classical filter), one column per sample, PSNR in labels.

    Parameters
    ----------
    evaluation : DenoiseEvaluation
        What ``evaluate_denoise`` returned; table rows are drawn as 1-pixel-high strips.
    n : int, default 10
        Samples (columns) to show, the first ones.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> from hourglass.evaluations.denoise import evaluate_denoise
    >>> type(denoise_figure(evaluate_denoise(model, images, "gaussian:0.2"), n=4)).__name__
    'Figure'
    """
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
