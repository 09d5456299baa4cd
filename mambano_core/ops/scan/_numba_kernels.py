"""Numba kernels of the ``fused`` CPU backend (forward and backward of the core selective scan).

Mamba recurrence (Gu & Dao 2023, Alg. 2), run per (batch, channel) with the state in small local
buffers: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, out_t = (<C_t, h_t> + D u_t) silu(z_t).
delta = softplus(delta_raw + delta_bias) (or without softplus) is formed inside the kernels
and recomputed in the backward, so the (batch, dim, L) delta never exists in memory. The
backward follows mamba-ssm's CUDA kernel: states are checkpointed every ``T`` steps in the forward; the
backward walks the chunks in reverse, recomputes a chunk's states from its checkpoint and runs the
adjoint recurrence g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1} through it.

Within a chunk the per-step buffers are stored transposed, (n, step), so that everything except
the two recurrences vectorises over the T steps of the chunk (N alone is too short to vectorise
well), and the recurrences interleave the N independent chains. Loops index row views by their
counter (numba then emits no negative-index wrap-around) or use unsigned indices. All sums run in
a fixed order (no fastmath).

Array conventions (C-contiguous, one float dtype): u, delta (batch, dim, L); A (dim, N); B, C in
mamba-ssm's grouped layout (batch or 1, G, N, L or 1) -- a time-invariant (dim, N) tensor is passed
as (1, dim, N, 1), a shared (batch, N, L) one as (batch, 1, N, L) -- so that one compiled kernel per
dtype serves every layout. Absent z is signalled by a flag (u is passed in its place), an absent D
by zeros.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

_F32 = np.float32
_ONE = np.uint64(1)


@intrinsic
def fma(typingctx, a, b, c):  # pragma: no cover - typing hook
    """a * b + c with one rounding (LLVM's fma intrinsic; vectorisable, exact IEEE semantics).

    An explicit FMA, not a fastmath contraction: results stay deterministic.
    """
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        t = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [t], ir.FunctionType(t, [t, t, t]))
        return builder.call(fn, args)

    return sig, codegen


def fexp(x: float) -> float:
    """exp(x); compiled as a vectorisable float32 polynomial for float32 and libm for float64."""
    return math.exp(x)


def _exp_f32(x):  # pragma: no cover - compiled by numba
    """Cephes-style expf (max rel. error ~1e-7), branch-free so that LLVM vectorises it."""
    if x < _F32(-87.33):  # comparisons that let NaN through (min/max would swallow it)
        x = _F32(-87.33)
    if x > _F32(88.37):
        x = _F32(88.37)
    v = fma(x, _F32(1.44269504088896341), _F32(12582912.0))  # round(x / ln 2) via 1.5 * 2^23
    k = v - _F32(12582912.0)
    r = fma(k, _F32(-0.693359375), x)  # x - k ln 2 in two parts (Cody-Waite)
    r = fma(k, _F32(2.12194440e-4), r)
    p = _F32(1.9875691500e-4)
    p = fma(p, r, _F32(1.3981999507e-3))
    p = fma(p, r, _F32(8.3334519073e-3))
    p = fma(p, r, _F32(4.1665795894e-2))
    p = fma(p, r, _F32(1.6666665459e-1))
    p = fma(p, r, _F32(5.0000001201e-1))
    y = fma(p, r * r, r) + _F32(1.0)
    bits = np.int32((_F32(v).view(np.int32) - np.int32(0x4B400000 - 127)) << np.int32(23))
    return y * bits.view(np.float32)


@overload(fexp, jit_options={"cache": True, "error_model": "numpy"})
def _fexp_overload(x):  # pragma: no cover - typing hook
    """Pick the exp implementation from the argument type."""
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _exp_f32
    return lambda x: math.exp(x)


def flog1p(x: float) -> float:
    """log(1 + x); a vectorisable float32 polynomial for float32 and libm for float64."""
    return math.log1p(x)


def _log1p_f32(x):  # pragma: no cover - compiled by numba
    """Cephes-style logf of u = 1 + x (max rel. error ~1e-7), corrected to log1p, branch-free."""
    u = x + _F32(1.0)
    bits = _F32(u).view(np.int32)
    e = np.int32(bits >> np.int32(23)) - np.int32(126)
    mbits = np.int32((bits & np.int32(0x007FFFFF)) | np.int32(0x3F000000))
    m = mbits.view(np.float32)  # mantissa in [0.5, 1)
    small = m < _F32(0.707106781186547524)
    e = e - np.int32(1) if small else e
    m = m + m - _F32(1.0) if small else m - _F32(1.0)
    z = m * m
    p = _F32(7.0376836292e-2)
    p = fma(p, m, _F32(-1.1514610310e-1))
    p = fma(p, m, _F32(1.1676998740e-1))
    p = fma(p, m, _F32(-1.2420140846e-1))
    p = fma(p, m, _F32(1.4249322787e-1))
    p = fma(p, m, _F32(-1.6668057665e-1))
    p = fma(p, m, _F32(2.0000714765e-1))
    p = fma(p, m, _F32(-2.4999993993e-1))
    p = fma(p, m, _F32(3.3333331174e-1))
    fe = _F32(e)
    y = p * m * z
    y = fma(fe, _F32(-2.12194440e-4), y)
    y = fma(z, _F32(-0.5), y)
    r = fma(fe, _F32(0.693359375), m + y)  # log(u)
    # log1p(x) = log(u) * x / (u - 1) recovers the bits of x lost in rounding 1 + x.
    d = u - _F32(1.0)
    return x if d == _F32(0.0) else r * (x / d)


@overload(flog1p, jit_options={"cache": True, "error_model": "numpy"})
def _flog1p_overload(x):  # pragma: no cover - typing hook
    """Pick the log1p implementation from the argument type."""
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _log1p_f32
    return lambda x: math.log1p(x)


@njit(cache=True, error_model="numpy")
def _delta_row(dtr, bias, softplus, out):  # pragma: no cover
    """out = softplus(dtr + bias) (PyTorch's threshold 20), or dtr + bias; vectorised."""
    for i in range(dtr.shape[0]):
        v = dtr[i] + bias
        if softplus:
            sp = flog1p(fexp(v))
            v = v if v > _F32(20.0) else sp
        out[i] = v


@njit(cache=True, error_model="numpy")
def _tree_sum(x, m):  # pragma: no cover - compiled
    """Sum of x[:m] by pairwise halving (vectorisable, fixed order); overwrites x."""
    k = m
    while k > 1:
        half = k // 2
        off = k - half
        for i in range(half):
            x[i] += x[off + i]
        k = off
    return x[0]


@njit(cache=True, error_model="numpy")
def _chunk_states(ur, dtr, Ad, Brow, tsb, t0, h0, dtub, dAT, HT):  # pragma: no cover
    """Recompute one chunk (m = len(ur) steps from t0) of one channel from its start state h0.

    Fills dtub (delta u) and the flat (n, step) buffers dAT[n*T+i] = exp(delta_i A_n),
    HT[n*(T+1)] = h0[n] and HT[n*(T+1)+i+1] = state after step i.
    """
    N, m = Ad.shape[0], ur.shape[0]
    T = dAT.shape[0] // N
    W = T + 1
    for i in range(m):
        dtub[i] = dtr[i] * ur[i]
    for n in range(N):
        a, row = Ad[n], dAT[n * T : n * T + m]
        for i in range(m):
            row[i] = fexp(dtr[i] * a)
    for n in range(N):  # inputs delta_t u_t B_t, turned into the states below
        HT[n * W] = h0[n]
        hr = HT[n * W + 1 : n * W + 1 + m]
        if tsb:
            br = Brow[n, t0 : t0 + m]
            for i in range(m):
                hr[i] = dtub[i] * br[i]
        else:
            bn = Brow[n, 0]
            for i in range(m):
                hr[i] = dtub[i] * bn
    for i in range(m):  # the recurrence: N independent chains, interleaved
        for n in range(N):
            k, ka = np.uint64(n * W + i), np.uint64(n * T + i)
            HT[k + _ONE] = fma(dAT[ka], HT[k], HT[k + _ONE])


@njit(cache=True, error_model="numpy")
def _chunk_output(ur, Crow, tsc, t0, Dd, HT, yr):  # pragma: no cover
    """yr[i] = <C_t, h_t> + D u_t for the m = len(ur) steps of a recomputed chunk."""
    N, m = Crow.shape[0], ur.shape[0]
    W = HT.shape[0] // N
    for i in range(m):
        yr[i] = Dd * ur[i]
    for n in range(N):
        hr = HT[n * W + 1 : n * W + 1 + m]
        if tsc:
            cr = Crow[n, t0 : t0 + m]
            for i in range(m):
                yr[i] = fma(hr[i], cr[i], yr[i])
        else:
            cn = Crow[n, 0]
            for i in range(m):
                yr[i] = fma(hr[i], cn, yr[i])


@njit(cache=True, error_model="numpy")
def _sigmoid_row(zr, sg):  # pragma: no cover
    """sg[i] = sigmoid(zr[i]) (vectorised; typed constants keep float32 in float32)."""
    for i in range(zr.shape[0]):
        sg[i] = _F32(1.0) / (_F32(1.0) + fexp(-zr[i]))


@njit(cache=True, error_model="numpy")
def _fwd_channel(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last, b, d):  # noqa: E501  # pragma: no cover
    """Forward of one (batch, channel) row: out[b, d] = (<C_t, h_t> + D u_t) silu(z_t), the last
    state and the chunk-start checkpoints."""
    L, N = u.shape[2], A.shape[1]
    gsb, gsc = u.shape[1] // Bm.shape[1], u.shape[1] // Cm.shape[1]
    tsb, tsc = Bm.shape[3] > 1, Cm.shape[3] > 1
    Brow = Bm[b if Bm.shape[0] > 1 else 0, d // gsb]
    Crow = Cm[b if Cm.shape[0] > 1 else 0, d // gsc]
    h, dtub, sg = np.zeros(N, u.dtype), np.empty(T, u.dtype), np.empty(T, u.dtype)
    dlt = np.empty(T, u.dtype)
    dAT, HT = np.empty(N * T, u.dtype), np.empty(N * (T + 1), u.dtype)
    for c in range((L + T - 1) // T):
        t0 = c * T
        t1 = min(L, t0 + T)
        if store:
            for n in range(N):
                ckpt[b, d, c, n] = h[n]
        ur, yr = u[b, d, t0:t1], out[b, d, t0:t1]
        dr = dlt[: t1 - t0]
        _delta_row(dt[b, d, t0:t1], dbias[d], softplus, dr)
        _chunk_states(ur, dr, A[d], Brow, tsb, t0, h, dtub, dAT, HT)
        _chunk_output(ur, Crow, tsc, t0, Dv[d], HT, yr)
        if has_z:
            zr = z[b, d, t0:t1]
            _sigmoid_row(zr, sg)
            for i in range(t1 - t0):
                yr[i] = yr[i] * zr[i] * sg[i]
        for n in range(N):
            h[n] = HT[n * (T + 1) + t1 - t0]
    for n in range(N):
        last[b, d, n] = h[n]


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def scan_fwd(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last):  # noqa: E501  # pragma: no cover
    """Forward scan, parallel over (batch, channel); writes ``out`` (batch, dim, L), ``last``
    (batch, dim, N) and, if ``store``, the chunk-start states ``ckpt`` (batch, dim, ceil(L/T), N).
    ``dt`` is the raw delta: the kernel uses softplus(dt + dbias) (or dt + dbias)."""
    nbatch, dim = u.shape[0], u.shape[1]
    for k in prange(nbatch * dim):
        _fwd_channel(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last, k // dim, k % dim)  # noqa: E501


@njit(cache=True, nogil=True, error_model="numpy")
def scan_fwd_serial(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last):  # noqa: E501  # pragma: no cover
    """:func:`scan_fwd` on one thread (float64 checks: half the compile time of a prange)."""
    nbatch, dim = u.shape[0], u.shape[1]
    for k in range(nbatch * dim):
        _fwd_channel(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, store, out, ckpt, last, k // dim, k % dim)  # noqa: E501


@njit(cache=True, error_model="numpy")
def _gate_grads(ur, zr, dor, Dd, has_z, Crow, tsc, t0, HT, yb, sg, dyp, dzr):  # noqa: E501  # pragma: no cover
    """Through the gate and the skip: dyp = d loss / d <C, h> (and D u); writes dz; returns
    the row of d loss / d D terms in ``yb``."""
    m = ur.shape[0]
    if has_z:
        _chunk_output(ur, Crow, tsc, t0, Dd, HT, yb)
        _sigmoid_row(zr, sg)
        for i in range(m):
            zs = zr[i] * sg[i]
            dzr[i] = dor[i] * yb[i] * (sg[i] + zs * (_F32(1.0) - sg[i]))
            dyp[i] = dor[i] * zs
    else:
        for i in range(m):
            dyp[i] = dor[i]
    for i in range(m):
        yb[i] = dyp[i] * ur[i]


@njit(cache=True, error_model="numpy")
def _adjoint(Crow, tsc, t0, dyr, dAT, r, GT):  # pragma: no cover
    """Reverse recurrence over a chunk: g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1}, into GT.

    ``r`` carries exp(delta_t A) g_t across chunks (in: from the next chunk, out: to the
    previous one). The recurrence is one FMA chain per state, like the forward's.
    """
    N, m = r.shape[0], dyr.shape[0]
    T = GT.shape[0] // N
    for n in range(N):
        gr = GT[n * T : n * T + m]
        if tsc:
            cr = Crow[n, t0 : t0 + m]
            for i in range(m):
                gr[i] = cr[i] * dyr[i]
        else:
            cn = Crow[n, 0]
            for i in range(m):
                gr[i] = cn * dyr[i]
        gr[m - 1] += r[n]
    for j in range(1, m):
        i = np.uint64(m - 1 - j)
        for n in range(N):
            k = np.uint64(n * T) + i
            GT[k] = fma(GT[k + _ONE], dAT[k + _ONE], GT[k])
    for n in range(N):
        r[n] = GT[n * T] * dAT[n * T]


@njit(cache=True, error_model="numpy")
def _acc_rows(dst, tsx, t0, m, src, off, w):  # pragma: no cover
    """dst[n, t0+i] += src[n*S+off+i] w[i] (summed into dst[n, 0] if time-invariant)."""
    N = dst.shape[0]
    S = src.shape[0] // N
    for n in range(N):
        sr = src[n * S + off : n * S + off + m]
        if tsx:
            dr = dst[n, t0 : t0 + m]
            for i in range(m):
                dr[i] = fma(sr[i], w[i], dr[i])
        else:
            acc = 0.0
            for i in range(m):
                acc += sr[i] * w[i]
            dst[n, 0] += acc


@njit(cache=True, error_model="numpy")
def _input_grads(ur, dtr, Ad, Brow, tsb, t0, Dd, dyp, HT, GT, dAT, sb, sa, tmp, dur, ddr, dArow):  # noqa: E501  # pragma: no cover
    """Gradients of u, delta (dur, ddr) and A (added to dArow) from one chunk's adjoints."""
    N, m = Ad.shape[0], ur.shape[0]
    T = GT.shape[0] // N
    for i in range(m):
        sb[i] = 0.0
        sa[i] = 0.0
    for n in range(N):
        gr, er = GT[n * T : n * T + m], dAT[n * T : n * T + m]
        hr, a = HT[n * (T + 1) : n * (T + 1) + m], Ad[n]
        if tsb:  # sb_t = <g_t, B_t>
            br = Brow[n, t0 : t0 + m]
            for i in range(m):
                sb[i] = fma(gr[i], br[i], sb[i])
        else:
            bn = Brow[n, 0]
            for i in range(m):
                sb[i] = fma(gr[i], bn, sb[i])
        for i in range(m):  # g_t exp(delta_t A_n) h_{t-1} = d loss / d(delta_t A_n)
            w = gr[i] * er[i] * hr[i]
            sa[i] = fma(w, a, sa[i])
            tmp[i] = w * dtr[i]
        dArow[n] += _tree_sum(tmp, m)
    for i in range(m):
        dur[i] = dtr[i] * sb[i] + dyp[i] * Dd
        ddr[i] = sb[i] * ur[i] + sa[i]


@njit(cache=True, error_model="numpy")
def _bwd_unit(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, ckpt, dout, dlast, b, d_lo, d_hi, p, du, ddt, dz, dA, dD, dDb, dBp, dCp):  # noqa: E501  # pragma: no cover
    """Backward of channels [d_lo, d_hi) of batch b, chunk by chunk from the end."""
    L, N = u.shape[2], A.shape[1]
    gsb, gsc = u.shape[1] // Bm.shape[1], u.shape[1] // Cm.shape[1]
    tsb, tsc = Bm.shape[3] > 1, Cm.shape[3] > 1
    bb, bc = (b if Bm.shape[0] > 1 else 0), (b if Cm.shape[0] > 1 else 0)
    r = np.empty((d_hi - d_lo, N), u.dtype)
    for j in range(d_hi - d_lo):
        for n in range(N):
            r[j, n] = dlast[b, d_lo + j, n]
    rows = np.empty((8, T), u.dtype)
    dtub, sb, sa, tmp, yb, sg, dyp, dlt = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], rows[6], rows[7]
    dAT, GT = np.empty(N * T, u.dtype), np.empty(N * T, u.dtype)
    HT = np.empty(N * (T + 1), u.dtype)
    for c in range((L + T - 1) // T - 1, -1, -1):
        t0 = c * T
        t1 = min(L, t0 + T)
        m = t1 - t0
        for d in range(d_lo, d_hi):
            Brow, Crow = Bm[bb, d // gsb], Cm[bc, d // gsc]
            ur, dtr = u[b, d, t0:t1], dlt[:m]
            _delta_row(dt[b, d, t0:t1], dbias[d], softplus, dtr)
            _chunk_states(ur, dtr, A[d], Brow, tsb, t0, ckpt[b, d, c], dtub, dAT, HT)
            dzr = dz[b, d, t0:t1] if has_z else sg
            _gate_grads(ur, z[b, d, t0:t1], dout[b, d, t0:t1], Dv[d], has_z, Crow, tsc, t0, HT, yb, sg, dyp[:m], dzr)  # noqa: E501
            dD[b, d] += _tree_sum(yb, m)
            _adjoint(Crow, tsc, t0, dyp[:m], dAT, r[d - d_lo], GT)
            _acc_rows(dCp[p, b, d // gsc], tsc, t0, m, HT, 1, dyp)  # dC_t += dy_t h_t
            _acc_rows(dBp[p, b, d // gsb], tsb, t0, m, GT, 0, dtub)  # dB_t += g_t dt_t u_t
            ddr = ddt[b, d, t0:t1]
            _input_grads(ur, dtr, A[d], Brow, tsb, t0, Dv[d], dyp, HT, GT, dAT, sb, sa, tmp, du[b, d, t0:t1], ddr, dA[b, d])  # noqa: E501
            if softplus:  # d softplus(v) / dv = sigmoid(v), v = raw delta + bias
                raw, bd = dt[b, d, t0:t1], dbias[d]
                for i in range(m):
                    ddr[i] = ddr[i] / (_F32(1.0) + fexp(-(raw[i] + bd)))
            for i in range(m):
                tmp[i] = ddr[i]
            dDb[b, d] += _tree_sum(tmp, m)


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def scan_bwd(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, ckpt, dout, dlast, work_groups, parts, du, ddt, dz, dA, dD, dDb, dBp, dCp):  # noqa: E501  # pragma: no cover
    """Backward scan. Work unit = (batch, work group, part): a slice of channels whose B/C
    gradient rows it owns in ``dBp``/``dCp`` (parts, batch, G, N, L or 1), so there are no write
    races; du, ddt (with respect to the raw delta), dz are (batch, dim, L); dA (batch, dim, N),
    dD and dDb (the delta bias; batch, dim) are accumulated in float64."""
    nbatch, dim = u.shape[0], u.shape[1]
    dw = dim // work_groups
    for k in prange(nbatch * work_groups * parts):
        b, gw, p = k // (work_groups * parts), (k // parts) % work_groups, k % parts
        d_lo, d_hi = gw * dw + (p * dw) // parts, gw * dw + ((p + 1) * dw) // parts
        _bwd_unit(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, ckpt, dout, dlast, b, d_lo, d_hi, p, du, ddt, dz, dA, dD, dDb, dBp, dCp)  # noqa: E501


@njit(cache=True, nogil=True, error_model="numpy")
def scan_bwd_serial(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, ckpt, dout, dlast, work_groups, parts, du, ddt, dz, dA, dD, dDb, dBp, dCp):  # noqa: E501  # pragma: no cover
    """:func:`scan_bwd` on one thread (float64 checks: half the compile time of a prange)."""
    nbatch, dim = u.shape[0], u.shape[1]
    dw = dim // work_groups
    for k in range(nbatch * work_groups * parts):
        b, gw, p = k // (work_groups * parts), (k // parts) % work_groups, k % parts
        d_lo, d_hi = gw * dw + (p * dw) // parts, gw * dw + ((p + 1) * dw) // parts
        _bwd_unit(u, dt, A, Bm, Cm, Dv, z, has_z, dbias, softplus, T, ckpt, dout, dlast, b, d_lo, d_hi, p, du, ddt, dz, dA, dD, dDb, dBp, dCp)  # noqa: E501
