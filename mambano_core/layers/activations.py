"""Alias-free activation layers of MambaNO (Zheng et al., NeurIPS 2024) and their pointwise ablation.

``AliasFreeLReLU`` is CNO's activation operator (Raonic et al., NeurIPS 2023): upsample with a
windowed-sinc filter, leaky ReLU with a learnable per-channel bias, low-pass, downsample. With
``scale != 1`` it also changes the grid (MambaNO's down- and upsampling operators).
``AliasFreeSiLU`` is the SiLU gate of the Mamba-integration block, evaluated on a refined grid.
Both design their filters from the grid size of each call, so one module runs at any size.

``activation="pointwise"`` (:func:`lrelu`, :func:`silu_gate`) builds the network that is not
alias-free: the same leaky ReLU applied sample by sample (:class:`PointwiseLReLU`) and a plain
SiLU gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mambano_core.ops.alias_free import LRELU_GAIN, LRELU_SLOPE, alias_free_silu, filtered_lrelu
from mambano_core.ops.filters import FilterConfig

#: Values of the ``activation`` arguments: CNO's alias-free operators, or their pointwise counterparts.
ACTIVATIONS = ("alias_free", "pointwise")


class AliasFreeLReLU(nn.Module):
    """Filtered leaky ReLU (slope 0.2, gain sqrt 2) with a learnable per-channel bias.

    Parameters
    ----------
    channels
        Number of channels (size of the bias).
    scale
        Output grid size over input grid size (1, 0.5 or 2 in MambaNO).
    config
        Filter hyperparameters (CNO defaults).
    """

    def __init__(self, channels: int, scale: float = 1.0, config: FilterConfig = FilterConfig()) -> None:
        super().__init__()
        self.scale = float(scale)
        self.config = config
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to ``(B, C, H * scale, W * scale)``."""
        return filtered_lrelu(x, self.bias, self.scale, self.config)

    def extra_repr(self) -> str:
        return f"channels={self.bias.numel()}, scale={self.scale:g}"


class PointwiseLReLU(nn.Module):
    """:class:`AliasFreeLReLU`'s leaky ReLU and bias applied pointwise, then a plain resampling.

    ``resample(leaky_relu(x + bias, 0.2) * sqrt 2)``: no filter, so the nonlinearity's new high
    frequencies alias. The grid changes by the standard, non-band-limited operators: averages
    over ``k x k`` cells for ``scale = 1 / k`` (average pooling) and nearest-neighbour copies
    for ``scale = k``. The only parameter is the bias, as in the alias-free layer.

    Parameters
    ----------
    channels
        Number of channels (size of the bias).
    scale
        Output grid size over input grid size: 1, an integer, or the inverse of one.
    """

    def __init__(self, channels: int, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)
        factor = self.scale if self.scale >= 1 else 1.0 / self.scale
        if abs(factor - round(factor)) > 1e-9:
            raise ValueError(f"pointwise resampling needs scale = k or 1/k for an integer k, got scale {scale}")
        self.factor = round(factor)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to ``(B, C, H * scale, W * scale)``."""
        y = F.leaky_relu(x + self.bias.to(x.dtype)[None, :, None, None], LRELU_SLOPE) * LRELU_GAIN
        if self.factor == 1:
            return y
        if self.scale > 1:
            return F.interpolate(y, scale_factor=self.factor, mode="nearest")
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise ValueError(f"grid {tuple(x.shape[-2:])} times scale {self.scale:g} is not a grid of integers")
        return F.avg_pool2d(y, self.factor)

    def extra_repr(self) -> str:
        return f"channels={self.bias.numel()}, scale={self.scale:g}"


class AliasFreeSiLU(nn.Module):
    """SiLU on a 2x refined grid (bicubic antialiased resampling there and back).

    Parameters
    ----------
    oversampling
        Refinement factor of the grid on which SiLU is evaluated.
    """

    def __init__(self, oversampling: int = 2) -> None:
        super().__init__()
        self.oversampling = int(oversampling)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to the same shape."""
        return alias_free_silu(x, self.oversampling)

    def extra_repr(self) -> str:
        return f"oversampling={self.oversampling}"


def check_activation(activation: str) -> str:
    """``activation`` if it is one of :data:`ACTIVATIONS`, else ValueError."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def lrelu(
    channels: int, scale: float = 1.0, config: FilterConfig = FilterConfig(), activation: str = "alias_free"
) -> AliasFreeLReLU | PointwiseLReLU:
    """The leaky-ReLU activation (with grid change ``scale``) of kind ``activation``."""
    if check_activation(activation) == "pointwise":
        return PointwiseLReLU(channels, scale)
    return AliasFreeLReLU(channels, scale, config)


def silu_gate(activation: str = "alias_free") -> nn.Module:
    """The SiLU gate of SS2D of kind ``activation``: :class:`AliasFreeSiLU` or ``nn.SiLU``."""
    return nn.SiLU() if check_activation(activation) == "pointwise" else AliasFreeSiLU()
