"""``hourglass plot MODEL [DATA] -o FOLDER``: the figures that show what a model learned, as PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hourglass.atomic import atomic_dir, foreign_entries, lock
from hourglass.cli.arguments import add_data_args, bounded_int
from hourglass.cli.reading import read_model, read_model_data
from hourglass.cli.writing import check_output
from hourglass.errors import HourglassError
from hourglass.params import FIGURE_FILES

if TYPE_CHECKING:  # types only: the CLI imports torch and matplotlib when a command runs, not before
    from collections.abc import Callable

    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from hourglass.data import Dataset
    from hourglass.viz.images import Model

    Draw = Callable[[Model, Dataset, argparse.Namespace], Figure]


def _loss(model: Model, data: Dataset, args: argparse.Namespace) -> Figure:
    from hourglass.viz import loss_curve

    # A detector has no loss parameter: it trains on (trimmed) squared error.
    return loss_curve(model.history_, log=not args.linear, loss=getattr(model, "loss", "mse"))


def _reconstructions(model: Model, data: Dataset, args: argparse.Namespace) -> Figure:
    from hourglass.viz import reconstructions

    rows = spread_rows(len(data), args.n, data.y)  # not the first n: a folder sorted by class would show one class
    # Each labelled with its number in the source, as encode's row_id and the explorer give it.
    return reconstructions(model, np.asarray(data.X)[rows], n=len(rows), row_ids=data.row_index()[rows])


def _latent(model: Model, data: Dataset, args: argparse.Namespace) -> Figure:
    from hourglass.viz import latent_map

    return latent_map(model, np.asarray(data.X), data.y)


def _manifold(model: Model, data: Dataset, args: argparse.Namespace) -> Figure:
    from hourglass.viz import manifold

    return manifold(model, np.asarray(data.X), n=args.grid, spacing=args.spacing)


def spread_rows(count: int, k: int, y: ArrayLike | None = None) -> np.ndarray:
    """``k`` row positions (at most ``count``) spread across the data: with labels, each label in turn (in
    sorted order; evenly chosen labels when there are more than ``k``) and within a label evenly spaced rows;
    without, evenly spaced rows.

    Examples
    --------
    >>> spread_rows(100, 4).tolist()
    [0, 33, 66, 99]
    >>> spread_rows(6, 4, ["a", "a", "a", "b", "b", "c"]).tolist()
    [0, 3, 5, 2]
    """
    k = min(k, count)
    if y is None:
        return np.linspace(0, count - 1, k).round().astype(np.int64)  # steps of at least 1: no repeats
    labels = np.asarray([str(v) for v in np.asarray(y).reshape(-1)])
    groups = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    if len(groups) > k:
        groups = [groups[int(i)] for i in np.linspace(0, len(groups) - 1, k).round()]
    taken = [0] * len(groups)  # how many rows each label gives: round-robin while rows are left
    while sum(taken) < k:
        for g, members in enumerate(groups):
            if taken[g] < len(members) and sum(taken) < k:
                taken[g] += 1
    spaced = (
        np.linspace(0, len(members) - 1, t).round().astype(np.int64) for members, t in zip(groups, taken, strict=True)
    )
    picks = [members[at] for members, at in zip(groups, spaced, strict=True)]
    # Label by label within each round, so the first rows shown already span the labels.
    return np.array([p[r] for r in range(max(taken)) for p in picks if r < len(p)], dtype=np.int64)


# name -> (draw, needs an image model)
FIGURES: dict[str, tuple[Draw, bool]] = {
    "loss": (_loss, False),
    "reconstructions": (_reconstructions, False),
    "latent": (_latent, False),
    "manifold": (_manifold, True),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        description=f"Write {FIGURE_FILES['loss']}, {FIGURE_FILES['reconstructions']} and {FIGURE_FILES['latent']} "
        f"for MODEL on DATA (default: the data it was trained on), and {FIGURE_FILES['manifold']} for an image "
        "model (the names the demo uses).",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p, "data to encode and rebuild (held-out data shows the most)", optional=True)
    p.add_argument("-o", "--output", required=True, help="folder to write the PNGs into (created if needed)")
    p.add_argument("--only", type=_names, default=None, help=f"comma-separated subset of: {', '.join(FIGURES)}")
    p.add_argument("-n", type=bounded_int(1, 100), default=10, help="reconstructions to show (default: %(default)s)")
    p.add_argument("--grid", type=bounded_int(2, 64), default=15, help="manifold tiles per side (default: %(default)s)")
    p.add_argument("--spacing", default="linear", choices=("linear", "quantile"), help="manifold grid spacing")
    p.add_argument("--linear", action="store_true", help="loss on a linear scale instead of log")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.viz import png_bytes, save_bytes

    out = check_output(
        args.output,
        folder=True,
        reusable=_holds_figures,
        own=FIGURE_FILES.values(),
        what="a folder of hourglass figures",
        inputs=[args.model, args.data],
    )
    model = read_model(args.model)
    names = args.only or [n for n, (_, images) in FIGURES.items() if model.kind_ == "image" or not images]
    for name in names:
        if FIGURES[name][1] and model.kind_ != "image":
            raise HourglassError(f"the {name} figure draws images; this model was trained on a table")
    data = read_model_data(args, model)
    # Every figure is drawn before any is written: a failure leaves no partial set behind.
    pngs = {FIGURE_FILES[name]: png_bytes(FIGURES[name][0](model, data, args)) for name in names}
    with lock(out):  # a second plot into this folder stops, naming this one
        if out.is_dir():  # figures of an earlier run (or an empty folder): replace each in one rename
            for file, png in pngs.items():
                save_bytes(png, out / file)
        else:  # a new folder appears whole
            with atomic_dir(out) as tmp:
                for file, png in pngs.items():
                    (tmp / file).write_bytes(png)
    for file in pngs:
        print(out / file)
    return 0


def _holds_figures(folder: Path) -> bool:
    """Whether ``folder`` holds something this command wrote (a figure, or a killed write's temporary file);
    anything else there is then refused by name."""
    return len(foreign_entries(folder, FIGURE_FILES.values())) < len(list(folder.iterdir()))


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown figure {', '.join(unknown) or text!r}; choose from {', '.join(FIGURES)}"
        )
    return names
