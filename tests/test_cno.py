"""Checks specific to the CNO baseline (Raonic et al., NeurIPS 2023); the contract every model meets
(shapes, training, gradients, checkpoints, grids, seeding) is in test_model_contract.py."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from model_checks import _seed_and_one_thread  # noqa: F401 (autouse fixture)

from mambano_core.errors import SpecError
from mambano_core.models.cno import CNO
from mambano_core.models.registry import available_models, build_model, count_parameters

# A small configuration (16x16 grids).
SMALL: dict[str, Any] = {"in_channels": 2, "out_channels": 3, "channels": 8, "levels": 2,
                         "res_blocks": 1, "neck_blocks": 1, "lift_channels": 16}


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


def test_wrong_channel_count_is_a_clear_error() -> None:
    model = build_model("cno", SMALL).eval()
    with pytest.raises(ValueError, match=r"\(batch, 2, H, W\)"):
        model(torch.randn(1, 3, 16, 16))


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
