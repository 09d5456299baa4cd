"""Forward kernel of the ``fused`` CPU backend, vectorised across channels ("lanes").

Same recurrence and outputs as :func:`mambano_core.ops.scan._numba_kernels.scan_fwd` (Gu & Dao
2023, Alg. 2), bit for bit: every value is formed by the same operations in the same order. The
difference is the loop order. ``scan_fwd`` runs one channel at a time, vectorises the exponentials
over time and leaves the recurrence itself scalar. Here a block of channels that share their B and
C rows (one group of mamba-ssm's layout) advances together: at each step and state the inner loop
runs over the block's channels, so the exponential, the state update and the output contraction
are one vectorised loop and the state never leaves L1. On the MambaNO shapes this halves the
forward time. It needs time-varying B and C (the block shares B_t and C_t); other layouts use
``scan_fwd``. The chunk checkpoints it stores are those of ``scan_fwd``, so the backward is shared.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mambano_core.ops.scan._numba_kernels import _delta_row, _sigmoid_row, fexp, fma

#: Channels advanced together (one SIMD-friendly inner loop; its buffers are (CHUNK, LANES)).
LANES = 32


@njit(cache=True, error_model="numpy")
def _gather_rows(src, b, d0, nd, t0, m, dst):  # pragma: no cover - compiled by numba
    """dst[i, l] = src[b, d0 + l, t0 + i] for the block's nd channels and m steps."""
    for lane in range(nd):
        row = src[b, d0 + lane, t0 : t0 + m]
        for i in range(m):
            dst[i, lane] = row[i]


@njit(cache=True, error_model="numpy")
def _block_chunk(Brow, Crow, t0, m, DT, X, Y, H, AT):  # pragma: no cover - compiled by numba
    """Advance the block's states H (N, nd) through m steps; Y[i] gets <C_t, h_t> added.

    DT holds delta, X delta * u, both (step, lane); AT is A transposed to (N, nd).
    """
    N, nd = H.shape[0], H.shape[1]
    for i in range(m):
        dti, xi, yi = DT[i, :nd], X[i, :nd], Y[i, :nd]
        for n in range(N):
            bn, cn = Brow[n, t0 + i], Crow[n, t0 + i]
            h, a = H[n], AT[n]
            for lane in range(nd):
                hv = fma(fexp(dti[lane] * a[lane]), h[lane], xi[lane] * bn)
                h[lane] = hv
                yi[lane] = fma(hv, cn, yi[lane])


@njit(cache=True, error_model="numpy")
def _fwd_block(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last, b, d0, nd):  # noqa: E501  # pragma: no cover
    """Forward of channels [d0, d0 + nd) of batch b, which share one row of B and one of C."""
    L, N = u.shape[2], A.shape[1]
    gsb, gsc = u.shape[1] // Bm.shape[1], u.shape[1] // Cm.shape[1]
    Brow = Bm[b if Bm.shape[0] > 1 else 0, d0 // gsb]
    Crow = Cm[b if Cm.shape[0] > 1 else 0, d0 // gsc]
    H, AT = np.zeros((N, nd), u.dtype), np.empty((N, nd), u.dtype)
    for lane in range(nd):
        for n in range(N):
            AT[n, lane] = A[d0 + lane, n]
    U, DT = np.empty((T, nd), u.dtype), np.empty((T, nd), u.dtype)
    X, Y = np.empty((T, nd), u.dtype), np.empty((T, nd), u.dtype)
    row, sg = np.empty(T, u.dtype), np.empty(T, u.dtype)
    for c in range((L + T - 1) // T):
        t0 = c * T
        t1 = min(L, t0 + T)
        m = t1 - t0
        if store:
            for lane in range(nd):
                for n in range(N):
                    ckpt[b, d0 + lane, c, n] = H[n, lane]
        _gather_rows(u, b, d0, nd, t0, m, U)
        for lane in range(nd):
            d = d0 + lane
            _delta_row(dt[b, d, t0:t1], dbias[d], softplus, row[:m])
            for i in range(m):
                DT[i, lane] = row[i]
        for i in range(m):
            for lane in range(nd):
                X[i, lane] = DT[i, lane] * U[i, lane]
                Y[i, lane] = Dv[d0 + lane] * U[i, lane]
        _block_chunk(Brow, Crow, t0, m, DT, X, Y, H, AT)
        for lane in range(nd):
            orow = out[b, d0 + lane, t0:t1]
            for i in range(m):
                orow[i] = Y[i, lane]
            if has_z:
                zr = z[b, d0 + lane, t0:t1]
                _sigmoid_row(zr, sg[:m])
                for i in range(m):
                    orow[i] = orow[i] * zr[i] * sg[i]
    for lane in range(nd):
        for n in range(N):
            last[b, d0 + lane, n] = H[n, lane]


@njit(parallel=True, cache=True, error_model="numpy")
def scan_fwd_lanes(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last, block):  # noqa: E501  # pragma: no cover
    """:func:`~mambano_core.ops.scan._numba_kernels.scan_fwd` over blocks of up to ``LANES``
    channels inside one ``block`` of channels sharing B and C rows; parallel over blocks."""
    nbatch, dim = u.shape[0], u.shape[1]
    per_block = (block + LANES - 1) // LANES
    units = dim // block * per_block
    for k in prange(nbatch * units):
        b, unit = k // units, k % units
        lo = (unit % per_block) * LANES
        d0 = (unit // per_block) * block + lo
        _fwd_block(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last, b, d0, min(LANES, block - lo))  # noqa: E501
