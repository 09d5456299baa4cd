"""Checks of the CNO baseline (Raonic et al., NeurIPS 2023) and its registry round trip."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from model_checks import _batch, _rel_l1, _seed_and_one_thread  # noqa: F401 (autouse fixture)

from mambano_core.errors import SpecError
from mambano_core.models.cno import CNO
from mambano_core.models.registry import available_models, build_model, count_parameters
from mambano_core.studies.presets import PRESETS

# Small configurations (16x16 grids) keep the training and gradient checks fast on a CPU.
SMALL: dict[str, Any] = {"in_channels": 2, "out_channels": 3, "channels": 8, "levels": 2,
                         "res_blocks": 1, "neck_blocks": 1, "lift_channels": 16}
CASES = [SMALL, {**SMALL, "add_inv": False, "res_blocks": 0}]
IDS = ["small", "no-inv-no-res"]


def test_registered_with_the_authors_default_configuration() -> None:
    assert "cno" in available_models()
    model = build_model("cno", {})
    assert isinstance(model, CNO)
    # N_layers=3, channel_multiplier=32, N_res=4, N_res_neck=6; the authors' code has
    # 2,951,249 (plus biases cancelled by batch norm, plus one unused (I) block).
    assert count_parameters(model) == 2_938_577
    assert len(model.encoder) == len(model.decoder) == len(model.inv) == 3
    assert [len(r) for r in model.skip_res] == [4, 4, 4] and len(model.neck) == 6
    # Widths: lift c/2 = 16, levels 32, 64, 128; decoder inputs double after concatenation.
    assert [b.conv.out_channels for b in model.encoder] == [32, 64, 128]
    assert [b.conv.in_channels for b in model.decoder] == [128, 128, 64]
    assert [b.conv.out_channels for b in model.decoder] == [64, 32, 16]
    assert model.project[0].conv.in_channels == 32
    # Batch norm everywhere except lift and projection.
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in [*model.lift.modules(), *model.project.modules()])


@pytest.mark.parametrize("shape", [(32, 32), (48, 48), (32, 56)])
def test_default_output_shape_at_several_resolutions(shape: tuple[int, int]) -> None:
    model = build_model("cno", {"in_channels": 2, "out_channels": 3}).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 2, *shape))
    assert out.shape == (1, 3, *shape)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("shape", [(36, 36), (32, 20), (4, 4)])
def test_grid_not_divisible_by_two_to_the_levels_is_a_clear_error(shape: tuple[int, int]) -> None:
    model = build_model("cno", {"channels": 4}).eval()
    with pytest.raises(ValueError, match="not divisible by 8"):
        model(torch.randn(1, 1, *shape))


def test_wrong_channel_count_is_a_clear_error() -> None:
    model = build_model("cno", SMALL).eval()
    with pytest.raises(ValueError, match=r"\(batch, 2, H, W\)"):
        model(torch.randn(1, 3, 16, 16))


@pytest.mark.parametrize("args", CASES, ids=IDS)
def test_adamw_steps_reduce_relative_l1(args: dict[str, Any]) -> None:
    model = build_model("cno", args).train()
    x, y = _batch()
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


@pytest.mark.parametrize("args", CASES, ids=IDS)
def test_every_parameter_gets_a_gradient(args: dict[str, Any]) -> None:
    model = build_model("cno", args).train()
    x, y = _batch()
    _rel_l1(model(x), y).backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


def test_rebuild_and_load_state_dict_reproduces_outputs() -> None:
    model = build_model("cno", SMALL)
    x, y = _batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(2):  # move weights and BatchNorm running statistics off their init
        opt.zero_grad()
        _rel_l1(model(x), y).backward()
        opt.step()
    model.eval()
    state = model.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    torch.manual_seed(123)  # a different initialisation for the copy
    copy = build_model("cno", dict(SMALL))
    copy.load_state_dict(state)
    copy.eval()
    with torch.no_grad():
        assert torch.equal(model(x), copy(x))
        x32, _ = _batch(size=32)  # same weights at another resolution
        assert torch.equal(model(x32), copy(x32))


def test_tiny_preset_arguments_build_and_run() -> None:
    model = build_model("cno", PRESETS["tiny"].model_args["cno"]).train()
    out = model(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 1, 16, 16)


@pytest.mark.parametrize(
    "args",
    [
        {"channels": 1},
        {"channels": 8.0},
        {"levels": 0},
        {"res_blocks": -1},
        {"neck_blocks": True},
        {"add_inv": 1},
        {"filter_size": 0},
        {"cutoff_den": 1.5},
        {"half_width_mult": "0.8"},
        {"N_layers": 3},
    ],
)
def test_invalid_arguments_raise_spec_error(args: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        build_model("cno", args)
