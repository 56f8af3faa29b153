"""The hourglass MLP: widths narrow to the code, then the mirrored widths widen back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from torch import nn

from hourglass.models import register
from hourglass.models.base import OUTPUT_ACTIVATIONS, Hourglass, make_activation


def _stack(widths: Sequence[int], act: str, last: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(w_in, w_out))
        layers.append(make_activation(act) if i < len(widths) - 2 else last)
    return nn.Sequential(*layers)


@register("mlp")
class MLP(Hourglass):
    def __init__(
        self,
        n_features: int,
        latent_dim: int = 2,
        hidden: Sequence[int] = (128, 64),
        activation: str = "relu",
        output_activation: str = "identity",
    ) -> None:
        super().__init__()
        self.n_features, self.latent_dim = int(n_features), int(latent_dim)
        self.hidden, self.act, self.output_act = [int(h) for h in hidden], activation, output_activation
        widths = [self.n_features, *self.hidden, self.latent_dim]
        # The code is linear (no activation) so the latent space is not clipped at zero.
        self.encoder = _stack(widths, activation, nn.Identity())
        self.decoder = _stack(widths[::-1], activation, make_activation(output_activation, OUTPUT_ACTIVATIONS))

    def config(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features,
            "latent_dim": self.latent_dim,
            "hidden": self.hidden,
            "activation": self.act,
            "output_activation": self.output_act,
        }
