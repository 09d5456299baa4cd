"""Cross-scan of a 2-D grid in one, two or four directions, and its adjoint merge (VMamba's SS2D).

MambaNO's Mamba integration (Zheng et al., NeurIPS 2024) scans the grid as four
sequences of length ``L = H * W``: row-major, column-major, and both reversed, so that every
point receives information from every other point. ``cross_merge`` maps the outputs back to
the grid and sums them (it is the adjoint of ``cross_scan``). The ablations scan the first one
(row-major) or two (row- and column-major) of these directions only.

Each is the other's gradient, so both are autograd Functions whose backward calls the other:
left to autograd, the merge's slice reads would each allocate and zero a gradient of the
full ``(B, K, D, L)`` size.
"""

from __future__ import annotations

import torch
from torch import Tensor

DIRECTIONS = ("row-major", "column-major", "row-major reversed", "column-major reversed")
#: Numbers of directions a scan may use: the first 1, 2 or all 4 of :data:`DIRECTIONS`.
DIRECTION_COUNTS = (1, 2, 4)


def folded_projection(x_proj: Tensor, dt_proj: Tensor, dstate: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per direction, the maps from the scanned input to the pre-bias step sizes, B and C.

    ``x_proj`` ``(K, r + 2N, d)`` (Mamba's, the step sizes' rank-``r`` rows first) and ``dt_proj``
    ``(K, d, r)``: the low-rank product ``dt_proj @ x_proj[:, :r]`` is formed first (``(K, d, d)``,
    tiny), so the large tensors see one plain product each. Returns ``(K, d, d)``, ``(K, N, d)``,
    ``(K, N, d)``.
    """
    w_dt, w_b, w_c = torch.split(x_proj, [dt_proj.shape[-1], dstate, dstate], dim=1)
    return torch.matmul(dt_proj, w_dt), w_b, w_c


def _scan(x: Tensor, directions: int) -> Tensor:
    batch, dim, height, width = x.shape
    out = x.new_empty((batch, directions, dim, height * width))
    out[:, 0].view(batch, dim, height, width).copy_(x)
    if directions > 1:
        out[:, 1].view(batch, dim, width, height).copy_(x.transpose(2, 3))
    if directions > 2:
        out[:, 2:] = out[:, :2].flip(-1)
    return out


def _merge(ys: Tensor, height: int, width: int) -> Tensor:
    batch, directions, dim, _ = ys.shape
    rows = ys[:, 0] if directions < 4 else ys[:, 0] + ys[:, 2].flip(-1)
    out = rows.view(batch, dim, height, width)
    if directions == 1:
        return out.clone()  # a new tensor, as with more directions (never a view of ``ys``)
    cols = ys[:, 1] if directions < 4 else ys[:, 1] + ys[:, 3].flip(-1)
    return out + cols.view(batch, dim, width, height).transpose(2, 3)


class _CrossScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, directions: int) -> Tensor:  # type: ignore[override]
        ctx.grid = tuple(x.shape[-2:])
        return _scan(x, directions)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return cross_merge(grad, *ctx.grid), None


class _CrossMerge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ys: Tensor, height: int, width: int) -> Tensor:  # type: ignore[override]
        ctx.directions = ys.shape[1]
        return _merge(ys, height, width)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return cross_scan(grad, ctx.directions), None, None


def cross_scan(x: Tensor, directions: int = 4) -> Tensor:
    """Unfold ``(B, D, H, W)`` into ``directions`` scan sequences ``(B, directions, D, H * W)``.

    Direction 0 visits ``(h, w)`` at position ``h * W + w``; direction 1 at ``w * H + h``;
    directions 2 and 3 are 0 and 1 reversed. ``directions`` (1, 2 or 4) keeps the first ones.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a (B, D, H, W) tensor, got shape {tuple(x.shape)}")
    if directions not in DIRECTION_COUNTS:
        raise ValueError(f"directions must be one of {DIRECTION_COUNTS}, got {directions!r}")
    return _CrossScan.apply(x, directions)


def cross_merge(ys: Tensor, height: int, width: int) -> Tensor:
    """Map the sequence outputs ``(B, K, D, L)`` (K of 1, 2, 4) back to the grid and sum: ``(B, D, H, W)``."""
    if ys.dim() != 4 or ys.shape[1] not in DIRECTION_COUNTS or ys.shape[-1] != height * width:
        raise ValueError(
            f"expected (B, K, D, {height * width}) sequences with K in {DIRECTION_COUNTS}, got {tuple(ys.shape)}"
        )
    return _CrossMerge.apply(ys, height, width)
