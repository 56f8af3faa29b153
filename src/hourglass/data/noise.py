"""Corruptions for denoising, written as specs such as ``gaussian:0.3`` or ``gaussian:0.3+mask:0.1``.

Every corruption acts on *scaled* values (what the network sees: pixels in [0, 1] for images,
standardised features for tables), so ``gaussian:0.3`` is 30% of the pixel range whatever the
image's units. Training draws fresh noise for every batch from the training generator; evaluation
draws it once with a fixed seed (``corrupt_array``), so a seed always gives the same noisy data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hourglass.errors import HourglassError
from hourglass.params import NOISE_HELP

Corruption = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
CORRUPTIONS: dict[str, Callable[[float], Corruption]] = {}


def corruption(name: str) -> Callable[[Callable[[float], Corruption]], Callable[[float], Corruption]]:
    """Register a factory ``number -> Corruption`` under ``name``; it raises ValueError on a bad number."""

    def add(factory: Callable[[float], Corruption]) -> Callable[[float], Corruption]:
        CORRUPTIONS[name] = factory
        return factory

    return add


def _uniform(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    # Drawn on the generator's device (the CPU) so a seed gives the same noise on any device.
    return torch.rand(x.shape, generator=gen, device=gen.device).to(x.device)


@corruption("gaussian")
def gaussian(sigma: float) -> Corruption:
    """Add N(0, sigma^2) to every value (no clipping: the noise stays zero-mean)."""
    if not sigma > 0:
        raise ValueError("SIGMA must be > 0")
    return lambda x, gen: x + sigma * torch.randn(x.shape, generator=gen, device=gen.device).to(x.device)


@corruption("saltpepper")
def saltpepper(p: float) -> Corruption:
    """Set a fraction ``p`` of values to 0 or 1 (black or white pixels), half each."""
    if not 0 <= p <= 1:
        raise ValueError("P must be a fraction in [0, 1]")

    def apply(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        u = _uniform(x, gen)
        return torch.where(u < p / 2, 0.0, torch.where(u < p, 1.0, x)).to(x.dtype)

    return apply


@corruption("mask")
def mask(p: float) -> Corruption:
    """Set a fraction ``p`` of values to 0 (dropped pixels; for tables, the feature's mean)."""
    if not 0 <= p <= 1:
        raise ValueError("P must be a fraction in [0, 1]")
    return lambda x, gen: torch.where(_uniform(x, gen) < p, 0.0, x).to(x.dtype)


@dataclass(frozen=True)
class Noise:
    """A parsed spec: its corruptions applied left to right. Call it as ``noise(batch, generator)``."""

    spec: str
    steps: tuple[Corruption, ...]

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        for step in self.steps:
            x = step(x, gen)
        return x


def parse_noise(spec: str) -> Noise:
    """Turn ``"gaussian:0.3+mask:0.1"`` into a ``Noise``; a spec that does not parse is a HourglassError."""
    if not isinstance(spec, str) or not spec.strip():
        raise HourglassError(f"empty noise spec; expected {NOISE_HELP}")
    steps = []
    for part in re.split(r"(?<![eE])\+", spec):  # not the + of an exponent such as 1e+2
        name, sep, value = part.strip().partition(":")
        name = name.strip().lower()
        if not name:
            raise HourglassError(f"empty part in noise spec {spec!r}; expected {NOISE_HELP}")
        if name not in CORRUPTIONS:
            raise HourglassError(f"unknown noise {name!r} in {spec!r}; expected {NOISE_HELP}")
        try:
            number = float(value) if sep else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise HourglassError(f"bad noise {part.strip()!r} in {spec!r}: expected a finite number after '{name}:'")
        try:
            steps.append(CORRUPTIONS[name](number))
        except ValueError as e:
            raise HourglassError(f"bad noise {part.strip()!r} in {spec!r}: {e}") from None
    return Noise(spec.replace(" ", ""), tuple(steps))


def corrupt_array(X_scaled: np.ndarray, spec: str | Noise, seed: int = 0) -> np.ndarray:
    """Corrupt scaled data once with a fixed seed (for evaluation); returns float32 of X's shape."""
    noise = spec if isinstance(spec, Noise) else parse_noise(spec)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.inference_mode():
        return noise(torch.as_tensor(np.asarray(X_scaled, np.float32)), gen).numpy()
