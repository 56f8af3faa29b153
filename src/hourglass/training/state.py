"""What a fit carries from epoch to epoch: its settings (``TrainConfig``), its record (``History``) and where it
stands (``Progress``: the best weights so far and how long ago they were found), with the helpers that the loop,
its batches and its checkpoints share. Below all three, so none of them imports another to reach these.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hourglass.data.noise import Corruption
from hourglass.params import AUTOENCODER
from hourglass.training.neighbors import Structure

LOSSES: dict[str, Callable[[], nn.Module]] = {"mse": nn.MSELoss, "bce": nn.BCELoss}


@dataclass
class TrainConfig:
    """How to train. The estimator checks its parameters before it builds one; ``fit`` trusts it."""

    # The estimator passes its own values; these defaults are the same (one source: hourglass.params).
    epochs: int = AUTOENCODER.epochs
    batch_size: int = AUTOENCODER.batch_size
    lr: float = AUTOENCODER.lr
    weight_decay: float = AUTOENCODER.weight_decay
    validation_fraction: float = AUTOENCODER.validation_fraction
    patience: int = AUTOENCODER.patience
    lr_patience: int = 4  # epochs without progress before the learning rate is cut; 0 = never
    lr_factor: float = 0.3
    min_delta: float = 1e-4  # relative improvement that counts as progress
    loss: str = "mse"  # a key of LOSSES
    seed: int = 0
    verbose: bool = False
    corrupt: Corruption | None = None  # denoising: applied to inputs, fresh each batch
    noise: str | None = None  # the spec ``corrupt`` came from, which a resumed run must share
    structure: Structure | None = None  # the neighbor-preserving term (``hourglass.training.neighbors``)


@dataclass
class History:
    """Per-epoch losses (in scaled units) and how training ended."""

    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    # The final weights' held-out MSE beside predicting the training mean and PCA at the code's width
    # (``mse``, ``mean_mse``, ``pca_mse``, ``pca_width``, ``rows``, and ``validation``: false where there
    # were no held-out rows and the training rows stood in), and what they warn of (``training.baselines``).
    held_out: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "epochs_run": len(self.train),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": round(self.seconds, 3),
            "train_loss": self.train,
            "val_loss": self.val,
            "loss_parts": self.parts,
            "warnings": self.warnings,
        } | ({"held_out": self.held_out} if self.held_out else {})  # empty until a fit has ended


@dataclass
class Progress:
    """Where a run stands between epochs: what a checkpoint saves and a resume restores."""

    history: History
    best_state: dict[str, torch.Tensor]  # the weights of the best epoch so far
    best: float = math.inf  # its score
    stale: int = 0  # epochs since the last progress
    epoch: int = 0  # epochs done

    def record(self, model: nn.Module, score: float, min_delta: float) -> None:
        """Count one more epoch, ending at ``score``; keep the weights when that is progress."""
        self.epoch += 1
        if score < self.best * (1 - min_delta):
            self.best, self.best_state, self.stale = score, snapshot(model), 0
            self.history.best_epoch = self.epoch
        else:
            self.stale += 1

    def out_of_patience(self, patience: int) -> bool:
        """Whether ``patience`` epochs have passed without progress (never with patience 0)."""
        return bool(patience and self.stale >= patience)

    def saved(self) -> dict[str, Any]:
        """The JSON part of a checkpoint (the weights go beside it as tensors)."""
        return {
            "epoch": self.epoch,
            "best": self.best,
            "stale": self.stale,
            "history": dataclasses.asdict(self.history),
        }

    @classmethod
    def from_saved(cls, saved: dict[str, Any], best_state: dict[str, torch.Tensor]) -> Progress:
        return cls(History(**saved["history"]), best_state, saved["best"], saved["stale"], saved["epoch"])


def seed_torch(seed: int, device: torch.device) -> None:
    """Seed torch's global generators that training draws from (a VAE's sampling noise): the CPU's and,
    on CUDA, ``device``'s. Not ``torch.manual_seed``, which seeds every GPU at once: a caller's
    ``fork_rng`` puts back only the GPU trained on."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.init()  # seeded now, not lazily on whichever GPU is current at first use
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


@torch.inference_mode()
def total_loss(model: nn.Module, X: torch.Tensor, recon_loss: nn.Module, chunk: int = 8_192) -> float:
    """Reconstruction loss of scaled rows ``X`` summed over rows (no corruption, no extra loss terms)."""
    model.eval()
    total = 0.0
    for i in range(0, X.shape[0], chunk):
        part = X[i : i + chunk]
        total += float(recon_loss(model(part), part)) * part.shape[0]
    model.train()
    return total


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as they are now: a tensor clone each (``copy.deepcopy``'s generic machinery is slower)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
