"""The training loop: shuffled batches sliced from one tensor, fused Adam, validation, early stop.

No DataLoader: for in-memory data a DataLoader's per-batch collation costs more than the step of a
model this small. Data larger than the in-memory limit (memory-mapped ``.npy``) is streamed in
blocks of rows, shuffled within each block and in block order.

Under ``torchrun`` (see ``hourglass.training.distributed``) each process trains on its own shard of the
training rows and DistributedDataParallel averages the gradients, so N processes at batch B step
like one process at batch N x B. With a checkpoint folder, the state after every epoch is saved
(``hourglass.training.checkpoint``) and ``resume`` continues from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass
from hourglass.params import AUTOENCODER
from hourglass.training import baselines, checkpoint, distributed
from hourglass.training.adam import FusedAdam
from hourglass.training.neighbors import Structure

MEMORY_ENV = "HOURGLASS_MEMORY_LIMIT"  # bytes of training rows to hold in memory (suffix K, M or G)
MEMORY_SHARE = 0.5  # by default, half of the memory the machine has available when training starts
FALLBACK_MEMORY = 2 << 30  # where the available memory cannot be read
BLOCK_BYTES = 64 << 20  # rows read at a time when streaming from disk
COPY_BYTES = 8 << 20  # rows scaled at a time into a training tensor: its temporaries stay small
MAX_VAL_ROWS = 100_000
# A checkpoint is written after an epoch when this long has passed since the last one, and after the last epoch:
# on a small table an epoch takes milliseconds, and writing every one cost half the fit. A kill loses at most
# this much work. Under torchrun every epoch is written, since the ranks must agree on when (the write gathers
# their random states), and the clocks they read may not.
CHECKPOINT_SECONDS = 1.0
# The first steps ramp the learning rate up from lr / WARMUP_STEPS: Adam's first updates move every weight by
# about lr whatever its gradient, and at lr 1e-2 that saturated the sigmoid output of a conv model for good on
# one seed in eight (Fashion-MNIST: dead from step 5, held-out MSE 0.22 against 0.035). 5 steps fixed all 8
# seeds; 20 cost the annthyroid table its escape from a plateau on 3 seeds in 4 (MSE 0.0065 against 0.0001).
WARMUP_STEPS = 5
LOSSES: dict[str, Callable[[], nn.Module]] = {"mse": nn.MSELoss, "bce": nn.BCELoss}

Corruption = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class TrainConfig:
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
    loss: str = "mse"
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
    # were no held-out rows and the training rows stood in), and what they warn of (``engine.baselines``).
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
        } | ({"held_out": self.held_out} if self.held_out else {})  # none in folders saved before it existed


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    # Fused Adam updates every parameter in one kernel: 1.4x on a step this small. FusedAdam is
    # torch.optim.Adam(fused=True) without the import of torch._dynamo that torch's costs every run.
    return FusedAdam(model.parameters(), lr=lr, weight_decay=weight_decay)


def seed_torch(seed: int, device: torch.device) -> None:
    """Seed torch's global generators that training draws from (a VAE's sampling noise): the CPU's and,
    on CUDA, ``device``'s. Not ``torch.manual_seed``, which seeds every GPU at once: a caller's
    ``fork_rng`` puts back only the GPU trained on."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.init()  # seeded now, not lazily on whichever GPU is current at first use
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


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
    rank passes the same ``X``; each trains on its shard (``cfg.batch_size`` is per process).
    With ``checkpoint_dir``, rank 0 writes a checkpoint there after every epoch, and ``resume``
    continues from the one there (from the start when there is none).
    """
    if cfg.loss not in LOSSES:
        raise HourglassError(f"unknown loss {cfg.loss!r}; choose one of {', '.join(LOSSES)}")
    device = distributed.setup(device)
    rank, world = distributed.rank(), distributed.world_size()
    gen = torch.Generator().manual_seed(cfg.seed)
    data = _prepare_data(X, scaler, cfg, device, gen, rank, world, model.latent_dim)

    model.to(device)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, device)
    # Cutting the rate on a plateau settles into a lower minimum than a fixed rate in fewer epochs.
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=cfg.lr_factor, patience=max(cfg.lr_patience - 1, 0), threshold=cfg.min_delta
    )
    recon_loss = LOSSES[cfg.loss]()
    run = _run_facts(model, X, scaler, cfg, world)
    state = _start_or_resume(model, optimizer, scheduler, gen, device, run, cfg, checkpoint_dir, resume)
    objective = _objective(model, recon_loss, data.structure_weight, device, world)
    history = state.history
    elapsed, start = history.seconds, time.perf_counter()
    saved_at = start
    todo = range(state.epoch, cfg.epochs) if not history.stopped_early else range(0)
    show = cfg.verbose and rank == 0
    bar = tqdm(todo, desc="training", unit="epoch", initial=state.epoch, total=cfg.epochs, disable=not show or None)
    for epoch in bar:
        parts = _train_epoch(model, data, objective, optimizer, cfg, gen, epoch)
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
        if cfg.lr_patience:
            scheduler.step(score)
        state.record(model, score, epoch, cfg)
        last = history.stopped_early or epoch + 1 == cfg.epochs
        if checkpoint_dir is not None and (last or world > 1 or time.perf_counter() - saved_at >= CHECKPOINT_SECONDS):
            saved_at = time.perf_counter()
            history.seconds = elapsed + time.perf_counter() - start
            progress = {
                "epoch": epoch + 1,
                "best": state.best,
                "stale": state.stale,
                "history": dataclasses.asdict(history),
            }
            _save_checkpoint(checkpoint_dir, run, progress, model, state.best_state, optimizer, scheduler, gen, device)
        if history.stopped_early:
            break
    bar.close()
    model.load_state_dict(state.best_state)
    model.eval()
    history.held_out = _against_baselines(model, X, scaler, cfg, data, device, world)
    history.warnings = baselines.verdict(
        history.held_out["mse"], history.held_out["mean_mse"], history.best_epoch, len(history.train)
    )
    history.seconds = elapsed + time.perf_counter() - start
    return history


def _against_baselines(
    model: Hourglass, X: np.ndarray, scaler: Scaler, cfg: TrainConfig, data: _Data, device: torch.device, world: int
) -> dict:
    """The model's MSE on the held-out rows beside predicting the training mean and PCA at the code's width,
    fitted on a subsample of the training rows (scaled units; see ``engine.baselines``)."""
    _, train_rows = held_out_rows(X.shape[0], cfg.validation_fraction, cfg.seed)  # the split this fit made
    offset, scale = torch.as_tensor(scaler.offset, device=device), torch.as_tensor(scaler.scale, device=device)
    reference = _scaled_rows(X, baselines.reference_rows(train_rows, X.shape[1]), offset, scale, device)
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


def split_rows(n: int, fraction: float, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(held-out rows, training rows) of ``n``, each sorted: ``round(n * fraction)`` rows (at most
    ``MAX_VAL_ROWS``, none below 10 rows) from a permutation drawn from ``gen``."""
    n_val = min(round(n * fraction) if fraction > 0 and n >= 10 else 0, MAX_VAL_ROWS)
    order = torch.randperm(n, generator=gen).numpy()
    return np.sort(order[:n_val]), np.sort(order[n_val:])


def held_out_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The split ``fit`` makes with ``TrainConfig(seed=seed, validation_fraction=fraction)``: (held out, trained on)."""
    return split_rows(n, fraction, torch.Generator().manual_seed(seed))


@dataclass
class _Data:
    """The rows a run trains on, as tensors in scaled units."""

    val: torch.Tensor | None  # this rank's held-out rows
    val_rows: int  # held-out rows over all ranks: the validation loss is their mean
    train_rows: int  # this rank's training rows
    blocks: Callable[[], Iterator[torch.Tensor]]  # one epoch's training rows, block by block
    resident: torch.Tensor | None = None  # all the training rows, when they fit in memory
    anchors: torch.Tensor | None = None  # the neighbor layout's place for each resident row
    structure_weight: float = 0.0


def _prepare_data(
    X: np.ndarray,
    scaler: Scaler,
    cfg: TrainConfig,
    device: torch.device,
    gen: torch.Generator,
    rank: int,
    world: int,
    latent_dim: int,
) -> _Data:
    """Split off the validation rows, take this rank's shard, and hold the training rows in memory (with the
    neighbor layout when asked) or stream them from disk when they are larger than ``memory_limit()``."""
    # The split comes from the seed alone, so every rank holds out the same rows before sharding.
    val_idx, train_idx = split_rows(X.shape[0], cfg.validation_fraction, gen)
    val_rows = len(val_idx)
    all_train = train_idx
    if world > 1:
        train_idx, val_idx = _shard(train_idx, rank, world), val_idx[rank::world]
        # Each rank draws its own shuffles and noise (a VAE's from torch's global generator).
        gen.manual_seed(distributed.rank_seed(cfg.seed, rank))
        seed_torch(distributed.rank_seed(cfg.seed, rank), device)
    offset = torch.as_tensor(scaler.offset, device=device)
    scale = torch.as_tensor(scaler.scale, device=device)

    def to_tensor(rows: np.ndarray) -> torch.Tensor:
        return _scaled_rows(X, rows, offset, scale, device)

    val = to_tensor(val_idx) if val_rows else None
    if X.shape[1] * len(train_idx) * 4 > memory_limit():
        if cfg.structure is not None:
            raise HourglassError(
                "structure='neighbors' needs the training rows in memory, and these are larger than the "
                f"memory limit ({MEMORY_ENV}); train on a subsample"
            )
        return _Data(
            val, val_rows, len(train_idx), _streamed_blocks(train_idx, _block_rows(X.shape[1]), to_tensor, gen)
        )
    resident = to_tensor(train_idx)
    data = _Data(val, val_rows, len(train_idx), lambda: iter([resident]), resident)
    if cfg.structure is not None:
        # Built afresh (and deterministically, on the CPU) by every fit, so a checkpoint need not hold it.
        # Under torchrun every rank lays out all the training rows, the same way, and keeps its shard's
        # places: one map, drawn in pieces.
        rows = resident if world == 1 else to_tensor(all_train)
        places, data.structure_weight = cfg.structure.prepare(rows, latent_dim, cfg.seed)
        data.anchors = places if world == 1 else places[torch.from_numpy(np.searchsorted(all_train, train_idx))]
    return data


@dataclass
class _State:
    """Where a run stands between epochs: what a checkpoint saves and a resume restores."""

    history: History
    best_state: dict[str, torch.Tensor]
    best: float = math.inf
    stale: int = 0  # epochs since the last progress
    epoch: int = 0  # epochs done

    def record(self, model: nn.Module, score: float, epoch: int, cfg: TrainConfig) -> None:
        """Keep the weights when ``score`` made progress; decide whether the run stops early."""
        self.epoch = epoch + 1
        if score < self.best * (1 - cfg.min_delta):
            self.best, self.best_state, self.stale = score, _snapshot(model), 0
            self.history.best_epoch = epoch + 1
        else:
            self.stale += 1
            self.history.stopped_early = bool(cfg.patience and self.stale >= cfg.patience)


def _start_or_resume(
    model: Hourglass,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
    gen: torch.Generator,
    device: torch.device,
    run: dict,
    cfg: TrainConfig,
    checkpoint_dir: str | os.PathLike | None,
    resume: bool,
) -> _State:
    """A fresh state, or the one in ``checkpoint_dir`` (weights, optimiser, schedule and random state restored)."""
    rank, world = distributed.rank(), distributed.world_size()
    saved = checkpoint.load(checkpoint_dir) if checkpoint_dir is not None and resume else None
    if checkpoint_dir is not None and not resume and rank == 0:
        # Starting over: a kill before this run's first checkpoint must not let a later --resume
        # quietly continue the run that this one replaced.
        (Path(checkpoint_dir) / checkpoint.FILE).unlink(missing_ok=True)
    if world > 1 and resume:
        _same_checkpoint_everywhere(saved, checkpoint_dir)
    if saved is None:
        return _State(History(), _snapshot(model))
    saved.check(run)
    best_state = saved.restore(model, optimizer, scheduler)
    checkpoint.set_rng_state(saved.rng(rank), gen, device)
    progress = saved.progress
    state = _State(History(**progress["history"]), best_state, progress["best"], progress["stale"], progress["epoch"])
    # --patience may change on resume: whether the run is over is decided by the patience given now.
    state.history.stopped_early = bool(cfg.patience and state.stale >= cfg.patience)
    if cfg.verbose and rank == 0:
        print(f"resuming after epoch {state.epoch} from {saved.path}", file=sys.stderr)
    return state


def _train_epoch(
    model: Hourglass,
    data: _Data,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    gen: torch.Generator,
    epoch: int,
) -> dict[str, float]:
    """One pass over the training rows in shuffled batches; the row-weighted mean of the loss and its parts."""
    model.train()
    device = optimizer.param_groups[0]["params"][0].device
    # Within the first epoch (at most its whole-batch count), so a checkpoint never falls mid-warmup.
    warmup = min(WARMUP_STEPS, max(1, data.train_rows // cfg.batch_size)) if epoch == 0 else 0
    # Row-weighted sums, kept as tensors and read once per epoch (a .item() per step costs a sync;
    # a list of per-step tensors fragments the heap by ~25 KB a step).
    sums: dict[str, torch.Tensor] = {}
    rows_seen, step = 0, 0
    for block in data.blocks():
        # Each batch gathers its rows: a shuffled copy of the whole block would double the memory.
        perm = torch.randperm(block.shape[0], generator=gen).to(device)
        for i in range(0, block.shape[0], cfg.batch_size):
            if step < warmup:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * (step + 1) / warmup
            step += 1
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


Objective = Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]


def _objective(
    model: Hourglass, recon_loss: nn.Module, structure_weight: float, device: torch.device, world: int
) -> Objective:
    objective = _Objective(model, recon_loss, structure_weight)
    if world == 1:  # a plain call: no module hooks on the single-process path
        return objective.forward
    return nn.parallel.DistributedDataParallel(objective, device_ids=[device] if device.type == "cuda" else None)


def _same_checkpoint_everywhere(saved: checkpoint.Checkpoint | None, folder: str | os.PathLike | None) -> None:
    """Every rank must resume from the same checkpoint; a rank on another node that cannot see rank 0's
    would otherwise start afresh and wait forever in a different epoch's all-reduce, and one that sees
    another run's file of the same epoch would drift apart from the others."""
    # The epoch, and a digest of the progress (its loss history tells two runs apart), from every rank.
    digest = hashlib.sha256(json.dumps(saved.progress, sort_keys=True).encode()).digest() if saved else bytes(8)
    mine = torch.tensor([saved.progress["epoch"] if saved else 0, int.from_bytes(digest[:7], "little")])
    seen = [tuple(int(v) for v in t) for t in distributed.gather_all(mine)]
    epochs = [epoch for epoch, _ in seen]
    if len(set(seen)) > 1:
        raise HourglassError(
            f"{folder}: the ranks see different checkpoints (epochs by rank: {epochs}); "
            "--resume on several nodes needs the output folder on a filesystem that all of them share"
        )


def _shard(rows: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's rows: a contiguous run of the sorted rows, the same number on every rank,
    dropping up to ``world - 1`` rows.

    Equal shards give every rank the same batches per epoch; a rank with one more would wait
    forever in a gradient all-reduce that the others never join. Contiguous rather than every
    N-th row, so that on memory-mapped data each rank reads only its own part of the file.
    """
    per_rank = len(rows) // world
    if per_rank == 0:
        raise HourglassError(f"{len(rows)} training rows cannot be shared among {world} processes")
    return rows[rank * per_rank : (rank + 1) * per_rank]


def _run_facts(model: Hourglass, X: np.ndarray, scaler: Scaler, cfg: TrainConfig, world: int) -> dict:
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
        # Only when set, so checkpoints written before the term existed still resume.
        **({"structure": dataclasses.asdict(cfg.structure)} if cfg.structure is not None else {}),
    }


def _save_checkpoint(
    folder: str | os.PathLike,
    run: dict,
    progress: dict,
    model: Hourglass,
    best_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
    gen: torch.Generator,
    device: torch.device,
) -> None:
    # Every rank's random state goes into rank 0's file: each rank resumes its own streams.
    mine = checkpoint.rng_state(gen, device)
    ranks = {k: distributed.gather_all(v) for k, v in mine.items()}
    if distributed.rank() != 0:
        return
    rng = [{k: states[r] for k, states in ranks.items()} for r in range(len(ranks["generator"]))]
    checkpoint.save(
        folder,
        run=run,
        progress=progress,
        model=model.state_dict(),
        best_state=best_state,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        rng=rng,
    )


@torch.inference_mode()
def total_loss(model: Hourglass, X: torch.Tensor, recon_loss: nn.Module, chunk: int = 8_192) -> float:
    """Reconstruction loss of scaled rows ``X`` summed over rows (no corruption, no extra loss terms)."""
    model.eval()
    total = 0.0
    for i in range(0, X.shape[0], chunk):
        part = X[i : i + chunk]
        total += float(recon_loss(model(part), part)) * part.shape[0]
    model.train()
    return total


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as they are now (a tensor clone each: deepcopy's generic machinery cost 3% of a fit)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def memory_limit() -> int:
    """Bytes of training rows that may live in memory; larger data is streamed from disk in blocks.

    ``HOURGLASS_MEMORY_LIMIT`` (e.g. ``512M``, ``8G``) sets it; by default it is ``MEMORY_SHARE`` of
    the memory available now (Linux ``MemAvailable``), so a machine with little free memory streams
    instead of running out.
    """
    text = os.environ.get(MEMORY_ENV, "").strip().upper()
    if text:
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        try:
            return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)
        except ValueError:
            raise HourglassError(f"{MEMORY_ENV}={text!r}: expected bytes, or a number with K, M or G") from None
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) << 10 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return FALLBACK_MEMORY
    return int(available * MEMORY_SHARE)


def _block_rows(n_features: int) -> int:
    return max(1, BLOCK_BYTES // (4 * n_features))


def _scaled_rows(
    X: np.ndarray, rows: np.ndarray, offset: torch.Tensor, scale: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """Rows ``rows`` of ``X``, scaled, in one new float32 tensor filled block by block: the result is
    the only full-size copy, however ``X`` is stored (a memory map is read once, forward)."""
    out = torch.empty((len(rows), X.shape[1]), dtype=torch.float32, device=device)
    step = max(1, COPY_BYTES // (4 * X.shape[1]))
    for i in range(0, len(rows), step):
        part = torch.as_tensor(np.asarray(X[rows[i : i + step]], np.float32), device=device)  # a fresh copy
        part.sub_(offset).div_(scale)
        # Finite rows can still overflow here (x - offset beyond float32): the data's fault, said as such
        # before training starts, rather than a "training diverged" after it. Checked per block: on the
        # whole tensor, isfinite's temporaries would double the memory.
        if not torch.isfinite(part).all():
            raise HourglassError("values too large to scale: (x - offset) / scale overflows float32; rescale the data")
        out[i : i + part.shape[0]] = part
    return out


def _streamed_blocks(
    rows: np.ndarray, block_rows: int, to_tensor: Callable[[np.ndarray], torch.Tensor], gen: torch.Generator
) -> Callable[[], Iterator[torch.Tensor]]:
    def blocks() -> Iterator[torch.Tensor]:
        starts = range(0, len(rows), block_rows)
        for b in torch.randperm(len(starts), generator=gen).tolist():
            yield to_tensor(rows[starts[b] : starts[b] + block_rows])  # sorted rows: the reads go forward

    return blocks
