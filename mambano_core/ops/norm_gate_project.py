"""``LayerNorm(y) * gate`` projected by a linear map, keeping only ``y`` and ``gate`` for the backward.

The output end of SS2D (VMamba's ``out_proj(out_norm(y) * act(z))``). Written as separate
modules, autograd keeps four full-size tensors of it for the backward: the norm's input ``y``,
its output, the gate and their product (the linear map's input). This op keeps ``y``, the gate
and the norm's per-position mean and inverse deviation, and recomputes the normalised ``y`` and
the product in the backward: two elementwise passes instead of two stored tensors (16 MiB per
level-0 SS2D call of MambaNO at batch 16, 64^2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class _NormGateProject(torch.autograd.Function):
    """``(LayerNorm(y) * gate) @ weight.T`` with ``y`` and ``gate`` of shape ``(..., d)``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, y: Tensor, gate: Tensor, norm_weight: Tensor | None, norm_bias: Tensor | None, weight: Tensor,
        eps: float,
    ) -> Tensor:
        dim = y.shape[-1]
        normed, mean, rstd = torch.native_layer_norm(y, (dim,), norm_weight, norm_bias, eps)
        out = torch.matmul(normed.mul_(gate), weight.t())
        ctx.save_for_backward(y, gate, mean, rstd, norm_weight, norm_bias, weight)
        ctx.eps = eps
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        y, gate, mean, rstd, norm_weight, norm_bias, weight = ctx.saved_tensors
        dim = y.shape[-1]
        normed = torch.native_layer_norm(y, (dim,), norm_weight, norm_bias, ctx.eps)[0]  # one pass
        grad = grad.contiguous()
        grad_product = torch.matmul(grad, weight)
        grad_weight = None
        if ctx.needs_input_grad[4]:
            product = normed * gate
            grad_weight = torch.matmul(grad.reshape(-1, grad.shape[-1]).t(), product.reshape(-1, dim))
            del product
        grad_gate = grad_product * normed if ctx.needs_input_grad[1] else None
        del normed
        grad_normed = grad_product.mul_(gate)
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[2], ctx.needs_input_grad[3]]
        grad_y, grad_norm_weight, grad_norm_bias = torch.ops.aten.native_layer_norm_backward(
            grad_normed, y, [dim], mean, rstd, norm_weight, norm_bias, mask
        )
        return grad_y, grad_gate, grad_norm_weight, grad_norm_bias, grad_weight, None


def norm_gate_project(
    y: Tensor, gate: Tensor, norm_weight: Tensor | None, norm_bias: Tensor | None, weight: Tensor, eps: float
) -> Tensor:
    """``F.linear(F.layer_norm(y, (d,), norm_weight, norm_bias, eps) * gate, weight)``, saving less.

    Parameters
    ----------
    y, gate
        ``(..., d)`` tensors of one dtype and device (``gate`` broadcast-free: the same shape).
    norm_weight, norm_bias
        The LayerNorm's affine parameters ``(d,)`` (or ``None``).
    weight
        The linear map ``(d_out, d)``, no bias.
    eps
        The LayerNorm's epsilon.

    Returns
    -------
    Tensor
        ``(..., d_out)``; differentiable once (no double backward).
    """
    if gate.shape != y.shape:
        raise ValueError(f"gate shape {tuple(gate.shape)} differs from y's {tuple(y.shape)}")
    return _NormGateProject.apply(y, gate, norm_weight, norm_bias, weight, eps)
