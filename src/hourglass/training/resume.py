"""Resuming a fit: what identifies a run, where it starts (afresh, or from its checkpoint), and when a checkpoint
is written. The file itself (what it holds, how it is read and checked) is ``hourglass.training.checkpoint``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass
from hourglass.training import checkpoint, distributed
from hourglass.training.adam import FusedAdam
from hourglass.training.state import History, Progress, TrainConfig, snapshot

# A checkpoint is written after an epoch when this long has passed since the last one, and after the last epoch:
# on a small table an epoch takes milliseconds, and writing every one would cost more than the training. A kill
# loses at most this much work. Under torchrun every epoch is written, since the ranks must agree on when (the
# write gathers their random states), and the clocks they read may not.
CHECKPOINT_SECONDS = 1.0


def run_facts(model: Hourglass, X: np.ndarray, scaler: Scaler, cfg: TrainConfig, world: int) -> dict:
    """What must not change between a run and its resumption (the epoch budget and patience may)."""
    # The scaler's numbers and up to ~4,096 evenly spaced rows (cheap even on a memory map) stand
    # for the data: a resume on other data of the same shape and range is caught.
    digest = hashlib.sha256()
    for values in (scaler.offset, scaler.scale):
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(X[:: max(1, X.shape[0] // 4096)]).tobytes())
    return {
        "rows": int(X.shape[0]),
        "features": int(X.shape[1]),
        "data": digest.hexdigest()[:16],
        "processes": world,
        "noise": cfg.noise,
        "model": {"name": model.name, "config": model.config()},
        **{k: getattr(cfg, k) for k in ("batch_size", "lr", "weight_decay", "validation_fraction", "loss", "seed")},
        "structure": dataclasses.asdict(cfg.structure) if cfg.structure is not None else None,
    }


def start_or_resume(
    model: Hourglass,
    optimizer: FusedAdam,
    gen: torch.Generator,
    device: torch.device,
    run: dict,
    cfg: TrainConfig,
    folder: str | os.PathLike | None,
    resume: bool,
) -> Progress:
    """A fresh start, or the progress in ``folder``'s checkpoint with the weights, the optimiser (its learning
    rate included) and the random state restored."""
    rank, world = distributed.rank(), distributed.world_size()
    saved = checkpoint.load(folder) if folder is not None and resume else None
    if folder is not None and not resume and rank == 0:
        # Starting over: a kill before this run's first checkpoint must not let a later --resume
        # quietly continue the run that this one replaced.
        (Path(folder) / checkpoint.FILE).unlink(missing_ok=True)
    if world > 1 and resume:
        _same_checkpoint_everywhere(saved, folder)
    if saved is None:
        return Progress(History(), snapshot(model))
    saved.check(run)
    best_state = saved.restore(model, optimizer)
    checkpoint.set_rng_state(saved.rng(rank), gen, device)
    progress = Progress.from_saved(saved.progress, best_state)
    if cfg.verbose and rank == 0:
        print(f"resuming after epoch {progress.epoch} from {saved.path}", file=sys.stderr)
    return progress


class Checkpoints:
    """Writes a run's checkpoint into ``folder`` after its epochs (nothing when ``folder`` is None)."""

    def __init__(self, folder: str | os.PathLike | None, run: dict) -> None:
        self.folder, self.run = folder, run
        self.saved_at = time.perf_counter()

    def after_epoch(
        self,
        progress: Progress,
        model: Hourglass,
        optimizer: FusedAdam,
        gen: torch.Generator,
        device: torch.device,
        last: bool,
    ) -> None:
        """Write one after the ``last`` epoch, under torchrun after every epoch, else at most every
        ``CHECKPOINT_SECONDS``."""
        due = last or distributed.world_size() > 1 or time.perf_counter() - self.saved_at >= CHECKPOINT_SECONDS
        if self.folder is None or not due:
            return
        self.saved_at = time.perf_counter()
        # Every rank's random state goes into rank 0's file: each rank resumes its own streams.
        mine = checkpoint.rng_state(gen, device)
        ranks = {k: distributed.gather_all(v) for k, v in mine.items()}
        if distributed.rank() != 0:
            return
        checkpoint.save(
            self.folder,
            run=self.run,
            progress=progress.saved(),
            model=model.state_dict(),
            best_state=progress.best_state,
            optimizer=optimizer.state_dict(),
            rng=[{k: states[r] for k, states in ranks.items()} for r in range(len(ranks["generator"]))],
        )


def _same_checkpoint_everywhere(saved: checkpoint.Checkpoint | None, folder: str | os.PathLike | None) -> None:
    """Every rank must resume from the same checkpoint; a rank on another node that cannot see rank 0's
    would otherwise start afresh and wait forever in a different epoch's all-reduce, and one that sees
    another run's file of the same epoch would drift apart from the others."""
    # The epoch, and a digest of the progress (its loss history tells two runs apart), from every rank.
    digest = hashlib.sha256(json.dumps(saved.progress, sort_keys=True).encode()).digest() if saved else bytes(8)
    mine = torch.tensor([saved.progress["epoch"] if saved else 0, int.from_bytes(digest[:7], "little")])
    seen = [tuple(int(v) for v in t) for t in distributed.gather_all(mine)]
    if len(set(seen)) > 1:
        raise HourglassError(
            f"{folder}: the ranks see different checkpoints (epochs by rank: {[epoch for epoch, _ in seen]}); "
            "--resume on several nodes needs the output folder on a filesystem that all of them share"
        )
