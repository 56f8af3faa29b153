"""``hourglass plot MODEL DATA -o FOLDER``: the figures that show what a model learned, as PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hourglass.atomic import atomic_dir
from hourglass.cli.common import add_data_args, bounded_int, check_output, read_data, read_model
from hourglass.errors import HourglassError

if TYPE_CHECKING:  # types only: the CLI imports torch and matplotlib when a command runs, not before
    from collections.abc import Callable

    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from hourglass.viz.images import Model

    Draw = Callable[[Model, np.ndarray, ArrayLike | None, argparse.Namespace], Figure]


def _loss(model: Model, X: np.ndarray, y: ArrayLike | None, args: argparse.Namespace) -> Figure:
    from hourglass.viz import loss_curve

    # A detector has no loss parameter: it trains on (trimmed) squared error.
    return loss_curve(model.history_, log=not args.linear, loss=getattr(model, "loss", "mse"))


def _reconstructions(model: Model, X: np.ndarray, y: ArrayLike | None, args: argparse.Namespace) -> Figure:
    from hourglass.viz import reconstructions

    return reconstructions(model, X, n=args.n)


def _latent(model: Model, X: np.ndarray, y: ArrayLike | None, args: argparse.Namespace) -> Figure:
    from hourglass.viz import latent_map

    return latent_map(model, X, y)


def _manifold(model: Model, X: np.ndarray, y: ArrayLike | None, args: argparse.Namespace) -> Figure:
    from hourglass.viz import manifold

    return manifold(model, X, n=args.grid, spacing=args.spacing)


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
        description="Write loss.png, reconstructions.png, latent.png and manifold.png for MODEL on DATA.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p, "data to encode and rebuild (held-out data shows the most)")
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
        what="a folder of hourglass figures",
        inputs=[args.model, args.data],
    )
    model = read_model(args.model)
    names = args.only or [n for n, (_, images) in FIGURES.items() if model.kind_ == "image" or not images]
    for name in names:
        if FIGURES[name][1] and model.kind_ != "image":
            raise HourglassError(f"the {name} figure draws images; this model was trained on a table")
    data = read_data(args, model)
    # Every figure is drawn before any is written: a failure leaves no partial set behind.
    pngs = {f"{name}.png": png_bytes(FIGURES[name][0](model, np.asarray(data.X), data.y, args)) for name in names}
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
    """Whether ``folder`` holds only figures this command writes (and temporary files of killed writes)."""
    files = tuple(f"{name}.png" for name in FIGURES)
    return all(p.name.removeprefix(".").startswith(files) for p in folder.iterdir())


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown figure {', '.join(unknown) or text!r}; choose from {', '.join(FIGURES)}"
        )
    return names
