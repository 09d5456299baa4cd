"""The airfoil protocol reaches training and evaluation: points inside the body never count."""

from __future__ import annotations

import torch

from mambano_core.data.benchmarks import get_benchmark_class
from mambano_core.evaluation.metrics import relative_l1_percent


def test_errors_ignore_the_points_inside_the_airfoil() -> None:
    inputs = torch.zeros(1, 1, 8, 8)
    inputs[..., 2:4, 2:6] = 1.0
    target = torch.rand(1, 1, 8, 8) + 0.5
    prediction = target.clone()
    prediction[..., 2:4, 2:6] = 100.0  # wrong only inside the body
    mask = get_benchmark_class("airfoil").mask_for_error
    assert float(relative_l1_percent(*mask(prediction, target, inputs))) == 0.0
    assert float(relative_l1_percent(prediction, target)) > 10.0
    assert get_benchmark_class("poisson").mask_for_error(prediction, target, inputs)[0] is prediction
