"""``hourglass train DATA --latent 2 --out runs/NAME``.

The estimator's flags come from its parameter table (``hourglass.params``, through ``cli.flags``); the
estimator, the checkpoint and torch.distributed are imported only to train, so --help starts without torch.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from hourglass.cli.arguments import add_data_args
from hourglass.cli.flags import add_estimator_flags, values
from hourglass.cli.reading import read_data, remember_data
from hourglass.cli.writing import check_model_output, check_output
from hourglass.errors import HourglassError
from hourglass.params import AUTOENCODER

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        description="Train an autoencoder (unsupervised: labels are never used) and write its model folder.",
    )
    add_data_args(p, "training data", model=False)
    p.add_argument("--out", help="model folder to write (default: runs/<data name>)")
    add_estimator_flags(p, AUTOENCODER)
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


def estimator_from(args: argparse.Namespace) -> Autoencoder:
    """The estimator the flags describe (checked when they were parsed); a progress bar unless --quiet."""
    from hourglass.estimator import Autoencoder

    return Autoencoder(**values(args, AUTOENCODER), verbose=not args.quiet)


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
        # where DATA came from and how it was read go with it, for the folder to save
        model.fit(remember_data(args, data), checkpoint_dir=folder, resume=args.resume)
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
