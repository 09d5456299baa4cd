"""Mamba integration: MambaNO's global kernel integral (Zheng et al., NeurIPS 2024).

A VMamba block (VSSBlock): ``x + DropPath(SS2D(LayerNorm(x)))`` on channels-last tensors, and a
stage of such blocks that takes and returns channels-first tensors, so that the layout changes
once per stage.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mambano_core.layers.drop_path import DropPath
from mambano_core.layers.ss2d import SS2D
from mambano_core.ops.filters import FilterConfig


class MambaIntegration(nn.Module):
    """Residual SS2D block on channels-last ``(B, H, W, d)`` tensors.

    Parameters
    ----------
    dim
        Channels ``d``.
    drop_path
        Stochastic-depth probability of the SS2D branch.
    d_state, expand, config, scan_backend, directions, activation
        Passed to :class:`~mambano_core.layers.ss2d.SS2D`.
    """

    def __init__(
        self,
        dim: int,
        drop_path: float = 0.0,
        d_state: int = 16,
        expand: int = 2,
        config: FilterConfig = FilterConfig(),
        scan_backend: str = "auto",
        directions: int = 4,
        activation: str = "alias_free",
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ss2d = SS2D(dim, d_state=d_state, expand=expand, config=config, scan_backend=scan_backend,
                         directions=directions, activation=activation)  # fmt: skip
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, H, W, d)`` to the same shape."""
        return x + self.drop_path(self.ss2d(self.norm(x)))


class MambaStage(nn.Module):
    """A sequence of :class:`MambaIntegration` blocks on channels-first tensors.

    Parameters
    ----------
    dim
        Channels.
    drop_paths
        One stochastic-depth probability per block (its length is the depth).
    d_state, expand, config, scan_backend, directions, activation
        Passed to every block.
    """

    def __init__(
        self,
        dim: int,
        drop_paths: Sequence[float],
        d_state: int = 16,
        expand: int = 2,
        config: FilterConfig = FilterConfig(),
        scan_backend: str = "auto",
        directions: int = 4,
        activation: str = "alias_free",
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            MambaIntegration(dim, p, d_state, expand, config, scan_backend, directions, activation)
            for p in drop_paths
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, d, H, W)`` to the same shape."""
        if not self.blocks:
            return x
        x = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            x = block(x)
        return x.permute(0, 3, 1, 2).contiguous()
