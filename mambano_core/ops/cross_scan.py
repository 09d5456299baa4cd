"""Four-direction cross-scan of a 2-D grid and its adjoint merge (VMamba's SS2D, used by MambaNO).

MambaNO's Mamba integration (Zheng et al., NeurIPS 2024) scans the grid as four
sequences of length ``L = H * W``: row-major, column-major, and both reversed, so that every
point receives information from every other point. ``cross_merge`` maps the four outputs back to
the grid and sums them (it is the adjoint of ``cross_scan``).
"""

from __future__ import annotations

import torch
from torch import Tensor

DIRECTIONS = ("row-major", "column-major", "row-major reversed", "column-major reversed")


def cross_scan(x: Tensor) -> Tensor:
    """Unfold ``(B, D, H, W)`` into the four scan sequences ``(B, 4, D, H * W)``.

    Direction 0 visits ``(h, w)`` at position ``h * W + w``; direction 1 at ``w * H + h``;
    directions 2 and 3 are 0 and 1 reversed.
    """
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    return torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], dim=1)


def cross_merge(ys: Tensor, height: int, width: int) -> Tensor:
    """Map the four sequence outputs ``(B, 4, D, L)`` back to the grid and sum: ``(B, D, H, W)``."""
    batch, _, dim, _ = ys.shape
    rows = ys[:, 0] + ys[:, 2].flip(-1)
    cols = ys[:, 1] + ys[:, 3].flip(-1)
    return rows.view(batch, dim, height, width) + cols.view(batch, dim, width, height).transpose(2, 3)
