"""The shared-input matmul gives torch.matmul's values and gradients."""

from __future__ import annotations

import pytest
import torch

from mambano_core.ops.shared_matmul import shared_input_matmul


def _inputs(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=g, dtype=dtype, requires_grad=True)
    ws = [torch.randn(3, r, 5, generator=g, dtype=dtype, requires_grad=True) for r in (5, 2, 2)]
    return (x, *ws)


def test_matches_matmul_values_and_gradients() -> None:
    x, *ws = _inputs()
    outs = shared_input_matmul(x, *ws)
    refs = [torch.matmul(w, x) for w in ws]
    g = torch.Generator().manual_seed(1)
    probes = [torch.randn(r.shape, generator=g, dtype=r.dtype) for r in refs]
    grads = torch.autograd.grad(sum((o * p).sum() for o, p in zip(outs, probes)), [x, *ws])
    ref_grads = torch.autograd.grad(sum((r * p).sum() for r, p in zip(refs, probes)), [x, *ws])
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o, r)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_gradcheck_and_unused_outputs() -> None:
    x, *ws = _inputs()
    assert torch.autograd.gradcheck(lambda *a: shared_input_matmul(*a), (x, *ws))
    # only the second output feeds the loss: the others' gradients count as zero
    (grad_w0, grad_w1) = torch.autograd.grad(shared_input_matmul(x, *ws)[1].sum(), [ws[0], ws[1]])
    assert torch.count_nonzero(grad_w0) == 0
    torch.testing.assert_close(grad_w1, torch.autograd.grad(torch.matmul(ws[1], x).sum(), ws[1])[0])


def test_shared_weight_batch_dimension_is_summed() -> None:
    """A weight without the batch dimension gets the gradient summed over it."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    (out,) = shared_input_matmul(x, w)
    grad = torch.autograd.grad(out.square().sum(), w)[0]
    torch.testing.assert_close(grad, torch.autograd.grad(torch.matmul(w, x).square().sum(), w)[0])


def test_needs_a_weight() -> None:
    with pytest.raises(ValueError, match="at least one weight"):
        shared_input_matmul(torch.zeros(2, 2))


def test_autocast_gradients_match_matmul_in_input_dtypes() -> None:
    x, *ws = (t.detach().float().requires_grad_() for t in _inputs())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = shared_input_matmul(x, *ws)
        refs = [torch.matmul(w, x) for w in ws]
    assert all(o.dtype == torch.bfloat16 for o in outs)
    grads = torch.autograd.grad(sum(o.float().sum() for o in outs), [x, *ws])
    ref_grads = torch.autograd.grad(sum(r.float().sum() for r in refs), [x, *ws])
    for a, b, leaf in zip(grads, ref_grads, [x, *ws]):
        assert a.dtype == leaf.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)
