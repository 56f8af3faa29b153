"""Model registry: a name maps to an ``Hourglass`` subclass, so a new variant is one file.

A module defines its class with ``@register("name")`` and is listed in ``_MODULES`` below.
"""

from __future__ import annotations

import importlib
from typing import Any

from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass

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
    """Instantiate the registered model ``name`` with its config."""
    return model_class(name)(**config)


def available_models() -> list[str]:
    _discover()
    return sorted(MODELS)


__all__ = ["MODELS", "Hourglass", "available_models", "build_model", "model_class", "register"]
