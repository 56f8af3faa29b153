"""griffe extension: signatures show a default's value, not the constant it is read from.

The estimators take their defaults from ``hourglass.params`` (``latent_dim: int = AUTOENCODER.latent_dim``) so
that ``--help`` and the code cannot disagree, and functions name module constants (``max_pixels=MAX_PIXELS``);
the reference would print those names. A default that names a constant is replaced by its value, looked up in
the module that defines the function as the site is built, so the page cannot drift from the code either.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import griffe

# A constant's name, or a dotted name from one (AUTOENCODER.latent_dim): never a call or an expression.
CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*(?:\.[A-Za-z_]\w*)*")
LITERALS = (bool, int, float, str, type(None))


class ParamDefaults(griffe.Extension):
    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        for parameter in func.parameters:
            if parameter.default is None:
                continue
            expression = str(parameter.default)
            value = resolved(func.module.path, expression)
            if value is not None:
                parameter.default = value
                if func.docstring:  # "max_pixels : int, default MAX_PIXELS" in the Parameters table too
                    said = re.compile(rf"^(\s*{parameter.name} : .*\bdefault )({re.escape(expression)})$", re.M)
                    func.docstring.value = said.sub(lambda m, v=value: m.group(1) + v, func.docstring.value)


def resolved(module: str, expression: str) -> str | None:
    """The value ``expression`` names in ``module``, written as Python; None unless it names a plain literal."""
    if not CONSTANT.fullmatch(expression):
        return None
    value: Any = importlib.import_module(module)
    for name in expression.split("."):
        if not hasattr(value, name):
            return None
        value = getattr(value, name)
    return literal(value)


def literal(value: Any) -> str | None:
    if isinstance(value, tuple) and all(isinstance(v, LITERALS) for v in value):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:_}"  # 25_000_000 reads as a number; 25000000 has to be counted
    return repr(value) if isinstance(value, LITERALS) else None
