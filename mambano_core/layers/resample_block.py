"""Down- and upsampling operators of MambaNO (Zheng et al., NeurIPS 2024).

As CNO's (D) and (U) blocks (Raonic et al., NeurIPS 2023): a 1x1 convolution changes the
width, then the alias-free activation resamples the band-limited function to the new grid
(64 -> 32 runs the nonlinearity at 128 points: up 2x, down 4x). With ``activation="pointwise"``
the grid changes by 2x2 average pooling or nearest-neighbour copies instead (the ablation).
"""

from __future__ import annotations

from torch import Tensor, nn

from mambano_core.layers.activations import lrelu
from mambano_core.ops.filters import FilterConfig


class ResampleBlock(nn.Module):
    """``act_scale(conv1x1(x))``: change channels and grid size.

    Parameters
    ----------
    in_channels, out_channels
        Widths before and after.
    scale
        Grid size ratio (0.5: downsampling block, 2: upsampling block).
    config
        Filter hyperparameters.
    activation
        ``"alias_free"`` or ``"pointwise"`` (see :mod:`mambano_core.layers.activations`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale: float,
        config: FilterConfig = FilterConfig(),
        activation: str = "alias_free",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.act = lrelu(out_channels, scale, config, activation)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, H * scale, W * scale)``."""
        return self.act(self.conv(x))
