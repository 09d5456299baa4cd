"""Several matrix products of one large input, with a backward that reads and writes it once.

SS2D projects the cross-scanned input ``x`` (batch, K, d, L) with three small weights (delta, B
and C). As three ``torch.matmul`` calls, autograd's backward runs three products into three
(batch, K, d, L) partial gradients of ``x`` and then adds them, and it reads ``x`` three times for
the weight gradients. On a CPU these large, skinny products are bound by memory traffic: at
MambaNO's first level they took about a tenth of a training step. Here the backward stacks the
output gradients, so one product gives the input gradient and one the weights' gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class _SharedInputMatmul(torch.autograd.Function):
    """``(x, w_1, ..., w_k) -> (w_1 @ x, ..., w_k @ x)`` with a stacked backward."""

    @staticmethod
    def forward(ctx, x: Tensor, *weights: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        ctx.save_for_backward(x, *weights)
        ctx.set_materialize_grads(False)
        return tuple(torch.matmul(w, x) for w in weights)

    @staticmethod
    def backward(ctx, *grads: Tensor | None) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, *weights = ctx.saved_tensors
        if all(g is None for g in grads):
            return (None,) * (1 + len(weights))
        # Under autocast the forward ran in lower precision: so does the backward, as autograd's
        # would, and the gradients come back in the inputs' dtypes.
        dtype = next(g.dtype for g in grads if g is not None)
        lead = torch.broadcast_shapes(x.shape[:-2], *(w.shape[:-2] for w in weights))
        stacked_grad = torch.cat(
            [x.new_zeros(*lead, w.shape[-2], x.shape[-1], dtype=dtype) if g is None else g
             for g, w in zip(grads, weights)],
            dim=-2,
        )  # fmt: skip
        need_x, *need_w = ctx.needs_input_grad
        grad_x = None
        if need_x:
            stacked_w = torch.cat([w.to(dtype) for w in weights], dim=-2)
            grad_x = torch.matmul(stacked_w.transpose(-1, -2), stacked_grad).to(x.dtype)
        grad_ws: list[Tensor | None] = [None] * len(weights)
        if any(need_w):
            full = torch.matmul(stacked_grad, x.to(dtype).transpose(-1, -2))  # (..., sum r_i, d)
            parts = full.split([w.shape[-2] for w in weights], dim=-2)
            for i, (part, w) in enumerate(zip(parts, weights)):
                if need_w[i]:
                    grad_ws[i] = _sum_to(part, w.shape).to(w.dtype)
        return (grad_x, *grad_ws)


def _sum_to(t: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum the broadcast leading dimensions of ``t`` away so that it has ``shape``."""
    lead = t.dim() - len(shape)
    if lead:
        t = t.sum(dim=tuple(range(lead)))
    keep = tuple(i for i, (a, b) in enumerate(zip(t.shape, shape)) if b == 1 and a != 1)
    return t.sum(dim=keep, keepdim=True) if keep else t


def shared_input_matmul(x: Tensor, *weights: Tensor) -> tuple[Tensor, ...]:
    """``tuple(torch.matmul(w, x) for w in weights)``, with one product per gradient in the backward.

    Parameters
    ----------
    x
        Input of shape ``(..., d, L)``.
    *weights
        Matrices of shape ``(..., r_i, d)`` broadcastable against ``x``'s leading dimensions.

    Returns
    -------
    tuple of Tensor
        ``w_i @ x`` of shape ``(..., r_i, L)``, in the order of ``weights``.
    """
    if not weights:
        raise ValueError("shared_input_matmul needs at least one weight")
    return _SharedInputMatmul.apply(x, *weights)
