"""``hourglass sample MODEL -n 64 -o samples.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hourglass.cli.common import check_new_output, read_model, write_rows
from hourglass.errors import HourglassError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="generate new samples",
        description="Draw codes from the Gaussian mixture fitted to the training codes and decode them.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument("-n", type=int, default=64, help="how many samples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same samples")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="samples.png (a grid; image models), or .npy/.npz/.csv/.parquet, or a new folder of PNGs",
    )
    p.add_argument(
        "--nearest",
        metavar="DATA",
        help="training data: show each sample beside its nearest training image (PNG output only)",
    )
    p.add_argument("--cols", type=int, default=None, help="samples per row in the PNG")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass import viz

    model = read_model(args.model)
    out = Path(args.output)
    png = out.suffix.lower() == ".png"
    if png and model.kind_ != "image":
        raise HourglassError(f"{out}: a PNG of samples needs an image model; write .npy or .csv instead")
    if args.nearest and not png:
        raise HourglassError("--nearest draws a figure; give a .png output")
    check_new_output(args.output)
    samples = model.sample(args.n, seed=args.seed)
    if not png:
        write_rows(args.output, samples.reshape(len(samples), -1), model)
    elif args.nearest:
        from hourglass.data import load_dataset

        train = load_dataset(args.nearest).X
        viz.save_png(viz.samples_beside_nearest(model, samples, train, cols=args.cols or 16), out)
    else:
        viz.save_png(viz.sample_grid(model, samples, cols=args.cols or 8, title=f"{args.n} generated samples"), out)
    return 0
