"""Checks specific to the convolutional baselines (UNet, ResNet); the contract every model meets
(shapes, training, gradients, checkpoints, grids, seeding) is in test_model_contract.py."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mambano_core.errors import SpecError
from mambano_core.models.registry import build_model, count_parameters
from model_checks import _seed_and_one_thread  # noqa: F401 (autouse fixture)


@pytest.mark.parametrize("pad_mode", ["replicate", "reflect", "circular"])
@pytest.mark.parametrize("shape", [(33, 33), (50, 40), (96, 64), (20, 128)])
def test_unet_pads_sizes_not_divisible(shape: tuple[int, int], pad_mode: str) -> None:
    model = build_model("unet", {"channels": 4, "levels": 4, "pad_mode": pad_mode}).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, *shape))
    assert out.shape == (1, 1, *shape)


def test_default_parameter_counts() -> None:
    assert count_parameters(build_model("unet", {})) == 7_762_465
    assert count_parameters(build_model("resnet", {})) == 148_865


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("unet", {"depth": 3}),
        ("resnet", {"levels": 2}),
        ("unet", {"up": "nearest"}),
        ("unet", {"levels": 0}),
        ("unet", {"channels": 16.0}),
        ("resnet", {"kernel_size": 4}),
        ("resnet", {"activation": "tanh"}),
        ("resnet", {"padding_mode": "wrap"}),
    ],
)
def test_invalid_arguments_raise_spec_error(name: str, args: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        build_model(name, args)
