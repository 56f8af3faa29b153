"""The anomaly detector's ensemble: ``n_members`` MLP autoencoders trained at once as batched matmuls."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import ClassVar, cast

import torch
from torch import nn

from hourglass.errors import HourglassError
from hourglass.models import register
from hourglass.models.base import ACTIVATIONS, OUTPUT_ACTIVATIONS, Hourglass, make_activation
from hourglass.params import DETECTOR
from hourglass.schema import Spec


class _Batched(nn.Module):
    """``k`` independent linear layers applied to ``k`` stacks of rows in one batched matmul."""

    def __init__(self, k: int, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(n_in)  # nn.Linear's default initialisation, per member
        self.weight = nn.Parameter(torch.empty(k, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


@register("mlp-ensemble", internal=True)
class EnsembleMLP(Hourglass):
    """``n_members`` MLP autoencoders side by side; each has its own weights and sees the same batches.

    The code is the members' codes side by side and the reconstruction is their mean, so the usual
    encode/decode/reconstruct work unchanged. Training ignores, per member and batch, the ``trim``
    share of rows that member rebuilds worst. Internal: ``AnomalyDetector`` builds it (its ``n_members``
    and ``trim``); it is not among the models an ``Autoencoder`` offers.
    """

    arguments: ClassVar[dict[str, Spec]] = {"n_members": DETECTOR["n_members"].spec, "trim": DETECTOR["trim"].spec}
    encoder: nn.ModuleList  # one batched layer per depth, stepped through by ``_stack``
    decoder: nn.ModuleList

    def __init__(
        self,
        n_features: int,
        latent_dim: int = DETECTOR.latent_dim,
        hidden: Sequence[int] = DETECTOR.hidden,
        activation: str = DETECTOR.activation,
        output_activation: str = "identity",
        n_members: int = DETECTOR.n_members,
        trim: float = DETECTOR.trim,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS or output_activation not in OUTPUT_ACTIVATIONS:
            make_activation(activation)  # raises the one-line error naming the choices
            make_activation(output_activation, OUTPUT_ACTIVATIONS)
        self.n_features, self.member_latent, self.k = int(n_features), int(latent_dim), int(n_members)
        self.latent_dim = self.k * self.member_latent  # width of the code encode() returns
        self.hidden, self.act, self.output_act, self.trim = (
            [int(h) for h in hidden],
            activation,
            output_activation,
            trim,
        )
        widths = [self.n_features, *self.hidden, self.member_latent]
        self.encoder = nn.ModuleList(_Batched(self.k, a, b) for a, b in itertools.pairwise(widths))
        back = widths[::-1]
        self.decoder = nn.ModuleList(_Batched(self.k, a, b) for a, b in itertools.pairwise(back))
        self.hidden_act = make_activation(activation)
        self.out_act = make_activation(output_activation, OUTPUT_ACTIVATIONS)

    def _stack(self, layers: nn.ModuleList, h: torch.Tensor, last: nn.Module) -> torch.Tensor:
        for i, layer in enumerate(layers):
            h = layer(h)
            h = self.hidden_act(h) if i < len(layers) - 1 else last(h)
        return h

    def member_codes(self, x: torch.Tensor) -> torch.Tensor:
        """(n, features) -> (members, n, member latent)."""
        return self._stack(self.encoder, x.unsqueeze(0).expand(self.k, -1, -1), nn.Identity())

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's reconstruction of scaled rows: (n, features) -> (members, n, features)."""
        return self._stack(self.decoder, self.member_codes(x), self.out_act)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_codes(x).permute(1, 0, 2).reshape(x.shape[0], self.latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        codes = z.reshape(z.shape[0], self.k, self.member_latent).permute(1, 0, 2)
        return self._stack(self.decoder, codes, self.out_act).mean(dim=0)

    def squared_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Per-feature squared error averaged over members: (n, features)."""
        return ((self.member_outputs(x) - x) ** 2).mean(dim=0)

    def row_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared error per row, averaged over members: (n, features) -> (n,).

        The same number as ``squared_errors(x).mean(1)``, computed for speed: with an identity
        output, ``- x`` is folded into the last layer's bias so the residual is one fused op.
        """
        h = self.member_codes(x)
        for layer in self.decoder[:-1]:
            h = self.hidden_act(layer(h))
        last = cast(_Batched, self.decoder[-1])
        if isinstance(self.out_act, nn.Identity):
            residual = torch.baddbmm(last.bias - x, h, last.weight)
        else:
            residual = self.out_act(torch.baddbmm(last.bias, h, last.weight)) - x
        return residual.square_().mean(dim=(0, 2))

    def training_loss(
        self, x_in: torch.Tensor, target: torch.Tensor, recon_loss: nn.Module, anchors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if anchors is not None:
            raise HourglassError("the detector's ensemble trains no neighbor-preserving map")
        # Squared error is the only reconstruction loss here: scores are squared errors too.
        per_row = ((self.member_outputs(x_in) - target) ** 2).mean(dim=2)  # (members, n)
        keep = max(1, math.ceil(per_row.shape[1] * (1 - self.trim)))
        kept = per_row.topk(keep, dim=1, largest=False).values if keep < per_row.shape[1] else per_row
        loss = kept.mean()
        return loss, {"recon": loss}
