"""Where and how torch runs: device choice and a deliberate CPU thread count."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from hourglass.errors import HourglassError

# Tiny MLPs are bound by per-op overhead, not FLOPs. On a loaded 2-core box torch's default of
# 2 OpenMP threads swung one fit from 0.5 s to 71 s while 1 thread stayed stable; encoding 1M rows
# measured 2.0M rows/s on 1 thread against 0.1-0.3M rows/s on 2 (benchmarks/train_speed.py).
CPU_THREADS = 1


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as e:
        raise HourglassError(f"unknown device {device!r}: {e}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise HourglassError("device 'cuda' was asked for but no CUDA GPU is available")
    return resolved


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads (capped at the cores there are), then restore."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n, before if before > 0 else n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
