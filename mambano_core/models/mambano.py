"""MambaNO: the alias-free Mamba neural operator (Zheng et al., NeurIPS 2024)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mambano_core.layers.conv_integration import ConvIntegration
from mambano_core.layers.lift_project import LiftProject
from mambano_core.layers.mamba_integration import MambaStage
from mambano_core.layers.resample_block import ResampleBlock
from mambano_core.models._args import check_grid_input
from mambano_core.models.registry import register_model
from mambano_core.ops.filters import FilterConfig


def _drop_path_rates(depths: Sequence[int], rate: float, decoder: bool = False) -> list[list[float]]:
    """Per-level stochastic-depth rates, linear from 0 to ``rate`` over all blocks (VMamba's rule).

    The encoder's rates rise with depth in execution order (level 0 first); the decoder runs
    from the bottom level up and gets the same rates in reverse, so its first block has ``rate``.
    """
    total = sum(depths)
    flat = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    order = list(range(len(depths)))
    if decoder:
        flat, order = flat[::-1], order[::-1]
    out: list[list[float]] = [[] for _ in depths]
    start = 0
    for level in order:
        out[level] = flat[start : start + depths[level]]
        start += depths[level]
    return out


@register_model("mambano")
class MambaNO(nn.Module):
    """Alias-free Mamba neural operator (Zheng, Li, Xu, Zhu, Lin, Zhang, NeurIPS 2024).

    "Alias-Free Mamba Neural Operator", OpenReview gUEBXGV8JM. As in the paper's architecture
    figure, a U-Net of operators on band-limited functions: lift ``P``, an encoder whose levels
    apply convolution integration (local, CNO residual blocks) then Mamba integration (global, a
    four-direction selective scan, O(N) in the number of grid points), alias-free down- and
    upsampling, a decoder of Mamba-integration blocks with additive skips, and projection ``Q``.
    All activations are alias-free, and every filter is designed for the grid of the call, so a
    trained model runs natively at any resolution divisible by ``2**(levels - 1)``.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output functions.
    channels
        Width ``C`` of level 0; level ``l`` has ``C * 2**l`` channels (authors: 16 or 32).
    depths
        Mamba-integration blocks per level, in the encoder and again in the decoder; its length
        is the number of levels (4 in the paper).
    d_state
        State size of the selective scan.
    expand
        Inner width of SS2D over its input width.
    lift_channels
        Latent width of the lift and projection.
    drop_path
        Largest stochastic-depth rate (linear in depth, encoder increasing, decoder mirrored).
    scan_backend
        Backend of :func:`mambano_core.ops.scan.selective_scan_fn`.
    filter_size, lrelu_upsampling, half_width_mult, cutoff_den
        Alias-free filter hyperparameters (CNO's defaults).
    conv_depth
        Convolution-integration blocks per encoder level.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 16,
        depths: Sequence[int] = (2, 2, 2, 2),
        d_state: int = 16,
        expand: int = 2,
        lift_channels: int = 64,
        drop_path: float = 0.0,
        scan_backend: str = "auto",
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        half_width_mult: float = 0.8,
        cutoff_den: float = 2.0001,
        conv_depth: int = 2,
    ) -> None:
        super().__init__()
        depths = [int(d) for d in depths]
        if not depths or min(depths) < 0 or conv_depth < 0:
            raise ValueError(f"depths must be a non-empty list of non-negative ints, got {depths}")
        if min(in_channels, out_channels, channels, lift_channels, d_state, expand) < 1:
            raise ValueError("channel counts, d_state and expand must be positive")
        cfg = FilterConfig(filter_size, lrelu_upsampling, half_width_mult, cutoff_den)
        self.levels = len(depths)
        self.in_channels, self.out_channels = in_channels, out_channels
        widths = [channels * 2**i for i in range(self.levels)]
        enc_rates = _drop_path_rates(depths, drop_path)
        dec_rates = _drop_path_rates(depths, drop_path, decoder=True)

        def stage(width: int, rates: list[float]) -> MambaStage:
            return MambaStage(width, rates, d_state, expand, cfg, scan_backend)

        self.lift = LiftProject(in_channels, channels, lift_channels, final_norm=True, config=cfg)
        self.conv_blocks = nn.ModuleList(
            nn.Sequential(*(ConvIntegration(w, cfg) for _ in range(conv_depth))) for w in widths
        )
        self.encoder = nn.ModuleList(stage(w, r) for w, r in zip(widths, enc_rates))
        pairs = list(zip(widths[:-1], widths[1:]))  # (fine, coarse) widths of adjacent levels
        self.down = nn.ModuleList(ResampleBlock(fine, coarse, 0.5, cfg) for fine, coarse in pairs)
        self.up = nn.ModuleList(ResampleBlock(coarse, fine, 2.0, cfg) for fine, coarse in pairs)
        self.decoder = nn.ModuleList(stage(w, r) for w, r in zip(widths, dec_rates))
        self.project = LiftProject(channels, out_channels, lift_channels, final_norm=False, config=cfg)

    @property
    def size_multiple(self) -> int:
        """Grid sizes must be multiples of this (one halving per level below the top)."""
        return 2 ** (self.levels - 1)

    def _check_input(self, x: Tensor) -> None:
        why = f"MambaNO with {self.levels} levels halves the grid {self.levels - 1} times"
        check_grid_input(x, self.in_channels, self.size_multiple, why)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``."""
        self._check_input(x)
        x = self.lift(x)
        skips: list[Tensor] = []
        for level in range(self.levels):
            x = self.conv_blocks[level](x)
            skips.append(x)
            x = self.encoder[level](x)
            if level < self.levels - 1:
                x = self.down[level](x)
        x = self.decoder[-1](x)
        for level in reversed(range(self.levels - 1)):
            x = self.decoder[level](self.up[level](x + skips[level + 1]))
        return self.project(x + skips[0])

