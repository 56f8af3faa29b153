"""``hourglass sample MODEL -n 64 -o samples.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hourglass.cli.common import bounded_int, check_output, check_rows_output, read_model, seed_int, write_rows
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
        help="samples.png (a grid; image models), or .npy/.npz/.csv/.parquet, or a new folder of PNGs",
    )
    p.add_argument(
        "--nearest",
        metavar="DATA",
        help="training data: show each sample beside its nearest training image (PNG output only)",
    )
    p.add_argument("--cols", type=bounded_int(1, 64), default=None, help="samples per row in the PNG")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass import viz

    model = read_model(args.model)
    out = Path(args.output)
    png = out.suffix.lower() == ".png"
    if png and model.kind_ != "image":
        raise HourglassError(f"{out}: a PNG of samples needs an image model; write .npy or .csv instead")
    if not 1 <= args.n <= MAX_SAMPLES:  # checked here, not by argparse, so main() returns 2 like other user errors
        raise HourglassError(f"-n {args.n}: give from 1 to {MAX_SAMPLES:,} samples")
    if args.n * model.n_features_in_ > MAX_VALUES:
        raise HourglassError(
            f"-n {args.n}: {args.n:,} samples of {model.n_features_in_:,} values each need over 1 GiB; ask for fewer"
        )
    if png and args.n > MAX_PNG_SAMPLES:
        raise HourglassError(
            f"-n {args.n}: a PNG shows at most {MAX_PNG_SAMPLES:,} samples; write .npy or .csv for more"
        )
    if args.nearest and not png:
        raise HourglassError("--nearest draws a figure; give a .png output")
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
    return 0
