"""The ``hourglass`` command: each sub-command is one module here with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hourglass import distributed
from hourglass.errors import HourglassError

# Order is the order ``hourglass --help`` lists them in.
COMMANDS = (
    "demo",
    "train",
    "encode",
    "decode",
    "reconstruct",
    "denoise",
    "evaluate-denoise",
    "fit-detector",
    "score",
    "evaluate-anomaly",
    "info",
    "interpolate",
    "sample",
    "plot",
    "explore",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    from hourglass import __version__

    parser = argparse.ArgumentParser(
        prog="hourglass",
        description="Train autoencoders, look inside them, and use them: compress, denoise, "
        "detect anomalies, generate.",
    )
    parser.add_argument("--version", action="version", version=f"hourglass {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hourglass.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HourglassError as e:
        # Under torchrun an error met after the ranks joined is met by all of them (they share every
        # decision): rank 0 says it once. Earlier ones (reading the data) may be one rank's alone.
        if distributed.is_main() or not distributed.joined():
            print(f"hourglass: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hourglass: interrupted", file=sys.stderr)
        return 130
