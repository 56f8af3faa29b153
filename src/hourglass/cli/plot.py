"""``hourglass plot MODEL DATA -o FOLDER``: the figures that show what a model learned, as PNGs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hourglass.cli.common import add_data_args, read_data, read_model
from hourglass.errors import HourglassError


def _loss(model: Any, X: np.ndarray, y: Any, args: argparse.Namespace) -> Any:
    from hourglass.viz import loss_curve

    return loss_curve(model.history_, log=not args.linear, loss=model.loss)


def _reconstructions(model: Any, X: np.ndarray, y: Any, args: argparse.Namespace) -> Any:
    from hourglass.viz import reconstructions

    return reconstructions(model, X, n=args.n)


def _latent(model: Any, X: np.ndarray, y: Any, args: argparse.Namespace) -> Any:
    from hourglass.viz import latent_map

    return latent_map(model, X, y)


def _manifold(model: Any, X: np.ndarray, y: Any, args: argparse.Namespace) -> Any:
    from hourglass.viz import manifold

    return manifold(model, X, n=args.grid, spacing=args.spacing)


# name -> (draw, needs an image model)
FIGURES: dict[str, tuple[Callable[..., Any], bool]] = {
    "loss": (_loss, False),
    "reconstructions": (_reconstructions, False),
    "latent": (_latent, False),
    "manifold": (_manifold, True),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="draw what a model learned (PNG figures)",
        description="Write loss.png, reconstructions.png, latent.png and manifold.png for MODEL on DATA.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p, "data to encode and rebuild (held-out data shows the most)")
    p.add_argument("-o", "--output", required=True, help="folder to write the PNGs into (created if needed)")
    p.add_argument("--only", type=_names, default=None, help=f"comma-separated subset of: {', '.join(FIGURES)}")
    p.add_argument("-n", type=int, default=10, help="reconstructions to show (default: %(default)s)")
    p.add_argument("--grid", type=int, default=15, help="manifold tiles per side (default: %(default)s)")
    p.add_argument("--spacing", default="linear", choices=("linear", "quantile"), help="manifold grid spacing")
    p.add_argument("--linear", action="store_true", help="loss on a linear scale instead of log")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.viz import save_png

    model = read_model(args.model)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise HourglassError(f"{out}: is a file; give a folder for the figures")
    names = args.only or [n for n, (_, images) in FIGURES.items() if model.kind_ == "image" or not images]
    for name in names:
        if FIGURES[name][1] and model.kind_ != "image":
            raise HourglassError(f"the {name} figure draws images; this model was trained on a table")
    data = read_data(args, model)
    for name in names:
        save_png(FIGURES[name][0](model, np.asarray(data.X), data.y, args), out / f"{name}.png")
        print(out / f"{name}.png")
    return 0


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown figure {', '.join(unknown) or text!r}; choose from {', '.join(FIGURES)}"
        )
    return names
