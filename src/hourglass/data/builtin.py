"""Datasets that ship with hourglass (or with a package it depends on): no download ever."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import numpy as np

from hourglass.data.dataset import Dataset

BUILTINS: dict[str, Callable[[], Dataset]] = {}


def builtin(name: str):
    def add(fn: Callable[[], Dataset]) -> Callable[[], Dataset]:
        BUILTINS[name] = fn
        return fn

    return add


@builtin("mnist7")
def mnist7() -> Dataset:
    """5,000 MNIST digits (500 per class) area-averaged to 7x7, uint8; see data/README.md."""
    with resources.files("hourglass.data").joinpath("mnist7.npz").open("rb") as f, np.load(f) as z:
        return Dataset(z["X"], z["y"], kind="image", name="mnist7")


@builtin("digits8")
def digits8() -> Dataset:
    """scikit-learn's bundled 1,797 8x8 digits (values 0-16)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Dataset(digits.images.astype(np.uint8), digits.target, kind="image", name="digits8")
