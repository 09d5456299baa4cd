"""Convolution integration: MambaNO's local kernel integral (Zheng et al., NeurIPS 2024).

The residual (R) block of CNO (Raonic et al., NeurIPS 2023):
``x + N(conv3x3(act(N(conv3x3(x)))))`` with batch normalisation ``N`` and the alias-free
activation ``act``. The 3x3 convolutions are the discrete counterpart of a local integral
operator on band-limited functions.
"""

from __future__ import annotations

from torch import Tensor, nn

from mambano_core.layers.activations import lrelu
from mambano_core.ops.filters import FilterConfig


class ConvIntegration(nn.Module):
    """Residual convolution-integration block.

    Parameters
    ----------
    channels
        Width (unchanged by the block).
    config
        Filter hyperparameters of the alias-free activation.
    activation
        ``"alias_free"`` or ``"pointwise"`` (see :mod:`mambano_core.layers.activations`).
    """

    def __init__(self, channels: int, config: FilterConfig = FilterConfig(), activation: str = "alias_free") -> None:
        super().__init__()
        # No conv biases: batch norm right after cancels them (they would get zero gradient).
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.act = lrelu(channels, 1.0, config, activation)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to the same shape."""
        return x + self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))
