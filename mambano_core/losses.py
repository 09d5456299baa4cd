"""Training losses (apart from evaluation's scoring, which reports per-sample errors)."""

from __future__ import annotations

from torch import Tensor


def relative_l1_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Batch-pooled relative L1, mean|pred - y| / mean|y| over the whole batch.

    The training loss of CNO (Raonic et al., NeurIPS 2023) and MambaNO (Zheng et al., NeurIPS 2024).
    """
    return (prediction - target).abs().mean() / target.abs().mean().clamp_min(1e-12)
