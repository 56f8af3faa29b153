"""Model registry: a name maps to an ``Hourglass`` subclass, so a new variant is one file.

A module in this package defines its class with ``@register("name")`` and is listed at the end of this file,
as timm lists its models: the registry is what that list imports. Its constructor's arguments are recorded and
saved with it (``Hourglass.config``). ``register("name", internal=True)`` keeps a model that only an estimator builds
(the detector's ensemble) out of the user's choices while folders that name it still load.
"""

from __future__ import annotations

from typing import Any

import torch

from hourglass.errors import HourglassError
from hourglass.models.base import MAX_WEIGHTS, Hourglass
from hourglass.schema import OneOf, validate

MODELS: dict[str, type[Hourglass]] = {}


def register(name: str, *, internal: bool = False):
    """Class decorator that adds a model class to the registry under ``name``; a name is taken once."""

    def add(cls: type[Hourglass]) -> type[Hourglass]:
        if not (isinstance(cls, type) and issubclass(cls, Hourglass)):
            raise HourglassError(f"model {name!r}: {cls!r} is not a subclass of hourglass.models.base.Hourglass")
        if name in MODELS:
            taken = MODELS[name]
            raise HourglassError(
                f"model name {name!r} is taken by {taken.__module__}.{taken.__qualname__}; choose another name"
            )
        cls.name, cls.internal = name, internal
        cls.config_schema()  # every constructor argument has a spec, or this refuses the model now
        MODELS[name] = cls
        return cls

    return add


def model_class(name: str) -> type[Hourglass]:
    """The class registered as ``name`` (internal ones too: a saved folder may name them)."""
    if name not in MODELS:
        raise HourglassError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return MODELS[name]


def build_model(name: str, **config: Any) -> Hourglass:
    """Instantiate the registered model ``name`` with its config.

    The weights are counted first on the ``meta`` device (no memory, no random draws), so a model too
    large to hold fails here in one line instead of in an allocation of terabytes.

    Parameters
    ----------
    name : str
        A registered model (``available_models()``, or an internal one).
    **config
        The model's constructor arguments (``n_features`` at least).

    Returns
    -------
    Hourglass
        The model, on the CPU; its ``config()`` rebuilds the same architecture.

    Examples
    --------
    >>> import torch
    >>> model = build_model("mlp", n_features=5, latent_dim=2, hidden=(8,))
    >>> model.encode(torch.zeros(3, 5)).shape
    torch.Size([3, 2])
    >>> model.config()["hidden"]
    [8]
    """
    cls = model_class(name)
    with torch.device("meta"):
        n_weights = sum(p.numel() for p in cls(**config).parameters())
    if n_weights > MAX_WEIGHTS:
        raise HourglassError(
            f"a {name} model of this size would have {n_weights:,} weights, more than the limit of "
            f"{MAX_WEIGHTS:,}; use narrower hidden widths, a smaller code or fewer members"
        )
    return cls(**config)


def check_config(name: str, config: Any, where: str, field: str = "model.config") -> None:
    """Check a saved model's name and config against the model's own schema, before building it."""
    validate(name, OneOf(registered_models), where, "model.name")
    validate(config, model_class(name).config_schema(), where, field)


def available_models() -> list[str]:
    """The models a user may choose (``Autoencoder(model=...)``, ``hourglass train --model``)."""
    return sorted(name for name, cls in MODELS.items() if not cls.internal)


def registered_models() -> list[str]:
    """Every registered model, internal ones included: what a saved folder may name."""
    return sorted(MODELS)


__all__ = [
    "MODELS",
    "Hourglass",
    "available_models",
    "build_model",
    "check_config",
    "model_class",
    "register",
    "registered_models",
]

# The models, each registering itself as it is imported: a new one is a module here and a name in this line.
from hourglass.models import conv, ensemble, mlp, vae  # noqa: E402, F401
