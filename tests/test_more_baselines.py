"""Checks of the FNO, DeepONet, Galerkin Transformer and FFNN baselines and their registry round trip."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch
from model_checks import _batch, _rel_l1, _seed_and_one_thread  # noqa: F401 (autouse fixture)

from mambano_core.errors import SpecError
from mambano_core.models.fno import SpectralConv2d
from mambano_core.models.registry import build_model, count_parameters
from mambano_core.ops.resample import resample

HAS_NEURALOP = importlib.util.find_spec("neuralop") is not None
NEEDS_NEURALOP = pytest.mark.skipif(
    not HAS_NEURALOP, reason="neuraloperator is not installed (pip install '.[neuralop]')"
)

# Small configurations (16x16 grids) keep the training and gradient checks fast on a CPU.
FNO_SMALL = {"in_channels": 2, "out_channels": 3, "modes": 4, "width": 8, "layers": 3}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("fno", {**FNO_SMALL, "backend": "native"}),
    ("fno", {**FNO_SMALL, "backend": "native", "channel_mlp": True, "lifting_ratio": 2}),
    ("deeponet", {"in_channels": 2, "out_channels": 3, "resolution": 16, "basis": 16, "branch_layers": 2,
                  "branch_channels": 8, "branch_res_blocks": 1, "trunk_layers": 2, "trunk_width": 32}),
    ("deeponet", {"in_channels": 2, "out_channels": 3, "resolution": 16, "branch": "mlp", "basis": 16,
                  "branch_layers": 2, "branch_width": 64, "trunk_layers": 2, "trunk_width": 32,
                  "activation": "tanh"}),
    ("galerkin_transformer", {"in_channels": 2, "out_channels": 3, "width": 32, "heads": 2, "layers": 2,
                              "ffn_width": 64, "decoder_width": 16, "modes": 4}),
    ("galerkin_transformer", {"in_channels": 2, "out_channels": 3, "width": 32, "heads": 4, "layers": 2,
                              "ffn_width": 64, "decoder": "pointwise", "decoder_width": 32}),
    ("ffnn", {"in_channels": 2, "out_channels": 3, "resolution": 16, "width": 64, "layers": 3}),
    ("ffnn", {"in_channels": 2, "out_channels": 3, "resolution": 16, "width": 64, "layers": 2,
              "residual": False, "batch_norm": False, "activation": "gelu"}),
]
IDS = ["fno", "fno-channel-mlp", "deeponet-cnn", "deeponet-mlp", "gt-spectral", "gt-pointwise",
       "ffnn-residual", "ffnn-plain"]
if HAS_NEURALOP:
    CASES.append(("fno", {**FNO_SMALL, "backend": "neuralop"}))
    IDS.append("fno-neuralop")


@pytest.mark.parametrize(("name", "args"), CASES, ids=IDS)
def test_output_shape(name: str, args: dict[str, Any]) -> None:
    model = build_model(name, args).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 2, 16, 16))
    assert out.shape == (2, 3, 16, 16)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "args"), CASES, ids=IDS)
def test_adamw_steps_reduce_relative_l1(name: str, args: dict[str, Any]) -> None:
    model = build_model(name, args).train()
    x, y = _batch()
    steps, lr = (80, 3e-2) if name == "deeponet" else (20, 1e-2)  # DeepONet starts slowly
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    with torch.no_grad():
        before = _rel_l1(model(x), y).item()
    for _ in range(steps):
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
    x, y = _batch()
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
    for _ in range(2):  # move weights (and BatchNorm statistics) off their initialisation
        opt.zero_grad()
        _rel_l1(model(x), y).backward()
        opt.step()
    model.eval()
    state = model.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())  # checkpointable as tensors
    torch.manual_seed(123)  # a different initialisation for the copy
    copy = build_model(name, dict(args))
    copy.load_state_dict(state)
    copy.eval()
    with torch.no_grad():
        assert torch.equal(model(x), copy(x))


@pytest.mark.parametrize(
    ("name", "args"),
    [CASES[0], CASES[4], CASES[5], (CASES[2][0], {**CASES[2][1], "resample_input": True})],
    ids=["fno", "gt-spectral", "gt-pointwise", "deeponet-resample"],
)
@pytest.mark.parametrize("shape", [(24, 24), (32, 32), (20, 12)])
def test_other_resolutions(name: str, args: dict[str, Any], shape: tuple[int, int]) -> None:
    model = build_model(name, args).eval()
    if name == "deeponet" and shape[0] != shape[1]:
        with pytest.raises(ValueError, match="square"):
            model(torch.randn(1, 2, *shape))
        return
    with torch.no_grad():
        out = model(torch.randn(2, 2, *shape))
    assert out.shape == (2, 3, *shape)


@pytest.mark.parametrize(("name", "args"), [CASES[2], CASES[3], CASES[6]], ids=IDS[2:4] + IDS[6:7])
def test_fixed_grid_models_reject_other_sizes(name: str, args: dict[str, Any]) -> None:
    model = build_model(name, args).eval()
    for shape in [(24, 24), (16, 20)]:
        with pytest.raises(ValueError, match="16x16"):
            model(torch.randn(1, 2, *shape))


def test_deeponet_resampled_input_is_evaluated_on_the_input_grid() -> None:
    """On the 32 grid (every other point is a 16 grid point) the output at shared points equals
    the output on the 16 grid, for an input that resamples back exactly."""
    model = build_model("deeponet", {**CASES[2][1], "resample_input": True}).eval()
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
