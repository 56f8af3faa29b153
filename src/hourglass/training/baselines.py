"""What a fit is measured against: predicting the training mean, and PCA at the code's width.

A validation loss alone cannot tell a dead network from a good one: data scaled into a sliver of the
output's range gives a tiny loss with every reconstruction the same. Beside the error of predicting the
training rows' mean on the same held-out rows it can. A fit no better than that mean, or one that kept
its first epoch, gets a warning (``verdict``), which ``fit`` raises and the model folder keeps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# The mean and PCA are fitted on evenly spaced training rows: at most this many, and at most
# REFERENCE_VALUES numbers (4 MiB), so that the baselines cost about one validation pass on data of any size.
REFERENCE_ROWS = 10_000
REFERENCE_VALUES = 1 << 20
# "No better than the mean": a held-out error above this share of the mean's, i.e. the code explains
# under 5% of the held-out variance. A network that learnt nothing sits at 1 or above.
DEAD_RATIO = 0.95
CHUNK_ROWS = 8_192


def reference_rows(train_rows: np.ndarray, n_features: int) -> np.ndarray:
    """The training rows (indices, sorted) the baselines are fitted on."""
    most = max(1, min(REFERENCE_ROWS, REFERENCE_VALUES // n_features))
    step = max(1, -(-len(train_rows) // most))  # rounded up: at most ``most`` rows
    return train_rows[::step]


@torch.inference_mode()
def squared_errors(
    model: Callable[[torch.Tensor], torch.Tensor], held_out: torch.Tensor, reference: torch.Tensor, width: int
) -> torch.Tensor:
    """Sums of squared errors over the ``held_out`` rows (scaled units), float64: [the model's, predicting the
    mean of the ``reference`` rows, PCA of the reference rows at ``width`` components]. Sums, so that
    processes holding parts of the held-out rows can add theirs up."""
    ref = reference.float().cpu()
    mean = ref.mean(dim=0)
    basis = _principal_directions(ref - mean, width).to(held_out.device)
    mean = mean.to(held_out.device)
    sums = torch.zeros(3, dtype=torch.float64)
    for i in range(0, held_out.shape[0], CHUNK_ROWS):
        part = held_out[i : i + CHUNK_ROWS]
        centred = part - mean
        for k, error in enumerate((model(part) - part, centred, centred - (centred @ basis) @ basis.T)):
            sums[k] += float(error.square().sum())  # float32 per chunk (pairwise summed), float64 across
    return sums


def _principal_directions(centred: torch.Tensor, width: int) -> torch.Tensor:
    """The top ``width`` principal directions of centred rows, (features, width), by randomized subspace
    iteration (Halko et al. 2011): a few products with the data instead of a full SVD. Its random start
    comes from a generator of its own, so torch's global random state is untouched."""
    n, d = centred.shape
    width = min(width, n, d)
    q = min(width + 8, n, d)
    start = torch.randn(d, q, generator=torch.Generator().manual_seed(0), dtype=centred.dtype)
    basis = torch.linalg.qr(centred @ start).Q
    for _ in range(2):  # power iterations sharpen a slowly decaying spectrum
        # (basis.T @ centred).T, not centred.T @ basis: torch's transposed product is far slower in float64.
        basis = torch.linalg.qr(centred @ (basis.T @ centred).T).Q
    _, _, vh = torch.linalg.svd(basis.T @ centred, full_matrices=False)
    return vh[:width].T


def verdict(mse: float, mean_mse: float, best_epoch: int, epochs_run: int) -> list[str]:
    """The warnings a fit earns: no better than predicting the mean, or its first epoch kept as the best."""
    found = []
    if mean_mse > 0 and mse > DEAD_RATIO * mean_mse:
        found.append(
            f"the model is no better than predicting the mean: held-out MSE {mse:.4g} against the mean's "
            f"{mean_mse:.4g} (scaled units); check the data's scaling, or try more epochs or another learning rate"
        )
    if best_epoch == 1 and epochs_run > 1:
        found.append(
            f"training kept epoch 1 of {epochs_run}: the validation loss never improved after the first epoch "
            "(a network that stopped learning?)"
        )
    return found
