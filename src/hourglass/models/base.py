"""The interface every hourglass model implements: encode F, decode G, and its own training loss."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hourglass.errors import HourglassError
from hourglass.params import MAX_LATENT, MAX_LAYERS, MAX_WIDTH
from hourglass.schema import Int, ListOf, Omittable, OneOf, Spec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}
OUTPUT_ACTIVATIONS: dict[str, type[nn.Module]] = {"identity": nn.Identity, "sigmoid": nn.Sigmoid}


# The size bounds are the parameter table's (an absurd value fails at once with its limit); the weights' too.
MAX_WEIGHTS = 1 << 28  # 1 GiB of float32 weights (about 4 GiB while training with Adam)

# The constructor arguments models share, and what each accepts; a model adds its own in ``arguments``.
# ``Hourglass.config_schema`` reads them to check a saved ``config()`` before the model is built from it.
ARGUMENTS: dict[str, Spec] = {
    "n_features": Int(1),
    "latent_dim": Int(1, MAX_LATENT),
    "hidden": ListOf(Int(1, MAX_WIDTH), 0, MAX_LAYERS),
    "activation": OneOf(*ACTIVATIONS),
    "output_activation": OneOf(*OUTPUT_ACTIVATIONS),
    "sample_shape": ListOf(Int(1), 1, 16),
}


def make_activation(name: str, table: dict[str, type[nn.Module]] = ACTIVATIONS) -> nn.Module:
    if name not in table:
        raise HourglassError(f"unknown activation {name!r}; choose one of {', '.join(table)}")
    return table[name]()


def _plain(value: Any) -> Any:
    """A constructor argument as JSON keeps it: tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a model's ``__init__`` so that the arguments of the outermost call are kept as its config."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recorded_init(self: Hourglass, *args: Any, **kwargs: Any) -> None:
        if "_config" not in self.__dict__:  # a subclass's super().__init__(...) does not overwrite it
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            self.__dict__["_config"] = {k: _plain(v) for k, v in list(bound.arguments.items())[1:]}
        init(self, *args, **kwargs)

    return recorded_init


class Hourglass(nn.Module):
    """An autoencoder X -> Z = F(X) -> X_hat = G(Z) on flat float tensors of ``n_features``.

    Subclasses build ``encoder`` and ``decoder``. Their constructor arguments are recorded as they are
    called (defaults filled in) and returned by ``config()``; that dict, saved as JSON, rebuilds the same
    architecture. Each argument needs a spec: in ``ARGUMENTS`` or the model's own ``arguments``.
    """

    name: ClassVar[str] = ""
    internal: ClassVar[bool] = False  # set by ``register``: built by an estimator, not offered to users
    # What this model's own constructor arguments (those not in ``ARGUMENTS``) accept.
    arguments: ClassVar[dict[str, Spec]] = {}
    # Facts about the data, beyond n_features, that the constructor takes from the estimator
    # (a conv model needs the image shape "sample_shape"; a VAE also its KL weight "beta").
    needs: ClassVar[tuple[str, ...]] = ()
    # True for a model that learns its own code distribution (a VAE's N(0, I)) and draws from it in
    # ``prior_sample``; the estimator fits a Gaussian mixture to the codes of the others.
    learns_prior: ClassVar[bool] = False
    walk_path: ClassVar[str] = "linear"  # the interpolation walk's default path (viz.interpolate.PATHS)
    # Every model sets these in its constructor (the sizes the estimator and the figures read).
    n_features: int
    latent_dim: int
    hidden: list[int]
    encoder: nn.Module
    decoder: nn.Module

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording(cls.__dict__["__init__"])  # type: ignore[method-assign]  # on purpose

    def config(self) -> dict[str, Any]:
        """The constructor's arguments as called, defaults filled in (plus any ``record``ed resolutions)."""
        return copy.deepcopy(self.__dict__["_config"])  # a copy the caller may change

    def record(self, **resolved: Any) -> None:
        """Keep what the constructor resolved (an ``"auto"`` choice, a default of ``None``) in the config,
        so the saved config says what was built."""
        self.__dict__["_config"] |= {k: _plain(v) for k, v in resolved.items()}

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """The fields of ``config()``: the constructor's arguments, those with a default optional."""
        specs = ARGUMENTS | cls.arguments
        out: dict[str, Any] = {}
        for arg in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if arg.name not in specs or arg.kind not in (arg.POSITIONAL_OR_KEYWORD, arg.KEYWORD_ONLY):
                raise HourglassError(
                    f"model {cls.name or cls.__name__!r}: constructor argument {arg.name!r} needs a spec in the "
                    "class's `arguments` (hourglass.schema), so its saved config can be checked"
                )
            out[arg.name] = specs[arg.name] if arg.default is arg.empty else Omittable(specs[arg.name])
        return out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def start_at(self, mean_row: np.ndarray) -> None:
        """Before training, given the scaled training data's mean row: let the untrained decoder draw about it.
        Nothing by default; a model whose first steps would otherwise saturate its output overrides it."""

    def prior_sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` codes drawn from the model's own prior (only where ``learns_prior``)."""
        raise HourglassError(f"the {self.name!r} model learns no code prior to sample from")

    def training_loss(
        self, x_in: torch.Tensor, target: torch.Tensor, recon_loss: nn.Module, anchors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss to minimise and its named parts; variants with extra terms (a KL, say) override this.

        With ``anchors`` (the places the neighbor layout gives these rows), the parts also hold ``structure``,
        the codes' mean squared distance to them, for the training loop to weigh into the loss."""
        code = self.encode(x_in)
        recon = recon_loss(self.decode(code), target)
        return recon, {"recon": recon, **anchored(code, anchors)}


def anchored(code: torch.Tensor, anchors: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """``{"structure": mean squared distance of the codes to their anchors}``, or nothing without anchors."""
    return {} if anchors is None else {"structure": (code - anchors).square().mean()}
