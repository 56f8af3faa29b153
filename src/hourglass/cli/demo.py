"""``hourglass demo``: the whole story on the bundled digits in well under a minute."""

from __future__ import annotations

import argparse

from hourglass.cli.writing import check_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        description="Train the 49 -> 2 -> 49 autoencoder on mnist7 and write runs/demo/.",
    )
    p.add_argument(
        "--out",
        default="runs/demo",
        help="output folder: new, empty, or one an earlier demo wrote (default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="train every model a few epochs only: the whole demo in seconds, to check an install "
        "(the figures show undertrained models)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hourglass.atomic import lock
    from hourglass.demo.story import is_demo_folder, run_demo

    check_output(args.out, folder=True, reusable=is_demo_folder, what="a folder written by hourglass demo")
    with lock(args.out):  # a second demo into this folder stops at once, naming this one
        run_demo(args.out, verbose=not args.quiet, quick=args.quick)
    return 0
