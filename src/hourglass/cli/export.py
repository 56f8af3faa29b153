"""``hourglass export MODEL -o DIR``: the model as ONNX graphs that take raw rows (see ``hourglass.export.onnx``)."""

from __future__ import annotations

import argparse

from hourglass.cli.reading import read_model
from hourglass.cli.writing import check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        description="Write the model as ONNX graphs into the folder DIR: encoder.onnx (rows -> codes), decoder.onnx "
        "(codes -> rows) and, for an anomaly detector, scorer.onnx (rows -> scores, higher = more normal), plus "
        "manifest.json naming each graph's input and output with its type and shape. The scaling is inside the "
        "graphs: they take and give rows in the data's own units (images flattened channels-last), float32, any "
        "number of rows. A detector's threshold is in the manifest (a row scoring below it is an anomaly). "
        "Check an export with `hourglass verify MODEL DATA --onnx DIR`. Needs onnx and onnxscript "
        "(pip install 'hourglass-ae[export]').",
    )
    p.add_argument("model", metavar="MODEL", help="model folder (from `hourglass train` or `hourglass fit-detector`)")
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder to write: new, empty, or an earlier export"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.export.onnx import OWN_FILES, export_onnx, is_export_folder, require

    out = check_output(
        args.output,
        folder=True,
        reusable=is_export_folder,
        own=OWN_FILES,
        what="an hourglass ONNX export",
        inputs=[args.model],
    )
    require("onnx", "onnxscript", what="export")
    model = read_model(args.model)
    export_onnx(model, out)
    graphs = ", ".join(sorted(p.name for p in out.glob("*.onnx")))
    print(f"exported {graphs} and manifest.json to {out}")
    return 0
