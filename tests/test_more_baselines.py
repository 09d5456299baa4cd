"""Checks specific to the FNO, DeepONet, Galerkin Transformer and FFNN baselines; the contract every
model meets (shapes, training, gradients, checkpoints, grids, seeding) is in test_model_contract.py."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch
from model_checks import _batch, _seed_and_one_thread  # noqa: F401 (autouse fixture)

from mambano_core.errors import SpecError
from mambano_core.models.fno import SpectralConv2d
from mambano_core.models.registry import build_model, count_parameters
from mambano_core.ops.resample import resample

HAS_NEURALOP = importlib.util.find_spec("neuralop") is not None
NEEDS_NEURALOP = pytest.mark.skipif(
    not HAS_NEURALOP, reason="neuraloperator is not installed (pip install '.[neuralop]')"
)

# Small configurations (16x16 grids) for the model-specific checks below.
FNO_SMALL = {"in_channels": 2, "out_channels": 3, "modes": 4, "width": 8, "layers": 3}
DEEPONET_SMALL = {"in_channels": 2, "out_channels": 3, "resolution": 16, "basis": 16, "branch_layers": 2,
                  "branch_channels": 8, "branch_res_blocks": 1, "trunk_layers": 2, "trunk_width": 32}


@pytest.mark.parametrize("shape", [(24, 24), (32, 32), (20, 12)])
def test_deeponet_resample_input_runs_on_other_square_grids(shape: tuple[int, int]) -> None:
    """With resample_input, DeepONet takes other square grids and refuses non-square ones."""
    model = build_model("deeponet", {**DEEPONET_SMALL, "resample_input": True}).eval()
    if shape[0] != shape[1]:
        with pytest.raises(ValueError, match="square"):
            model(torch.randn(1, 2, *shape))
        return
    with torch.no_grad():
        out = model(torch.randn(2, 2, *shape))
    assert out.shape == (2, 3, *shape)


def test_deeponet_resampled_input_is_evaluated_on_the_input_grid() -> None:
    """On the 32 grid (every other point is a 16 grid point) the output at shared points equals
    the output on the 16 grid, for an input that resamples back exactly."""
    model = build_model("deeponet", {**DEEPONET_SMALL, "resample_input": True}).eval()
    x16, _ = _batch(16, 2)
    x32 = resample(x16, 32, "dirichlet")
    with torch.no_grad():
        torch.testing.assert_close(model(x32)[..., ::2, ::2], model(x16), atol=1e-5, rtol=1e-5)


def test_default_parameter_counts() -> None:
    assert count_parameters(build_model("fno", {"backend": "native"})) == 8_413_953
    assert count_parameters(build_model("deeponet", {})) == 2_395_315
    assert count_parameters(build_model("galerkin_transformer", {})) == 1_134_817
    assert count_parameters(build_model("ffnn", {})) == 2_300_416


@NEEDS_NEURALOP
def test_fno_default_parameter_count_neuralop() -> None:
    assert count_parameters(build_model("fno", {"backend": "neuralop"})) == 8_413_953


@pytest.mark.parametrize("shape", [(16, 16), (15, 17), (9, 12)])
def test_native_spectral_conv_matches_li_corners(shape: tuple[int, int]) -> None:
    """The spectral convolution equals Li et al.'s two-corner implementation (any grid >= 2m)."""
    conv = SpectralConv2d(3, 2, modes=4)
    x = torch.randn(2, 3, *shape)
    w = conv.weight.tensor  # rows: kx = -4..3
    x_ft = torch.fft.rfft2(x, norm="forward")
    out_ft = torch.zeros(2, 2, shape[0], shape[1] // 2 + 1, dtype=torch.cfloat)
    out_ft[:, :, :4, :4] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :4, :4], w[:, :, 4:])
    out_ft[:, :, -4:, :4] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -4:, :4], w[:, :, :4])
    expected = torch.fft.irfft2(out_ft, s=shape, norm="forward") + conv.bias
    torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)


def _plain_neuralop_fno(seed: int, args: dict[str, Any]) -> torch.nn.Module:
    from neuralop.models import FNO as NeuralopFNO

    torch.manual_seed(seed)
    m = args["modes"]
    return NeuralopFNO(
        n_modes=(2 * m, 2 * m - 1), in_channels=args["in_channels"], out_channels=args["out_channels"],
        hidden_channels=args["width"], n_layers=args["layers"],
        lifting_channel_ratio=args.get("lifting_ratio", 0.0),
        projection_channel_ratio=args.get("projection_ratio", 2.0), positional_embedding="grid",
        use_channel_mlp=args.get("channel_mlp", False), fno_skip="linear",
    )


@NEEDS_NEURALOP
@pytest.mark.parametrize(
    "extra",
    [{"channel_mlp": True}, {"channel_mlp": True, "lifting_ratio": 2}, {"layers": 1}, {}],
    ids=["channel-mlp", "channel-mlp-lifting-mlp", "one-layer", "paper"],
)
def test_fno_neuralop_backend_equals_plain_neuralop_fno(extra: dict[str, Any]) -> None:
    args = {**FNO_SMALL, **extra}
    ours = (torch.manual_seed(7), build_model("fno", {**args, "backend": "neuralop"}))[1].eval()
    plain = _plain_neuralop_fno(7, args).eval()
    calls: list[int] = []
    gelu = plain.fno_blocks.non_linearity
    plain.fno_blocks.non_linearity = lambda t: calls.append(1) or gelu(t)
    x = torch.randn(2, 2, 16, 16)
    with torch.no_grad():
        expected = plain(x)
        got = ours(x)
    per_layer = 2 if args.get("channel_mlp") else 1
    if len(calls) > per_layer * (args["layers"] - 1):
        pytest.skip("this neuralop applies GELU twice between layers without the channel MLP "
                    "(neuraloperator issue #728); the registry FNO applies it once, as the paper")
    assert torch.equal(got, expected)


@NEEDS_NEURALOP
@pytest.mark.parametrize("channel_mlp", [False, True])
@pytest.mark.parametrize("shape", [(16, 16), (20, 12), (6, 10)])
def test_fno_backends_share_state_dicts_and_outputs(channel_mlp: bool, shape: tuple[int, int]) -> None:
    """A native checkpoint loads into the neuralop backend (and back) and gives the same outputs
    (even first-axis sizes: neuralop 2.0.0's spectral convolution is wrong on odd ones)."""
    args = {**FNO_SMALL, "channel_mlp": channel_mlp, "lifting_ratio": 1.5}
    native = build_model("fno", {**args, "backend": "native"}).eval()
    neural = build_model("fno", {**args, "backend": "neuralop"}).eval()
    assert native.state_dict().keys() == neural.state_dict().keys()
    neural.load_state_dict(native.state_dict())
    x = torch.randn(2, 2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(neural(x), native(x), atol=1e-5, rtol=1e-5)


def test_fno_neuralop_backend_without_neuralop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import mambano_core.models.fno as fno

    monkeypatch.setattr(fno, "neuralop_available", lambda: False)
    with pytest.raises(SpecError, match="neuraloperator"):
        build_model("fno", {"backend": "neuralop"})
    assert build_model("fno", {**FNO_SMALL, "backend": "auto"}).backend == "native"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("fno", {"modes": 0}),
        ("fno", {"width": 8.0}),
        ("fno", {"backend": "jax"}),
        ("fno", {"lifting_ratio": -1}),
        ("fno", {"channel_mlp": "yes"}),
        ("fno", {"n_modes": 16}),
        ("deeponet", {"branch": "resnet"}),
        ("deeponet", {"resolution": 8, "branch_layers": 4}),
        ("deeponet", {"boundary": "neumann"}),
        ("deeponet", {"resample_input": 1}),
        ("deeponet", {"branch_res_blocks": -1}),
        ("galerkin_transformer", {"width": 30, "heads": 4}),
        ("galerkin_transformer", {"decoder": "ifft"}),
        ("galerkin_transformer", {"dropout": 1.5}),
        ("ffnn", {"layers": 0}),
        ("ffnn", {"activation": "swish"}),
        ("ffnn", {"residual": "no"}),
    ],
)
def test_invalid_arguments_raise_spec_error(name: str, args: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        build_model(name, args)
