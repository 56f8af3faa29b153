"""Turn a trained MLP decoder into plain numbers a browser can evaluate: float32 weights as base64."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder


def b64_float32(array: Any) -> str:
    """Little-endian float32 bytes as base64 (every browser's typed arrays are little-endian)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _linear(m: nn.Linear) -> dict[str, Any]:
    weight = m.weight.detach().cpu().numpy()
    bias = m.bias.detach().cpu().numpy() if m.bias is not None else np.zeros(weight.shape[0], np.float32)
    return {"type": "linear", "in": weight.shape[1], "out": weight.shape[0], "weight": b64_float32(weight),
            "bias": b64_float32(bias)}  # fmt: skip


def _gelu(m: nn.GELU) -> dict[str, Any]:
    return {"type": "gelu_tanh" if m.approximate == "tanh" else "gelu"}


# Module type -> its JSON form; the JS side (static/explorer.js, LAYERS) implements the same names.
EXPORTERS: dict[type[nn.Module], Callable[[Any], dict[str, Any]]] = {
    nn.Linear: _linear,
    nn.Identity: lambda m: {"type": "identity"},
    nn.ReLU: lambda m: {"type": "relu"},
    nn.Tanh: lambda m: {"type": "tanh"},
    nn.Sigmoid: lambda m: {"type": "sigmoid"},
    nn.SiLU: lambda m: {"type": "silu"},
    nn.ELU: lambda m: {"type": "elu", "alpha": float(m.alpha)},
    nn.LeakyReLU: lambda m: {"type": "leaky_relu", "slope": float(m.negative_slope)},
    nn.GELU: _gelu,
}


def _layers(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _layers(child)]
    return [module]


def browser_decodable(model: Autoencoder) -> bool:
    """True when every decoder layer has a JavaScript twin (MLP decoders do; conv decoders need ``serve``).

    Parameters
    ----------
    model : Autoencoder
        A fitted estimator.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import Autoencoder
    >>> images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)
    >>> model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> browser_decodable(model)
    True
    """
    return all(type(m) in EXPORTERS for m in _layers(model.model_.decoder))


def export_decoder(model: Autoencoder) -> dict[str, Any]:
    """The decoder as JSON-able data: layer list, float32 weights (base64), and the scaler to undo.

    JS evaluates ``layers`` in order on a code, then ``x * scale + offset`` gives rows in original units.

    Parameters
    ----------
    model : Autoencoder
        A fitted estimator whose decoder is ``browser_decodable``.

    Returns
    -------
    dict
        ``latent_dim``, ``n_features``, ``layers`` (each a dict with a ``type`` and, for linear layers, base64
        ``weight`` and ``bias``), and the scaler's base64 ``offset`` and ``scale``.

    Raises
    ------
    HourglassError
        A decoder layer has no JavaScript twin (use ``hourglass serve``).

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import Autoencoder
    >>> images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)
    >>> model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> spec = export_decoder(model)
    >>> spec["latent_dim"], spec["n_features"], spec["layers"][0]["type"]
    (2, 16, 'linear')
    """
    layers = []
    for m in _layers(model.model_.decoder):
        export = EXPORTERS.get(type(m))
        if export is None:
            raise HourglassError(
                f"the decoder layer {type(m).__name__} cannot run in the browser; use `hourglass serve MODEL` instead"
            )
        layers.append(export(m))
    return {
        "latent_dim": int(model.model_.latent_dim),
        "n_features": int(model.n_features_in_),
        "layers": layers,
        "offset": b64_float32(model.scaler_.offset),
        "scale": b64_float32(model.scaler_.scale),
    }
