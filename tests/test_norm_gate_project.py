"""norm_gate_project equals the module chain out_proj(LayerNorm(y) * gate) and keeps less for the backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mambano_core.layers.ss2d import SS2D
from mambano_core.memory import saved_tensor_bytes
import mambano_core.ops.norm_gate_project as ngp
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


native_only = pytest.mark.skipif(ngp._library() is None, reason="no C compiler")


def _wide_inputs(rows_shape: tuple[int, ...], dim: int, dout: int, permuted_gate: bool = False) -> tuple:
    g = torch.Generator().manual_seed(2)
    y = torch.randn(*rows_shape, dim, generator=g)
    gate = torch.randn(*rows_shape, dim, generator=g)
    if permuted_gate:  # SS2D's gate: a channels-last view of a channels-first tensor
        gate = gate.movedim(-1, 1).contiguous().movedim(1, -1)
        assert not gate.is_contiguous()
    norm_w, norm_b = 1 + 0.1 * torch.randn(dim, generator=g), 0.1 * torch.randn(dim, generator=g)
    weight = torch.randn(dout, dim, generator=g) * dim**-0.5
    return tuple(t.requires_grad_() for t in (y, gate, norm_w, norm_b, weight))


def _value_and_grads(fn, inputs: tuple) -> list[torch.Tensor]:
    out = fn(*inputs, 1e-5)
    probe = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    return [out.detach(), *torch.autograd.grad((out * probe).sum(), inputs)]


@native_only
@pytest.mark.parametrize(
    ("rows_shape", "dim", "dout", "permuted_gate"),
    [((2, 19, 17), 16, 8, False), ((3, 5), 64, 32, True), ((2, 9, 9), 256, 128, True), ((1, 1), 8, 24, False)],
)
def test_native_kernel_equals_the_torch_backend(rows_shape, dim, dout, permuted_gate) -> None:
    """The native op (rows in tiles of 4, weight gradients in blocks of 256 rows) gives the
    PyTorch backend's output and gradients to float32 rounding: row counts that are not a
    multiple of 4 or of 256 (646 rows: two full blocks and a partial one), the widths of
    MambaNO's levels, one row, and the gate as SS2D passes it (a permuted view)."""
    inputs = _wide_inputs(rows_shape, dim, dout, permuted_gate)
    assert ngp._native_eligible(inputs[0], inputs[2], inputs[3], inputs[4])
    native = _value_and_grads(ngp.norm_gate_project, inputs)
    reference = _value_and_grads(lambda *a: ngp._NormGateProject.apply(*a), inputs)
    for a, b in zip(native, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


@native_only
def test_native_kernel_is_bit_identical_across_thread_counts() -> None:
    inputs = _wide_inputs((2, 23, 13), 32, 16)
    previous = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_value_and_grads(ngp.norm_gate_project, inputs))
    finally:
        torch.set_num_threads(previous)
    assert all(torch.equal(a, b) for a, b in zip(*results))


def test_the_torch_backend_runs_where_the_kernel_does_not(monkeypatch) -> None:
    """Widths not a multiple of 8, float64, no affine, or no compiler: the PyTorch backend."""
    y, gate, norm_w, norm_b, weight = _wide_inputs((2, 3), 16, 8)
    assert not ngp._native_eligible(y, norm_w, norm_b, weight[:3])
    assert not ngp._native_eligible(y.double(), norm_w, norm_b, weight)
    assert not ngp._native_eligible(y, None, None, weight)
    monkeypatch.setattr(ngp, "_library", lambda: None)
    assert not ngp._native_eligible(y, norm_w, norm_b, weight)
    out = norm_gate_project(y, gate, norm_w, norm_b, weight, 1e-5)
    torch.testing.assert_close(out, _reference(y, gate, norm_w, norm_b, weight))


@native_only
def test_native_kernel_limits_and_mismatches_take_the_torch_backend() -> None:
    """Widths up to the kernel's limit run natively (1024 equals the PyTorch backend); wider
    ones, a float64 gate or affine, or a weight of another width take the PyTorch backend, and no
    row at all gives an empty output."""
    widest = ngp._library().norm_gate_max_dim()
    assert widest == 1024
    y, gate, norm_w, norm_b, weight = _wide_inputs((3,), 1024, 16)
    assert ngp._native_eligible(y, norm_w, norm_b, weight, gate)
    native = _value_and_grads(ngp.norm_gate_project, (y, gate, norm_w, norm_b, weight))
    reference = _value_and_grads(lambda *a: ngp._NormGateProject.apply(*a), (y, gate, norm_w, norm_b, weight))
    for a, b in zip(native, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
    wide = _wide_inputs((3,), 1032, 1040)
    assert not ngp._native_eligible(wide[0], wide[2], wide[3], wide[4], wide[1])
    y, gate, norm_w, norm_b, weight = _wide_inputs((2, 3), 16, 8)
    assert not ngp._native_eligible(y, norm_w, norm_b, weight, gate.double())
    assert not ngp._native_eligible(y, norm_w.double(), norm_b, weight, gate)
    assert not ngp._native_eligible(y, norm_w[:8], norm_b[:8], weight, gate)
    assert not ngp._native_eligible(y, norm_w, norm_b, weight[:, :8], gate)
    out = norm_gate_project(gate.double(), gate.double(), norm_w.double(), norm_b.double(), weight.double(), 1e-5)
    assert out.dtype == torch.float64
    empty = norm_gate_project(y[:0], gate[:0], norm_w, norm_b, weight, 1e-5)
    assert empty.shape == (0, 3, 8)
    empty.sum().backward()


@native_only
def test_native_kernel_keeps_two_full_size_tensors_with_a_permuted_gate() -> None:
    """The native op keeps y and a contiguous copy of the gate; the gate's own (permuted)
    storage is not kept besides it."""
    y, gate, norm_w, norm_b, weight = _wide_inputs((2, 6, 7), 16, 8, permuted_gate=True)
    assert ngp._native_eligible(y, norm_w, norm_b, weight, gate)
    full = y.numel() * y.element_size()
    fused = saved_tensor_bytes(lambda *a: norm_gate_project(*a, 1e-5), y, gate, norm_w, norm_b, weight)
    assert 2 * full <= fused < 3 * full
