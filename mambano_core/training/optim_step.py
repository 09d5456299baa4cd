"""One optimiser step with a training spec's optional stabilisers: gradient-norm clipping and a
linear learning-rate warm-up (the two that Cao's Galerkin Transformer protocol relies on:
``clip_grad_norm_(.., 0.99)`` and a one-cycle warm-up).

The warm-up scales the learning rate of this one step only and restores the scheduled value
afterwards, so the epoch scheduler (StepLR), the logged rate and the checkpointed optimiser state
are those of the plain protocol, and a run resumed mid warm-up continues it exactly (the factor
depends only on the global step).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Learning-rate factor of global step ``step`` (0-based): ``(step + 1) / warmup_steps``, then 1."""
    if step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    parameters: Iterable[torch.nn.Parameter],
    step: int,
    warmup_steps: int = 0,
    grad_clip: float | None = None,
) -> None:
    """Clip the gradients' total 2-norm to ``grad_clip`` (if given), then step at the warmed-up rate.

    Parameters
    ----------
    optimizer
        The optimiser, gradients already computed.
    parameters
        The parameters whose gradients are clipped together.
    step
        Global step index (0-based), for the warm-up.
    warmup_steps
        Length of the linear warm-up in steps (0: none).
    grad_clip
        Largest total gradient norm (None: no clipping).
    """
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    factor = warmup_factor(step, warmup_steps)
    if factor == 1.0:
        optimizer.step()
        return
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, scheduled):
        group["lr"] = lr * factor
    try:
        optimizer.step()
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled):
            group["lr"] = lr
