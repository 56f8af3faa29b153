"""``hourglass train DATA --latent 2 --out runs/NAME``.

The defaults --help shows are the estimator's own (``hourglass.params``); the estimator, the checkpoint
and torch.distributed are imported only to train, so --help starts without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

from hourglass.cli.common import (
    add_data_args,
    bounded_float,
    bounded_int,
    check_model_output,
    check_output,
    check_params,
    device_name,
    layer_widths,
    model_name,
    read_data,
    remember_data,
    seed_int,
)
from hourglass.data import model_input
from hourglass.data.scaling import KINDS as SCALINGS
from hourglass.errors import HourglassError
from hourglass.params import AUTOENCODER, NOISE_HELP

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an autoencoder on data",
        description="Train an autoencoder (unsupervised: labels are never used) and write its model folder.",
    )
    add_data_args(p, "training data", model=False)
    d = AUTOENCODER
    p.add_argument("--out", help="model folder to write (default: runs/<data name>)")
    p.add_argument(
        "--model",
        type=model_name,
        default=d.model,
        help="model family: auto (the default: conv for images larger than 16x16, else mlp) "
        "or a registered model such as vae",
    )
    # Numeric flags take the ranges of the estimator's ``_parameter_specs`` (tests/test_cli_boundary.py holds them
    # equal), checked by argparse so that a bad value is answered before torch is imported.
    p.add_argument(
        "--latent", type=bounded_int(1, 4096), default=d.latent_dim, help="code width (default: %(default)s)"
    )
    p.add_argument(
        "--hidden",
        type=layer_widths,
        default=d.hidden,
        help="encoder widths (conv: channels), e.g. 128,64; default: the model's",
    )
    p.add_argument("--activation", default=d.activation, help="hidden activation (default: %(default)s)")
    p.add_argument(
        "--loss",
        default=d.loss,
        choices=("mse", "bce"),
        help="reconstruction loss; bce for data in [0, 1] (default: %(default)s)",
    )
    p.add_argument(
        "--scaling",
        default=d.scaling,
        choices=("auto", *SCALINGS),
        help="input scaling learnt from the data; auto picks by its kind (default: %(default)s)",
    )
    p.add_argument(
        "--epochs", type=bounded_int(1, 1_000_000), default=d.epochs, help="most epochs (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=_count, default=d.batch_size, help="rows per step (default: %(default)s)")
    p.add_argument("--lr", type=_positive, default=d.lr, help="Adam learning rate (default: %(default)s)")
    p.add_argument(
        "--patience",
        type=bounded_int(0, INT_MAX),
        default=d.patience,
        help="epochs without progress before stopping early; 0 = never (default: %(default)s)",
    )
    p.add_argument(
        "--validation",
        type=bounded_float(0, 1, hi_open=True),
        default=d.validation_fraction,
        help="share of rows held out to stop early and pick the best epoch (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=seed_int, default=d.seed, help="the same seed gives the same weights (default: %(default)s)"
    )
    p.add_argument(
        "--beta", type=_non_negative, default=d.beta, help="VAE: weight of the KL term (default: %(default)s)"
    )
    p.add_argument(
        "--structure",
        choices=("neighbors",),
        help="neighbors: keep each row's nearest neighbors near in the code (UMAP's graph and loss)",
    )
    p.add_argument(
        "--neighbors",
        type=_count,
        default=d.n_neighbors,
        metavar="K",
        help="with --structure neighbors: neighbors per row (default: %(default)s)",
    )
    p.add_argument(
        "--structure-weight",
        type=_non_negative,
        default=d.structure_weight,
        metavar="W",
        help="with --structure neighbors: weight of the neighbor term (default: %(default)s)",
    )
    p.add_argument("--noise", metavar="SPEC", help=f"train a denoiser on corrupted inputs: {NOISE_HELP}")
    p.add_argument(
        "--device",
        type=device_name,
        default=d.device,
        help="auto (CUDA when present), cpu, cuda or cuda:N (default: %(default)s)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint that training keeps in OUT.ckpt/ while it runs (written after an "
        "epoch, at most once a second) when a run was interrupted; starts afresh when there is none",
    )
    p.add_argument(
        "--keep-checkpoint",
        action="store_true",
        help="keep OUT.ckpt/ after training succeeds (by default it is removed: a finished run needs no resume)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run)


INT_MAX = 2**31 - 1  # the parameter table's bound on any integer (hourglass.schema.INT_MAX, which imports torch)
_count = bounded_int(1, INT_MAX)
_positive = bounded_float(0, math.inf, lo_open=True, hi_open=True)
_non_negative = bounded_float(0, math.inf, hi_open=True)


# The flag each estimator parameter comes from, so a range error names what the user typed.
FLAGS = {
    "latent_dim": "--latent",
    "hidden": "--hidden",
    "model": "--model",
    "activation": "--activation",
    "loss": "--loss",
    "scaling": "--scaling",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "patience": "--patience",
    "validation_fraction": "--validation",
    "seed": "--seed",
    "device": "--device",
    "noise": "--noise",
    "beta": "--beta",
    "structure": "--structure",
    "n_neighbors": "--neighbors",
    "structure_weight": "--structure-weight",
}


def estimator_from(args: argparse.Namespace) -> Autoencoder:
    from hourglass.estimator import Autoencoder

    return Autoencoder(
        latent_dim=args.latent,
        hidden=args.hidden,
        model=args.model,
        activation=args.activation,
        loss=args.loss,
        scaling=args.scaling,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        validation_fraction=args.validation,
        seed=args.seed,
        device=args.device,
        verbose=not args.quiet,
        noise=args.noise,
        beta=args.beta,
        structure=args.structure,
        n_neighbors=args.neighbors,
        structure_weight=args.structure_weight,
    )


def check_model_out(out: str | Path, data: str) -> Path:
    """Fail before training if the model folder or its checkpoint folder beside it cannot be written."""
    from hourglass.training import checkpoint

    check_model_output(out, [data])
    check_output(
        checkpoint.folder_for(out),
        folder=True,
        reusable=_is_checkpoint_folder,
        what="a checkpoint folder",
        inputs=[data],
    )
    return Path(out)


def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as held:  # the model folder's lock, from its first check to the end
        return _run(args, held)


def _run(args: argparse.Namespace, held: contextlib.ExitStack) -> int:
    from hourglass.atomic import lock
    from hourglass.training import checkpoint, distributed

    model = estimator_from(args)
    check_params(model, FLAGS)  # every flag's range, before any data is read
    if args.out is not None:
        check_model_out(args.out, args.data)  # before reading data that may take long to load
        if distributed.is_main():  # a second training into this folder stops here, naming this one
            held.enter_context(lock(args.out))
    data = read_data(args)
    if len(data) < 2:
        raise HourglassError(f"{args.data}: {len(data)} row(s); training needs at least 2 rows")
    out = check_model_out(args.out or Path("runs") / data.name, args.data)
    if distributed.is_main():
        held.enter_context(lock(out))  # taken above already when --out was given
    folder = checkpoint.folder_for(out)
    fresh = not folder.exists()
    try:  # under torchrun every rank trains; only rank 0 writes and reports
        model.fit(model_input(data), checkpoint_dir=folder, resume=args.resume)
    except Exception:
        # A run that failed (diverged, a bad parameter, a bug) leaves nothing behind that it made; an
        # interrupted one (Ctrl-C, a kill: not an Exception) keeps its checkpoint for --resume.
        if fresh and distributed.is_main():
            checkpoint.remove(folder)
        raise
    finally:
        distributed.shutdown()
    if not distributed.is_main():
        return 0
    remember_data(model, args, data)  # where DATA came from and how it was read, saved in the folder
    # No figure here: drawing the loss curve costs matplotlib's import and a render, a fifth of a small
    # table's whole `train`. The history is in config.json; `hourglass plot` draws it.
    model.save(out)
    if not args.keep_checkpoint:  # the model is written: there is nothing left to resume
        checkpoint.remove(folder)
    if not args.quiet:
        from hourglass.cli.info import held_out_text

        h = model.history_
        val = f", validation loss {h.val[h.best_epoch - 1]:.5f}" if h.val else ""
        print(f"trained {len(h.train)} epochs in {h.seconds:.1f} s (best epoch {h.best_epoch}{val})")
        print(f"held out: {held_out_text(h.held_out)}")  # beside the mean's: a dead model shows (warned above)
        print(f"model written to {out} (its loss curve: hourglass plot {out} --only loss -o FOLDER)")
        if args.keep_checkpoint:
            print(f"checkpoint kept in {folder} (train again with --resume and more --epochs to go on)")
    return 0


def _is_checkpoint_folder(folder: Path) -> bool:
    """A folder training wrote: its checkpoint, or the temporary file of one that a kill interrupted."""
    from hourglass.training import checkpoint

    return all(p.name.lstrip(".").startswith(checkpoint.FILE) for p in folder.iterdir())
