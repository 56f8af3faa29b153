"""``hourglass verify MODEL DATA [--onnx DIR]``: the export, PyTorch and the explorer's decoder agree, or exit 1."""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from hourglass.cli.arguments import add_data_args, bounded_int
from hourglass.cli.reading import read_data, read_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        description="Run the first rows of DATA through the model in PyTorch, through its ONNX export in "
        "onnxruntime and through the explorer's JavaScript (the page's encoder, decoder and drawing-pad score) "
        "in headless Chromium; print the worst difference of every pair (codes, rows, scores) and whether a "
        "detector's verdicts differ. Exit 1 when a pair differs by more than 1e-5 "
        "(relative beyond 1, see hourglass.export.verify) or a verdict differs (but for rows scored at the "
        "threshold), 0 when all agree. Without Chromium the JavaScript column is skipped, with a note. Needs "
        "onnxruntime (pip install 'hourglass-ae[export]').",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p, "probe rows")
    p.add_argument(
        "--onnx",
        metavar="DIR",
        help="the export to check (from `hourglass export`); default: export the model afresh to a temporary folder",
    )
    p.add_argument(
        "--rows",
        type=bounded_int(1, 1_000_000),
        default=1000,
        help="probe rows: the first this many of DATA (default: %(default)s)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.export.onnx import Runtime, export_onnx, read_export, require
    from hourglass.export.verify import verify

    require("onnxruntime", what="verify")
    if args.onnx is None:
        require("onnx", "onnxscript", what="verify without --onnx (it exports the model first)")
    model = read_model(args.model)
    X = np.asarray(read_data(args, model).X[: args.rows])
    X = X.reshape(len(X), -1).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="hourglass-verify-") as tmp:
        folder = args.onnx or export_onnx(model, f"{tmp}/onnx")
        report = verify(model, Runtime(read_export(folder, model)), X)
    print(report.table())
    return 0 if report.ok else 1
