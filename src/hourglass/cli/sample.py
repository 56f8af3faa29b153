"""``hourglass sample MODEL -n 64 -o samples.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hourglass.cli.arguments import add_quiet, bounded_int, seed_int
from hourglass.cli.reading import read_autoencoder
from hourglass.cli.writing import check_output, check_rows_output, report, where, write_rows
from hourglass.errors import HourglassError

MAX_SAMPLES = 1_000_000  # rows written to a file
MAX_VALUES = 1 << 28  # the decoded samples are held in memory: at most 1 GiB of float32
MAX_PNG_SAMPLES = 1_024  # tiles in one figure: more make a picture too large to look at or draw


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        description="Draw codes from the Gaussian mixture fitted to the training codes and decode them.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument("-n", type=int, default=64, help="how many samples (default: %(default)s)")
    p.add_argument("--seed", type=seed_int, default=0, help="the same seed gives the same samples")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="samples.png (a grid; image models), .npy/.npz/.csv/.parquet, a new folder of PNGs, "
        "or - for CSV on standard output",
    )
    p.add_argument(
        "--nearest",
        metavar="DATA",
        help="training data: show each sample beside its nearest training image (PNG output only)",
    )
    p.add_argument(
        "--cols",
        type=bounded_int(1, 64),
        default=None,
        help="samples per row in the PNG (default: 8; 16 with --nearest)",
    )
    add_quiet(p)
    p.set_defaults(run=run, check_args=check_args)


def check_args(args: argparse.Namespace) -> None:
    """What needs no model: the sample count and the flags that go together (``hourglass.cli.check_light``)."""
    if not 1 <= args.n <= MAX_SAMPLES:
        raise HourglassError(f"-n {args.n}: give from 1 to {MAX_SAMPLES:,} samples")
    png = Path(args.output).suffix.lower() == ".png"
    if png and args.n > MAX_PNG_SAMPLES:
        raise HourglassError(
            f"-n {args.n}: a PNG shows at most {MAX_PNG_SAMPLES:,} samples; write .npy or .csv for more"
        )
    if args.nearest and not png:
        raise HourglassError("--nearest draws a figure; give a .png output")


def run(args: argparse.Namespace) -> int:
    from hourglass import viz

    model = read_autoencoder(args.model, "sample")
    out = Path(args.output)
    png = out.suffix.lower() == ".png"
    if png and model.kind_ != "image":
        raise HourglassError(f"{out}: a PNG of samples needs an image model; write .npy or .csv instead")
    check_args(args)  # main checked them before the imports; run() may be called alone
    if args.n * model.n_features_in_ > MAX_VALUES:
        raise HourglassError(
            f"-n {args.n}: {args.n:,} samples of {model.n_features_in_:,} values each need over 1 GiB; ask for fewer"
        )
    if png:
        check_output(out, inputs=[args.model, args.nearest])
    else:
        check_rows_output(args.output, model, inputs=[args.model])
    samples = model.sample(args.n, seed=args.seed)
    if not png:
        write_rows(args.output, samples.reshape(len(samples), -1), model)
    elif args.nearest:
        from hourglass.data import load_dataset

        train = load_dataset(args.nearest).X
        viz.save_png(viz.samples_beside_nearest(model, samples, train, cols=args.cols or 16), out)
    else:
        viz.save_png(viz.sample_grid(model, samples, cols=args.cols or 8, title=f"{args.n} generated samples"), out)
    beside = " beside their nearest training images" if args.nearest else ""
    report(args, f"generated {len(samples):,} samples{beside}: {where(args.output)}")
    return 0
