"""CNO baseline: the Convolutional Neural Operator (Raonic et al., NeurIPS 2023).

An operator U-Net on band-limited functions: 3x3 convolutions, alias-free (filtered) leaky
ReLUs that also down- and upsample, residual blocks on the skip connections and in the
bottleneck, and concatenated skips. The filters are designed for the grid of each call
(:mod:`mambano_core.ops.filters`), so one trained model runs at any resolution divisible by
``2**levels``; the authors' code fixes the grid at construction instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mambano_core.errors import SpecError
from mambano_core.layers.activations import AliasFreeLReLU
from mambano_core.layers.conv_integration import ConvIntegration
from mambano_core.models._args import check_grid_input
from mambano_core.models._args import positive_int as _positive_int
from mambano_core.ops.filters import FilterConfig


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{name} must be a number, got {value!r}")
    return float(value)


class CNOBlock(nn.Module):
    """CNO's (D), (U) and (I) block: ``AliasFreeLReLU_scale([N](conv3x3(x)))``.

    Parameters
    ----------
    in_channels, out_channels
        Widths before and after.
    scale
        Output grid size over input grid size: 0.5 (D), 2 (U) or 1 (I).
    config
        Filter hyperparameters of the alias-free activation.
    batch_norm
        Batch-normalise the convolution's output (the authors' blocks do, except inside the lift
        and projection). With it the convolution has no bias: batch norm would cancel it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale: float = 1.0,
        config: FilterConfig = FilterConfig(),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=not batch_norm)
        self.norm: nn.Module = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.act = AliasFreeLReLU(out_channels, scale, config)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C_in, H, W)`` to ``(B, C_out, H * scale, W * scale)``."""
        return self.act(self.norm(self.conv(x)))


class CNOLiftProject(nn.Sequential):
    """CNO's lift/project block: ``conv3x3(CNOBlock(x))`` through a latent width, no batch norm.

    Parameters
    ----------
    in_channels, out_channels
        Widths of input and output.
    latent_channels
        Width between the two convolutions (64 in the authors' code).
    config
        Filter hyperparameters of the alias-free activation.
    """

    def __init__(
        self, in_channels: int, out_channels: int, latent_channels: int, config: FilterConfig
    ) -> None:
        super().__init__(
            CNOBlock(in_channels, latent_channels, 1.0, config, batch_norm=False),
            nn.Conv2d(latent_channels, out_channels, kernel_size=3, padding=1),
        )


class CNO(nn.Module):
    """Convolutional Neural Operator (Raonic et al., "Convolutional Neural Operators for robust and accurate learning of PDEs", NeurIPS 2023).

    The original architecture of the authors' code (camlab-ethz/ConvolutionalNeuralOperator,
    ``CNO2d_original_version/CNOModule.py``), with ``c = channels`` (their
    ``channel_multiplier``) and ``L = levels`` (their ``N_layers``):

    - lift to ``c // 2`` channels (3x3 conv to ``lift_channels``, alias-free leaky ReLU, 3x3
      conv; no batch norm in lift and projection);
    - encoder: level ``l`` has width ``w_0 = c // 2`` and ``w_l = c * 2**(l - 1)`` for
      ``l >= 1``; a (D) block (3x3 conv, batch norm, alias-free leaky ReLU that halves the grid)
      maps level ``l`` to ``l + 1``;
    - skips: at each level ``l < L`` the encoder's input of that level goes through
      ``res_blocks`` residual blocks (``x + N(conv(act(N(conv(x)))))``) and a same-grid (I)
      block; the (D) blocks act on the features before these residual blocks;
    - bottleneck: ``neck_blocks`` residual blocks at width ``w_L``, then an (I) block;
    - decoder, from ``L`` up: concatenate the processed skip of the level (from the second
      step on, so the width doubles to ``2 * w_l``), an (I) block at that width if
      ``add_inv``, and a (U) block (conv, batch norm, alias-free leaky ReLU that doubles the
      grid) to ``w_(l-1)``;
    - projection of the concatenation with the level-0 skip (``2 * w_0`` channels) through
      ``lift_channels`` to ``out_channels``.

    Differences from the authors' code: convolutions directly followed by batch norm have no
    bias (batch norm cancels it: it would get no gradient), the authors' last, unused (I)
    block of the decoder is not built, and filters are designed for the grid of each call, so
    there is no ``in_size`` argument. Defaults are the authors' benchmark configuration
    (``N_layers=3``, ``channel_multiplier=32``, ``N_res=4``, ``N_res_neck=6``, filter size 6,
    leaky-ReLU upsampling 2, half-width multiplier 0.8, cutoff denominator 2.0001): 2,938,577
    parameters for one input and one output channel (the authors' code: 2,951,249). Narrower,
    ``channels=26`` has 1,945,949.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output functions.
    channels
        Channel multiplier ``c`` (at least 2): the lift has ``c // 2`` channels and level
        ``l >= 1`` has ``c * 2**(l - 1)``.
    levels
        Number of (D) and of (U) blocks; grid sides must be divisible by ``2**levels``.
    res_blocks
        Residual blocks on the skip of each level above the bottleneck (``N_res``; may be 0).
    neck_blocks
        Residual blocks in the bottleneck (``N_res_neck``; may be 0).
    lift_channels
        Latent width inside the lift and the projection (``latent_lift_proj_dim``).
    add_inv
        Apply an (I) block after each concatenation in the decoder (the authors' default).
    filter_size, lrelu_upsampling, half_width_mult, cutoff_den
        Alias-free filter hyperparameters (:class:`~mambano_core.ops.filters.FilterConfig`).

    Raises
    ------
    SpecError
        If an argument has an invalid type or value.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 32,
        levels: int = 3,
        res_blocks: int = 4,
        neck_blocks: int = 6,
        lift_channels: int = 64,
        add_inv: bool = True,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        half_width_mult: float = 0.8,
        cutoff_den: float = 2.0001,
    ) -> None:
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        channels = _positive_int("channels", channels, minimum=2)
        self.levels = _positive_int("levels", levels)
        res_blocks = _positive_int("res_blocks", res_blocks, minimum=0)
        neck_blocks = _positive_int("neck_blocks", neck_blocks, minimum=0)
        lift_channels = _positive_int("lift_channels", lift_channels)
        if not isinstance(add_inv, bool):
            raise SpecError(f"add_inv must be true or false, got {add_inv!r}")
        cfg = FilterConfig(
            _positive_int("filter_size", filter_size),
            _positive_int("lrelu_upsampling", lrelu_upsampling),
            _number("half_width_mult", half_width_mult),
            _number("cutoff_den", cutoff_den),
        )

        levels_ = self.levels
        widths = [channels // 2] + [channels * 2**i for i in range(levels_)]
        # Decoder step i runs from level L - i to L - i - 1; from the second step on its input
        # is the upsampled features concatenated with the processed skip (twice the width).
        dec_in = [widths[levels_]] + [2 * widths[levels_ - i] for i in range(1, levels_)]

        self.lift = CNOLiftProject(self.in_channels, widths[0], lift_channels, cfg)
        self.encoder = nn.ModuleList(
            CNOBlock(widths[l], widths[l + 1], 0.5, cfg) for l in range(levels_)
        )
        self.skip_res = nn.ModuleList(
            nn.Sequential(*(ConvIntegration(widths[l], cfg) for _ in range(res_blocks)))
            for l in range(levels_)
        )
        self.neck = nn.Sequential(*(ConvIntegration(widths[levels_], cfg) for _ in range(neck_blocks)))
        # The authors' "ED_expansion": an (I) block per level (the bottleneck's included).
        self.bridge = nn.ModuleList(CNOBlock(w, w, 1.0, cfg) for w in widths)
        self.inv = nn.ModuleList(
            CNOBlock(w, w, 1.0, cfg) for w in (dec_in if add_inv else [])
        )
        self.decoder = nn.ModuleList(
            CNOBlock(dec_in[i], widths[levels_ - i - 1], 2.0, cfg) for i in range(levels_)
        )
        self.project = CNOLiftProject(2 * widths[0], out_channels, lift_channels, cfg)

    @property
    def size_multiple(self) -> int:
        """Grid sides must be multiples of this (one halving per level)."""
        return 2**self.levels

    def _check_input(self, x: Tensor) -> None:
        why = f"CNO with {self.levels} levels halves the grid {self.levels} times"
        check_grid_input(x, self.in_channels, self.size_multiple, why)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``."""
        self._check_input(x)
        x = self.lift(x)
        skips: list[Tensor] = []
        for level in range(self.levels):
            skips.append(self.bridge[level](self.skip_res[level](x)))
            x = self.encoder[level](x)
        x = self.bridge[self.levels](self.neck(x))
        for step in range(self.levels):
            if step > 0:
                x = torch.cat((x, skips[self.levels - step]), dim=1)
            if self.inv:
                x = self.inv[step](x)
            x = self.decoder[step](x)
        return self.project(torch.cat((x, skips[0]), dim=1))
