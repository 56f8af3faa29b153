"""The arguments several sub-commands share, and argparse types that check a value when it is parsed.

Building a parser imports nothing heavy (see ``hourglass.cli``). A numeric value out of range is a usage
error (exit 2) that names the flag and the range before any work starts; upper bounds keep a typo from
asking for terabytes.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from hourglass.data import MAX_PIXELS, MAX_SIDE
from hourglass.params import SEED


def add_data_args(
    p: argparse.ArgumentParser, data_help: str = "data", *, model: bool = True, optional: bool = False
) -> None:
    """DATA and the flags that say how to read it. ``model``: the command reads DATA for a model, whose
    remembered options (``reading.load_options``) are then the defaults the help names; ``optional``: DATA may
    be left out for the training data the model folder records (``explore``'s rule)."""
    p.add_argument(
        "data",
        metavar="DATA",
        nargs="?" if optional else None,
        help=f"{data_help}: a built-in name (mnist7, digits8), .npy/.npz, .csv/.tsv/.parquet, or a folder of images"
        + (" (default: the model's training data, when its folder records it)" if optional else ""),
    )
    remembered = " (default: the model's, as its training data was read)" if model else ""
    p.add_argument("--label", help=f"table column (or .npz array) holding labels; never used for training{remembered}")
    p.add_argument(
        "--image-size",
        type=image_size,
        metavar="HxW",
        help="resize a folder's images to this size" + (" (default: the model's image size)" if model else ""),
    )
    p.add_argument(
        "--color",
        choices=("auto", "gray", "rgb"),
        default="auto",
        help="image colour mode; auto keeps colour only where an image has it"
        + (", or takes the model's mode" if model else "")
        + " (default: %(default)s)",
    )
    p.add_argument(
        "--drop-nonfinite",
        action="store_true",
        help="drop rows with NaN/inf instead of failing"
        + (" (always, when the model's training data was read so)" if model else ""),
    )
    add_max_pixels(p, model)


def add_max_pixels(p: argparse.ArgumentParser, model: bool = True) -> None:
    # No default here: None means "not given", so a model's remembered limit can apply (``load_options``).
    default = (
        f"the model's limit, else {MAX_PIXELS:,}" if model else f"{MAX_PIXELS:,}; the model remembers a limit given"
    )
    p.add_argument(
        "--max-pixels",
        type=bounded_int(1, 1_000_000_000),
        help=f"refuse images larger than this many pixels (default: {default})",
    )


def add_rows_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .npy, .npz, .csv, .parquet, a new folder of PNGs (image models), or - for CSV on standard output",
    )
    add_quiet(p)


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print nothing when it succeeds")


def image_size(text: str) -> tuple[int, int]:
    """An argparse type for --image-size: HxW, each side from 1 to ``MAX_SIDE``."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HxW such as 28x28, each side from 1 to {MAX_SIDE}, got {text!r}"
        ) from None
    return h, w


def bounded_int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type accepting integers from ``lo`` to ``hi`` (no upper bound when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            span = f"from {lo:,} to {hi:,}" if hi is not None else f"of at least {lo:,}"
            raise argparse.ArgumentTypeError(f"expected an integer {span}, got {text!r}")
        return value

    return parse


def bounded_float(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type accepting finite numbers between ``lo`` and ``hi`` (each end included unless open)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > lo if lo_open else value >= lo
        below = value < hi if hi_open else value <= hi
        if not (math.isfinite(value) and above and below):
            span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {text!r}")
        return value

    return parse


seed_int = bounded_int(SEED.lo or 0, SEED.hi)  # what numpy's and torch's generators accept
