"""``hourglass evaluate-denoise MODEL DATA --noise gaussian:0.3 [-o figure.png]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hourglass.atomic import atomic_file
from hourglass.cli.arguments import add_data_args, seed_int
from hourglass.cli.reading import read_data, read_model
from hourglass.cli.writing import check_output
from hourglass.errors import HourglassError
from hourglass.params import NOISE_HELP

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-denoise",
        description="Corrupt clean held-out DATA with a fixed seed, denoise it, and print MSE and PSNR of "
        "the noisy input, the model and classical filters (median, Gaussian blur; images only).",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p, "clean held-out data")
    p.add_argument("--noise", metavar="SPEC", help=f"{NOISE_HELP} (default: the noise the model was trained with)")
    p.add_argument("--seed", type=seed_int, default=0, help="noise seed (default: %(default)s)")
    p.add_argument("-o", "--output", metavar="FIGURE", help="write a before/after figure (.png, .pdf, .svg)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.data.noise import parse_noise
    from hourglass.evaluations.denoise import evaluate_denoise
    from hourglass.viz.denoise import denoise_figure

    if args.output is not None:
        check_output(args.output, suffixes=FIGURE_SUFFIXES, inputs=[args.model, args.data])
    if args.noise is not None:
        parse_noise(args.noise)  # a bad spec fails before the model or data is read
    model = read_model(args.model)
    noise = args.noise or model.noise
    if noise is None:
        raise HourglassError("this model was trained without noise; pass --noise SPEC, e.g. --noise gaussian:0.3")
    evaluation = evaluate_denoise(model, read_data(args, model).X, noise, seed=args.seed)
    print(evaluation.table())
    if args.output is not None:
        out = Path(args.output)
        with atomic_file(out) as tmp:
            denoise_figure(evaluation).savefig(tmp, format=out.suffix.lower()[1:], dpi=120)
        print(f"figure written to {out}")
    return 0
