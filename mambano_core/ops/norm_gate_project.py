"""``LayerNorm(y) * gate`` projected by a linear map, keeping only ``y`` and ``gate`` for the backward.

The output end of SS2D (VMamba's ``out_proj(out_norm(y) * act(z))``). Written as separate
modules, autograd keeps four full-size tensors of it for the backward: the norm's input ``y``,
its output, the gate and their product (the linear map's input). This op keeps ``y``, the gate
and the norm's per-position mean and inverse deviation, and recomputes the normalised ``y`` and
the product in the backward: two elementwise passes instead of two stored tensors (16 MiB per
level-0 SS2D call of MambaNO at batch 16, 64^2).

Two backends behind :func:`norm_gate_project`: on CPU float32 with the native library
(``ops/native/norm_gate.c``) one pass over the rows forward and one backward, each row's values
in vectors; elsewhere (CUDA, float64, a norm without affine parameters, widths not a multiple
of 8 or above 1024, no C compiler) the same algebra from PyTorch ops. They agree to float32
rounding.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from mambano_core.ops import native
from mambano_core.ops.native import data_pointer


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


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    lib = native.load("norm_gate")
    if lib is not None:
        i64, ptr, i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
        lib.norm_gate_forward.argtypes = [i64] * 3 + [ptr] * 5 + [ctypes.c_float] + [ptr] * 3 + [i32]
        lib.norm_gate_backward.argtypes = [i64] * 3 + [ptr] * 13 + [i32]
        lib.norm_gate_forward.restype = lib.norm_gate_backward.restype = i32
        lib.norm_gate_block_rows.restype = lib.norm_gate_max_dim.restype = i64
    return lib


def _native_eligible(
    y: Tensor, norm_weight: Tensor | None, norm_bias: Tensor | None, weight: Tensor, gate: Tensor | None = None
) -> bool:
    """Whether the native kernel runs: every tensor CPU float32, an affine norm of ``y``'s width,
    ``weight`` of shape ``(dout, d)``, ``d`` and ``dout`` multiples of 8 up to the kernel's limit."""
    dim, dout = y.shape[-1], weight.shape[0]
    if norm_weight is None or norm_bias is None or _library() is None:
        return False
    tensors = (y, weight, norm_weight, norm_bias) + (() if gate is None else (gate,))
    widest = _library().norm_gate_max_dim()
    return (
        all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and tuple(norm_weight.shape) == (dim,) and tuple(norm_bias.shape) == (dim,)
        and weight.dim() == 2 and weight.shape[1] == dim
        and dim % 8 == 0 and dout % 8 == 0 and dim <= widest and dout <= widest
    )  # fmt: skip


class _NativeNormGateProject(torch.autograd.Function):
    """:class:`_NormGateProject` in the native kernel: keeps ``y``, the gate, mean and rstd."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, y: Tensor, gate: Tensor, norm_weight: Tensor, norm_bias: Tensor, weight: Tensor, eps: float
    ) -> Tensor:
        dim, dout = y.shape[-1], weight.shape[0]
        y, gate = y.contiguous(), gate.contiguous()
        rows = y.numel() // dim
        out = y.new_empty(*y.shape[:-1], dout)
        mean, rstd = y.new_empty(rows), y.new_empty(rows)
        nw, nb = norm_weight.detach().contiguous(), norm_bias.detach().contiguous()
        wt = weight.detach().t().contiguous()
        native.check(
            _library().norm_gate_forward(
                rows, dim, dout, *map(data_pointer, (y, gate, nw, nb, wt)), eps,
                *map(data_pointer, (out, mean, rstd)), native.num_threads(),
            ),
            "norm-gate-project forward",
        )  # fmt: skip
        ctx.save_for_backward(y, gate, mean, rstd, nw, nb, weight)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        y, gate, mean, rstd, nw, nb, weight = ctx.saved_tensors
        dim, dout = y.shape[-1], weight.shape[0]
        rows = y.numel() // dim
        lib = _library()
        blocks = -(-rows // lib.norm_gate_block_rows())
        grad = grad.contiguous()
        dy, dgate = torch.empty_like(y), torch.empty_like(gate)
        dw_parts = y.new_empty(blocks, dout, dim)
        dnw_parts, dnb_parts = y.new_empty(blocks, dim), y.new_empty(blocks, dim)
        w = weight.detach().contiguous()
        native.check(
            lib.norm_gate_backward(
                rows, dim, dout,
                *map(data_pointer, (y, gate, nw, nb, w, mean, rstd, grad, dy, dgate, dw_parts, dnw_parts, dnb_parts)),
                native.num_threads(),
            ),
            "norm-gate-project backward",
        )  # fmt: skip
        return dy, dgate, dnw_parts.sum(0), dnb_parts.sum(0), dw_parts.sum(0), None


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
    if _native_eligible(y, norm_weight, norm_bias, weight, gate):
        return _NativeNormGateProject.apply(y, gate, norm_weight, norm_bias, weight, eps)
    return _NormGateProject.apply(y, gate, norm_weight, norm_bias, weight, eps)
