"""Forward passes over many rows: chunked, without gradients, and batch-invariant, with the finiteness checks
on either side of them.

The estimators (``Autoencoder``, ``AnomalyDetector``) and ``hourglass.inference`` (the command line's encode,
decode and reconstruct) all run their networks through ``run_network``, so each gives the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.runtime.device import CPU_THREADS, exact_cuda, torch_threads

ROW_GROUP = 64  # forward passes are padded to a multiple of this; see batch_invariant
INFER_ROWS = 8_192  # rows per forward pass: activations stay in cache, faster than larger blocks
CHECK_VALUES = 1 << 20  # values per chunk of the finiteness check: a bounded temporary, even on a memory map
# The smallest float64 that float32 rounds to inf (the largest float32 plus half a unit in the last place).
FLOAT32_OVERFLOW = float.fromhex("0x1.ffffffp+127")


@torch.inference_mode()
def run_network(
    network: torch.nn.Module,
    scaler: Scaler,
    fn: Callable[[torch.Tensor], torch.Tensor],
    rows: np.ndarray,
    out_width: int,
    dtype: Any,
    scale_input: bool = True,
    allow_inf: bool = False,
) -> np.ndarray:
    """Apply ``fn`` (``network``'s encode, decode, forward pass or a score) to rows in large chunks, with no
    DataLoader, on the device ``network`` is on.

    Parameters
    ----------
    network : torch.nn.Module
        The network ``fn`` belongs to; it is put in eval mode.
    scaler : Scaler
        The network's input scaling, applied (with its clipping) to the rows first unless ``scale_input`` is
        False (codes, or an ``fn`` that scales by itself).
    fn : callable
        Tensor (rows, features) -> tensor (rows, ``out_width``); it sees whole ``ROW_GROUP``s of rows
        (``batch_invariant``).
    rows : np.ndarray, shape (n, features)
        Any real dtype; a memory map is read a chunk at a time.
    out_width : int
        Columns of the result.
    dtype : numpy dtype
        The result's dtype.
    scale_input : bool, default True
        Scale the rows first.
    allow_inf : bool, default False
        Let an infinite result through (an error that overflowed: a score of -inf); NaN is refused still.

    Returns
    -------
    np.ndarray, shape (n, out_width)

    Raises
    ------
    HourglassError
        The result is not finite (see ``finite_output``).
    """
    device = next(network.parameters()).device
    offset = torch.as_tensor(scaler.offset, device=device)
    scale = torch.as_tensor(scaler.scale, device=device)
    window = scaler.clip_window() if scaler.low is not None else None
    low, high = (torch.as_tensor(w, device=device) for w in window) if window else (None, None)
    out = np.empty((rows.shape[0], out_width), dtype=dtype)
    network.eval()
    with torch_threads(CPU_THREADS if device.type == "cpu" else None), exact_cuda(device):
        for start in range(0, rows.shape[0], INFER_ROWS):
            x = torch.as_tensor(_writable(rows[start : start + INFER_ROWS]), device=device)
            if scale_input:
                x = (x - offset) / scale
                if low is not None:
                    x = torch.clamp(x, low, high)
            out[start : start + x.shape[0]] = batch_invariant(fn, x).cpu().numpy()
    return finite_output(out, allow_inf)


def batch_invariant(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` with ``x`` padded to a multiple of ``ROW_GROUP`` rows, padding dropped from the result.

    A matmul rounds a row's last bit differently depending on how many rows share the batch (a
    single row takes a matrix-vector path, a ragged tail of rows another kernel); padded to whole
    groups, a row's result is the same bits alone, in a subset or in the full batch (scikit-learn
    checks this).
    """
    n = x.shape[0]
    extra = -n % ROW_GROUP
    if extra:
        x = torch.cat([x, x.new_zeros(extra, *x.shape[1:])])
    return fn(x)[:n]


def check_finite(rows: np.ndarray, what: str = "X") -> None:
    """Refuse values that are not finite in float32, the precision the model computes in: NaN, inf, and
    float64 values beyond float32's range (they would become inf). One pass, in bounded chunks."""
    if rows.dtype.kind != "f":
        return  # integers and booleans are finite, and every int64 fits float32's range
    step = max(1, CHECK_VALUES // max(1, math.prod(rows.shape[1:])))
    for start in range(0, rows.shape[0], step):
        chunk = np.asarray(rows[start : start + step])
        ok = np.isfinite(chunk) if chunk.dtype.itemsize <= 4 else np.abs(chunk) < FLOAT32_OVERFLOW
        if not ok.all():
            row = start + int(np.argmin(ok.reshape(len(chunk), -1).all(axis=1)))
            if np.isnan(chunk).any():
                raise HourglassError(f"{what} holds NaN (first in row {row}); clean or drop those rows")
            if np.isinf(chunk).any():
                raise HourglassError(f"{what} holds infinite values (first in row {row}); clean or drop those rows")
            raise HourglassError(
                f"{what} holds values beyond the float32 range of +-3.4e38, which would become inf "
                f"(first in row {row}); rescale the data"
            )


def finite_output(out: np.ndarray, allow_inf: bool = False) -> np.ndarray:
    """The model's finite inputs can still overflow float32 on the way (codes or rows far outside the
    training range, times the scale): say so rather than hand back NaN."""
    if not (np.isfinite(out).all() if not allow_inf else not np.isnan(out).any()):
        raise HourglassError(
            "the result overflows float32 (inf/NaN): the input lies too far outside the range the model was trained on"
        )
    return out


def out_dtype(rows: np.ndarray) -> Any:
    """The dtype of what rows encode or decode to: float32 for float32 rows, else float64 (scikit-learn's
    transformers keep float32 and float64)."""
    return np.float32 if rows.dtype == np.float32 else np.float64


def _writable(rows: np.ndarray) -> np.ndarray:
    """float32 rows torch may wrap: read-only inputs (memory maps) are copied, others converted as needed."""
    chunk = np.asarray(rows, np.float32)
    return chunk if chunk.flags.writeable else chunk.copy()
