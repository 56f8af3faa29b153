"""Model registry: a name maps to an ``Hourglass`` subclass, so a new variant is one file.

A module defines its class with ``@register("name")`` and is listed in ``_MODULES`` below.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from hourglass.errors import HourglassError
from hourglass.models.base import MAX_WEIGHTS, Hourglass
from hourglass.models.schema import OneOf, validate

MODELS: dict[str, type[Hourglass]] = {}
_MODULES = ("hourglass.models.mlp", "hourglass.models.conv", "hourglass.models.vae")


def register(name: str):
    """Class decorator that adds a model class to the registry under ``name``."""

    def add(cls: type[Hourglass]) -> type[Hourglass]:
        cls.name = name
        MODELS[name] = cls
        return cls

    return add


def _discover() -> None:
    for module in _MODULES:
        importlib.import_module(module)


def model_class(name: str) -> type[Hourglass]:
    """The class registered as ``name``."""
    _discover()
    if name not in MODELS:
        raise HourglassError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(name: str, **config: Any) -> Hourglass:
    """Instantiate the registered model ``name`` with its config.

    The weights are counted first on the ``meta`` device (no memory, no random draws), so a model too
    large to hold fails here in one line instead of in an allocation of terabytes.
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
    validate(name, OneOf(available_models), where, "model.name")
    validate(config, model_class(name).config_schema(), where, field)


def available_models() -> list[str]:
    _discover()
    return sorted(MODELS)


__all__ = ["MODELS", "Hourglass", "available_models", "build_model", "check_config", "model_class", "register"]
