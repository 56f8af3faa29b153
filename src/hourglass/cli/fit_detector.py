"""``hourglass fit-detector DATA --out runs/NAME``: train an ``AnomalyDetector`` (no labels needed).

The detector's flags come from its parameter table (``hourglass.params``, through ``cli.flags``); the
detector (torch, scikit-learn) is imported only to train.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from hourglass.card import held_out_text
from hourglass.cli.arguments import add_data_args
from hourglass.cli.flags import add_estimator_flags, values
from hourglass.cli.reading import read_data, remember_data
from hourglass.cli.writing import check_model_output
from hourglass.params import DETECTOR

if TYPE_CHECKING:
    from hourglass.anomaly import AnomalyDetector


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-detector",
        description="Train an anomaly detector on DATA, which may hold anomalies (labels are never used), "
        "and write its model folder for `hourglass score` and `hourglass evaluate-anomaly`.",
    )
    add_data_args(p, "training data", model=False)
    p.add_argument("--out", help="model folder to write (default: runs/<data name>-detector)")
    add_estimator_flags(p, DETECTOR)
    p.add_argument("--quiet", action="store_true", help="no summary")
    p.set_defaults(run=run)


def detector_from(args: argparse.Namespace) -> AnomalyDetector:
    """The detector the flags describe (checked when they were parsed)."""
    from hourglass.anomaly import AnomalyDetector

    return AnomalyDetector(**values(args, DETECTOR))


def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as held:  # the detector folder's lock, from its first check to the end
        return _run(args, held)


def _run(args: argparse.Namespace, held: contextlib.ExitStack) -> int:
    from hourglass.atomic import lock
    from hourglass.training import distributed

    detector = detector_from(args)
    if args.out is not None:
        check_model_output(args.out, [args.data])  # before reading data that may take long to load
        if distributed.is_main():  # a second fit into this folder stops here, naming this one
            held.enter_context(lock(args.out))
    data = read_data(args)
    out = check_model_output(args.out or Path("runs") / f"{data.name}-detector", [args.data])
    if distributed.is_main():
        held.enter_context(lock(out))  # taken above already when --out was given
    detector.fit(remember_data(args, data))  # where DATA came from and how it was read go with it, to be saved
    detector.save(out)
    if not args.quiet:
        h = detector.history_
        print(f"trained {len(h.train)} epochs in {h.seconds:.1f} s; threshold score {detector.offset_:.5g}")
        # As `train` says it (a dead fit was warned about above): the members' mean reconstruction beside
        # predicting the mean and PCA at one member's code width.
        print(f"held out: {held_out_text(h.held_out)}")
        n = len(detector.calibration_)
        if n:  # the floor of `score --alpha`, said where the user first sees the detector
            print(f"p-values from {n:,} held-out rows: the smallest is 1/{n + 1:,} = {1 / (n + 1):.4g}")
        print(f"detector written to {out}")
    return 0
