"""Checks of the convolutional baselines (UNet, ResNet) and their registry round trip."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mambano_core.errors import SpecError
from mambano_core.models.registry import build_model, count_parameters
from model_checks import _seed_and_one_thread  # noqa: F401 (autouse fixture)

# Small configurations keep the training and gradient checks fast on a CPU.
SMALL: dict[str, dict[str, Any]] = {
    "unet": {"in_channels": 2, "out_channels": 3, "channels": 8, "levels": 3},
    "unet_bilinear": {
        "in_channels": 2,
        "out_channels": 3,
        "channels": 8,
        "levels": 2,
        "up": "bilinear",
        "activation": "gelu",
    },
    "resnet": {"in_channels": 2, "out_channels": 3, "channels": 16, "blocks": 3},
}
CASES = [("unet", SMALL["unet"]), ("unet", SMALL["unet_bilinear"]), ("resnet", SMALL["resnet"])]
IDS = ["unet", "unet-bilinear", "resnet"]


def _batch(size: int = 32, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed smooth input (two channels) and a target that depends on it locally."""
    g = torch.Generator().manual_seed(1)
    coeffs = torch.randn(batch, 2, 3, 3, generator=g)
    t = torch.linspace(0, 2 * torch.pi, size)
    modes = torch.stack([torch.sin((k + 1) * t) for k in range(3)])  # (3, size)
    x = torch.einsum("bcij,ih,jw->bchw", coeffs, modes, modes)
    y = torch.stack([x[:, 0] * x[:, 1], x[:, 0].roll(1, -1) - x[:, 1], x.sum(1) ** 2], dim=1)
    return x, y


def _rel_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().sum() / target.abs().sum()


@pytest.mark.parametrize("name", ["unet", "resnet"])
@pytest.mark.parametrize("size", [32, 48])
def test_default_output_shape(name: str, size: int) -> None:
    model = build_model(name, {"in_channels": 3, "out_channels": 2}).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 2, size, size)
    assert torch.isfinite(out).all()


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


@pytest.mark.parametrize(("name", "args"), CASES, ids=IDS)
def test_adamw_steps_reduce_relative_l1(name: str, args: dict[str, Any]) -> None:
    model = build_model(name, args).train()
    x, y = _batch(size=16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    with torch.no_grad():
        before = _rel_l1(model(x), y).item()
    for _ in range(15):
        opt.zero_grad()
        loss = _rel_l1(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = _rel_l1(model(x), y).item()
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize(("name", "args"), CASES, ids=IDS)
def test_every_parameter_gets_a_gradient(name: str, args: dict[str, Any]) -> None:
    model = build_model(name, args).train()
    x, y = _batch(size=24)  # 24 is not a multiple of 2**3: the padded path is used
    _rel_l1(model(x), y).backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(("name", "args"), CASES, ids=IDS)
def test_rebuild_and_load_state_dict_reproduces_outputs(name: str, args: dict[str, Any]) -> None:
    model = build_model(name, args)
    x, y = _batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(2):  # move weights and BatchNorm running statistics off their init
        opt.zero_grad()
        _rel_l1(model(x), y).backward()
        opt.step()
    model.eval()
    torch.manual_seed(123)  # a different initialisation for the copy
    copy = build_model(name, dict(args))
    copy.load_state_dict(model.state_dict())
    copy.eval()
    with torch.no_grad():
        assert torch.equal(model(x), copy(x))


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
