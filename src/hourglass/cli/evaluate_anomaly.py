"""``hourglass evaluate-anomaly MODEL DATA --labels COL``: ROC-AUC, average precision, score histogram."""

from __future__ import annotations

import argparse

import numpy as np

from hourglass.cli.common import check_output
from hourglass.cli.score import model_chunks, read_detector
from hourglass.errors import HourglassError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-anomaly",
        description="Score labelled DATA, print ROC-AUC and average precision, and write a histogram of "
        "reconstruction errors for the two classes with the model's threshold.",
    )
    p.add_argument("model", metavar="MODEL", help="detector folder (from `hourglass fit-detector`)")
    p.add_argument("data", metavar="DATA", help="labelled rows: .csv/.tsv/.parquet, .npz (array y), .npy")
    p.add_argument("--labels", metavar="COL", help="label column (.npz: array name; default y)")
    p.add_argument("--positive", default="1", help="label value that marks an anomaly (default: 1)")
    p.add_argument("--plot", default="score_histogram.png", help="histogram PNG to write (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from hourglass.viz import save_png, score_histogram  # matplotlib loads only for this command

    check_output(args.plot, suffixes=(".png",), inputs=[args.model, args.data])
    model = read_detector(args.model)
    scores, labels = [], []
    with model_chunks(args.data, model, args.labels) as chunks:
        for X, y in chunks:
            if y is None:
                raise HourglassError(f"{args.data}: no labels; name the label column with --labels")
            scores.append(model.score_samples(X))
            labels.append(y)
    score, y = np.concatenate(scores), np.concatenate(labels)
    is_anomaly = _positive(y, args.positive)
    n_pos = int(is_anomaly.sum())
    if n_pos in (0, len(y)):
        raise HourglassError(f"labels must hold both classes; {n_pos} of {len(y)} rows equal {args.positive!r}")
    error = -score  # higher = more anomalous, the orientation both metrics expect
    auc = roc_auc_score(is_anomaly, error)
    ap = average_precision_score(is_anomaly, error)
    flagged = model.verdicts(score) == -1
    print(f"rows {len(y)}, anomalies {n_pos} ({n_pos / len(y):.2%})")
    print(f"ROC-AUC            {auc:.4f}")
    print(f"average precision  {ap:.4f}  (chance: {n_pos / len(y):.4f})")
    print(
        f"at the threshold: flagged {int(flagged.sum())}, precision "
        f"{(flagged & is_anomaly).sum() / max(flagged.sum(), 1):.3f}, recall {(flagged & is_anomaly).sum() / n_pos:.3f}"
    )
    fig = score_histogram(error, is_anomaly, -model.offset_, f"ROC-AUC {auc:.3f}, average precision {ap:.3f}")
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
