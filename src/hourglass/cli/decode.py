"""``hourglass decode MODEL codes.csv -o out.npy|out_dir/``."""

from __future__ import annotations

import argparse

from hourglass.cli.arguments import add_rows_output
from hourglass.cli.reading import read_codes, read_inference
from hourglass.cli.writing import check_rows_output, report, where, write_rows


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        description="Decode codes (columns "
        "z1..zk of a table, or an .npy/.npz array) back to data in the original units.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument("codes", metavar="CODES", help="codes file (.csv, .tsv, .parquet, .npy, .npz)")
    add_rows_output(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = read_inference(args.model)
    check_rows_output(args.output, model, inputs=[args.model, args.codes])
    codes = read_codes(args.codes, model.latent_dim)  # with encode's row_id and path columns, if there
    write_rows(args.output, model.inverse_transform(codes.X), model, codes)
    report(args, f"decoded {len(codes):,} codes to rows of {model.n_features_in_:,} values: {where(args.output)}")
    return 0
