"""Where and how torch runs: device choice and a deliberate CPU thread count."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from hourglass.errors import HourglassError

# What a ``device`` parameter (and a saved folder's) may name is the parameter table's ``DEVICE``;
# ``resolve_device`` says whether that device is here.
from hourglass.params import DEVICE as DEVICE
from hourglass.params import DEVICE_NAMES

# Tiny MLPs are bound by per-op overhead, not FLOPs: on a loaded machine more OpenMP threads made fits and
# encoding slower and their times erratic, one thread stable (docs/benchmarks.md, "Threads").
CPU_THREADS = 1


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` must exist.

    Other torch device types (mps, xla, meta ...) are refused: the models and tests only cover these.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("mps")
    Traceback (most recent call last):
    ...
    hourglass.errors.HourglassError: unknown device 'mps'; use auto, cpu, cuda or cuda:N
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise HourglassError(f"unknown device {str(device)!r}; use {DEVICE_NAMES}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise HourglassError(f"device {str(device)!r} was asked for but no CUDA GPU is available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise HourglassError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    return resolved


def run_device(device: str) -> torch.device:
    """Where a loaded model runs: its saved ``device`` when this machine has it, else the CPU.

    A model trained on a GPU is used on laptops: its weights run the same on the CPU, so a missing GPU is no
    reason to refuse it (``fit`` still insists on the device it is given).
    """
    try:
        return resolve_device(device)
    except HourglassError:
        if str(device).startswith("cuda"):
            return torch.device("cpu")
        raise


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


@contextlib.contextmanager
def exact_cuda(device: torch.device) -> Iterator[None]:
    """On CUDA, run a block with cuDNN's deterministic convolutions and without TF32, then restore the flags.

    cuDNN's default picks convolution algorithms whose gradients vary run to run, and computes convolutions
    in TF32: on an H200 the conv model's same-seed fits differed and its codes were 1.3e-3 off the CPU's
    (the MLP and VAE, which use no cuDNN, were bit-identical and 2e-6 off). With these flags both hold.
    """
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32 = True, False, False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
