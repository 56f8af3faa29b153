"""Datasets that ship with hourglass (or with a package it depends on): no download ever."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError

BUILTINS: dict[str, Callable[[], Dataset]] = {}


def builtin(name: str):
    def add(fn: Callable[[], Dataset]) -> Callable[[], Dataset]:
        BUILTINS[name] = fn
        return fn

    return add


@builtin("mnist7")
def mnist7() -> Dataset:
    """5,000 MNIST digits (500 per class) area-averaged to 7x7, uint8; see data/README.md. Digit #N (the demo
    report's, the explorer's row N) is ``X[N]``."""
    with resources.files("hourglass.data").joinpath("mnist7.npz").open("rb") as f, np.load(f) as z:
        return Dataset(z["X"], z["y"], kind="image", name="mnist7")


@builtin("digits8")
def digits8() -> Dataset:
    """scikit-learn's bundled 1,797 8x8 digits (values 0-16)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Dataset(digits.images.astype(np.uint8), digits.target, kind="image", name="digits8")


# Debian's dataset-fashion-mnist package (`make` installs it when apt is there).
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
_IDX_TYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format), gzip-compressed: a 4-byte magic, big-endian dims, then the values."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # not gzip, truncated, or damaged
        raise HourglassError(f"{path}: cannot read the gzip file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or len(raw) < 4 + 4 * raw[3]:
        raise HourglassError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    values = np.frombuffer(raw, _IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if values.size != int(np.prod(dims)):
        raise HourglassError(f"{path}: header says {dims} but holds {values.size:,} values (truncated?)")
    return values.reshape(dims)


def _fashion(split: str, name: str) -> Dataset:
    images, labels = FASHION_DIR / f"{split}-images-idx3-ubyte.gz", FASHION_DIR / f"{split}-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        raise HourglassError(
            f"the {name!r} dataset needs Debian's dataset-fashion-mnist package (files in {FASHION_DIR}); "
            "install it with `apt-get install dataset-fashion-mnist` or run `make`"
        )
    X, y = read_idx(images), read_idx(labels)
    if X.ndim != 3 or y.shape != (X.shape[0],):
        raise HourglassError(f"{FASHION_DIR}: images {X.shape} and labels {y.shape} do not match")
    return Dataset(X, np.asarray(FASHION_CLASSES)[y], kind="image", name=name)


@builtin("fashion")
def fashion() -> Dataset:
    """Fashion-MNIST's 60,000 training images (28x28 uint8), labelled with class names; see data/README.md."""
    return _fashion("train", "fashion")


@builtin("fashion-test")
def fashion_test() -> Dataset:
    """Fashion-MNIST's 10,000 test images, held out from ``fashion``."""
    return _fashion("t10k", "fashion-test")
