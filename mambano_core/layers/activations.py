"""Alias-free activation layers of MambaNO (Zheng et al., NeurIPS 2024).

``AliasFreeLReLU`` is CNO's activation operator (Raonic et al., NeurIPS 2023): upsample with a
windowed-sinc filter, leaky ReLU with a learnable per-channel bias, low-pass, downsample. With
``scale != 1`` it also changes the grid (MambaNO's down- and upsampling operators).
``AliasFreeSiLU`` is the SiLU gate of the Mamba-integration block, evaluated on a refined grid.
Both design their filters from the grid size of each call, so one module runs at any size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mambano_core.ops.alias_free import alias_free_silu, filtered_lrelu
from mambano_core.ops.filters import FilterConfig


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
