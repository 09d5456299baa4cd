"""Convolutional ResNet baseline (He et al., 2016) at constant resolution."""

from __future__ import annotations

import torch
from torch import nn

from mambano_core.errors import SpecError
from mambano_core.models._args import positive_int as _positive_int

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
_PADDING_MODES = ("zeros", "replicate", "reflect", "circular")



def _choice(name: str, value: object, options: tuple[str, ...] | list[str]) -> str:
    if value not in options:
        raise SpecError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return str(value)


def _conv(in_channels: int, out_channels: int, kernel_size: int, padding_mode: str) -> nn.Conv2d:
    """Bias-free (it is followed by BatchNorm) size-preserving convolution."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        padding=kernel_size // 2,
        padding_mode=padding_mode,
        bias=False,
    )


class ResidualBlock(nn.Module):
    """Basic residual block ``act(x + BN(conv(act(BN(conv(x))))))``.

    Parameters
    ----------
    channels
        Channels of the input and output (the block keeps width and resolution).
    kernel_size
        Odd convolution kernel size.
    activation
        Key of the activation (``relu``, ``leaky_relu``, ``gelu``, ``silu``).
    padding_mode
        Padding of the convolutions (``zeros``, ``replicate``, ``reflect``, ``circular``).
    """

    def __init__(self, channels: int, kernel_size: int, activation: str, padding_mode: str) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            _conv(channels, channels, kernel_size, padding_mode),
            nn.BatchNorm2d(channels),
            _ACTIVATIONS[activation](),
            _conv(channels, channels, kernel_size, padding_mode),
            nn.BatchNorm2d(channels),
        )
        self.act = _ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.branch(x))


class ResNet(nn.Module):
    """Fully convolutional ResNet: lifting convolution, residual blocks, projection.

    Follows He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition"
    (CVPR 2016): basic blocks of two ``conv + BatchNorm`` with an identity shortcut,
    kept at the input resolution throughout (no striding or pooling), as the ResNet
    baseline of Raonic et al., "Convolutional Neural Operators for robust and accurate
    learning of PDEs" (NeurIPS 2023), whose later reference code builds it from
    ``channels``, ``num_blocks``, kernel size and batch normalisation. The lift is a
    ``conv + BatchNorm + activation`` stem; the projection is a 1x1 convolution.
    The default (32 channels, 8 blocks, 3x3 kernels) has 149 k parameters for one
    input and one output channel.

    Note: the NeurIPS-2023 version of that repository's ``Resnet`` is instead a
    fully connected residual MLP on flattened fields, tied to one resolution; this
    class is the convolutional variant.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output fields.
    channels
        Width of the hidden feature maps.
    blocks
        Number of residual blocks.
    kernel_size
        Odd kernel size of the lift and block convolutions.
    activation
        ``"relu"`` (default), ``"leaky_relu"``, ``"gelu"`` or ``"silu"``.
    padding_mode
        Convolution padding: ``"zeros"`` (default), ``"replicate"``, ``"reflect"``
        or ``"circular"`` (for periodic fields).

    Raises
    ------
    SpecError
        If an argument has an invalid value.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 32,
        blocks: int = 8,
        kernel_size: int = 3,
        activation: str = "relu",
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        channels = _positive_int("channels", channels)
        blocks = _positive_int("blocks", blocks)
        kernel_size = _positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise SpecError(f"kernel_size must be odd, got {kernel_size}")
        activation = _choice("activation", activation, list(_ACTIVATIONS))
        padding_mode = _choice("padding_mode", padding_mode, _PADDING_MODES)

        self.lift = nn.Sequential(
            _conv(in_channels, channels, kernel_size, padding_mode),
            nn.BatchNorm2d(channels),
            _ACTIVATIONS[activation](),
        )
        self.blocks = nn.Sequential(
            *(ResidualBlock(channels, kernel_size, activation, padding_mode) for _ in range(blocks))
        )
        self.project = nn.Conv2d(channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        return self.project(self.blocks(self.lift(x)))
