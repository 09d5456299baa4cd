"""UNet baseline (Ronneberger et al., 2015) as configured in the CNO benchmark protocol."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mambano_core.errors import SpecError
from mambano_core.models._args import positive_int as _positive_int

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
_UP_MODES = ("transposed", "bilinear")
_PAD_MODES = ("replicate", "reflect", "circular")



def _choice(name: str, value: object, options: tuple[str, ...] | list[str]) -> str:
    if value not in options:
        raise SpecError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return str(value)


class DoubleConv(nn.Sequential):
    """Two ``conv3x3 -> BatchNorm -> activation`` stages (convolutions without bias).

    Parameters
    ----------
    in_channels, out_channels
        Channels entering the first and leaving the second convolution.
    activation
        Key of the activation (``relu``, ``leaky_relu``, ``gelu``, ``silu``).
    """

    def __init__(self, in_channels: int, out_channels: int, activation: str) -> None:
        act = _ACTIVATIONS[activation]
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            act(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            act(),
        )


class _Up(nn.Module):
    """Upsample by two to ``out_channels``, concatenate the skip, then :class:`DoubleConv`."""

    def __init__(self, in_channels: int, out_channels: int, up: str, activation: str) -> None:
        super().__init__()
        self.up: nn.Module
        if up == "transposed":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
            )
        self.conv = DoubleConv(2 * out_channels, out_channels, activation)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Encoder-decoder UNet with concatenated skip connections.

    Follows Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical
    Image Segmentation" (MICCAI 2015) in the form used as a baseline by Raonic et al.,
    "Convolutional Neural Operators for robust and accurate learning of PDEs"
    (NeurIPS 2023); their reference code (``UNetOrg`` in camlab-ethz/
    ConvolutionalNeuralOperator) is the classic four-level UNet: widths
    ``c, 2c, 4c, 8c, 16c``, blocks of two bias-free ``conv3x3 + BatchNorm + ReLU``,
    2x2 max-pool down, 2x2 transposed-convolution up (halving the channels), and a
    1x1 output convolution, with ``c`` chosen from {8, 16, 32, 64} by model
    selection. The default here is that network with ``c = 32`` (7.76 M parameters
    for one input and one output channel).

    Inputs whose sides are not multiples of ``2**levels`` are padded (``pad_mode``)
    to the next multiple and the output is cropped back, so any resolution works
    (``reflect`` and ``circular`` need sides larger than the padding; in training
    mode, BatchNorm needs more than one value per channel at the bottleneck).

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output fields.
    channels
        Width ``c`` of the first level; level ``i`` has ``c * 2**i`` channels.
    levels
        Number of down-sampling steps (the bottleneck has ``c * 2**levels`` channels).
    up
        ``"transposed"`` (2x2 stride-2 transposed convolution, as the reference) or
        ``"bilinear"`` (bilinear up-sampling followed by a 1x1 convolution).
    activation
        ``"relu"`` (reference), ``"leaky_relu"``, ``"gelu"`` or ``"silu"``.
    pad_mode
        How inputs are padded to a multiple of ``2**levels``: ``"replicate"``,
        ``"reflect"`` or ``"circular"`` (for periodic fields).

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
        levels: int = 4,
        up: str = "transposed",
        activation: str = "relu",
        pad_mode: str = "replicate",
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        channels = _positive_int("channels", channels)
        self.levels = _positive_int("levels", levels)
        up = _choice("up", up, _UP_MODES)
        activation = _choice("activation", activation, list(_ACTIVATIONS))
        self.pad_mode = _choice("pad_mode", pad_mode, _PAD_MODES)

        widths = [channels * 2**i for i in range(self.levels + 1)]
        self.inc = DoubleConv(in_channels, widths[0], activation)
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(widths[i], widths[i + 1], activation))
            for i in range(self.levels)
        )
        self.up = nn.ModuleList(
            _Up(widths[i + 1], widths[i], up, activation) for i in reversed(range(self.levels))
        )
        self.outc = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        height, width = x.shape[-2:]
        multiple = 2**self.levels
        pad_h, pad_w = -height % multiple, -width % multiple
        if pad_h or pad_w:
            top, left = pad_h // 2, pad_w // 2
            x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode=self.pad_mode)

        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.up:
            y = up(y, skips.pop())
        y = self.outc(y)

        if pad_h or pad_w:
            y = y[..., top : top + height, left : left + width]
        return y
