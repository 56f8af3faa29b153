"""The variational hourglass: a Gaussian encoder, a KL pull towards N(0, I), samples from that prior.

The encoder gives each input a mean and a log-variance; training decodes a code drawn from that
Gaussian (the reparameterisation z = mean + sigma * eps keeps it differentiable) and adds
``beta`` times the KL divergence to N(0, I). Everywhere else - ``encode``, ``transform``, the
validation loss - the code is the mean, so using a trained VAE is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from hourglass.errors import HourglassError
from hourglass.models import register
from hourglass.models.base import OUTPUT_ACTIVATIONS, Hourglass, anchored, make_activation
from hourglass.models.conv import check_image_features, conv_decoder, conv_encoder, start_at_mean, suits_conv
from hourglass.models.mlp import mlp_decoder, mlp_encoder
from hourglass.params import AUTOENCODER
from hourglass.schema import OneOf, Spec

LOG_VAR_RANGE = (-20.0, 10.0)  # keeps exp(log_var) finite when a step overshoots

Body = Callable[[int, Sequence[int], Sequence[int], str, int, nn.Module], tuple[nn.Module, nn.Module]]


def _mlp_body(n_features, sample_shape, hidden, activation, latent_dim, last):
    encoder = mlp_encoder(n_features, hidden, activation, 2 * latent_dim)
    return encoder, mlp_decoder(n_features, hidden, activation, latent_dim, last)


def _conv_body(n_features, sample_shape, hidden, activation, latent_dim, last):
    check_image_features(n_features, sample_shape, hidden)
    encoder = conv_encoder(sample_shape, hidden, activation, 2 * latent_dim)
    return encoder, conv_decoder(sample_shape, hidden, activation, latent_dim, last)


# body name -> (builder of encoder (to mean and log-variance) and decoder, default hidden widths)
BODIES: dict[str, tuple[Body, tuple[int, ...]]] = {"mlp": (_mlp_body, (128, 64)), "conv": (_conv_body, (32, 64))}


@register("vae")
class VAE(Hourglass):
    """``body``: ``"mlp"``, ``"conv"`` (images) or ``"auto"`` (conv for images larger than 16x16).

    The loss is ``recon + beta * KL / n_features``: the reconstruction loss is a mean over
    features while the KL (in nats per sample) is a sum over the code, so ``beta`` is a weight per
    feature and means the same for 49 pixels or 784. ``beta = 1`` would be the textbook objective
    for a summed squared error (a Gaussian decoder of variance 1/2), far too loose for pixels in
    [0, 1]: on mnist7 it collapsed the code onto the prior (KL 0, every digit decoded to the mean
    image). 0.03 kept both code dimensions at unit spread, at nearly the plain MLP's held-out error; 0.1
    used one dimension; 0.3 nearly none (docs/benchmarks.md, "Fashion-MNIST: convolutional and variational models").
    """

    needs: ClassVar[tuple[str, ...]] = ("sample_shape", "beta")
    arguments: ClassVar[dict[str, Spec]] = {"body": OneOf("auto", *BODIES), "beta": AUTOENCODER["beta"].spec}
    learns_prior: ClassVar[bool] = True
    walk_path: ClassVar[str] = "spherical"  # N(0, I) puts its mass near a sphere; slerp stays on it

    def __init__(
        self,
        n_features: int,
        latent_dim: int = AUTOENCODER.latent_dim,
        hidden: Sequence[int] | None = None,
        activation: str = AUTOENCODER.activation,
        output_activation: str = "identity",
        sample_shape: Sequence[int] | None = None,
        body: str = "auto",
        beta: float = AUTOENCODER.beta,
    ) -> None:
        super().__init__()
        self.n_features, self.latent_dim = int(n_features), int(latent_dim)
        self.sample_shape = [int(s) for s in (sample_shape or (n_features,))]
        if body == "auto":
            body = "conv" if suits_conv(self.sample_shape) else "mlp"
        if body not in BODIES:
            raise HourglassError(f"unknown VAE body {body!r}; choose one of auto, {', '.join(BODIES)}")
        if not float(beta) >= 0:
            raise HourglassError(f"beta must be >= 0 (the KL weight); got {beta}")
        build, default_hidden = BODIES[body]
        self.body, self.beta = body, float(beta)
        self.hidden = [int(h) for h in (default_hidden if hidden is None else hidden)]
        self.act, self.output_act = activation, output_activation
        self.record(sample_shape=self.sample_shape, body=body, hidden=self.hidden, beta=self.beta)
        last = make_activation(output_activation, OUTPUT_ACTIVATIONS)
        self.encoder, self.decoder = build(
            self.n_features, self.sample_shape, self.hidden, activation, self.latent_dim, last
        )

    def start_at(self, mean_row: np.ndarray) -> None:
        if self.body == "conv":  # the conv decoder's sigmoid saturates as Conv's does
            start_at_mean(self.decoder, self.sample_shape, mean_row, self.output_act)

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the Gaussian code of each row."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var.clamp(*LOG_VAR_RANGE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.moments(x)[0]

    def training_loss(
        self, x_in: torch.Tensor, target: torch.Tensor, recon_loss: nn.Module, anchors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mean, log_var = self.moments(x_in)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        recon = recon_loss(self.decode(z), target)
        kl = 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=1).mean()
        # The code a VAE's map shows is its mean: that is what the layout places.
        return recon + self.beta * kl / self.n_features, {"recon": recon, "kl": kl, **anchored(mean, anchors)}

    def prior_sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` codes from the N(0, I) prior the KL term trained the codes towards."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim))
