"""The ``fused`` CPU backend: Numba kernels that never materialise the (batch, dim, L, N) states.

Mamba selective scan (Gu & Dao 2023) computed like mamba-ssm's CUDA kernel: sequential in time
per (batch, channel) with the state in L1, parallel over channels (numba ``prange``; the forward
advances the channels that share B and C together, vectorised across them), states
checkpointed every ``CHUNK`` steps and recomputed chunk by chunk in the backward. The kernels live
in :mod:`mambano_core.ops.scan._numba_kernels` and :mod:`~mambano_core.ops.scan._numba_lanes`; this
module wraps them in an autograd Function.
delta_bias, softplus, D u and the silu(z) gate are fused into the kernels (mamba-ssm's CUDA kernel
does the same), so no (batch, dim, L) intermediate of delta is ever stored.

float32 (and upcast half/bfloat16) runs the parallel kernels. float64, which exists for checks
such as gradcheck, runs the same code on one thread: a ``prange`` kernel doubles numba's compile
time, and the first call of each dtype compiles (about 10-25 s, then cached on disk). A process
forked after numba's OpenMP pool started also runs them (see :func:`_configure_numba`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from mambano_core.ops.native.threads import forked_from_openmp, openmp_started
from mambano_core.ops.scan._common import (
    BackendUnavailableError,
    check_inputs,
    single_group_as_shared,
    work_dtype,
)

#: Steps between state checkpoints (checkpoint memory = N / CHUNK of u's).
CHUNK = 256
#: Smallest block of channels sharing B and C for which the forward runs vectorised across
#: channels (``_numba_lanes``); smaller blocks run one channel at a time.
MIN_LANES = 8

_LOCK = threading.Lock()  # numba's workqueue pool (the fallback layer) must not be entered concurrently


@functools.cache
def numba_available() -> bool:
    """Whether numba imports (the ``fused`` backend needs it)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _configure_numba() -> None:
    """Start numba's thread pool on the OpenMP layer, leaving PyTorch's thread count as it was.

    PyTorch's CPU build runs its own parallel regions on GNU OpenMP, and numba's ``omp`` layer
    loads the same ``libgomp``, so both share one pool of threads that hand the cores to each
    other. With numba's separate ``workqueue`` pool, PyTorch's idle OpenMP threads still spin
    when a numba kernel starts and take the cores from it: measured on a 2-core CPU, the
    benchmark scan (2, 4096, 32, 16) took 0.023-0.026 s forward+backward on ``workqueue`` and
    0.013-0.018 s on ``omp``, and the demo's MambaNO training step 1.15 s and 0.8 s (long
    kernels, as in the default model at 64^2, gain little).

    Starting the OpenMP pool calls ``omp_set_num_threads(NUMBA_NUM_THREADS)``, which would
    silently raise PyTorch's own thread count: with ``OMP_NUM_THREADS=1``, two processes on two
    cores then ran two threads each and took 4x longer. So the count is restored. Where OpenMP
    is missing numba falls back to ``workqueue``; ``NUMBA_THREADING_LAYER`` overrides.
    """
    import numba

    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "default"
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]
    threads = torch.get_num_threads()
    numba.get_num_threads()  # starts the pool
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if numba.threading_layer() == "omp":
        openmp_started()  # numba terminates a child forked after this at its first parallel kernel


def _serial_kernels(dtype: torch.dtype) -> bool:
    """Whether to run the single-threaded kernels: float64 (checks) or a child forked after OpenMP started."""
    return dtype != torch.float32 or forked_from_openmp()


@contextlib.contextmanager
def _numba_threads() -> Iterator[int]:
    """Run numba's parallel loops on torch's thread budget; yields the thread count."""
    import numba

    _configure_numba()
    previous = numba.get_num_threads()
    wanted = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    with _LOCK:
        numba.set_num_threads(wanted)
        try:
            yield wanted
        finally:
            numba.set_num_threads(previous)


def _np(x: Tensor) -> np.ndarray:
    """Zero-copy numpy view of a contiguous CPU tensor."""
    return x.detach().numpy()


def _normalise_bc(x: Tensor, groups: int) -> Tensor:
    """B or C as (batch or 1, G, N, L or 1), contiguous (differentiable)."""
    if groups == 0:  # (dim, N) -> (1, dim, N, 1)
        return x.reshape(1, x.shape[0], x.shape[1], 1).contiguous()
    if groups == 1:  # (batch, N, L) -> (batch, 1, N, L)
        return x.unsqueeze(1).contiguous()
    return x.contiguous()


def _lane_block(Bn: Tensor, Cn: Tensor, dim: int) -> int:
    """Channels per block sharing one time-varying B row and one C row (0: B or C time-invariant)."""
    if Bn.shape[3] == 1 or Cn.shape[3] == 1:
        return 0
    return math.gcd(dim // int(Bn.shape[1]), dim // int(Cn.shape[1]))


def _work_split(Bn: Tensor, Cn: Tensor, batch: int, dim: int, threads: int) -> tuple[int, int]:
    """Work groups and parts per group of the backward (see ``scan_bwd``).

    The channels of one B (or C) group share its gradient rows, so every work group must lie
    inside one group of B and one of C: the work-group count divides both group counts (a
    time-invariant B or C has ``dim`` groups of one channel).
    """
    groups = math.gcd(int(Bn.shape[1]), int(Cn.shape[1]))
    parts = min(dim // groups, max(1, math.ceil(threads / (batch * groups))))
    return groups, parts


class _FusedScan(torch.autograd.Function):
    """(u, delta, A, B, C, D, z) -> (out, last state) through the numba kernels."""

    @staticmethod
    def forward(ctx, u, dt, A, Bn, Cn, D, z, delta_bias, softplus, store):  # type: ignore[override]
        from mambano_core.ops.scan import _numba_kernels as nk

        batch, dim, length = u.shape
        n = A.shape[1]
        Dv = D if D is not None else u.new_zeros(dim)
        bias = delta_bias if delta_bias is not None else u.new_zeros(dim)
        zv = z if z is not None else u
        out, last = torch.empty_like(u), u.new_empty((batch, dim, n))
        ckpt = u.new_empty((batch, dim, math.ceil(length / CHUNK), n) if store else (1, 1, 1, n))
        arrays = (*map(_np, (u, dt, A, Bn, Cn, Dv, zv)), z is not None, _np(bias), softplus, CHUNK, store,
                  _np(out), _np(ckpt), _np(last))  # fmt: skip
        block = _lane_block(Bn, Cn, dim)
        with _numba_threads():
            if _serial_kernels(u.dtype):
                nk.scan_fwd_serial(*arrays)
            elif block >= MIN_LANES:
                from mambano_core.ops.scan._numba_lanes import scan_fwd_lanes

                scan_fwd_lanes(*arrays, block)
            else:
                nk.scan_fwd(*arrays)
        ctx.save_for_backward(u, dt, A, Bn, Cn, Dv, zv, bias, ckpt)
        ctx.has_z, ctx.softplus = z is not None, softplus
        ctx.set_materialize_grads(False)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):  # type: ignore[override]
        from mambano_core.ops.scan import _numba_kernels as nk

        u, dt, A, Bn, Cn, Dv, zv, bias, ckpt = ctx.saved_tensors
        batch, dim, _ = u.shape
        n = A.shape[1]
        dout = torch.zeros_like(u) if dout is None else dout.to(u.dtype).contiguous()
        dlast = u.new_zeros((batch, dim, n)) if dlast is None else dlast.to(u.dtype).contiguous()
        du, ddt = torch.empty_like(u), torch.empty_like(u)
        dz = torch.empty_like(u) if ctx.has_z else u.new_empty((1, 1, 1))
        dA = torch.zeros((batch, dim, n), dtype=torch.float64)
        dD = torch.zeros((batch, dim), dtype=torch.float64)
        dbias = torch.zeros((batch, dim), dtype=torch.float64)
        kernel = nk.scan_bwd_serial if _serial_kernels(u.dtype) else nk.scan_bwd
        with _numba_threads() as threads:
            groups, parts = _work_split(Bn, Cn, batch, dim, threads)
            dBp = u.new_zeros((parts, batch) + tuple(Bn.shape[1:]))
            dCp = u.new_zeros((parts, batch) + tuple(Cn.shape[1:]))
            kernel(
                *map(_np, (u, dt, A, Bn, Cn, Dv, zv)), ctx.has_z, _np(bias), ctx.softplus, CHUNK,
                _np(ckpt), _np(dout), _np(dlast), groups, parts, _np(du), _np(ddt), _np(dz),
                _np(dA), _np(dD), _np(dbias), _np(dBp), _np(dCp),
            )  # fmt: skip
        need = ctx.needs_input_grad
        return (
            du if need[0] else None,
            ddt if need[1] else None,
            dA.sum(0).to(u.dtype) if need[2] else None,
            _reduce_parts(dBp, Bn) if need[3] else None,
            _reduce_parts(dCp, Cn) if need[4] else None,
            dD.sum(0).to(u.dtype) if need[5] else None,
            dz if need[6] else None,
            dbias.sum(0).to(u.dtype) if need[7] else None,
            None,
            None,
        )


def _reduce_parts(partial: Tensor, like: Tensor) -> Tensor:
    """Sum the per-part (and, for batch-free B/C, per-batch) partial gradients."""
    out = partial[0] if partial.shape[0] == 1 else partial.sum(0)
    return out.sum(0, keepdim=True) if like.shape[0] == 1 and out.shape[0] > 1 else out


def selective_scan_fused(
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
    """Selective scan on CPU through fused Numba kernels (mamba-ssm ``selective_scan_fn`` contract).

    Parameters and returns are those of :func:`mambano_core.ops.scan.selective_scan_fn`.

    Raises
    ------
    ValueError
        For tensors that are not on the CPU.
    BackendUnavailableError
        If numba is not installed.
    """
    shape = check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if u.device.type != "cpu":
        raise ValueError(
            f"the 'fused' scan backend runs on CPU tensors only, got tensors on {u.device}; "
            "use backend='auto', 'cuda' or 'torch'"
        )
    if not numba_available():
        raise BackendUnavailableError("the 'fused' scan backend needs numba (pip install numba)")
    work = work_dtype(u.dtype)

    def prep(x: Tensor | None) -> Tensor | None:
        return None if x is None else x.to(work).contiguous()

    B, C = single_group_as_shared(B), single_group_as_shared(C)
    inputs = (prep(u), prep(delta), prep(A), _normalise_bc(B.to(work), shape.groups_b),
              _normalise_bc(C.to(work), shape.groups_c), prep(D), prep(z), prep(delta_bias))  # fmt: skip
    store = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in inputs)
    # store: keep checkpoints for a backward
    out, last = _FusedScan.apply(*inputs, bool(delta_softplus), store)
    out = out.to(u.dtype)
    return (out, last) if return_last_state else out


def compile_kernels() -> bool:
    """Compile (or load from numba's disk cache) the float32 kernels with two tiny scans.

    One scan has too few channels per B/C group for the lane forward, the other enough, so both
    forward kernels and the backward are compiled. The first call in a fresh install compiles
    for a minute or more; calling this ahead of a timed job (``make demo`` does) keeps that out
    of its budget. Returns whether numba is available.
    """
    if not numba_available():
        return False
    g = torch.Generator().manual_seed(0)
    for dim in (2, MIN_LANES):
        u, dt, z = (torch.randn(1, dim, 8, generator=g, requires_grad=True) for _ in range(3))
        A = -torch.rand(dim, 4, generator=g).requires_grad_()
        B, C = (torch.randn(1, 4, 8, generator=g, requires_grad=True) for _ in range(2))
        bias = torch.zeros(dim, requires_grad=True)
        selective_scan_fused(u, dt, A, B, C, torch.ones(dim), z, bias, True).sum().backward()
    return True


__all__ = ["selective_scan_fused", "numba_available", "compile_kernels"]
