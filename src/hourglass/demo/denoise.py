"""The demo's denoising section: a small denoiser trained on the demo's digits, against the classical filters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from hourglass.demo.report import Section, table
from hourglass.estimator import Autoencoder
from hourglass.evaluations.denoise import DenoiseEvaluation, evaluate_denoise
from hourglass.viz.denoise import denoise_figure

if TYPE_CHECKING:
    from hourglass.demo.run import DemoResult, DemoRun

DEMO_NOISE = "gaussian:0.3"
DEMO_EPOCHS = 40


@dataclass
class DenoiseDemo:
    model: Autoencoder
    evaluation: DenoiseEvaluation
    figure: Figure
    seconds: float  # training time


def denoise_demo(demo: DemoResult, noise: str = DEMO_NOISE, seed: int = 0, epochs: int | None = None) -> DenoiseDemo:
    """Train a small denoiser on the demo's training digits and evaluate it on its held-out ones.

    A 16-number code (2 numbers keep too little to rebuild a digit's strokes), trained ``DEMO_EPOCHS`` epochs
    so that the demo stays short (``benchmarks/denoise.py`` trains the full recipe). ``epochs`` overrides it
    (``hourglass demo --quick`` trains briefly).
    """
    start = time.perf_counter()
    model = Autoencoder(latent_dim=16, epochs=epochs or DEMO_EPOCHS, batch_size=128, noise=noise, seed=seed).fit(
        demo.X_train
    )
    seconds = time.perf_counter() - start
    evaluation = evaluate_denoise(model, demo.X_test, noise, seed=seed)
    return DenoiseDemo(model, evaluation, denoise_figure(evaluation), seconds)


def denoise_section(run: DemoRun) -> Section:
    demo = denoise_demo(run.result, noise="gaussian:0.3", epochs=run.epochs)
    ev = demo.evaluation
    text = (
        "<p>Train the same hourglass to rebuild the clean digit from a noisy one (fresh Gaussian noise, "
        f"sigma 0.3, every batch) and it becomes a denoiser: {ev.gain_db:+.1f} dB over the best classical "
        f"filter ({ev.best_classical}) on held-out digits. Trained in {demo.seconds:.1f} s.</p>"
    )
    rows = [(m, f"{mse:.4f}", f"{db:.2f}") for m, mse, db in ev.rows()]
    caption = "Clean, noisy, denoised by the autoencoder, and the best classical filter."
    return Section(
        "Denoising: noisy in, clean out",
        text + run.figure("denoise.png", demo.figure, caption) + table(("method", "MSE", "PSNR (dB)"), rows),
    )
