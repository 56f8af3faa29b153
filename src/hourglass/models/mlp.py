"""The hourglass MLP: widths narrow to the code, then the mirrored widths widen back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn

from hourglass.models import register
from hourglass.models.base import OUTPUT_ACTIVATIONS, Hourglass, make_activation
from hourglass.params import AUTOENCODER


def _stack(widths: Sequence[int], act: str, last: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(w_in, w_out))
        layers.append(make_activation(act) if i < len(widths) - 2 else last)
    return nn.Sequential(*layers)


def mlp_encoder(n_features: int, hidden: Sequence[int], activation: str, out: int) -> nn.Sequential:
    """Rows -> ``out`` features through the ``hidden`` widths."""
    # The code is linear (no activation) so the latent space is not clipped at zero.
    return _stack([n_features, *hidden, out], activation, nn.Identity())


def mlp_decoder(
    n_features: int, hidden: Sequence[int], activation: str, latent_dim: int, last: nn.Module
) -> nn.Sequential:
    """Codes -> rows through the mirrored ``hidden`` widths, ``last`` on the output."""
    return _stack([latent_dim, *hidden[::-1], n_features], activation, last)


@register("mlp")
class MLP(Hourglass):
    def __init__(
        self,
        n_features: int,
        latent_dim: int = AUTOENCODER.latent_dim,
        hidden: Sequence[int] = (128, 64),
        activation: str = AUTOENCODER.activation,
        output_activation: str = "identity",
    ) -> None:
        super().__init__()
        self.n_features, self.latent_dim = int(n_features), int(latent_dim)
        self.hidden, self.act, self.output_act = [int(h) for h in hidden], activation, output_activation
        self.encoder = mlp_encoder(self.n_features, self.hidden, activation, self.latent_dim)
        last = make_activation(output_activation, OUTPUT_ACTIVATIONS)
        self.decoder = mlp_decoder(self.n_features, self.hidden, activation, self.latent_dim, last)
