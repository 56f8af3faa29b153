"""Multi-process training: the process group that ``torchrun`` describes in each process's environment.

torchrun starts one process per rank and gives each RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT. ``setup`` joins them into one group - gloo between CPU processes, NCCL between GPUs -
the first time a model trains. Nothing happens at import, and a process started without torchrun
is a world of one in which every helper here is a no-op.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

_joined = False  # set once this process has joined torchrun's group, and kept after it leaves


def joined() -> bool:
    """True once this process has been in a process group with the other ranks."""
    return _joined


def launched() -> bool:
    """True in a process that torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    # Before the group exists the environment already says which rank this is, so a rank that has
    # not trained yet (or failed to) still knows it must not write the model folder.
    return dist.get_rank() if active() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if active() else int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Rank 0: the one process that writes files and prints."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join torchrun's process group (once per process) and return this rank's device.

    On GPUs each process takes the GPU of its LOCAL_RANK on its node and the group talks NCCL;
    on CPUs it talks gloo. Outside torchrun the device is returned unchanged.
    """
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    global _joined
    if not active():
        _joined = True
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return device


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if active():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """An independent random stream per rank: seed s on rank 1 must not replay seed s + 1 on rank 0."""
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1, np.uint64)[0] >> 1)


def _carrier(t: torch.Tensor) -> torch.Tensor:
    # NCCL moves only GPU tensors, gloo only CPU ones here.
    if dist.get_backend() == "nccl":
        return t.to(torch.device("cuda", torch.cuda.current_device()))
    return t.cpu()


def sum_all(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all ranks, identical on every rank (``t`` itself in a world of one).

    Rank 0's sum is broadcast after the reduction so that every rank takes the same decision from
    it (early stop, learning-rate cut) even if a backend's reduction order differed in the last bit.
    """
    if not active():
        return t
    carried = _carrier(t.clone())
    dist.all_reduce(carried)
    dist.broadcast(carried, src=0)
    return carried.to(t.device)


def gather_all(t: torch.Tensor) -> list[torch.Tensor]:
    """``t`` from every rank, in rank order, on every rank (all the same shape)."""
    if not active():
        return [t]
    carried = _carrier(t.contiguous())
    parts = [torch.empty_like(carried) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, carried)
    return [p.to(t.device) for p in parts]
