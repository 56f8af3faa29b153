"""The interface every hourglass model implements: encode F, decode G, and its own training loss."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hourglass.errors import HourglassError
from hourglass.models.schema import Int, ListOf, OneOf, Optional, Real, Spec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}
OUTPUT_ACTIVATIONS: dict[str, type[nn.Module]] = {"identity": nn.Identity, "sigmoid": nn.Sigmoid}


# Bounds on sizes, so that an absurd value fails at once with its limit instead of exhausting memory.
MAX_LATENT = 4096
MAX_WIDTH = 65_536
MAX_LAYERS = 32
MAX_MEMBERS = 100
MAX_WEIGHTS = 1 << 28  # 1 GiB of float32 weights (about 4 GiB while training with Adam)

# Every constructor argument a model may take, and what it accepts: one table for all models, read by
# ``Hourglass.config_schema`` to check a saved ``config()`` before the model is built from it.
ARGUMENTS: dict[str, Spec] = {
    "n_features": Int(1),
    "latent_dim": Int(1, MAX_LATENT),
    "hidden": ListOf(Int(1, MAX_WIDTH), 0, MAX_LAYERS),
    "activation": OneOf(*ACTIVATIONS),
    "output_activation": OneOf(*OUTPUT_ACTIVATIONS),
    "sample_shape": ListOf(Int(1), 1, 16),
    "body": OneOf("auto", "mlp", "conv"),
    "beta": Real(0),
    "n_members": Int(1, MAX_MEMBERS),
    "trim": Real(0, 1, open="hi"),
}


def make_activation(name: str, table: dict[str, type[nn.Module]] = ACTIVATIONS) -> nn.Module:
    if name not in table:
        raise HourglassError(f"unknown activation {name!r}; choose one of {', '.join(table)}")
    return table[name]()


class Hourglass(nn.Module):
    """An autoencoder X -> Z = F(X) -> X_hat = G(Z) on flat float tensors of ``n_features``.

    Subclasses build ``encoder`` and ``decoder`` and return their constructor arguments from
    ``config()``; that dict, saved as JSON, rebuilds the same architecture.
    """

    name: ClassVar[str] = ""
    # Facts about the data, beyond n_features, that the constructor takes from the estimator
    # (a conv model needs the image shape "sample_shape"; a VAE also its KL weight "beta").
    needs: ClassVar[tuple[str, ...]] = ()
    # True for a model that learns its own code distribution (a VAE's N(0, I)) and draws from it in
    # ``prior_sample``; the estimator fits a Gaussian mixture to the codes of the others.
    learns_prior: ClassVar[bool] = False
    walk_path: ClassVar[str] = "linear"  # the interpolation walk's default path (viz.interpolate.PATHS)
    encoder: nn.Module
    decoder: nn.Module

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """The fields of ``config()``: the constructor's arguments, those with a default optional."""
        args = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return {a.name: ARGUMENTS[a.name] if a.default is a.empty else Optional(ARGUMENTS[a.name]) for a in args}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def prior_sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` codes drawn from the model's own prior (only where ``learns_prior``)."""
        raise HourglassError(f"the {self.name!r} model learns no code prior to sample from")

    def training_loss(
        self, x_in: torch.Tensor, target: torch.Tensor, recon_loss: nn.Module
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss to minimise and its named parts; variants with extra terms (a KL, say) override this."""
        recon = recon_loss(self(x_in), target)
        return recon, {"recon": recon}
