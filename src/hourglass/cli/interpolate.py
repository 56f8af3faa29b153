"""``hourglass interpolate MODEL DATA --from I --to J --steps K -o walk.gif``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from hourglass.cli.arguments import add_data_args, add_quiet, bounded_int
from hourglass.cli.reading import read_data, read_model
from hourglass.cli.writing import check_output, check_rows_output, report, where, write_rows
from hourglass.errors import HourglassError
from hourglass.params import WALK_PATHS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        description="Encode samples I and J of DATA, decode evenly spaced codes on the path between them.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    add_data_args(p)
    # Rows are numbered from 0, as the outputs' row_id numbers them: -1 is no row (not Python's last one).
    p.add_argument(
        "--from", dest="start", type=bounded_int(0), required=True, metavar="I", help="row index of sample A"
    )
    p.add_argument("--to", dest="end", type=bounded_int(0), required=True, metavar="J", help="row index of sample B")
    p.add_argument(
        "--steps", type=bounded_int(2, 1000), default=10, help="decoded points, ends included (default: %(default)s)"
    )
    p.add_argument("--path", choices=WALK_PATHS, help="straight line or great circle (default: spherical for a VAE)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="walk.gif (animation), walk.png (strip), or .npy/.csv/a new folder for the decoded frames "
        "(- for CSV on standard output)",
    )
    p.add_argument("--map", metavar="PNG", help="also draw the path on the latent map of DATA into this PNG")
    add_quiet(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass import viz

    model = read_model(args.model)
    out = Path(args.output)
    suffix = out.suffix.lower()
    inputs = [args.model, args.data]
    if suffix in (".gif", ".png"):
        check_output(out, inputs=inputs)
        if model.kind_ != "image":
            raise HourglassError(f"{out}: a {suffix} walk needs an image model; write .npy or .csv frames instead")
    else:
        check_rows_output(args.output, model, inputs)
    if args.map is not None:
        check_output(args.map, suffixes=(".png",), inputs=inputs)
        if os.path.realpath(args.map) == os.path.realpath(out):
            raise HourglassError(f"{args.map}: --map and -o name the same file")
    data = read_data(args, model)
    for name, index in (("--from", args.start), ("--to", args.end)):
        if not 0 <= index < len(data):
            raise HourglassError(f"{name} {index}: DATA has {len(data):,} rows (valid: 0 to {len(data) - 1})")
    X = np.asarray(data.X)
    codes, frames = viz.walk(model, X[args.start], X[args.end], args.steps, args.path)
    map_png = None  # drawn before anything is written, so a failure leaves neither file
    if args.map is not None:
        title = f"Walk from row {args.start} to row {args.end}"
        map_png = viz.png_bytes(viz.latent_map(model, X, data.y, path=codes, title=title))
    if suffix == ".gif":
        viz.save_bytes(viz.walk_gif(model, frames), out)
    elif suffix == ".png":
        viz.save_png(viz.walk_strip(model, frames, f"Walk from row {args.start} (A) to row {args.end} (B)"), out)
    else:
        write_rows(args.output, frames.reshape(len(frames), -1), model)
    if map_png is not None:
        viz.save_bytes(map_png, args.map)
    drawn = f" (and the path on the map: {args.map})" if args.map is not None else ""
    report(args, f"walked row {args.start} to row {args.end} in {len(frames)} frames: {where(args.output)}{drawn}")
    return 0
