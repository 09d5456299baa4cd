"""The ``loop`` backend: the plain sequential selective-scan recurrence (the test oracle).

Mamba-1 recurrence (Gu & Dao 2023, Alg. 2): h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,
y_t = <C_t, h_t> + D u_t, optionally gated by silu(z_t).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mambano_core.ops.scan._common import check_inputs, work_dtype


def _expand_bc(bc: Tensor, batch: int, dim: int, length: int) -> Tensor:
    """Bring B or C to shape (batch, dim, N, L) whatever its accepted layout."""
    if bc.dim() == 2:  # (D, N): time-invariant
        return bc[None, :, :, None].expand(batch, dim, bc.shape[1], length)
    if bc.dim() == 3:  # (B, N, L): shared by all channels
        return bc[:, None, :, :].expand(batch, dim, bc.shape[1], length)
    groups = bc.shape[1]  # (B, G, N, L): channels split into G groups
    return bc.repeat_interleave(dim // groups, dim=1)


def selective_scan_loop(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Sequential selective scan with mamba-ssm's ``selective_scan_fn`` contract.

    Shapes: u, delta, z (batch, dim, L); A (dim, N); B, C (dim, N), (batch, N, L) or
    (batch, groups, N, L); D, delta_bias (dim,). Computes in float32 (float64 if given),
    returns ``out`` in u's dtype, and with ``return_last_state`` also the state (batch, dim, N).
    """
    check_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype_in = u.dtype
    work = work_dtype(u.dtype)
    u, delta, A = u.to(work), delta.to(work), A.to(work)
    batch, dim, length = u.shape
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    Bx = _expand_bc(B.to(work), batch, dim, length)
    Cx = _expand_bc(C.to(work), batch, dim, length)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    # unbind (not indexing) so that autograd gathers the per-step gradients in O(L), not O(L^2)
    steps = zip(delta.unbind(-1), u.unbind(-1), Bx.unbind(-1), Cx.unbind(-1))
    for dt, ut, Bt, Ct in steps:
        dt = dt[:, :, None]
        h = torch.exp(dt * A) * h + dt * Bt * ut[:, :, None]
        ys.append((h * Ct).sum(-1))
    out = torch.stack(ys, dim=-1)
    if D is not None:
        out = out + u * D.to(work)[None, :, None]
    if z is not None:
        out = out * F.silu(z.to(work))
    out = out.to(dtype_in)
    return (out, h) if return_last_state else out
