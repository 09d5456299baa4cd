"""Batch-norm statistics that match the weights: recalibration before validation, and the start
of an output batch norm from the training targets.

Recalibration is "precise BN" (Wu and Johnson, "Rethinking 'Batch' in BatchNorm", 2021): the
running statistics of every batch norm are recomputed for the current weights, as the equal-weight
average of the per-batch means and variances over fixed batches of the training set, with the
rest of the network in evaluation mode (no DropPath, no dropout). It draws no random numbers and
changes no weight, so training itself is the same with it or without it; only what validation,
best-model selection, the checkpoints and everything evaluated from them see changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """Every batch-norm layer of ``model`` that tracks running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@dataclass(frozen=True)
class Recalibration:
    """What one recalibration pass did."""

    layers: int
    batches: int
    samples: int
    seconds: float


@contextmanager
def _statistics_mode(model: nn.Module, layers: list[_BatchNorm]) -> Iterator[None]:
    """Evaluation mode except the batch norms, which accumulate a plain average (momentum None)."""
    was_training = {module: module.training for module in model.modules()}
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # running = average over the batches seen since the reset
        layer.train()
    try:
        yield
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        for module, training in was_training.items():
            module.train(training)


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, inputs: Iterable[Tensor], device: torch.device | str = "cpu"
) -> Recalibration:
    """Recompute the running statistics of ``model``'s batch norms over the batches ``inputs``.

    Parameters
    ----------
    model
        The network; its training flags and batch-norm momenta are restored afterwards.
    inputs
        Input batches, in a fixed order (each batch weighs the same in the average).
    device
        Where the batches are moved.

    Returns
    -------
    Recalibration
        Layer, batch and sample counts and the wall time; zero batches (and nothing touched)
        when the model has no batch norm.
    """
    started = time.perf_counter()
    layers = batchnorm_layers(model)
    if not layers:
        return Recalibration(0, 0, 0, 0.0)
    batches = samples = 0
    with _statistics_mode(model, layers):
        for x in inputs:
            model(x.to(device))
            batches, samples = batches + 1, samples + x.shape[0]
    if batches == 0:
        raise ValueError("batch-norm recalibration needs at least one batch")
    return Recalibration(len(layers), batches, samples, time.perf_counter() - started)


@torch.no_grad()
def start_output_norm(norm: nn.BatchNorm2d, targets: Iterable[Tensor]) -> tuple[Tensor, Tensor]:
    """Set an output batch norm's affine to the targets' per-channel mean and standard deviation.

    In training mode such a layer makes the prediction's batch mean and standard deviation equal
    its bias and weight; started at (0, 1) against targets normalised to [0, 1], a short run spends
    its steps moving them there (AdamW moves them ~lr per step). Starting them at the training
    targets' statistics keeps the network and only changes where the optimisation begins.

    Returns
    -------
    mean, std
        The per-channel statistics written into ``norm.bias`` and ``norm.weight``.
    """
    if norm.weight is None or norm.bias is None:
        raise ValueError("the output batch norm has no affine parameters to start")
    total = total_sq = None
    count = 0
    for y in targets:
        y = y.to(torch.float64)
        dims = [0, *range(2, y.dim())]
        s, sq = y.sum(dim=dims), (y * y).sum(dim=dims)
        total = s if total is None else total + s
        total_sq = sq if total_sq is None else total_sq + sq
        count += y.numel() // y.shape[1]
    if total is None or total_sq is None or count == 0:
        raise ValueError("starting the output batch norm needs at least one target")
    if total.numel() != norm.num_features:
        raise ValueError(f"the targets have {total.numel()} channels, the output batch norm {norm.num_features}")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0.0).sqrt()
    norm.bias.copy_(mean.to(norm.bias))
    norm.weight.copy_(std.clamp_min(1e-6).to(norm.weight))
    return mean.float(), std.float()
