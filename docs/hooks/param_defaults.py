"""griffe extension: signatures show a default's value, not the constant it is read from.

The estimators take their defaults from ``hourglass.params`` (``latent_dim: int = AUTOENCODER.latent_dim``) so
that ``--help`` and the code cannot disagree; the reference would print that expression. A default that names
something in ``hourglass.params`` is replaced by its value as the site is built, so it cannot drift either.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

from hourglass import params

# A constant's name, or a dotted name from one: looked up only when its first part is defined in hourglass.params.
DOTTED = re.compile(r"[A-Z_][A-Z0-9_]*(?:\.[A-Za-z_]\w*)*")


class ParamDefaults(griffe.Extension):
    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        for parameter in func.parameters:
            value = resolved(str(parameter.default)) if parameter.default is not None else None
            if value is not None:
                parameter.default = value


def resolved(expression: str) -> str | None:
    """``repr`` of the value ``expression`` names in ``hourglass.params``, or None if it names nothing there."""
    if not DOTTED.fullmatch(expression):
        return None
    first, *rest = expression.split(".")
    if not first.isupper() or not hasattr(params, first):
        return None
    value = getattr(params, first)
    for attribute in rest:
        if not hasattr(value, attribute):
            return None
        value = getattr(value, attribute)
    return repr(value)
