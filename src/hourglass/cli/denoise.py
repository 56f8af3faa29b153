"""``hourglass denoise MODEL NOISY_DATA -o clean.npy|dir/``."""

from __future__ import annotations

import argparse
import sys

from hourglass.cli.arguments import add_data_args, add_rows_output
from hourglass.cli.reading import read_autoencoder, read_data
from hourglass.cli.writing import check_rows_output, write_rows
from hourglass.data import model_input


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "denoise",
        description="Pass noisy DATA through a model trained with --noise; writes the cleaned data in "
        "the original units.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder (trained with hourglass train --noise)")
    add_data_args(p, "noisy data")
    add_rows_output(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = read_autoencoder(args.model, "denoise")
    check_rows_output(args.output, model, inputs=[args.model, args.data])
    if model.noise is None:
        print(
            "hourglass: warning: this model was trained without --noise; its output is a plain reconstruction",
            file=sys.stderr,
        )
    data = read_data(args, model)
    write_rows(args.output, model.denoise(model_input(data, model)).reshape(len(data), -1), model, data)
    return 0
