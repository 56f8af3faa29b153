"""A placing model's decoder, refit to read the map's places.

With ``placement="neighbors"`` a row's code is its place in the neighbor layout, not the encoder's code. The
decoder learnt the encoder's codes during training, and those only approximate the places (an encoder does
not draw a UMAP layout finely), so decoded places rebuilt rows worse than decoded encoder codes (several
times the error on Fashion-MNIST 7x7; docs/benchmarks.md, "Neighbor-preserving maps"). A few epochs of the
decoder alone, from the training rows' places to the rows, close most of that gap. The encoder is left as it
is: in a placing model it only picks the grid cell whose kept rows a new row is compared with.
"""

from __future__ import annotations

import numpy as np
import torch

from hourglass.models.base import Hourglass
from hourglass.training.adam import FusedAdam
from hourglass.training.state import LOSSES

EPOCHS = 20  # from the trained decoder, a near fit: docs/benchmarks.md, "A placing model's decoder"
LR = 1e-3  # below training's rate: a refinement, not a fresh fit
BATCH_ROWS = 128


def refit_decoder(model: Hourglass, places: np.ndarray, rows: np.ndarray, loss: str, seed: int) -> None:
    """Train ``model``'s decoder alone to rebuild ``rows`` (scaled, flat) from their ``places`` (codes), in place,
    ``EPOCHS`` epochs in shuffles drawn from ``seed``; the encoder's weights do not change."""
    device = next(model.parameters()).device
    z = torch.from_numpy(np.ascontiguousarray(places, dtype=np.float32)).to(device)
    x = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).to(device)
    decoder = list(model.decoder.parameters())
    optimizer = FusedAdam(decoder, lr=LR, weight_decay=0.0)
    recon = LOSSES[loss]()
    gen = torch.Generator().manual_seed(int(seed))
    for _ in range(EPOCHS):
        order = torch.randperm(len(x), generator=gen).to(device)
        for start in range(0, len(x), BATCH_ROWS):
            batch = order[start : start + BATCH_ROWS]
            out = recon(model.decode(z[batch]).reshape(len(batch), -1), x[batch])
            for p in decoder:
                p.grad = None
            out.backward()
            optimizer.step()
    for p in decoder:
        p.grad = None
