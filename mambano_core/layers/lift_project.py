"""Lifting ``P`` and projection ``Q`` of MambaNO (Zheng et al., NeurIPS 2024).

Both are CNO's lift/project block (Raonic et al., NeurIPS 2023): a 3x3 convolution to a
latent width with batch norm and the alias-free activation, then a 3x3 convolution to the target
width. The lift ends with batch norm; the projection does not (its output is the prediction).
"""

from __future__ import annotations

from torch import Tensor, nn

from mambano_core.layers.activations import lrelu
from mambano_core.ops.filters import FilterConfig


class LiftProject(nn.Module):
    """``[N](conv3x3(act(N(conv3x3(x)))))``: pointwise-in-space change of width.

    Parameters
    ----------
    in_channels, out_channels
        Widths of input and output.
    latent_channels
        Width of the intermediate layer (64 in CNO and MambaNO).
    final_norm
        Batch-normalise the output (True for the lift, False for the projection).
    config
        Filter hyperparameters of the alias-free activation.
    activation
        ``"alias_free"`` or ``"pointwise"`` (see :mod:`mambano_core.layers.activations`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        latent_channels: int = 64,
        final_norm: bool = True,
        config: FilterConfig = FilterConfig(),
        activation: str = "alias_free",
    ) -> None:
        super().__init__()
        # A bias right before batch norm is cancelled by it (zero gradient): left out.
        self.conv1 = nn.Conv2d(in_channels, latent_channels, kernel_size=3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(latent_channels)
        self.act = lrelu(latent_channels, 1.0, config, activation)
        self.conv2 = nn.Conv2d(
            latent_channels, out_channels, kernel_size=3, padding=1, bias=not final_norm
        )
        self.norm2: nn.Module = nn.BatchNorm2d(out_channels) if final_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, H, W)``."""
        return self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))
