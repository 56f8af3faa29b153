"""``hourglass evaluate-anomaly MODEL DATA --label COL``: ROC-AUC, average precision, score histogram."""

from __future__ import annotations

import argparse

import numpy as np

from hourglass.cli.arguments import bounded_float
from hourglass.cli.score import model_chunks, read_detector
from hourglass.cli.writing import check_output
from hourglass.errors import HourglassError

SHOWN_VALUES = 10  # label values an error lists


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-anomaly",
        description="Score labelled DATA, print ROC-AUC and average precision, and write a histogram of the "
        "detector's scores for the two classes with the threshold it flags by.",
    )
    p.add_argument("model", metavar="MODEL", help="detector folder (from `hourglass fit-detector`)")
    p.add_argument("data", metavar="DATA", help="labelled rows: .csv/.tsv/.parquet, .npz (array y), .npy")
    p.add_argument("--label", metavar="COL", help="label column (.npz: array name; default y)")
    p.add_argument("--labels", dest="label", help=argparse.SUPPRESS)  # the old spelling, still accepted
    p.add_argument("--positive", default="1", help="label value that marks an anomaly (default: 1)")
    p.add_argument(
        "--alpha",
        type=bounded_float(0, 1, lo_open=True, hi_open=True),
        help="judge the rule p_value < ALPHA (as `hourglass score --alpha`) instead of the model's threshold",
    )
    p.add_argument("--plot", default="score_histogram.png", help="histogram PNG to write (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from hourglass.viz import save_png, score_histogram  # matplotlib loads only for this command

    check_output(args.plot, suffixes=(".png",), inputs=[args.model, args.data])
    model = read_detector(args.model)
    if args.alpha is not None:
        model.check_alpha(args.alpha, "--alpha")  # before any row is read
    scores, labels = [], []
    with model_chunks(args.data, model, args) as chunks:
        for X, chunk in chunks:
            y = chunk.y
            if y is None:
                raise HourglassError(f"{args.data}: no labels; name the label column with --label")
            scores.append(model.score_samples(X))
            labels.append(y)
    score, y = np.concatenate(scores), np.concatenate(labels)
    is_anomaly = _positive(y, args.positive)
    n_pos = int(is_anomaly.sum())
    if n_pos in (0, len(y)):
        raise HourglassError(
            f"labels must hold both classes; {n_pos} of {len(y)} rows equal --positive {args.positive!r} "
            f"(values found: {_values(y)})"
        )
    error = -score  # higher = more anomalous, the orientation both metrics expect
    auc = roc_auc_score(is_anomaly, error)
    ap = average_precision_score(is_anomaly, error)
    flagged = model.verdicts(score, args.alpha) == -1
    rule = "the threshold" if args.alpha is None else f"p < {args.alpha:g}"
    print(f"rows {len(y)}, anomalies {n_pos} ({n_pos / len(y):.2%})")
    print(f"ROC-AUC            {auc:.4f}")
    print(f"average precision  {ap:.4f}  (chance: {n_pos / len(y):.4f})")
    print(
        f"at {rule}: flagged {int(flagged.sum())}, precision "
        f"{(flagged & is_anomaly).sum() / max(flagged.sum(), 1):.3f}, recall {(flagged & is_anomaly).sum() / n_pos:.3f}"
    )
    title = f"ROC-AUC {auc:.3f}, average precision {ap:.3f}"
    fig = score_histogram(model, score, is_anomaly, title, alpha=args.alpha)
    save_png(fig, args.plot, dpi=110)  # 770x440 pixels, as before
    print(f"histogram written to {args.plot}")
    return 0


def _positive(y: np.ndarray, positive: str) -> np.ndarray:
    try:
        if np.asarray(y).dtype.kind in "biuf":
            return np.asarray(y, np.float64) == float(positive)
    except ValueError:
        pass
    return np.asarray([str(v) for v in y]) == positive


def _values(y: np.ndarray) -> str:
    """The label values present, most common first, with their counts (the first ``SHOWN_VALUES``)."""
    values, counts = np.unique(np.asarray([str(v) for v in y]), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    shown = ", ".join(f"{str(values[i])!r} ({counts[i]})" for i in order[:SHOWN_VALUES])
    return shown + (f", ... ({len(values)} values)" if len(values) > SHOWN_VALUES else "")
