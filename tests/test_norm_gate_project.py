"""norm_gate_project equals the module chain out_proj(LayerNorm(y) * gate) and keeps less for the backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mambano_core.layers.ss2d import SS2D
from mambano_core.memory import saved_tensor_bytes
from mambano_core.ops.norm_gate_project import norm_gate_project


def _inputs(dtype: torch.dtype, affine: bool = True) -> tuple:
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 5, 6, 8, generator=g, dtype=dtype, requires_grad=True)
    gate = torch.randn(2, 5, 6, 8, generator=g, dtype=dtype, requires_grad=True)
    norm_w = (1 + 0.1 * torch.randn(8, generator=g, dtype=dtype)).requires_grad_() if affine else None
    norm_b = (0.1 * torch.randn(8, generator=g, dtype=dtype)).requires_grad_() if affine else None
    weight = torch.randn(3, 8, generator=g, dtype=dtype, requires_grad=True)
    return y, gate, norm_w, norm_b, weight


def _reference(y, gate, norm_w, norm_b, weight):
    return F.linear(F.layer_norm(y, (y.shape[-1],), norm_w, norm_b, 1e-5) * gate, weight)


@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck(affine: bool) -> None:
    inputs = _inputs(torch.float64, affine)
    assert torch.autograd.gradcheck(lambda *a: norm_gate_project(*a, 1e-5), inputs)


def test_gradcheck_with_a_permuted_input() -> None:
    """The generic scan path hands SS2D a permuted (non-contiguous) ``y``."""
    y, gate, norm_w, norm_b, weight = _inputs(torch.float64)
    y_t = y.detach().transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()  # same values, other strides
    assert not y_t.is_contiguous()
    assert torch.autograd.gradcheck(lambda *a: norm_gate_project(*a, 1e-5), (y_t, gate, norm_w, norm_b, weight))


def test_equals_the_module_chain_in_float32() -> None:
    inputs = _inputs(torch.float32)
    probe = torch.randn(2, 5, 6, 3, generator=torch.Generator().manual_seed(1))
    out = norm_gate_project(*inputs, 1e-5)
    ref = _reference(*inputs)
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad((out * probe).sum(), inputs)
    ref_grads = torch.autograd.grad((ref * probe).sum(), inputs)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_keeps_two_full_size_tensors_where_the_chain_keeps_four() -> None:
    y, gate, norm_w, norm_b, weight = _inputs(torch.float32)
    full = y.numel() * y.element_size()
    fused = saved_tensor_bytes(lambda *a: norm_gate_project(*a, 1e-5), y, gate, norm_w, norm_b, weight)
    chain = saved_tensor_bytes(_reference, y, gate, norm_w, norm_b, weight)
    assert 2 * full <= fused < 3 * full  # y and gate, plus per-position statistics and weights
    assert chain >= 4 * full  # y, the normalised y, the gate, their product


def test_shape_mismatch_is_an_error() -> None:
    y, gate, norm_w, norm_b, weight = _inputs(torch.float32)
    with pytest.raises(ValueError, match="gate shape"):
        norm_gate_project(y, gate[..., :4], norm_w[:4], norm_b[:4], weight, 1e-5)


def test_ss2d_gradients_equal_the_module_chain() -> None:
    """SS2D's forward through the fused op gives the module chain's output and gradients."""
    torch.manual_seed(0)
    layer = SS2D(d_model=8, d_state=16, expand=2)
    x = torch.randn(2, 6, 6, 8, requires_grad=True)

    def chain(self, inp):
        xs, z = self.in_proj(inp).chunk(2, dim=-1)
        xs = self.act(self.conv2d(xs.permute(0, 3, 1, 2)))
        y = self.out_norm(self.scan_channels_last(xs))
        gate = self.gate(z.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.out_proj(y * gate.to(y.dtype))

    params = [x, *layer.parameters()]
    out = layer(x)
    grads = torch.autograd.grad(out.square().sum(), params)
    ref = chain(layer, x)
    ref_grads = torch.autograd.grad(ref.square().sum(), params)
    torch.testing.assert_close(out, ref)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_ss2d_under_cpu_autocast_runs_the_module_chain() -> None:
    """Mixed precision keeps the modules' own casts (the fused op is skipped) and still trains."""
    torch.manual_seed(0)
    layer = SS2D(d_model=8, d_state=16, expand=2)
    x = torch.randn(2, 6, 6, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    out.float().square().sum().backward()
    assert out.shape == x.shape and torch.isfinite(out.float()).all()
    assert torch.isfinite(x.grad).all() and layer.out_norm.weight.grad is not None
