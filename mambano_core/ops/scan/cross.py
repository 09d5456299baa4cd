"""MambaNO's cross selective scan (all directions in one call) through the native CPU kernel.

SS2D (VMamba; MambaNO, Zheng et al., NeurIPS 2024) scans the grid along row-major, column-major
and both reversed orders with Mamba's recurrence (Gu & Dao 2023, Alg. 2) and sums the outputs on
the grid. The generic path materialises the four orders (:func:`~mambano_core.ops.cross_scan.cross_scan`),
projects them, runs :func:`~mambano_core.ops.scan.selective_scan_fn` and merges. Here the kernel
(``ops/native/scan.c``) reads every direction from the grid by index, takes the projections in
grid order and writes each direction's output back to grid positions: no flipped, transposed
or concatenated copies, channels-last in and out (the layout of SS2D's LayerNorm).
"""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from mambano_core.ops import native
from mambano_core.ops.cross_scan import folded_projection
from mambano_core.ops.native import data_pointer

#: Floats per gathered time-chunk buffer (steps x channels): keeps a chunk in L1/L2.
CHUNK_FLOATS = 8192


def _lib() -> ctypes.CDLL | None:
    lib = native.load("scan")
    if lib is not None and not getattr(lib, "_typed", False):
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        lib.cross_scan_fwd.argtypes = [i64] * 8 + [ptr] * 10 + [ctypes.c_int] * 3
        lib.cross_scan_bwd.argtypes = [i64] * 8 + [ptr] * 18 + [ctypes.c_int] * 2
        lib.cross_scan_fwd.restype = lib.cross_scan_bwd.restype = ctypes.c_int
        lib.probe_fma.argtypes = [i64, ptr]
        lib.probe_exp.argtypes = lib.probe_exp4.argtypes = [ptr, i64, i64]
        lib.probe_fma.restype = lib.probe_exp.restype = lib.probe_exp4.restype = ctypes.c_double
        lib._typed = True
    return lib


def native_cross_scan_available() -> bool:
    """Whether the native kernel is compiled and loaded here (compiles it at the first call)."""
    return _lib() is not None


def supports(x: Tensor, dstate: int) -> bool:
    """Whether :func:`cross_selective_scan` runs for this input and state size."""
    return (
        x.device.type == "cpu" and x.dtype == torch.float32 and dstate % 8 == 0 and dstate <= 64
        and native_cross_scan_available()
    )  # fmt: skip


def chunk_steps(dim: int, dstate: int) -> int:
    """Time steps per chunk (and between state checkpoints) for ``dim`` channels, ``dstate`` states.

    Channels in blocks of 8 (``dim % 8 == 0``, ``dstate == 16``: the kernel's lane blocks) keep a
    chunk's decays and adjoints of one block for the backward, 2 x 128 steps x 16 x 8 floats
    (128 KiB, in L2): at most 128 steps. 64, 128 and 256 steps ran equally fast on the 2-core
    AMD EPYC; the checkpoints (the states at the chunk starts, saved for the backward) shrink
    with longer chunks. One channel at a time keeps N floats per step: up to 256 steps.
    """
    most = 128 if dim % 8 == 0 and dstate == 16 else 256
    return max(16, min(most, 1 << max(0, (CHUNK_FLOATS // max(dim, 1)).bit_length() - 1)))


class _NativeCrossScan(torch.autograd.Function):
    """(u, x_proj, dt_proj, A, D, bias) -> the merged scan output; the projection is never stored.

    The step sizes, B and C of every direction are 8x the size of ``u`` at MambaNO's first
    level. In lane blocks (``d % 8 == 0``, N = 16) the kernel forms them chunk by chunk in cache,
    in Mamba's low-rank form (``r + 2N`` rows of ``x_proj``, then ``dt_proj``), and their input
    and weight gradients in the backward; otherwise one product with the folded weight gives
    them, recomputed in the backward (cheaper than keeping them).
    """

    @staticmethod
    def forward(ctx, u, x_proj, dt_proj, A, D, bias, height, width):  # type: ignore[override]
        directions, dim, n = A.shape
        batch, length, _ = u.shape
        steps = chunk_steps(dim, n)
        threads = native.num_threads()
        per_batch = _per_batch(batch, directions, threads)
        store = torch.is_grad_enabled() or any(ctx.needs_input_grad[:6])
        rank, proj, wt, _, wup = _projection_operands(u, x_proj, dt_proj, n)
        out = torch.empty_like(u)
        buf = u.new_empty((1,) if per_batch else (batch, directions, length, dim))
        ckpt = u.new_empty((batch, directions, math.ceil(length / steps), dim, n) if store else (1,))
        native.check(
            _lib().cross_scan_fwd(
                batch, height, width, directions, dim, n, steps, rank,
                *map(data_pointer, (proj, wt, wup, u, A, D, bias, out, buf, ckpt)), int(store), int(per_batch), threads,
            ),
            "cross scan forward",
        )  # fmt: skip
        del proj, buf
        ctx.save_for_backward(u, x_proj, dt_proj, A, D, bias, ckpt)
        ctx.grid = (height, width, steps)
        return out

    @staticmethod
    def backward(ctx, dy):  # type: ignore[override]
        u, x_proj, dt_proj, A, D, bias, ckpt = ctx.saved_tensors
        height, width, steps = ctx.grid
        directions, dim, n = A.shape
        batch, length, _ = u.shape
        threads = native.num_threads()
        per_batch = _per_batch(batch, directions, threads)
        rank, proj, wt, w, wup = _projection_operands(u, x_proj, dt_proj, n)
        dproj = None if rank else torch.empty_like(proj)
        dw_parts = u.new_empty((batch,) + tuple(w.shape)) if rank else None
        dwup_parts = u.new_empty((batch,) + tuple(wup.shape)) if rank else None
        dy = dy.contiguous()
        du = torch.empty_like(u)
        buf = u.new_empty((1,) if per_batch else (batch, directions, length, dim))
        dA = u.new_empty((batch, directions, dim, n))
        dD, dbias = u.new_empty((batch, directions, dim)), u.new_empty((batch, directions, dim))
        native.check(
            _lib().cross_scan_bwd(
                batch, height, width, directions, dim, n, steps, rank,
                *map(data_pointer, (proj, wt, w, wup, u, A, D, bias, ckpt, dy, dproj, dw_parts, dwup_parts, du, buf,
                                    dA, dD, dbias)),
                int(per_batch), threads,
            ),
            "cross scan backward",
        )  # fmt: skip
        del buf
        r = dt_proj.shape[-1]
        if rank:
            dw = dw_parts.sum(0)
            dx_proj = torch.cat((dw[:, :r], dw[:, _padded_rank(r) :]), dim=1)
            ddt_proj = dwup_parts.sum(0).transpose(1, 2)
        else:
            du.add_(torch.matmul(dproj, w))
            dw = torch.matmul(dproj.reshape(-1, dproj.shape[-1]).t(), u.reshape(-1, dim)).view(directions, -1, dim)
            dw_dt = dw[:, :dim]  # (K, d, d): the gradient of the folded dt_proj @ x_proj[:, :r]
            dx_proj = torch.cat((torch.matmul(dt_proj.transpose(1, 2), dw_dt), dw[:, dim:]), dim=1)
            ddt_proj = torch.matmul(dw_dt, x_proj[:, :r].transpose(1, 2))
        return du, dx_proj, ddt_proj, dA.sum(0), dD.sum(0), dbias.sum(0), None, None


def _padded_rank(rank: int) -> int:
    """The step-size rank padded to the kernel's blocks of 8 outputs."""
    return -(-rank // 8) * 8


def _projection_operands(
    u: Tensor, x_proj: Tensor, dt_proj: Tensor, dstate: int
) -> tuple[int, Tensor | None, Tensor | None, Tensor, Tensor | None]:
    """What the kernel needs to form the step sizes, B and C: ``(rank, proj, wt, w, wup)``.

    Lane blocks: ``rank`` > 0, ``w`` = x_proj with its step-size rows padded with zeros to a
    multiple of 8 (``(K, R + 2N, d)``), ``wt`` its transpose, ``wup`` = dt_proj transposed
    (``(K, r, d)``), and no ``proj``. Otherwise ``rank`` 0 and ``proj = u @ w.T`` with the folded
    weight ``w`` (``(K (d + 2N), d)``: per direction ``dt_proj @ x_proj[:r]``, then B and C rows).
    """
    directions, _, dim = x_proj.shape
    r = dt_proj.shape[-1]
    if _fused_projection(dim, dstate):
        R = _padded_rank(r)
        w = x_proj.new_zeros((directions, R + 2 * dstate, dim))
        w[:, :r] = x_proj[:, :r]
        w[:, R:] = x_proj[:, r:]
        return r, None, w.transpose(1, 2).contiguous(), w, dt_proj.transpose(1, 2).contiguous()
    folded = torch.cat(folded_projection(x_proj, dt_proj, dstate), dim=1).reshape(-1, dim)
    return 0, torch.matmul(u, folded.t()), None, folded, None


def _fused_projection(dim: int, dstate: int) -> bool:
    """Whether the kernel forms the projections itself: its lane blocks (``dim % 8 == 0``, N = 16).

    Otherwise one ``u @ weight.T`` product with the folded weight gives them, recomputed in the
    backward rather than kept. In Mamba's low-rank form the kernel's product has ``r + 2N``
    outputs per direction instead of ``d + 2N`` (MambaNO: 40 instead of 64 to 288), and at every
    MambaNO level it ran faster than the product (see docs/performance.md, "Fourth pass").
    """
    return dim % 8 == 0 and dstate == 16


def _per_batch(batch: int, directions: int, threads: int) -> bool:
    """One unit of work per batch element (its directions summed in place, in cache) when there
    are enough of them for the threads; else one per (batch, direction) and a buffer. Both sum
    the directions in the same order, so the choice never changes a bit of the result."""
    return directions == 1 or batch >= 2 * threads


def cross_selective_scan(
    u: Tensor,
    x_proj: Tensor,
    dt_proj: Tensor,
    A: Tensor,
    D: Tensor,
    delta_bias: Tensor,
    height: int,
    width: int,
) -> Tensor:
    """Selective scan of every direction of a grid, summed on the grid (softplus step sizes).

    Parameters
    ----------
    u
        ``(batch, L, d)`` the scanned input, channels last, grid order (``p = h * width + w``).
    x_proj
        ``(K, r + 2N, d)``: per direction ``k`` the rows giving the step sizes' rank-``r``
        factor, then ``B`` (``N``) and ``C`` (``N``) from ``u`` (Mamba's ``x_proj``).
    dt_proj
        ``(K, d, r)``: the pre-bias step sizes from the rank-``r`` factor (Mamba's ``dt_proj``).
    A, D, delta_bias
        ``(K, d, N)``, ``(K, d)``, ``(K, d)``; ``K`` (1, 2 or 4) directions in the order of
        :data:`~mambano_core.ops.cross_scan.DIRECTIONS`.

    Returns
    -------
    Tensor
        ``(batch, L, d)``: the sum over directions of ``y_t = <C_t, h_t> + D u_t``.
    """
    directions, dim, n = A.shape
    batch, length, _ = u.shape
    rank = dt_proj.shape[-1] if dt_proj.dim() == 3 else -1
    if (
        length != height * width
        or u.shape[-1] != dim
        or rank < 1
        or tuple(x_proj.shape) != (directions, rank + 2 * n, dim)
        or tuple(dt_proj.shape) != (directions, dim, rank)
    ):
        raise ValueError(
            f"cross scan shapes do not match: u {tuple(u.shape)}, x_proj {tuple(x_proj.shape)}, "
            f"dt_proj {tuple(dt_proj.shape)}, A {tuple(A.shape)}, grid {height}x{width}"
        )
    if not supports(u, n):
        raise RuntimeError("the native cross scan needs float32 CPU tensors, N a multiple of 8, and a C compiler")
    args = [t.contiguous() for t in (u, x_proj, dt_proj, A, D, delta_bias)]
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in args):
        raise ValueError(
            "the native cross scan needs every tensor in CPU float32: "
            + ", ".join(f"{t.dtype} on {t.device}" for t in args)
        )
    return _NativeCrossScan.apply(*args, height, width)


def probe_vector_throughput(seconds: float = 0.2) -> dict[str, float]:
    """Single-thread vector throughput of this machine, measured with the kernel's own code.

    Returns ``fma_ns``: nanoseconds per float32 multiply-add (8 independent vector chains), and
    ``exp_ns``: nanoseconds per float32 exp of the kernel's vectorised exp (in L1; the faster of
    one exp at a time and four interleaved).
    """
    lib = _lib()
    if lib is None:
        raise RuntimeError("the native scan library is not available")
    sink = ctypes.c_float()
    iters = 1 << 20
    while (t := lib.probe_fma(iters, ctypes.addressof(sink))) < seconds:
        iters *= 2
    fma_ns = t * 1e9 / (iters * 8 * 8)
    buf = torch.rand(4096)
    exp_ns = []
    for probe in (lib.probe_exp, lib.probe_exp4):  # one exp at a time; four interleaved (the kernel's)
        reps = 64
        while (t := probe(buf.data_ptr(), buf.numel(), reps)) < seconds:
            reps *= 2
        exp_ns.append(t * 1e9 / (reps * (buf.numel() // 2)))
    return {"fma_ns": fma_ns, "exp_ns": min(exp_ns)}
