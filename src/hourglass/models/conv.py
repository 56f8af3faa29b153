"""The convolutional hourglass for images: strided convolutions down to the code, transposed ones back.

The engine hands every model flat rows (n, features); the first layer folds them into images
(n, C, H, W) from the sample shape (H, W) or (H, W, C) - channels last, as the loaders give them -
and the last layer unfolds the decoded images back into rows in the same order.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from hourglass.errors import HourglassError
from hourglass.models import register
from hourglass.models.base import OUTPUT_ACTIVATIONS, Hourglass, make_activation
from hourglass.params import AUTOENCODER

# A 4x4 kernel at stride 2 overlaps evenly, so the transposed convolutions draw no checkerboard.
KERNEL, STRIDE, PAD = 4, 2, 1


def image_shape(sample_shape: Sequence[int]) -> tuple[int, int, int]:
    """(channels, height, width) of a sample shape (H, W) or channels-last (H, W, C)."""
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[2], shape[0], shape[1]
    raise HourglassError(f"a conv model needs images of shape (H, W) or (H, W, C); got samples of shape {shape}")


def suits_conv(sample_shape: Sequence[int]) -> bool:
    """The ``model="auto"`` rule: images over 16 pixels on both sides get conv layers; others an MLP.

    Both sides, so a long thin strip (1x300) - too thin for stride-2 layers - stays on the MLP.
    """
    return len(sample_shape) in (2, 3) and min(int(sample_shape[0]), int(sample_shape[1])) > 16


def feature_maps(sample_shape: Sequence[int], n_layers: int) -> list[tuple[int, int]]:
    """Height and width at the input and after each strided layer (each halves them, rounding down)."""
    _, h, w = image_shape(sample_shape)
    sizes = [(h, w)]
    for _ in range(n_layers):
        h, w = (h + 2 * PAD - KERNEL) // STRIDE + 1, (w + 2 * PAD - KERNEL) // STRIDE + 1
        if h < 1 or w < 1:
            raise HourglassError(
                f"{sizes[0][0]}x{sizes[0][1]} images are too small for {n_layers} stride-2 conv layers; use fewer"
            )
        sizes.append((h, w))
    return sizes


class ToImages(nn.Module):
    """Rows (n, H*W*C) in channels-last order -> images (n, C, H, W)."""

    def __init__(self, sample_shape: Sequence[int]) -> None:
        super().__init__()
        self.c, self.h, self.w = image_shape(sample_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, self.h, self.w, self.c).permute(0, 3, 1, 2)


class ToRows(nn.Module):
    """Images (n, C, H, W) -> rows (n, H*W*C) in channels-last order, the inverse of ``ToImages``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def conv_encoder(sample_shape: Sequence[int], hidden: Sequence[int], activation: str, out: int) -> nn.Sequential:
    """Rows -> ``out`` features: stride-2 convolutions with ``hidden`` channels, then one linear layer."""
    channels, _, _ = image_shape(sample_shape)
    h, w = feature_maps(sample_shape, len(hidden))[-1]
    layers: list[nn.Module] = [ToImages(sample_shape)]
    for c_in, c_out in itertools.pairwise((channels, *hidden)):
        layers += [nn.Conv2d(c_in, c_out, KERNEL, STRIDE, PAD), make_activation(activation)]
    # The code is linear (no activation) so the latent space is not clipped at zero.
    layers += [nn.Flatten(), nn.Linear(hidden[-1] * h * w, out)]
    return nn.Sequential(*layers)


def conv_decoder(
    sample_shape: Sequence[int], hidden: Sequence[int], activation: str, latent_dim: int, last: nn.Module
) -> nn.Sequential:
    """Codes -> rows: the encoder mirrored, transposed convolutions growing back to the input size."""
    channels, _, _ = image_shape(sample_shape)
    sizes = feature_maps(sample_shape, len(hidden))
    h, w = sizes[-1]
    widths = [*hidden[::-1], channels]
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, hidden[-1] * h * w),
        make_activation(activation),
        nn.Unflatten(1, (hidden[-1], h, w)),
    ]
    for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
        (h_in, w_in), (h_out, w_out) = sizes[-1 - i], sizes[-2 - i]
        # An odd size was rounded down on the way in; output_padding adds that row/column back.
        extra = (h_out - STRIDE * h_in, w_out - STRIDE * w_in)
        layers.append(nn.ConvTranspose2d(c_in, c_out, KERNEL, STRIDE, PAD, output_padding=extra))
        layers.append(make_activation(activation) if i < len(widths) - 2 else last)
    layers.append(ToRows())
    return nn.Sequential(*layers)


def start_at_mean(decoder: nn.Module, sample_shape: Sequence[int], mean_row: np.ndarray, output: str) -> None:
    """Set the last transposed convolution's bias to each channel's mean (through the inverse of a sigmoid).

    A sigmoid output starts at 0.5 everywhere. On dark images (MNIST's mean pixel is 0.13) Adam's first
    steps then push every decoder weight the same way at once and drive the sigmoid to 0, where its
    gradient vanishes: the model stays black, worse than predicting the mean. Started at the mean, there
    is no such push.
    """
    channels, _, _ = image_shape(sample_shape)
    means = np.asarray(mean_row, np.float64).reshape(-1, channels).mean(axis=0)  # channels-last rows
    if output == "sigmoid":
        p = np.clip(means, 0.01, 0.99)
        means = np.log(p / (1 - p))
    last = [m for m in decoder.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    assert last.bias is not None  # conv_decoder builds its layers with a bias
    with torch.no_grad():
        last.bias.copy_(torch.as_tensor(means, dtype=last.bias.dtype))


@register("conv")
class Conv(Hourglass):
    """``hidden`` are the channels of each stride-2 conv layer, from the input inward."""

    needs: ClassVar[tuple[str, ...]] = ("sample_shape",)

    def __init__(
        self,
        n_features: int,
        sample_shape: Sequence[int],
        latent_dim: int = AUTOENCODER.latent_dim,
        hidden: Sequence[int] = (32, 64),
        activation: str = AUTOENCODER.activation,
        output_activation: str = "identity",
    ) -> None:
        super().__init__()
        self.n_features, self.latent_dim = int(n_features), int(latent_dim)
        self.sample_shape = [int(s) for s in sample_shape]
        self.hidden, self.act, self.output_act = [int(h) for h in hidden], activation, output_activation
        check_image_features(self.n_features, self.sample_shape, self.hidden)
        self.encoder = conv_encoder(self.sample_shape, self.hidden, activation, self.latent_dim)
        last = make_activation(output_activation, OUTPUT_ACTIVATIONS)
        self.decoder = conv_decoder(self.sample_shape, self.hidden, activation, self.latent_dim, last)

    def start_at(self, mean_row: np.ndarray) -> None:
        start_at_mean(self.decoder, self.sample_shape, mean_row, self.output_act)


def check_image_features(n_features: int, sample_shape: Sequence[int], hidden: Sequence[int]) -> None:
    c, h, w = image_shape(sample_shape)
    if c * h * w != n_features:
        raise HourglassError(f"sample shape {tuple(sample_shape)} holds {c * h * w} values, not {n_features}")
    if not hidden:
        raise HourglassError("a conv model needs at least one conv layer (hidden channels such as 32,64)")
