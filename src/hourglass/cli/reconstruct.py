"""``hourglass reconstruct MODEL DATA -o out.npy|out_dir/``."""

from __future__ import annotations

import argparse

from hourglass.cli.arguments import add_data_args, add_rows_output
from hourglass.cli.reading import read_data, read_inference
from hourglass.cli.writing import check_rows_output, report, where, write_rows


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        description="Rebuild DATA through the waist, X_hat = G(F(X)), in the original units.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p)
    add_rows_output(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = read_inference(args.model)
    check_rows_output(args.output, model, inputs=[args.model, args.data])
    data = read_data(args, model)  # in the model's form: its sample shape, a table's columns in its order
    write_rows(args.output, model.reconstruct(data.X).reshape(len(data), -1), model, data)
    report(args, f"reconstructed {len(data):,} rows: {where(args.output)}")
    return 0
