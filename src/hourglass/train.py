"""The training loop: shuffled batches sliced from one tensor, fused Adam, validation, early stop.

No DataLoader: for in-memory data a DataLoader's per-batch collation costs more than the step of a
model this small. Data larger than the in-memory limit (memory-mapped ``.npy``) is streamed in
blocks of rows, shuffled within each block and in block order.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass
from hourglass.scaling import Scaler

IN_MEMORY_BYTES = 2 << 30  # float32 data up to this size lives in one tensor
BLOCK_ROWS = 1 << 18  # rows read at a time when streaming from disk
MAX_VAL_ROWS = 100_000
LOSSES: dict[str, Callable[[], nn.Module]] = {"mse": nn.MSELoss, "bce": nn.BCELoss}

Corruption = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-2
    weight_decay: float = 0.0
    validation_fraction: float = 0.1
    patience: int = 10
    lr_patience: int = 4  # epochs without progress before the learning rate is cut; 0 = never
    lr_factor: float = 0.3
    min_delta: float = 1e-4  # relative improvement that counts as progress
    loss: str = "mse"
    seed: int = 0
    verbose: bool = False
    corrupt: Corruption | None = None  # denoising: applied to inputs, fresh each batch


@dataclass
class History:
    """Per-epoch losses (in scaled units) and how training ended."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "epochs_run": len(self.train),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": round(self.seconds, 3),
            "train_loss": self.train,
            "val_loss": self.val,
            "loss_parts": self.parts,
        }


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Adam:
    # Fused Adam updates every parameter in one kernel: 1.4x on a step this small.
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)


def fit(model: Hourglass, X: np.ndarray, scaler: Scaler, cfg: TrainConfig, device: torch.device) -> History:
    """Train ``model`` in place on rows ``X`` (raw units, 2-D) and return its history.

    The weights that end in ``model`` are those of the best validation epoch.
    """
    if cfg.loss not in LOSSES:
        raise HourglassError(f"unknown loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}")
    gen = torch.Generator().manual_seed(cfg.seed)
    n = X.shape[0]
    n_val = round(n * cfg.validation_fraction) if cfg.validation_fraction > 0 and n >= 10 else 0
    order = torch.randperm(n, generator=gen).numpy()
    val_idx, train_idx = np.sort(order[:n_val][:MAX_VAL_ROWS]), np.sort(order[n_val:])
    offset = torch.as_tensor(scaler.offset, device=device)
    scale = torch.as_tensor(scaler.scale, device=device)

    def to_tensor(rows: np.ndarray) -> torch.Tensor:
        chunk = np.asarray(rows, np.float32)
        chunk = chunk if chunk.flags.writeable else chunk.copy()  # torch cannot wrap read-only memory
        return (torch.as_tensor(chunk, device=device) - offset) / scale

    val = to_tensor(X[val_idx]) if n_val else None
    if X.shape[1] * len(train_idx) * 4 <= IN_MEMORY_BYTES:
        resident = to_tensor(X[train_idx])
        blocks: Callable[[], Iterator[torch.Tensor]] = lambda: iter([resident])  # noqa: E731
    else:
        blocks = _streamed_blocks(X, train_idx, to_tensor, gen)

    model.to(device)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, device)
    # Cutting the rate on a plateau settles into a lower minimum than a fixed rate in fewer epochs.
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=cfg.lr_factor, patience=max(cfg.lr_patience - 1, 0), threshold=cfg.min_delta
    )
    recon_loss = LOSSES[cfg.loss]()
    history = History()
    best, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    start = time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc="training", unit="epoch", disable=None if cfg.verbose else True, leave=True)
    for epoch in bar:
        model.train()
        step_losses: dict[str, list[torch.Tensor]] = {}
        sizes: list[int] = []
        for block in blocks():
            shuffled = block[torch.randperm(block.shape[0], generator=gen).to(device)]
            for i in range(0, shuffled.shape[0], cfg.batch_size):
                target = shuffled[i : i + cfg.batch_size]
                x_in = cfg.corrupt(target, gen) if cfg.corrupt else target
                loss, parts = model.training_loss(x_in, target, recon_loss)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                # Kept as tensors and reduced once per epoch: a .item() per step would cost a sync.
                for key, value in (("loss", loss), *parts.items()):
                    step_losses.setdefault(key, []).append(value.detach())
                sizes.append(target.shape[0])
        weights = torch.tensor(sizes, dtype=torch.float32, device=device) / sum(sizes)
        epoch_parts = {k: float(torch.stack(v) @ weights) for k, v in step_losses.items()}
        train_loss = epoch_parts.pop("loss")
        if not math.isfinite(train_loss):
            raise HourglassError(
                f"training diverged at epoch {epoch + 1} (loss is {train_loss}); lower the learning rate"
            )
        history.train.append(train_loss)
        for key, value in epoch_parts.items():
            history.parts.setdefault(key, []).append(value)
        score = train_loss
        if val is not None:
            score = evaluate(model, val, recon_loss)
            history.val.append(score)
        bar.set_postfix(train=f"{train_loss:.4g}", **({"val": f"{score:.4g}"} if val is not None else {}))
        if cfg.lr_patience:
            scheduler.step(score)
        if score < best * (1 - cfg.min_delta):
            best, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
            history.best_epoch = epoch + 1
        else:
            stale += 1
            if cfg.patience and stale >= cfg.patience:
                history.stopped_early = True
                break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


@torch.inference_mode()
def evaluate(model: Hourglass, X: torch.Tensor, recon_loss: nn.Module, chunk: int = 65_536) -> float:
    """Mean reconstruction loss of scaled rows ``X`` (no corruption, no extra loss terms)."""
    model.eval()
    total = 0.0
    for i in range(0, X.shape[0], chunk):
        part = X[i : i + chunk]
        total += float(recon_loss(model(part), part)) * part.shape[0]
    model.train()
    return total / X.shape[0]


def _streamed_blocks(X, rows: np.ndarray, to_tensor, gen: torch.Generator) -> Callable[[], Iterator[torch.Tensor]]:
    def blocks() -> Iterator[torch.Tensor]:
        starts = range(0, len(rows), BLOCK_ROWS)
        for b in torch.randperm(len(starts), generator=gen).tolist():
            chunk = rows[starts[b] : starts[b] + BLOCK_ROWS]
            # Reading a contiguous span then masking beats fancy-indexing a memory map row by row.
            span = np.asarray(X[chunk[0] : chunk[-1] + 1])
            yield to_tensor(span[chunk - chunk[0]])

    return blocks
