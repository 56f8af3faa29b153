"""``hourglass evaluate-map MODEL TRAIN TEST --label COL [--no-umap] [-o figure.png]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hourglass.atomic import atomic_file
from hourglass.cli.arguments import seed_int
from hourglass.cli.reading import read_data, read_model
from hourglass.cli.writing import check_output
from hourglass.data import model_input
from hourglass.errors import HourglassError

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-map",
        description="Encode labelled TRAIN and TEST data and print the 1-NN and 5-NN accuracy of the test codes "
        "against the training codes, trustworthiness, silhouette, held-out reconstruction MSE (scaled units) "
        "and encode/decode speed, beside PCA at the same width and UMAP (when umap-learn is installed). "
        "Labels only score; the model never saw them.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument("train", metavar="TRAIN", help="labelled training data (a built-in name or a file)")
    p.add_argument("test", metavar="TEST", help="labelled held-out data of the same kind")
    p.add_argument("--label", metavar="COL", help="table column (or .npz array) holding labels")
    p.add_argument("--labels", dest="label", help=argparse.SUPPRESS)  # the old spelling, still accepted
    p.add_argument("--no-umap", action="store_true", help="leave UMAP out even when umap-learn is installed")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the baselines and subsamples")
    p.add_argument("-o", "--output", metavar="FIGURE", help="write the maps side by side (.png, .pdf, .svg)")
    p.set_defaults(run=run, image_size=None, color="auto", drop_nonfinite=False)


def run(args: argparse.Namespace) -> int:
    if args.output is not None:
        check_output(args.output, suffixes=FIGURE_SUFFIXES, inputs=[args.model, args.train, args.test])
    model = read_model(args.model)
    train, test = (read_data(args, model, source=s) for s in (args.train, args.test))
    for data, source in ((train, args.train), (test, args.test)):
        if data.y is None:
            raise HourglassError(f"{source}: no labels; name the label column with --label COL")
    from hourglass.evaluations.maps import evaluate_map
    from hourglass.viz.maps import map_figure

    umap = False if args.no_umap else None
    evaluation = evaluate_map(
        model, model_input(train, model), train.y, model_input(test, model), test.y, umap=umap, seed=args.seed
    )
    print(evaluation.table())
    if args.output is not None:
        out = Path(args.output)
        with atomic_file(out) as tmp:
            map_figure(evaluation).savefig(tmp, format=out.suffix.lower()[1:], dpi=120)
        print(f"figure written to {out}")
    return 0
