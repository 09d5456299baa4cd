"""The optimiser step's stabilisers: linear learning-rate warm-up and gradient-norm clipping."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mambano_core.errors import SpecError
from mambano_core.training.checkpoint import read_checkpoint
from mambano_core.training.optim_step import optimizer_step, warmup_factor
from mambano_core.training.spec import spec_from_dict
from mambano_core.training.trainer import Trainer

from conftest import tiny_spec_dict


def _sgd_with_gradient(grad: list[float]) -> tuple[torch.nn.Parameter, torch.optim.SGD]:
    weight = torch.nn.Parameter(torch.zeros(len(grad)))
    weight.grad = torch.tensor(grad)
    return weight, torch.optim.SGD([weight], lr=1.0)


def test_warmup_factor_rises_linearly_to_one() -> None:
    assert [warmup_factor(step, 4) for step in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_warmup_scales_this_step_only_and_restores_the_scheduled_rate() -> None:
    weight, sgd = _sgd_with_gradient([2.0, -4.0])
    optimizer_step(sgd, [weight], step=0, warmup_steps=4)
    assert torch.allclose(weight.detach(), torch.tensor([-0.5, 1.0]))  # lr 1 * 1/4
    assert sgd.param_groups[0]["lr"] == 1.0


def test_gradient_norm_is_clipped_to_the_limit() -> None:
    weight, sgd = _sgd_with_gradient([3.0, 4.0])  # norm 5
    optimizer_step(sgd, [weight], step=0, grad_clip=0.5)
    assert torch.allclose(weight.detach(), torch.tensor([-0.3, -0.4]), atol=1e-6)
    weight, sgd = _sgd_with_gradient([0.3, 0.4])  # below the limit: untouched
    optimizer_step(sgd, [weight], step=0, grad_clip=0.5)
    assert torch.allclose(weight.detach(), torch.tensor([-0.3, -0.4]))


def test_warmup_changes_the_first_epoch_of_training(tiny_store: Path, tmp_path: Path) -> None:
    plain = Trainer(spec_from_dict(tiny_spec_dict(tiny_store, tmp_path / "plain", epochs=1)))
    plain.fit()
    warm = Trainer(spec_from_dict(tiny_spec_dict(tiny_store, tmp_path / "warm", epochs=1, warmup_epochs=1)))
    warm.fit()
    start = dict(Trainer(spec_from_dict(tiny_spec_dict(tiny_store, tmp_path / "start", epochs=1))).model.named_parameters())
    moved = {}
    for name, run in (("plain", plain), ("warm", warm)):
        weights = read_checkpoint(run.ckpt_dir / "last.pt")["model_state"]
        moved[name] = sum(float((weights[k] - start[k].detach()).abs().sum()) for k in start)
    assert moved["warm"] < 0.8 * moved["plain"]  # Adam's first steps move each weight by about lr * factor


@pytest.mark.parametrize("field, value", [("grad_clip", 0.0), ("warmup_epochs", -1)])
def test_bad_stabiliser_values_are_rejected(tiny_store: Path, tmp_path: Path, field: str, value: float) -> None:
    with pytest.raises(SpecError, match=field):
        spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, **{field: value}))
