"""Relative L1 errors: the training loss and the reported metric of the CNO/MambaNO protocol."""

from __future__ import annotations

import torch
from torch import Tensor


def relative_l1_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Batch-pooled relative L1: mean|pred - y| / mean|y| over the whole batch (training loss)."""
    return (prediction - target).abs().mean() / target.abs().mean().clamp_min(1e-12)


def relative_l1_percent(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample 100 * mean|pred - y| / mean|y| over the grid (and channels); shape (batch,)."""
    dims = tuple(range(1, prediction.dim()))
    error = (prediction - target).abs().mean(dim=dims)
    scale = target.abs().mean(dim=dims).clamp_min(1e-12)
    return 100.0 * error / scale
