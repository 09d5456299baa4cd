"""Down- and upsampling operators of MambaNO (Zheng et al., NeurIPS 2024).

As CNO's (D) and (U) blocks (Raonic et al., NeurIPS 2023): a 1x1 convolution changes the
width, then the alias-free activation resamples the band-limited function to the new grid
(64 -> 32 runs the nonlinearity at 128 points: up 2x, down 4x).
"""

from __future__ import annotations

from torch import Tensor, nn

from mambano_core.layers.activations import AliasFreeLReLU
from mambano_core.ops.filters import FilterConfig


class ResampleBlock(nn.Module):
    """``AliasFreeLReLU_scale(conv1x1(x))``: change channels and grid size.

    Parameters
    ----------
    in_channels, out_channels
        Widths before and after.
    scale
        Grid size ratio (0.5: downsampling block, 2: upsampling block).
    config
        Filter hyperparameters.
    """

    def __init__(
        self, in_channels: int, out_channels: int, scale: float, config: FilterConfig = FilterConfig()
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.act = AliasFreeLReLU(out_channels, scale, config)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, H * scale, W * scale)``."""
        return self.act(self.conv(x))
