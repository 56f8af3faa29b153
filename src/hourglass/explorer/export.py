"""Turn a trained MLP encoder and decoder into plain numbers a browser can evaluate: float32 weights as base64."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder
from hourglass.models.base import Hourglass
from hourglass.models.vae import VAE


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


def _exportable(module: nn.Module) -> bool:
    return all(type(m) in EXPORTERS for m in _layers(module))


def _export_stack(module: nn.Module, part: str) -> list[dict[str, Any]]:
    """Each layer of ``module`` (the encoder or the decoder) in its JSON form."""
    layers = []
    for m in _layers(module):
        export = EXPORTERS.get(type(m))
        if export is None:
            raise HourglassError(
                f"the {part} layer {type(m).__name__} cannot run in the browser; use `hourglass serve MODEL` instead"
            )
        layers.append(export(m))
    return layers


# Networks whose code is the leading ``latent_dim`` outputs of their encoder: all of them (the plain
# ``Hourglass.encode``), or a VAE's means (its log-variances follow). Another ``encode`` (an ensemble's
# member codes side by side) would need its own JavaScript.
LEADING_CODE = (Hourglass.encode, VAE.encode)


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
    return _exportable(model.model_.decoder)


def browser_encodable(model: Autoencoder) -> bool:
    """True when the page can encode by itself: every encoder layer has a JavaScript twin (MLP and MLP-bodied
    VAE encoders) and the code is the encoder's leading outputs.

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
    >>> browser_encodable(model)
    True
    """
    return type(model.model_).encode in LEADING_CODE and _exportable(model.model_.encoder)


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
    return {
        "latent_dim": int(model.model_.latent_dim),
        "n_features": int(model.n_features_in_),
        "layers": _export_stack(model.model_.decoder, "decoder"),
        "offset": b64_float32(model.scaler_.offset),
        "scale": b64_float32(model.scaler_.scale),
    }


def export_encoder(model: Autoencoder) -> dict[str, Any]:
    """The encoder as JSON-able data: the input scaling (with its clip window), the layers, the code's width.

    JS scales a row as ``Scaler.transform`` does, ``clip((x - offset) / scale, low, high)``, evaluates ``layers``
    in order and keeps the first ``latent_dim`` outputs (a VAE's means; a plain encoder has no more).

    Parameters
    ----------
    model : Autoencoder
        A fitted estimator that is ``browser_encodable``.

    Returns
    -------
    dict
        ``latent_dim``, ``n_features``, ``layers`` (as in ``export_decoder``), the scaler's base64 ``offset`` and
        ``scale``, and base64 ``low`` and ``high`` of its clip window (``None`` for a model saved before inputs
        were clipped).

    Raises
    ------
    HourglassError
        An encoder layer has no JavaScript twin, or the model builds its code otherwise (use ``hourglass serve``).

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import Autoencoder
    >>> images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)
    >>> model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> spec = export_encoder(model)
    >>> spec["n_features"], spec["latent_dim"], [layer["type"] for layer in spec["layers"]]
    (16, 2, ['linear', 'gelu', 'linear', 'identity'])
    """
    net, scaler = model.model_, model.scaler_
    if type(net).encode not in LEADING_CODE:
        raise HourglassError(
            f"the {type(net).__name__} model's code cannot be computed in the browser; use `hourglass serve MODEL`"
        )
    low, high = scaler.clip_window() if scaler.low is not None else (None, None)
    return {
        "latent_dim": int(net.latent_dim),
        "n_features": int(model.n_features_in_),
        "layers": _export_stack(net.encoder, "encoder"),
        "offset": b64_float32(scaler.offset),
        "scale": b64_float32(scaler.scale),
        "low": None if low is None else b64_float32(low),
        "high": None if high is None else b64_float32(high),
    }
