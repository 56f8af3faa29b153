"""The training loop: shuffled batches, fused Adam, a warmup-then-plateau learning rate, validation, early stop.

``fit`` reads top to bottom. What it leans on, one module each: the rows as tensors (``batches``), the run's
settings, record and standing (``state``), the learning rate (``schedule``), the starting point and the
checkpoints (``resume``), and what the final weights are measured against (``baselines``).

Under ``torchrun`` (see ``hourglass.training.distributed``) each process trains on its own shard of the
training rows and DistributedDataParallel averages the gradients, so N processes at batch B step
like one process at batch N x B.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass
from hourglass.training import baselines, batches, distributed
from hourglass.training.adam import FusedAdam
from hourglass.training.batches import TrainingData
from hourglass.training.resume import Checkpoints, run_facts, start_or_resume
from hourglass.training.schedule import Schedule
from hourglass.training.state import LOSSES, History, TrainConfig, total_loss

Objective = Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]


def fit(
    model: Hourglass,
    X: np.ndarray,
    scaler: Scaler,
    cfg: TrainConfig,
    device: torch.device,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
) -> History:
    """Train ``model`` in place on rows ``X`` (raw units, 2-D) and return its history.

    The weights that end in ``model`` are those of the best validation epoch. Under torchrun every
    rank passes the same ``X`` and its own ``device``, the one ``distributed.setup`` gave it (the caller
    joins the group before it seeds and builds the model); each trains on its shard (``cfg.batch_size``
    is per process). With ``checkpoint_dir``, rank 0 writes a checkpoint there after epochs, and
    ``resume`` continues from the one there (from the start when there is none).
    """
    rank, world = distributed.rank(), distributed.world_size()
    gen = torch.Generator().manual_seed(cfg.seed)  # shuffles and input noise
    data = batches.prepare(X, scaler, cfg, device, gen, rank, world, model.latent_dim)
    model.to(device)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    run = run_facts(model, X, scaler, cfg, world)
    progress = start_or_resume(model, optimizer, gen, device, run, cfg, checkpoint_dir, resume)
    checkpoints = Checkpoints(checkpoint_dir, run)
    schedule = Schedule(optimizer, cfg, data.train_rows, progress.epoch)
    recon_loss = LOSSES[cfg.loss]()
    objective = _objective(model, recon_loss, data.structure_weight, device, world)
    history = progress.history
    elapsed, started = history.seconds, time.perf_counter()
    # A resumed run may already be out of patience: the patience given now decides, not the one it ran with.
    stop = history.stopped_early = progress.out_of_patience(cfg.patience)
    epochs = range(progress.epoch, progress.epoch if stop else cfg.epochs)
    quiet = not (cfg.verbose and rank == 0) or None  # None: tqdm decides (no bar where there is no terminal)
    bar = tqdm(epochs, desc="training", unit="epoch", initial=progress.epoch, total=cfg.epochs, disable=quiet)
    for epoch in bar:
        parts = _train_epoch(model, data, objective, optimizer, schedule, cfg, gen, device)
        val_sum = total_loss(model, data.val, recon_loss) if data.val is not None else 0.0
        train_loss, val_loss, parts = _epoch_losses(parts, val_sum / max(data.val_rows, 1), world, epoch)
        history.train.append(train_loss)
        for key, part in parts.items():
            history.parts.setdefault(key, []).append(part)
        score = train_loss
        if data.val is not None:
            history.val.append(val_loss)
            # The neighbor term lives on the training rows' layout: its epoch mean joins the held-out
            # reconstruction in the score that schedules, stops and picks the best epoch.
            score = val_loss + data.structure_weight * parts.get("structure", 0.0)
        bar.set_postfix(train=f"{train_loss:.4g}", **({"val": f"{val_loss:.4g}"} if data.val is not None else {}))

        progress.record(model, score, cfg.min_delta)
        schedule.end_epoch(progress.stale)
        stop = history.stopped_early = progress.out_of_patience(cfg.patience)
        history.seconds = elapsed + time.perf_counter() - started
        checkpoints.after_epoch(progress, model, optimizer, gen, device, last=stop or epoch + 1 == cfg.epochs)
        if stop:
            break
    bar.close()

    model.load_state_dict(progress.best_state)
    model.eval()
    history.held_out = _against_baselines(model, X, scaler, data, device, world)
    history.warnings = baselines.verdict(
        history.held_out["mse"], history.held_out["mean_mse"], history.best_epoch, len(history.train)
    )
    history.seconds = elapsed + time.perf_counter() - started
    return history


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> FusedAdam:
    # Fused Adam updates every parameter in one kernel, faster than a loop over them on a step this small.
    return FusedAdam(model.parameters(), lr=lr, weight_decay=weight_decay)


def _train_epoch(
    model: Hourglass,
    data: TrainingData,
    objective: Objective,
    optimizer: FusedAdam,
    schedule: Schedule,
    cfg: TrainConfig,
    gen: torch.Generator,
    device: torch.device,
) -> dict[str, float]:
    """One pass over the training rows in shuffled batches; the row-weighted mean of the loss and its parts."""
    model.train()
    # Row-weighted sums, kept as tensors and read once per epoch: a .item() per step costs a sync, and a list
    # of per-step tensors fragments the heap.
    sums: dict[str, torch.Tensor] = {}
    rows_seen = 0
    for block in data.blocks():
        # Each batch gathers its rows: a shuffled copy of the whole block would double the memory.
        perm = torch.randperm(block.shape[0], generator=gen).to(device)
        for i in range(0, block.shape[0], cfg.batch_size):
            schedule.step()
            batch = perm[i : i + cfg.batch_size]
            target = block[batch]
            x_in = cfg.corrupt(target, gen) if cfg.corrupt else target
            anchors = data.anchors[batch] if data.anchors is not None else None
            loss, parts = objective(x_in, target, anchors)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for key, value in (("loss", loss), *parts.items()):
                total = sums.setdefault(key, torch.zeros((), dtype=torch.float64, device=device))
                total.add_(value.detach(), alpha=target.shape[0])
            rows_seen += target.shape[0]
    return {k: float(v) / rows_seen for k, v in sums.items()}


def _epoch_losses(
    parts: dict[str, float], val_loss: float, world: int, epoch: int
) -> tuple[float, float, dict[str, float]]:
    """(training loss, validation loss, the other parts) over all ranks; a diverged run stops here."""
    if world > 1:
        # Equal shards of equal batches: the epoch's mean loss is the mean of the ranks' means. The
        # validation sums were divided by all ranks' held-out rows, so theirs add up. One reduction for
        # all, identical on every rank, so all take the same decisions after it.
        packed = distributed.sum_all(torch.tensor([*parts.values(), val_loss], dtype=torch.float64))
        parts = {k: float(v) / world for k, v in zip(parts, packed[:-1], strict=True)}
        val_loss = float(packed[-1])
    train_loss = parts.pop("loss")
    if not math.isfinite(train_loss):
        raise HourglassError(f"training diverged at epoch {epoch + 1} (loss is {train_loss}); lower the learning rate")
    return train_loss, val_loss, parts


class _Objective(nn.Module):
    """The model's own training loss as a forward pass, for DistributedDataParallel: it all-reduces
    the gradients of what its wrapped module's forward computed, and nothing else. With ``anchors`` (the
    batch rows' places in the neighbor layout) it adds the codes' distance to them, weighted
    ``structure_weight``."""

    def __init__(self, model: Hourglass, recon_loss: nn.Module, structure_weight: float = 0.0) -> None:
        super().__init__()
        self.model, self.recon_loss, self.structure_weight = model, recon_loss, structure_weight

    def forward(
        self, x_in: torch.Tensor, target: torch.Tensor, anchors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, parts = self.model.training_loss(x_in, target, self.recon_loss, anchors)
        if anchors is None:
            return loss, parts
        return loss + self.structure_weight * parts["structure"], parts


def _objective(
    model: Hourglass, recon_loss: nn.Module, structure_weight: float, device: torch.device, world: int
) -> Objective:
    objective = _Objective(model, recon_loss, structure_weight)
    if world == 1:  # a plain call: no module hooks on the single-process path
        return objective.forward
    return nn.parallel.DistributedDataParallel(objective, device_ids=[device] if device.type == "cuda" else None)


def _against_baselines(
    model: Hourglass, X: np.ndarray, scaler: Scaler, data: TrainingData, device: torch.device, world: int
) -> dict:
    """The model's MSE on the held-out rows beside predicting the training mean and PCA at the code's width,
    fitted on a subsample of the training rows (scaled units; see ``training.baselines``)."""
    offset, scale = torch.as_tensor(scaler.offset, device=device), torch.as_tensor(scaler.scale, device=device)
    reference_rows = baselines.reference_rows(data.trained_on, X.shape[1])
    reference = batches.scaled_rows(X, reference_rows, offset, scale, device)
    held_out = data.val if data.val is not None else reference  # no held-out rows: the training rows stand in
    # PCA at the width one network compresses to: a detector's ensemble is judged by a member's code
    # (``member_latent``), not by its members' codes side by side, which no one network has to pass through.
    width = min(getattr(model, "member_latent", model.latent_dim), *reference.shape)
    sums = baselines.squared_errors(model, held_out, reference, width)
    if data.val is not None and world > 1:  # each process holds a share of the held-out rows
        sums = distributed.sum_all(sums)
    rows = data.val_rows if data.val is not None else reference.shape[0]
    mse, mean_mse, pca_mse = (float(s) / (rows * X.shape[1]) for s in sums)
    return {
        "mse": mse,
        "mean_mse": mean_mse,
        "pca_mse": pca_mse,
        "pca_width": width,
        "rows": rows,
        "validation": data.val is not None,
    }
