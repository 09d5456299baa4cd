"""The one scoring path: per-sample relative L1 (%) with the benchmark's mask, and its statistics.

Validation, ``mambano eval``, ``mambano predict`` and the studies all score here, so that a number
means the same wherever it is printed: 100 * mean|pred - y| / mean|y| per sample, after the
benchmark's mask (the airfoil fixes the points inside the body), summarised by the median and the
interquartile range (linear interpolation between order statistics, ``torch.quantile``'s default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def relative_l1_percent(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample 100 * mean|pred - y| / mean|y| over the grid (and channels); shape (batch,)."""
    dims = tuple(range(1, prediction.dim()))
    error = (prediction - target).abs().mean(dim=dims)
    scale = target.abs().mean(dim=dims).clamp_min(1e-12)
    return 100.0 * error / scale


def sample_errors(prediction: Tensor, target: Tensor, inputs: Tensor, benchmark: str) -> Tensor:
    """Per-sample relative L1 (%) after ``benchmark``'s mask (``Benchmark.mask_for_error``).

    Parameters
    ----------
    prediction, target
        ``(batch, C, H, W)`` (or ``(batch, H, W)``), the same grid and units.
    inputs
        The inputs on that grid (the airfoil's mask is its input field).
    benchmark
        A registered benchmark name.
    """
    from mambano_core.data.benchmarks import get_benchmark_class

    masked = get_benchmark_class(benchmark).mask_for_error(prediction, target, inputs)
    return relative_l1_percent(*masked)


@dataclass
class SplitScore:
    """Statistics of the per-sample errors (%) on one split."""

    median: float
    q25: float
    q75: float
    mean: float
    count: int

    @classmethod
    def from_errors(cls, errors: Tensor | np.ndarray) -> "SplitScore":
        """Median, quartiles (linear interpolation) and mean of a non-empty 1-D set of errors."""
        values = torch.as_tensor(errors).double().flatten()
        if values.numel() == 0:
            raise ValueError("no errors to score")
        q = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=values.dtype))
        return cls(float(q[1]), float(q[0]), float(q[2]), float(values.mean()), int(values.numel()))
