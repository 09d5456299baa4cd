"""The ``torch`` backend: a chunked parallel selective scan in pure PyTorch with its own backward.

Mamba recurrence (Gu & Dao 2023): h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = <C_t, h_t>.
Algorithm: a two-level (chunked) scan, the CPU/GPU form of Blelloch's reduce-then-scan. The sequence
is cut into chunks of ``T`` steps; a *block* of ``nb`` consecutive chunks is materialised at a time
in a time-major layout ``(T, nb, batch, G, dim/G, N)``. Within a block every chunk is swept in
parallel (``T`` vectorised steps), the chunk carries are passed sequentially from chunk to chunk
with the chunks' decay products, and the chunks are swept again from their true start states. Decay
products only ever shrink (|exp(delta A)| <= 1 for A <= 0), so nothing overflows at any length.
The forward keeps only the states at chunk starts (``L/T`` of them); the backward recomputes each
block's states from them and runs the same scan in reverse on the adjoint,
r_t = exp(delta_t A) (C_t dy_t + r_{t+1}), so peak memory is O(block) + O(batch dim L), not
O(batch dim L N).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mambano_core.ops.scan._common import check_inputs, single_group_as_shared, work_dtype

#: Chunk length T (steps swept sequentially inside a chunk).
CHUNK = 16
#: Elements of one block tensor (T * nb * batch * dim * N); bounds the working memory.
BLOCK_ELEMS = 1 << 20


def _tm(x: Tensor, T: int, nc: int, groups: int) -> Tensor:
    """(batch, dim, L) -> time-major (T, nc, batch, G, dim/G), zero-padded to nc*T steps."""
    b, d, length = x.shape
    if nc * T != length:
        x = F.pad(x, (0, nc * T - length))
    x = x.reshape(b, d, nc, T).permute(3, 2, 0, 1).contiguous()
    return x.view(T, nc, b, groups, d // groups)


def _from_tm(x: Tensor, length: int) -> Tensor:
    """Inverse of :func:`_tm`: (T, nc, batch, G, dim/G) -> (batch, dim, L)."""
    T, nc, b, g, dg = x.shape
    return x.permute(2, 3, 4, 1, 0).reshape(b, g * dg, nc * T)[..., :length].contiguous()


def _bc_tm(x: Tensor, gx: int, groups: int, T: int, nc: int) -> Tensor:
    """B or C in a layout broadcastable against (T, nc, batch, G, dim/G, N)."""
    if gx == 0:  # (dim, N): time-invariant
        return x.reshape(groups, x.shape[0] // groups, x.shape[1])
    x = x.unsqueeze(1) if gx == 1 else x
    if 1 < gx < groups:
        x = x.repeat_interleave(groups // gx, dim=1)
    b, g, n, length = x.shape
    if nc * T != length:
        x = F.pad(x, (0, nc * T - length))
    return x.reshape(b, g, n, nc, T).permute(4, 3, 0, 1, 2).contiguous().unsqueeze(-2)


def _bc_grad(d: Tensor, gx: int, groups: int, length: int, dim: int) -> Tensor:
    """Bring a gradient from the layout of :func:`_bc_tm` back to B's (or C's) own layout."""
    if gx == 0:
        return d.reshape(dim, d.shape[-1])
    T, nc, b, g, n = d.shape
    out = d.permute(2, 3, 4, 1, 0).reshape(b, g, n, nc * T)[..., :length]
    if g != max(gx, 1):  # computed per work group, summed back to the tensor's own groups
        out = out.reshape(b, max(gx, 1), g // max(gx, 1), n, length).sum(2)
    return (out.squeeze(1) if gx == 1 else out).contiguous()


def _sweep(dA: Tensor, X: Tensor, S: Tensor, reverse: bool) -> None:
    """In-place sequential sweep over the T steps of all chunks at once.

    Forward: S[t+1] = dA[t] S[t] + X[t] from S[0]; reverse: S[t] = dA[t] S[t+1] + X[t] from S[T].
    """
    T = dA.shape[0]
    if reverse:
        for t in range(T - 1, -1, -1):
            torch.addcmul(X[t], dA[t], S[t + 1], out=S[t])
    else:
        for t in range(T):
            torch.addcmul(X[t], dA[t], S[t], out=S[t + 1])


def _carry_scan(P: Tensor, E: Tensor, h0: Tensor, out: Tensor, reverse: bool) -> None:
    """Carries of ``nb`` chunks from their decay products P and zero-start end states E.

    Sequential carry between chunks: out[0] = h0, out[k+1] = E[k] + P[k] out[k] (the true end
    state of chunk k); mirrored when ``reverse``. ``nb`` small ops on (batch, dim, N) slices:
    cheaper than a log-depth scan over chunks, which would add log2(nb) passes over the block.
    """
    nb = P.shape[0]
    order = range(nb - 1, 0, -1) if reverse else range(nb - 1)
    out[nb - 1 if reverse else 0] = h0
    for k in order:
        torch.addcmul(E[k], P[k], out[k], out=out[k - 1 if reverse else k + 1])


def _chunk_scan(dA: Tensor, X: Tensor, carry: Tensor, S: Tensor, reverse: bool = False) -> None:
    """Scan a block (T, nb, ...) from ``carry`` into ``S`` of shape (T+1, nb, ...).

    Forward: S[0, k] is the state before chunk k and S[t+1, k] the state after its step t.
    Reverse: S[T, k] is the adjoint carried in from chunk k+1 and S[t, k] the one at step t.
    """
    T, nb = dA.shape[:2]
    edge, inner = (T, 0) if reverse else (0, T)
    if nb > 1:
        S[edge].zero_()
        _sweep(dA, X, S, reverse)
        _carry_scan(dA.prod(0), S[inner].clone(), carry, S[edge], reverse)
    else:
        S[edge, 0] = carry
    _sweep(dA, X, S, reverse)


@dataclass(frozen=True)
class _Plan:
    """Chunking of one call: T steps per chunk, nb chunks per block, nc (padded) chunks."""

    T: int
    nc: int
    nb: int
    length: int
    groups: int
    gb: int
    gc: int

    @staticmethod
    def make(length: int, bdn: int, gb: int, gc: int) -> "_Plan":
        """Choose T and equal-sized blocks of at most ``BLOCK_ELEMS`` elements."""
        T = max(1, min(CHUNK, length))
        nc = math.ceil(length / T)
        nb_max = max(1, BLOCK_ELEMS // (T * bdn))
        nblocks = math.ceil(nc / nb_max)
        nb = math.ceil(nc / nblocks)
        return _Plan(T, nb * nblocks, nb, length, max(1, gb, gc), gb, gc)

    def blocks(self, reverse: bool = False) -> list[slice]:
        """Chunk slices of the blocks, in scan order."""
        out = [slice(c, c + self.nb) for c in range(0, self.nc, self.nb)]
        return out[::-1] if reverse else out


_CACHE = threading.local()
#: Largest workspace (bytes) kept between calls, per thread, dtype and device.
CACHE_BYTES = 32 << 20


def _buffer(like: Tensor, numel: int) -> Tensor:
    """A flat scratch buffer of at least ``numel`` elements, reused between calls when small.

    Freshly mapped pages cost more than the arithmetic done on them on CPU (a page fault per
    4 KiB), so block buffers are recycled instead of reallocated for every call.
    """
    nbytes = numel * like.element_size()
    if like.device.type != "cpu" or nbytes > CACHE_BYTES:
        return like.new_empty(numel)
    store = getattr(_CACHE, "buffers", None)
    if store is None:
        store = _CACHE.buffers = {}
    key = (like.dtype, like.device)
    buf = store.get(key)
    if buf is None or buf.numel() < numel:
        buf = store[key] = like.new_empty(numel)
    return buf[:numel]


class _Work:
    """Block-sized buffers shared by every block of a call (and cached between calls)."""

    def __init__(self, like: Tensor, plan: _Plan, batch: int, dim: int, n: int, backward: bool) -> None:
        shape = (plan.T, plan.nb, batch, plan.groups, dim // plan.groups, n)
        ext = (plan.T + 1,) + shape[1:]
        shapes = [shape, shape, ext] + ([shape, ext] if backward else [])
        flat = _buffer(like, sum(math.prod(x) for x in shapes))
        views, offset = [], 0
        for shp in shapes:
            views.append(flat[offset : offset + math.prod(shp)].view(shp))
            offset += math.prod(shp)
        self.dA, self.X, self.S = views[:3]
        self.G, self.R = (views[3], views[4]) if backward else (None, None)

    def inputs(self, dt: Tensor, dtu: Tensor, A_v: Tensor, Bb: Tensor) -> None:
        """Decays exp(delta A) into ``dA`` and inputs delta B u into ``X`` for one block."""
        torch.mul(dt.unsqueeze(-1), A_v, out=self.dA).exp_()
        torch.mul(dtu.unsqueeze(-1), Bb, out=self.X)


def _sl(x: Tensor, gx: int, sl: slice) -> Tensor:
    """Block slice of a time-major B/C tensor (time-invariant ones are returned whole)."""
    return x if gx == 0 else x[:, sl]


class _ChunkedScan(torch.autograd.Function):
    """Autograd function (u, delta, A, B, C) -> (y = <C, h>, last state) with its own backward."""

    @staticmethod
    def forward(ctx, u, dt, A, B, C, gb, gc):  # type: ignore[override]
        batch, dim, length = u.shape
        n = A.shape[1]
        plan = _Plan.make(length, batch * dim * n, gb, gc)
        T, nc, G = plan.T, plan.nc, plan.groups
        u_tm, dt_tm = _tm(u, T, nc, G), _tm(dt, T, nc, G)
        dtu_tm = dt_tm * u_tm
        B_tm, C_tm = _bc_tm(B, gb, G, T, nc), _bc_tm(C, gc, G, T, nc)
        A_v = A.reshape(G, dim // G, n)
        y_tm = torch.empty_like(u_tm)
        starts = u.new_empty((nc, batch, G, dim // G, n))
        h = u.new_zeros((batch, G, dim // G, n))
        ws = _Work(u, plan, batch, dim, n, backward=False)
        for sl in plan.blocks():
            ws.inputs(dt_tm[:, sl], dtu_tm[:, sl], A_v, _sl(B_tm, gb, sl))
            _chunk_scan(ws.dA, ws.X, h, ws.S)
            starts[sl] = ws.S[0]
            torch.mul(ws.S[1:], _sl(C_tm, gc, sl), out=ws.X)
            torch.sum(ws.X, dim=-1, out=y_tm[:, sl])
            h = ws.S[T, -1].clone()
        ctx.save_for_backward(u_tm, dt_tm, A_v, B_tm, C_tm, starts)
        ctx.plan = plan
        ctx.set_materialize_grads(False)
        return _from_tm(y_tm, length), h.reshape(batch, dim, n)

    @staticmethod
    def backward(ctx, gy, glast):  # type: ignore[override]
        u_tm, dt_tm, A_v, B_tm, C_tm, starts = ctx.saved_tensors
        plan: _Plan = ctx.plan
        T, nc, batch, G, dg = u_tm.shape
        n, dim, need = A_v.shape[-1], G * dg, ctx.needs_input_grad
        gy_tm = torch.zeros_like(u_tm) if gy is None else _tm(gy.to(u_tm.dtype), T, nc, G)
        r = u_tm.new_zeros((batch, G, dg, n))
        if glast is not None:
            r = glast.to(r.dtype).reshape(batch, G, dg, n).clone()
        grads = _Grads(u_tm, plan, n)
        ws = _Work(u_tm, plan, batch, dim, n, backward=True)
        fields = (u_tm, dt_tm, dt_tm * u_tm, gy_tm, A_v, B_tm, C_tm, starts)
        for sl in plan.blocks(reverse=True):
            r = _block_backward(ws, grads, sl, r, fields, need)
        du = _from_tm(grads.du, plan.length) if need[0] else None
        ddt = _from_tm(grads.ddt, plan.length) if need[1] else None
        dA = grads.dA.reshape(dim, n) if need[2] else None
        dB = _bc_grad(grads.dB, plan.gb, G, plan.length, dim) if need[3] else None
        dC = _bc_grad(grads.dC, plan.gc, G, plan.length, dim) if need[4] else None
        return du, ddt, dA, dB, dC, None, None


class _Grads:
    """Gradient accumulators of the chunked backward (time-major and per-parameter)."""

    def __init__(self, u_tm: Tensor, plan: _Plan, n: int) -> None:
        T, nc, batch, groups, dg = u_tm.shape
        self.du = torch.empty_like(u_tm)
        self.ddt = torch.empty_like(u_tm)
        self.dA = u_tm.new_zeros((groups, dg, n))
        shape_b = (groups, dg, n) if plan.gb == 0 else (T, nc, batch, groups, n)
        shape_c = (groups, dg, n) if plan.gc == 0 else (T, nc, batch, groups, n)
        self.dB = u_tm.new_zeros(shape_b)
        self.dC = u_tm.new_zeros(shape_c)
        self.gb, self.gc = plan.gb, plan.gc


def _block_backward(
    ws: _Work,
    grads: _Grads,
    sl: slice,
    r: Tensor,
    fields: tuple[Tensor, ...],
    need: tuple[bool, ...],
) -> Tensor:
    """Backward of one block; accumulates into ``grads`` and returns the adjoint carry r."""
    u_tm, dt_tm, dtu_tm, gy_tm, A_v, B_tm, C_tm, starts = fields
    dt, u, dtu, gy = dt_tm[:, sl], u_tm[:, sl], dtu_tm[:, sl], gy_tm[:, sl].unsqueeze(-1)
    Bb, Cb = _sl(B_tm, grads.gb, sl), _sl(C_tm, grads.gc, sl)
    assert ws.G is not None and ws.R is not None
    ws.inputs(dt, dtu, A_v, Bb)
    T = ws.dA.shape[0]
    ws.S[0] = starts[sl]
    _sweep(ws.dA, ws.X, ws.S, reverse=False)  # true states h_t, recomputed
    torch.mul(gy, Cb, out=ws.G)  # C_t dy_t
    torch.mul(ws.dA, ws.G, out=ws.X)
    _chunk_scan(ws.dA, ws.X, r, ws.R, reverse=True)  # r_t = exp(delta_t A) g_t
    r = ws.R[0, 0].clone()
    g = ws.G.add_(ws.R[1:])  # adjoint of h_t
    rh = torch.mul(ws.R[:T], ws.S[:T], out=ws.X)  # exp(delta_t A) g_t h_{t-1}
    tmp = ws.R[1:]
    if need[0] or need[1]:
        sgb = torch.mul(g, Bb, out=tmp).sum(-1)
        if need[1]:
            grads.ddt[:, sl] = torch.mul(rh, A_v, out=tmp).sum(-1).addcmul_(u, sgb)
        if need[0]:
            torch.mul(dt, sgb, out=grads.du[:, sl])
    if need[2]:
        grads.dA += rh.mul_(dt.unsqueeze(-1)).sum((0, 1, 2))
    if need[3]:
        _acc_bc(grads.dB, g, dtu, grads.gb, sl)
    if need[4]:
        _acc_bc(grads.dC, ws.S[1:], gy.squeeze(-1), grads.gc, sl)
    return r


def _acc_bc(acc: Tensor, full: Tensor, w: Tensor, gx: int, sl: slice) -> None:
    """Accumulate the channel sum of ``full * w`` (B's or C's gradient) for one block.

    ``full`` (T, nb, batch, G, dim/G, N) is overwritten; ``w`` is (T, nb, batch, G, dim/G).
    """
    full.mul_(w.unsqueeze(-1))
    if gx == 0:
        acc += full.sum((0, 1, 2))
    else:
        torch.sum(full, dim=-2, out=acc[:, sl])


def selective_scan_torch(
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
    """Chunked parallel selective scan in PyTorch with mamba-ssm's ``selective_scan_fn`` contract.

    Parameters
    ----------
    u, delta : Tensor
        Input and step sizes, (batch, dim, L).
    A : Tensor
        State matrix (dim, N), real.
    B, C : Tensor
        (dim, N), (batch, N, L) or (batch, G, N, L) with dim divisible by G.
    D, delta_bias : Tensor, optional
        Skip weight and step bias, (dim,).
    z : Tensor, optional
        Gate (batch, dim, L); the output is multiplied by silu(z).
    delta_softplus : bool
        Apply softplus to delta + delta_bias.
    return_last_state : bool
        Also return the final state (batch, dim, N) (differentiable).

    Returns
    -------
    Tensor or tuple of Tensor
        ``out`` (batch, dim, L) in u's dtype, and the last state if requested.
    """
    shape = check_inputs(u, delta, A, B, C, D, z, delta_bias)
    work = work_dtype(u.dtype)
    uw, dt = u.to(work), delta.to(work)
    if delta_bias is not None:
        dt = dt + delta_bias.to(work)[:, None]
    if delta_softplus:
        dt = F.softplus(dt)
    B, C = single_group_as_shared(B), single_group_as_shared(C)
    y, last = _ChunkedScan.apply(
        uw, dt.contiguous(), A.to(work), B.to(work), C.to(work), shape.groups_b, shape.groups_c
    )
    if D is not None:
        y = torch.addcmul(y, uw, D.to(work)[:, None])
    if z is not None:
        y = y * F.silu(z.to(work))
    out = y.to(u.dtype)
    return (out, last) if return_last_state else out
