"""``hourglass fit-detector DATA --out runs/NAME``: train an ``AnomalyDetector`` (no labels needed).

The defaults --help shows are the detector's own (``hourglass.params``); the detector (torch,
scikit-learn) is imported only to train.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from hourglass.card import held_out_text
from hourglass.cli.common import (
    add_data_args,
    bounded_float,
    bounded_int,
    check_model_output,
    check_params,
    device_name,
    layer_widths,
    read_data,
    remember_data,
    seed_int,
)
from hourglass.data import model_input
from hourglass.params import DETECTOR

if TYPE_CHECKING:
    from hourglass.anomaly import AnomalyDetector


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-detector",
        help="train an anomaly detector",
        description="Train an anomaly detector on DATA, which may hold anomalies (labels are never used), "
        "and write its model folder for `hourglass score` and `hourglass evaluate-anomaly`.",
    )
    add_data_args(p, "training data", model=False)
    d = DETECTOR
    p.add_argument("--out", help="model folder to write (default: runs/<data name>-detector)")
    p.add_argument(
        "--contamination",
        type=_contamination,
        default=d.contamination,
        help="expected anomaly share in DATA, or auto: flag the worst 1%% of training rows (default: %(default)s)",
    )
    # Numeric flags take the ranges of the detector's ``_parameter_specs`` (tests/test_cli_boundary.py holds them
    # equal), checked by argparse so that a bad value is answered before torch is imported.
    p.add_argument(
        "--latent", type=bounded_int(1, 4096), default=d.latent_dim, help="code width per member (default: %(default)s)"
    )
    p.add_argument(
        "--hidden",
        type=layer_widths,
        default=d.hidden,
        help=f"encoder widths, e.g. 32 or 64,32 (default: {','.join(map(str, d.hidden))})",
    )
    p.add_argument(
        "--members", type=bounded_int(1, 100), default=d.n_members, help="ensemble size (default: %(default)s)"
    )
    p.add_argument(
        "--trim",
        type=bounded_float(0, 1, hi_open=True),
        default=d.trim,
        help="share of worst rows ignored per batch (default: %(default)s)",
    )
    p.add_argument(
        "--epochs", type=bounded_int(1, 1_000_000), default=d.epochs, help="most epochs (default: %(default)s)"
    )
    p.add_argument(
        "--no-iforest",
        action="store_true",
        help="score by the autoencoders' reconstruction error alone (no IsolationForest term; ~5x faster scoring)",
    )
    p.add_argument(
        "--seed", type=seed_int, default=d.seed, help="the same seed gives the same detector (default: %(default)s)"
    )
    p.add_argument(
        "--device",
        type=device_name,
        default=d.device,
        help="auto (CUDA when present), cpu, cuda or cuda:N (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no summary")
    p.set_defaults(run=run)


FLAGS = {
    "latent_dim": "--latent",
    "hidden": "--hidden",
    "n_members": "--members",
    "trim": "--trim",
    "contamination": "--contamination",
    "iforest": "--no-iforest",
    "epochs": "--epochs",
    "seed": "--seed",
    "device": "--device",
}


def detector_from(args: argparse.Namespace) -> AnomalyDetector:
    from hourglass.anomaly import AnomalyDetector

    return AnomalyDetector(
        latent_dim=args.latent,
        hidden=args.hidden,
        n_members=args.members,
        trim=args.trim,
        contamination=args.contamination,
        iforest=not args.no_iforest,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
    )


def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as held:  # the detector folder's lock, from its first check to the end
        return _run(args, held)


def _run(args: argparse.Namespace, held: contextlib.ExitStack) -> int:
    from hourglass.atomic import lock
    from hourglass.training import distributed

    detector = detector_from(args)
    check_params(detector, FLAGS)  # every flag's range, before any data is read
    if args.out is not None:
        check_model_output(args.out, [args.data])  # before reading data that may take long to load
        if distributed.is_main():  # a second fit into this folder stops here, naming this one
            held.enter_context(lock(args.out))
    data = read_data(args)
    out = check_model_output(args.out or Path("runs") / f"{data.name}-detector", [args.data])
    if distributed.is_main():
        held.enter_context(lock(out))  # taken above already when --out was given
    detector.fit(model_input(data))
    remember_data(detector, args, data)  # where DATA came from and how it was read, saved in the folder
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


def _contamination(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return _fraction(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a fraction in (0, 0.5] such as 0.05, got {text!r}"
        ) from None


_fraction = bounded_float(0, 0.5, lo_open=True)
