"""Four-direction cross-scan of a 2-D grid and its adjoint merge (VMamba's SS2D, used by MambaNO).

MambaNO's Mamba integration (Zheng et al., NeurIPS 2024) scans the grid as four
sequences of length ``L = H * W``: row-major, column-major, and both reversed, so that every
point receives information from every other point. ``cross_merge`` maps the four outputs back to
the grid and sums them (it is the adjoint of ``cross_scan``).

Each is the other's gradient, so both are autograd Functions whose backward calls the other:
left to autograd, the merge's four slice reads would each allocate and zero a gradient of the
full ``(B, 4, D, L)`` size.
"""

from __future__ import annotations

import torch
from torch import Tensor

DIRECTIONS = ("row-major", "column-major", "row-major reversed", "column-major reversed")


def _scan(x: Tensor) -> Tensor:
    batch, dim, height, width = x.shape
    out = x.new_empty((batch, len(DIRECTIONS), dim, height * width))
    out[:, 0].view(batch, dim, height, width).copy_(x)
    out[:, 1].view(batch, dim, width, height).copy_(x.transpose(2, 3))
    out[:, 2:] = out[:, :2].flip(-1)
    return out


def _merge(ys: Tensor, height: int, width: int) -> Tensor:
    batch, _, dim, _ = ys.shape
    rows = ys[:, 0] + ys[:, 2].flip(-1)
    cols = ys[:, 1] + ys[:, 3].flip(-1)
    return rows.view(batch, dim, height, width) + cols.view(batch, dim, width, height).transpose(2, 3)


class _CrossScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.grid = tuple(x.shape[-2:])
        return _scan(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return cross_merge(grad, *ctx.grid)


class _CrossMerge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ys: Tensor, height: int, width: int) -> Tensor:  # type: ignore[override]
        return _merge(ys, height, width)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return cross_scan(grad), None, None


def cross_scan(x: Tensor) -> Tensor:
    """Unfold ``(B, D, H, W)`` into the four scan sequences ``(B, 4, D, H * W)``.

    Direction 0 visits ``(h, w)`` at position ``h * W + w``; direction 1 at ``w * H + h``;
    directions 2 and 3 are 0 and 1 reversed.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a (B, D, H, W) tensor, got shape {tuple(x.shape)}")
    return _CrossScan.apply(x)


def cross_merge(ys: Tensor, height: int, width: int) -> Tensor:
    """Map the four sequence outputs ``(B, 4, D, L)`` back to the grid and sum: ``(B, D, H, W)``."""
    if ys.dim() != 4 or ys.shape[1] != len(DIRECTIONS) or ys.shape[-1] != height * width:
        raise ValueError(
            f"expected (B, {len(DIRECTIONS)}, D, {height * width}) sequences, got {tuple(ys.shape)}"
        )
    return _CrossMerge.apply(ys, height, width)
