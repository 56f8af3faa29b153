"""The rows a fit trains on: the held-out split, this process's shard, and the training rows as scaled float32
tensors, held in memory or, when larger than ``memory_limit()``, streamed from disk in blocks.

No DataLoader: for in-memory data a DataLoader's per-batch collation costs more than the step of a model this
small. Streamed rows (a memory-mapped ``.npy``) are shuffled within each block and in block order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.training import distributed
from hourglass.training.state import TrainConfig, seed_torch

MEMORY_ENV = "HOURGLASS_MEMORY_LIMIT"  # bytes of training rows to hold in memory (suffix K, M or G)
MEMORY_SHARE = 0.5  # by default, half of the memory the machine has available when training starts
FALLBACK_MEMORY = 2 << 30  # where the available memory cannot be read
BLOCK_BYTES = 64 << 20  # rows read at a time when streaming from disk
COPY_BYTES = 8 << 20  # rows scaled at a time into a training tensor: its temporaries stay small
MAX_VAL_ROWS = 100_000


@dataclass
class TrainingData:
    """The rows a run trains on, as tensors in scaled units."""

    val: torch.Tensor | None  # this rank's held-out rows
    val_rows: int  # held-out rows over all ranks: the validation loss is their mean
    train_rows: int  # this rank's training rows
    trained_on: np.ndarray  # the indices of all ranks' training rows in X, sorted
    blocks: Callable[[], Iterator[torch.Tensor]]  # one epoch's training rows, block by block
    anchors: torch.Tensor | None = None  # the neighbor layout's place for each of this rank's training rows
    structure_weight: float = 0.0


def prepare(
    X: np.ndarray,
    scaler: Scaler,
    cfg: TrainConfig,
    device: torch.device,
    gen: torch.Generator,
    rank: int,
    world: int,
    latent_dim: int,
) -> TrainingData:
    """Split off the validation rows, take this rank's shard, and hold the training rows in memory (with the
    neighbor layout when asked) or stream them from disk when they are larger than ``memory_limit()``."""
    # The split comes from the seed alone, so every rank holds out the same rows before sharding.
    val_idx, all_train = split_rows(X.shape[0], cfg.validation_fraction, gen)
    val_rows, train_idx = len(val_idx), all_train
    if world > 1:
        train_idx, val_idx = shard(all_train, rank, world), val_idx[rank::world]
        # Each rank draws its own shuffles and noise (a VAE's from torch's global generator).
        gen.manual_seed(distributed.rank_seed(cfg.seed, rank))
        seed_torch(distributed.rank_seed(cfg.seed, rank), device)
    offset = torch.as_tensor(scaler.offset, device=device)
    scale = torch.as_tensor(scaler.scale, device=device)

    def to_tensor(rows: np.ndarray) -> torch.Tensor:
        return scaled_rows(X, rows, offset, scale, device)

    val = to_tensor(val_idx) if val_rows else None
    if X.shape[1] * len(train_idx) * 4 > memory_limit():
        if cfg.structure is not None:
            raise HourglassError(
                "structure='neighbors' needs the training rows in memory, and these are larger than the "
                f"memory limit ({MEMORY_ENV}); train on a subsample"
            )
        blocks = _streamed_blocks(train_idx, _block_rows(X.shape[1]), to_tensor, gen)
        return TrainingData(val, val_rows, len(train_idx), all_train, blocks)
    resident = to_tensor(train_idx)
    data = TrainingData(val, val_rows, len(train_idx), all_train, lambda: iter([resident]))
    if cfg.structure is not None:
        # The layout covers every row fit was given, the held-out ones too: they are never trained on, but
        # they are part of the map a user looks at (and UMAP lays out all its rows). Built afresh (and
        # deterministically, on the CPU) by every fit, so a checkpoint need not hold it. Under torchrun every
        # rank lays out all the rows, the same way, and keeps its shard's places: one map, drawn in pieces.
        rows = to_tensor(np.arange(X.shape[0]))
        places, data.structure_weight = cfg.structure.prepare(rows, latent_dim, cfg.seed)
        data.anchors = places[torch.from_numpy(train_idx).to(places.device)]
    return data


def split_rows(n: int, fraction: float, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(held-out rows, training rows) of ``n``, each sorted: ``round(n * fraction)`` rows (at most
    ``MAX_VAL_ROWS``, none below 10 rows) from a permutation drawn from ``gen``."""
    n_val = min(round(n * fraction) if fraction > 0 and n >= 10 else 0, MAX_VAL_ROWS)
    order = torch.randperm(n, generator=gen).numpy()
    return np.sort(order[:n_val]), np.sort(order[n_val:])


def held_out_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The split ``fit`` makes with ``TrainConfig(seed=seed, validation_fraction=fraction)``: (held out, trained on)."""
    return split_rows(n, fraction, torch.Generator().manual_seed(seed))


def shard(rows: np.ndarray, rank: int, world: int) -> np.ndarray:
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


def scaled_rows(
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


def _block_rows(n_features: int) -> int:
    return max(1, BLOCK_BYTES // (4 * n_features))


def _streamed_blocks(
    rows: np.ndarray, block_rows: int, to_tensor: Callable[[np.ndarray], torch.Tensor], gen: torch.Generator
) -> Callable[[], Iterator[torch.Tensor]]:
    def blocks() -> Iterator[torch.Tensor]:
        starts = range(0, len(rows), block_rows)
        for b in torch.randperm(len(starts), generator=gen).tolist():
            yield to_tensor(rows[starts[b] : starts[b] + block_rows])  # sorted rows: the reads go forward

    return blocks
