"""``hourglass explore MODEL [DATA] -o explorer.html``: the latent map and decoder in one offline page."""

from __future__ import annotations

import argparse

from hourglass.cli.arguments import add_max_pixels, bounded_int, image_size
from hourglass.cli.reading import read_model, read_model_data
from hourglass.cli.writing import check_output
from hourglass.params import MAX_POINTS


def add_explorer_args(p: argparse.ArgumentParser) -> None:
    """MODEL, an optional DATA and the data options: shared with ``hourglass serve``."""
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument(
        "data",
        metavar="DATA",
        nargs="?",
        help="data to map: a built-in name, .npy/.npz, .csv/.tsv/.parquet or an image folder "
        "(default: the model's training data, when its folder records it)",
    )
    p.add_argument(
        "--label", help="table column (or .npz array) holding labels that colour the dots (default: the model's)"
    )
    p.add_argument(
        "--image-size",
        type=image_size,
        metavar="HxW",
        help="resize a folder's images to this size (default: the model's)",
    )
    p.add_argument(
        "--color",
        choices=("auto", "gray", "rgb"),
        default="auto",
        help="image colour mode; auto takes the model's (default: %(default)s)",
    )
    p.add_argument(
        "--drop-nonfinite",
        action="store_true",
        help="drop rows with NaN/inf instead of failing (always, when the model's training data was read so)",
    )
    p.add_argument(
        "--max-points",
        type=bounded_int(1, 1_000_000),
        default=MAX_POINTS,
        help="most dots on the map; more rows are subsampled (default: %(default)s)",
    )
    add_max_pixels(p)
    p.add_argument("--title", help="page title")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explore",
        description="Write ONE self-contained HTML file holding the latent map of DATA and the model's network "
        "(any model: MLP, conv, VAE, a detector), evaluated in the page: hover to decode, click to compare "
        "and see a dot's nearest neighbors, walk between two dots, draw an image and see where it lands with "
        "its reconstruction and score, find dots by label or row, lasso dots and download their row ids. Works "
        "offline.",
    )
    add_explorer_args(p)
    p.add_argument("-o", "--output", default="explorer.html", help="HTML file to write (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.explorer.page import write_explorer

    check_output(args.output, suffixes=(".html", ".htm"), inputs=[args.model, args.data])
    model = read_model(args.model)
    data = read_model_data(args, model)
    title = args.title or f"hourglass explorer: {data.name}"
    # The Dataset itself: its labels colour the dots, its row numbers and file paths name them.
    out = write_explorer(model, data, path=args.output, max_points=args.max_points, title=title)
    print(f"explorer written to {out} (open it in a browser; it needs no network)")
    return 0
