"""Turn a trained network into plain numbers a browser can evaluate (static/network.js): layers as JSON, float32
weights as base64; for a detector, its isolation forest, its nearest-neighbour term and how its scores add up."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from torch import nn

from hourglass.anomaly import AnomalyDetector
from hourglass.anomaly.iforest import average_path_length
from hourglass.anomaly.scores import weights as term_weights
from hourglass.errors import HourglassError
from hourglass.estimator import _Estimator
from hourglass.models.base import Hourglass
from hourglass.models.conv import ToImages, ToRows
from hourglass.models.ensemble import EnsembleMLP, _Batched
from hourglass.models.vae import VAE


def b64_float32(array: Any) -> str:
    """Little-endian float32 bytes as base64 (every browser's typed arrays are little-endian)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _b64(array: Any, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _weights(m: nn.Linear | nn.Conv2d | nn.ConvTranspose2d) -> tuple[np.ndarray, np.ndarray]:
    weight = m.weight.detach().cpu().numpy()
    channels = weight.shape[1] if isinstance(m, nn.ConvTranspose2d) else weight.shape[0]
    bias = m.bias.detach().cpu().numpy() if m.bias is not None else np.zeros(channels, np.float32)
    return weight, bias


def _linear(m: nn.Linear) -> dict[str, Any]:
    weight, bias = _weights(m)
    return {"type": "linear", "in": weight.shape[1], "out": weight.shape[0], "weight": b64_float32(weight),
            "bias": b64_float32(bias)}  # fmt: skip


def _conv(m: nn.Conv2d | nn.ConvTranspose2d) -> dict[str, Any]:
    weight, bias = _weights(m)  # (out, in, kh, kw) for Conv2d, (in, out, kh, kw) for ConvTranspose2d
    layer = {
        "type": "conv2d" if isinstance(m, nn.Conv2d) else "conv_transpose2d",
        "in": m.in_channels,
        "out": m.out_channels,
        "kernel": list(m.kernel_size),
        "stride": list(m.stride),
        "padding": list(m.padding),
        "weight": b64_float32(weight),
        "bias": b64_float32(bias),
    }
    if isinstance(m, nn.ConvTranspose2d):
        layer["output_padding"] = list(m.output_padding)
    return layer


def _gelu(m: nn.GELU) -> dict[str, Any]:
    return {"type": "gelu_tanh" if m.approximate == "tanh" else "gelu"}


# Module type -> its JSON form; static/network.js (STEPS, ACTIVATIONS) implements the same names.
EXPORTERS: dict[type[nn.Module], Callable[[Any], dict[str, Any]]] = {
    nn.Linear: _linear,
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv,
    ToImages: lambda m: {"type": "to_images", "channels": m.c, "height": m.h, "width": m.w},
    ToRows: lambda m: {"type": "to_rows"},
    nn.Flatten: lambda m: {"type": "flatten"},
    nn.Unflatten: lambda m: {"type": "unflatten", "shape": [int(s) for s in m.unflattened_size]},
    nn.Identity: lambda m: {"type": "identity"},
    nn.ReLU: lambda m: {"type": "relu"},
    nn.Tanh: lambda m: {"type": "tanh"},
    nn.Sigmoid: lambda m: {"type": "sigmoid"},
    nn.SiLU: lambda m: {"type": "silu"},
    nn.ELU: lambda m: {"type": "elu", "alpha": float(m.alpha)},
    nn.LeakyReLU: lambda m: {"type": "leaky_relu", "slope": float(m.negative_slope)},
    nn.GELU: _gelu,
}


def _plain_conv(m: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    return (
        m.groups == 1 and tuple(m.dilation) == (1, 1) and m.padding_mode == "zeros" and not isinstance(m.padding, str)
    )


# Settings network.js does not implement (the models here never use them): such a layer is refused, not misread.
PLAIN: dict[type[nn.Module], Callable[[Any], bool]] = {
    nn.Conv2d: _plain_conv,
    nn.ConvTranspose2d: _plain_conv,
    nn.Flatten: lambda m: m.start_dim == 1 and m.end_dim == -1,
    nn.Unflatten: lambda m: m.dim == 1,
}


def _layers(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _layers(child)]
    return [module]


def _any(m: nn.Module) -> bool:
    return True


def _unsupported(module: nn.Module) -> nn.Module | None:
    """The first layer of ``module`` that has no JavaScript twin, or None."""
    for m in _layers(module):
        if type(m) not in EXPORTERS or not PLAIN.get(type(m), _any)(m):
            return m
    return None


def _export_stack(module: nn.Module, part: str) -> list[dict[str, Any]]:
    """Each layer of ``module`` (the encoder or the decoder) in its JSON form."""
    odd = _unsupported(module)
    if odd is not None:
        raise HourglassError(
            f"the {part} layer {type(odd).__name__} cannot run in the browser; use `hourglass serve MODEL` instead"
        )
    return [EXPORTERS[type(m)](m) for m in _layers(module)]


def _ensemble(net: EnsembleMLP, part: str) -> dict[str, Any]:
    """The detector's ensemble as one layer: each member's own linear stack (``_Batched`` weights are (in, out)
    per member, a linear layer's transposed), fanned out from the row or each decoding its slice of the code."""
    layers = net.encoder if part == "encoder" else net.decoder
    last = nn.Identity() if part == "encoder" else net.out_act
    members = []
    for j in range(net.k):
        stack = []
        for i, layer in enumerate(cast(list[_Batched], list(layers))):
            weight, bias = layer.weight[j].detach().cpu().numpy().T, layer.bias[j, 0].detach().cpu().numpy()
            stack.append({"type": "linear", "in": weight.shape[1], "out": weight.shape[0],
                          "weight": b64_float32(weight), "bias": b64_float32(bias)})  # fmt: skip
            stack += _export_stack(net.hidden_act if i < len(layers) - 1 else last, part)
        members.append(stack)
    return {"type": "fan_out" if part == "encoder" else "split_mean", "members": members}


def _network(net: nn.Module, part: str) -> list[dict[str, Any]]:
    if isinstance(net, EnsembleMLP):
        return [_ensemble(net, part)]
    return _export_stack(getattr(net, part), part)


def _exportable(net: nn.Module, part: str) -> bool:
    if isinstance(net, EnsembleMLP):
        return _unsupported(nn.Sequential(net.hidden_act, net.out_act)) is None
    return _unsupported(getattr(net, part)) is None


# Networks whose code is the leading ``latent_dim`` outputs of their encoder: all of them (the plain
# ``Hourglass.encode``), or a VAE's means (its log-variances follow). The ensemble's code (its members' codes side
# by side) is its own ``fan_out`` layer's output. Another ``encode`` would need its own JavaScript.
LEADING_CODE = (Hourglass.encode, VAE.encode, EnsembleMLP.encode)


def browser_decodable(model: _Estimator) -> bool:
    """True when every decoder layer has a JavaScript twin (those of every registered model: MLP, conv, VAE and
    the detector's ensemble; a custom layer may have none, and then the page needs ``hourglass serve``).

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator.

    Returns
    -------
    bool

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> browser_decodable(model)
    True
    """
    return _exportable(model.model_, "decoder")


def browser_encodable(model: _Estimator) -> bool:
    """True when the page can encode by itself: every encoder layer has a JavaScript twin and the code is the
    encoder's leading outputs (a VAE's means) or the ensemble's members' codes.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator.

    Returns
    -------
    bool

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> browser_encodable(model)
    True
    """
    return type(model.model_).encode in LEADING_CODE and _exportable(model.model_, "encoder")


def export_decoder(model: _Estimator) -> dict[str, Any]:
    """The decoder as JSON-able data: layer list, float32 weights (base64), and the scaler to undo.

    JS evaluates ``layers`` in order on a code, then ``x * scale + offset`` gives rows in original units.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator whose decoder is ``browser_decodable``.

    Returns
    -------
    dict
        ``latent_dim``, ``n_features``, ``layers`` (each a dict with a ``type`` and its settings; linear and conv
        layers carry base64 ``weight`` and ``bias``), and the scaler's base64 ``offset`` and ``scale``.

    Raises
    ------
    HourglassError
        A decoder layer has no JavaScript twin (use ``hourglass serve``).

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> spec = export_decoder(model)
    >>> spec["latent_dim"], spec["n_features"], spec["layers"][0]["type"]
    (2, 16, 'linear')
    """
    return {
        "latent_dim": int(model.model_.latent_dim),
        "n_features": int(model.n_features_in_),
        "layers": _network(model.model_, "decoder"),
        "offset": b64_float32(model.scaler_.offset),
        "scale": b64_float32(model.scaler_.scale),
    }


def export_encoder(model: _Estimator) -> dict[str, Any]:
    """The encoder as JSON-able data: the input scaling (with its clip window), the layers, the code's width.

    JS scales a row as ``Scaler.transform`` does, ``clip((x - offset) / scale, low, high)``, evaluates ``layers``
    in order and keeps the first ``latent_dim`` outputs (a VAE's means; a plain encoder has no more).

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator that is ``browser_encodable``.

    Returns
    -------
    dict
        ``latent_dim``, ``n_features``, ``layers`` (as in ``export_decoder``), the scaler's base64 ``offset`` and
        ``scale``, and base64 ``low`` and ``high`` of its clip window (``None`` for a detector, which does not
        clip).

    Raises
    ------
    HourglassError
        An encoder layer has no JavaScript twin, or the model builds its code otherwise (use ``hourglass serve``).

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
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
        "layers": _network(net, "encoder"),
        "offset": b64_float32(scaler.offset),
        "scale": b64_float32(scaler.scale),
        "low": None if low is None else b64_float32(low),
        "high": None if high is None else b64_float32(high),
    }


def export_detector(model: _Estimator) -> dict[str, Any] | None:
    """What a detector adds to the reconstruction error to make its score: None for an autoencoder (its score is
    the error), else the robust z-scores' ``fusion`` (medians and spreads, error first, then the forest's and the
    distance's where present), each term's ``weight``, the isolation ``forest`` and the nearest-neighbour term
    ``knn`` (each None where the detector has none; ``fusion`` None when the error is the only term).

    ``knn``: ``k``, ``rows`` and ``columns`` of ``reference`` (the reference rows as given, base64 float32,
    row-major), and the min-max ``low`` and ``span`` (base64 float64).

    The forest's arrays are ``anomaly.iforest.Forest``'s, (trees, nodes) row-major: ``left``, ``right`` and
    ``feature`` as base64 int32, ``threshold`` and ``value`` as base64 float64, with ``trees``, ``nodes`` and
    ``norm`` (trees times ``c(max_samples)``, what the summed path lengths are divided by).

    Examples
    --------
    >>> # images: 32 random 4x4 images; detector: AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2).fit(images)
    >>> spec = export_detector(detector)
    >>> spec["forest"], spec["knn"]["k"], spec["weight"]  # the defaults: the error and the distance
    (None, 5, [1.0, 1.5])
    """
    if not isinstance(model, AnomalyDetector):
        return None
    if model.fusion_ is None:
        return {"fusion": None, "weight": None, "forest": None, "knn": None}
    spec: dict[str, Any] = {
        "fusion": {"median": model.fusion_[0].tolist(), "scale": model.fusion_[1].tolist()},
        "weight": term_weights(model.forest_, model.knn_, model.knn_weight).tolist(),
        "forest": None,
        "knn": None,
    }
    forest, knn = model.forest_, model.knn_
    if forest is not None:
        arrays = forest.arrays
        trees, nodes = arrays["left"].shape
        spec["forest"] = {
            "trees": int(trees),
            "nodes": int(nodes),
            "norm": trees * float(average_path_length(forest.max_samples)),
            **{name: _b64(arrays[name], "<i4") for name in ("left", "right", "feature")},
            **{name: _b64(arrays[name], "<f8") for name in ("threshold", "value")},
        }
    if knn is not None:
        reference = knn.arrays["reference"]
        spec["knn"] = {
            "k": knn.k,
            "rows": int(reference.shape[0]),
            "columns": int(reference.shape[1]),
            "reference": _b64(reference, "<f4"),
            **{name: _b64(knn.arrays[name], "<f8") for name in ("low", "span")},
        }
    return spec
