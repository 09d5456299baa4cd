"""The ablation variants of MambaNO: each removes or replaces only the part its argument names.

``mamba_integration=False`` (no-mamba), ``conv_depth=0`` (no-conv), ``activation="pointwise"``
(pointwise-activations) and ``scan_directions`` 1 or 2 (one-direction, two-directions). What
their state dicts and initial weights share with the default network is checked with the other
configurations in ``test_mambano_model.py``; here: what each variant no longer runs, the scans
with fewer directions against hand-written references, parameter counts and other grids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import mambano_core.layers.ss2d as ss2d_module
from mambano_core.layers import activations
from mambano_core.layers.activations import AliasFreeLReLU, AliasFreeSiLU
from mambano_core.layers.ss2d import SS2D
from mambano_core.models.mambano import CONFIGURATIONS, MambaNO
from mambano_core.models.registry import build_model, count_parameters
from mambano_core.ops.scan import available_backends
from mambano_core.ops.scan.loop import selective_scan_loop

F64 = torch.float64
TINY: dict[str, Any] = {
    "in_channels": 2, "out_channels": 3, "channels": 4, "depths": [1, 1, 1, 1], "d_state": 4, "lift_channels": 8,
}
ABLATIONS = ("no-mamba", "no-conv", "pointwise-activations", "one-direction", "two-directions")
PER_DIRECTION = ("x_proj_weight", "dt_proj_weight", "dt_proj_bias", "A_log", "D")
CPU_BACKENDS = available_backends("cpu")  # loop (the oracle), torch and, with numba, fused


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _variant(name: str, **args: Any) -> MambaNO:
    return build_model("mambano", {**TINY, **CONFIGURATIONS[name], **args})


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Wrap ``module.name`` so that every call is counted; returns the one-element counter."""
    calls = [0]
    original: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _forward_backward(model: MambaNO, size: int = 16) -> None:
    model(torch.randn(2, 2, size, size)).square().mean().backward()


# ------------------------------------------------------------------------- no-mamba


def test_no_mamba_never_calls_the_selective_scan(monkeypatch):
    calls = _counting(monkeypatch, ss2d_module, "selective_scan_fn")
    _forward_backward(build_model("mambano", TINY))
    assert calls[0] == 8  # the patch is where SS2D looks: one call per Mamba block
    calls[0] = 0
    model = _variant("no-mamba")
    _forward_backward(model)
    assert calls[0] == 0
    assert not any(isinstance(m, SS2D) for m in model.modules())


# ------------------------------------------------------------ pointwise activations


def test_pointwise_activations_call_no_alias_free_operation(monkeypatch):
    lrelu = _counting(monkeypatch, activations, "filtered_lrelu")
    silu = _counting(monkeypatch, activations, "alias_free_silu")
    _forward_backward(build_model("mambano", TINY))
    assert lrelu[0] > 0 and silu[0] == 8  # the patches are where the layers look
    lrelu[0] = silu[0] = 0
    model = _variant("pointwise-activations")
    _forward_backward(model)
    assert lrelu[0] == silu[0] == 0
    assert not any(isinstance(m, (AliasFreeLReLU, AliasFreeSiLU)) for m in model.modules())


def test_pointwise_activations_keep_every_activation_bias():
    """The alias-free activations' parameters are their biases: same names, shapes, count."""
    authors, pointwise = build_model("mambano", TINY), _variant("pointwise-activations")
    shapes = {k: v.shape for k, v in authors.state_dict().items()}
    assert shapes == {k: v.shape for k, v in pointwise.state_dict().items()}
    assert sum(k.endswith("act.bias") for k in shapes) == 1 + 4 + 6 + 8 + 1  # P, conv, resampling, SS2D, Q


# ------------------------------------------------------------------- scan directions


def _row_major_reference(ss2d: SS2D, x: torch.Tensor) -> torch.Tensor:
    """The one-direction scan written out: the grid flattened row by row, one selective scan with
    direction 0's parameters, reshaped back."""
    b, d, h, w = x.shape
    seq = x.reshape(b, d, h * w)
    r, n = ss2d.dt_rank, ss2d.d_state
    proj = torch.einsum("cd,bdl->bcl", ss2d.x_proj_weight[0], seq)
    dt = torch.einsum("dr,brl->bdl", ss2d.dt_proj_weight[0], proj[:, :r])
    y = selective_scan_loop(
        seq, dt, -torch.exp(ss2d.A_log[0]), proj[:, r : r + n], proj[:, r + n :], ss2d.D[0],
        delta_bias=ss2d.dt_proj_bias[0], delta_softplus=True,
    )  # fmt: skip
    return y.view(b, d, h, w)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_one_direction_scan_is_the_row_major_scan(backend, dtype):
    """Values and gradients of every CPU backend against the hand-written reference (loop)."""
    ss2d = SS2D(4, d_state=4, directions=1, scan_backend=backend).to(dtype)
    assert ss2d.x_proj_weight.shape[0] == ss2d.A_log.shape[0] == ss2d.D.shape[0] == 1
    x = torch.randn(2, ss2d.d_inner, 3, 5, dtype=dtype, requires_grad=True)  # non-square
    got = ss2d.scan(x)
    params = [x, *ss2d.parameters()]
    grads = torch.autograd.grad((got * torch.cos(got)).sum(), params, allow_unused=True)
    want = _row_major_reference(ss2d, x)
    want_grads = torch.autograd.grad((want * torch.cos(want)).sum(), params, allow_unused=True)
    tol = 1e-10 if dtype == F64 else 1e-5
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    for g, w in zip(grads, want_grads):
        if w is None:  # parameters outside the scan (in_proj, conv, ...)
            assert g is None
        else:
            torch.testing.assert_close(g, w, rtol=tol * 10, atol=tol * 10)


def test_one_direction_model_agrees_across_backends():
    """Outputs and gradients of the whole network in training mode (no stochastic depth)."""
    x = torch.randn(2, 2, 16, 16)
    reference = _variant("one-direction", scan_backend="loop", drop_path=0.0)
    want = reference(x)
    want.square().mean().backward()
    for backend in CPU_BACKENDS[1:]:
        model = _variant("one-direction", scan_backend=backend, drop_path=0.0)
        model.load_state_dict(reference.state_dict())
        out = model(x)
        torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
        out.square().mean().backward()
        for (name, p), q in zip(model.named_parameters(), reference.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5, msg=f"{backend}: {name}")


def test_fewer_directions_keep_the_first_directions_initial_weights():
    """Drawn like the four-direction network's and cut, so every other layer starts the same too."""
    torch.manual_seed(3)
    four = SS2D(8, d_state=4)
    for directions in (1, 2):
        torch.manual_seed(3)
        fewer = SS2D(8, d_state=4, directions=directions)
        for key, value in fewer.state_dict().items():
            want = four.state_dict()[key]
            assert torch.equal(value, want[:directions] if key in PER_DIRECTION else want), key


@pytest.mark.parametrize("bad", [{"scan_directions": 3}, {"scan_directions": 0}, {"scan_directions": True},
                                 {"activation": "gelu"}, {"activation": "alias-free"}, {"conv_depth": -1},
                                 {"mamba_integration": "false"}])
def test_unknown_variant_arguments_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MambaNO(**{**TINY, **bad})


# --------------------------------------------------------------- every variant


@pytest.mark.parametrize("name", ABLATIONS)
@pytest.mark.parametrize("grid", [(16, 16), (24, 24), (32, 32), (48, 48), (16, 40)])
def test_every_variant_runs_natively_at_other_grids(name, grid):
    model = _variant(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 2, *grid))
    assert out.shape == (1, 3, *grid) and torch.isfinite(out).all()


def _count(model: torch.nn.Module, keep: Callable[[str], bool] = lambda name: True) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if keep(name))


def test_parameter_counts_differ_by_exactly_the_removed_parts():
    authors = build_model("mambano", {**TINY, "depths": [2, 1, 2, 1]})
    total = _count(authors)
    counts = {name: count_parameters(_variant(name, depths=[2, 1, 2, 1])) for name in ABLATIONS}
    mamba = _count(authors, lambda n: n.startswith(("encoder.", "decoder.")))
    assert counts["no-mamba"] == total - mamba
    assert counts["no-conv"] == total - _count(authors, lambda n: n.startswith("conv_blocks."))
    assert counts["pointwise-activations"] == total
    per_direction = _count(authors, lambda n: n.rsplit(".", 1)[-1] in PER_DIRECTION)
    assert counts["one-direction"] == total - per_direction * 3 // 4
    assert counts["two-directions"] == total - per_direction // 2


#: Parameters at the default size (C = 16) and at the demo's (channels 8, lift_channels 16), one
#: input and one output channel; docs/baselines.md lists them.
COUNTS = {
    "authors": (1_848_098, 563_474),
    "no-mamba": (827_938, 205_458),
    "no-conv": (1_062_338, 366_434),
    "pointwise-activations": (1_848_098, 563_474),
    "one-direction": (1_494_818, 402_962),
    "two-directions": (1_612_578, 456_466),
}


@pytest.mark.parametrize("name", COUNTS)
def test_parameter_counts_at_the_default_and_demo_sizes(name):
    default = count_parameters(MambaNO(**CONFIGURATIONS[name]))
    demo = count_parameters(MambaNO(channels=8, lift_channels=16, **CONFIGURATIONS[name]))
    assert (default, demo) == COUNTS[name]
