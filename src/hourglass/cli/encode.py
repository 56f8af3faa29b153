"""``hourglass encode MODEL DATA -o codes.csv``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hourglass.cli.arguments import add_data_args, add_quiet
from hourglass.cli.reading import read_data, read_inference
from hourglass.cli.writing import STDOUT, check_output, report, row_columns, where, write_columns
from hourglass.data import ARRAY_SUFFIXES, TABLE_SUFFIXES
from hourglass.data.arrays import write_array


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        description="Encode each row or image to its code Z. A table gets columns row_id (the row's 0-based "
        "position in DATA), path (an image folder's file), z1..zk, and label when DATA has labels. DATA is read "
        "as the model's training data was (its label column, image size and colour) unless flags say otherwise.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="codes file: .csv, .tsv, .parquet, .npy or .npz, or - for CSV on standard output",
    )
    add_quiet(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.output != STDOUT:
        check_output(args.output, suffixes=TABLE_SUFFIXES + ARRAY_SUFFIXES, inputs=[args.model, args.data])
    model = read_inference(args.model)
    data = read_data(args, model)  # in the model's form: its sample shape, a table's columns in its order
    codes = model.transform(data.X)
    out = Path(args.output)
    if out.suffix.lower() in ARRAY_SUFFIXES:
        write_array(out, codes)
    else:
        columns = row_columns(data) | {f"z{i + 1}": codes[:, i] for i in range(codes.shape[1])}
        if data.y is not None:
            columns["label"] = np.asarray(data.y)
        write_columns(out, columns)
    report(args, f"encoded {len(codes):,} rows to codes of {codes.shape[1]} numbers: {where(args.output)}")
    return 0
