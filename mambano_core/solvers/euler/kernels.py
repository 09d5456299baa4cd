"""Compiled kernels of the finite-volume Euler solver (numba, one thread).

Arrays: primitive ``W`` and conservative ``U`` states ``(4, NY, NX)`` in the order
``(rho, u, v, p)`` / ``(rho, rho u, rho v, E)``, the wall-ghost states ``G`` ``(4, 4, NY, NX)``
(first index: the direction of the fluid neighbour, :data:`.grid.DIRECTIONS`), cell kinds
``kind`` (:mod:`.grid`), padded
centres and widths ``xc, dx`` (``NX``) and ``yc, dy`` (``NY``). The residual ``R`` is the net
outward flux per unit volume, ``dU/dt = -R`` in every fluid cell (zero elsewhere).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mambano_core.solvers.euler.fluxes import face_flux
from mambano_core.solvers.euler.grid import FLUID, NG, WALL_GHOST
from mambano_core.solvers.euler.reconstruction import albada_weight, limited_slope


@njit(cache=True)
def to_primitive(U: np.ndarray, kind: np.ndarray, gamma: float, W: np.ndarray) -> None:
    """``W = W(U)`` in the fluid cells."""
    for j in range(U.shape[1]):
        for i in range(U.shape[2]):
            if kind[j, i] != FLUID:
                continue
            rho = U[0, j, i]
            u = U[1, j, i] / rho
            v = U[2, j, i] / rho
            W[0, j, i] = rho
            W[1, j, i] = u
            W[2, j, i] = v
            W[3, j, i] = (gamma - 1.0) * (U[3, j, i] - 0.5 * rho * (u * u + v * v))


@njit(cache=True)
def to_conservative(W: np.ndarray, gamma: float, U: np.ndarray) -> None:
    """``U = U(W)`` in every cell."""
    for j in range(W.shape[1]):
        for i in range(W.shape[2]):
            rho, u, v = W[0, j, i], W[1, j, i], W[2, j, i]
            U[0, j, i] = rho
            U[1, j, i] = rho * u
            U[2, j, i] = rho * v
            U[3, j, i] = W[3, j, i] / (gamma - 1.0) + 0.5 * rho * (u * u + v * v)


#: Largest ``|curvature * span|`` the curvature correction uses (ghosts near a nose whose radius is
#: about a cell, where the linear pressure balance across the span no longer holds).
MAX_CURVATURE_SPAN = 0.5


@njit(cache=True)
def fill_wall_ghosts(
    W: np.ndarray, G: np.ndarray, gj: np.ndarray, gi: np.ndarray, gdir: np.ndarray,
    sj: np.ndarray, si: np.ndarray, sw: np.ndarray, normal: np.ndarray,
    curvature: np.ndarray, span: np.ndarray, corrected: bool, gamma: float,
) -> None:
    """Slip-wall ghost states ``G[direction]``: image-point state with the normal velocity reversed.

    Ghost-cell immersed boundary (Forrer & Jeltsch 1998; Tseng & Ferziger 2003), one state per
    ghost and direction of its fluid neighbour (:class:`~.grid.Body`). With ``corrected`` the
    ghost also carries the pressure drop of flow turning along a curved wall, after the
    curvature-corrected symmetry technique of Dadone & Grossman (AIAA J. 32, 1994; 42, 2004;
    cited from memory, not read): ``p_g = p_i - rho_i V_t^2 kappa span`` from the normal momentum
    balance ``dp/dn = rho V_t^2 kappa`` (``|kappa span|`` capped at :data:`MAX_CURVATURE_SPAN`,
    ``p_g >= p_i / 2``), the image's entropy and total enthalpy, the mirrored velocity's direction.
    """
    g1 = gamma / (gamma - 1.0)
    for k in range(gj.size):
        rho = u = v = p = 0.0
        for m in range(4):
            w = sw[k, m]
            if w != 0.0:
                rho += w * W[0, sj[k, m], si[k, m]]
                u += w * W[1, sj[k, m], si[k, m]]
                v += w * W[2, sj[k, m], si[k, m]]
                p += w * W[3, sj[k, m], si[k, m]]
        nx, ny = normal[k, 0], normal[k, 1]
        un = u * nx + v * ny
        ug, vg, rg, pg = u - 2.0 * un * nx, v - 2.0 * un * ny, rho, p
        if corrected:
            turn = min(max(curvature[k] * span[k], -MAX_CURVATURE_SPAN), MAX_CURVATURE_SPAN)
            tangential2 = u * u + v * v - un * un
            pg = p - rho * tangential2 * turn
            pg = max(pg, 0.5 * p)
            rg = rho * (pg / p) ** (1.0 / gamma)
            speed2 = u * u + v * v
            target2 = max(speed2 + 2.0 * g1 * (p / rho - pg / rg), 0.0)
            if speed2 > 0.0:
                scale = math.sqrt(target2 / speed2)
                ug, vg = ug * scale, vg * scale
        d, j, i = gdir[k], gj[k], gi[k]
        G[d, 0, j, i] = rg
        G[d, 1, j, i] = ug
        G[d, 2, j, i] = vg
        G[d, 3, j, i] = pg


@njit(cache=True, inline="always")
def _farfield_state(
    rho: float, u: float, v: float, p: float, free: np.ndarray, nx: float, ny: float, gamma: float
) -> tuple[float, float, float, float]:
    """Characteristic (Riemann-invariant) far-field state for the outward normal ``(nx, ny)``.

    ``free`` is the outer state ``(rho, u, v, p)`` there: the free stream, or the free stream
    with the airfoil's point vortex (:func:`.solver.vortex_far_field`).

    One-dimensional Riemann invariants normal to the boundary (the classical characteristic far
    field, e.g. Blazek, "Computational Fluid Dynamics: Principles and Applications"):
    ``R+ = u_n + 2c/(gamma-1)`` from the interior, ``R- = u_n - 2c/(gamma-1)`` from the free
    stream; entropy and tangential velocity from upstream. Supersonic boundaries take every
    quantity from upstream.
    """
    g1 = gamma - 1.0
    c_in = math.sqrt(gamma * p / rho)
    c_fs = math.sqrt(gamma * free[3] / free[0])
    un_in = u * nx + v * ny
    un_fs = free[1] * nx + free[2] * ny
    if un_fs <= -c_fs:  # supersonic inflow
        return free[0], free[1], free[2], free[3]
    if un_in >= c_in:  # supersonic outflow
        return rho, u, v, p
    r_out = un_in + 2.0 * c_in / g1
    r_in = un_fs - 2.0 * c_fs / g1
    un = 0.5 * (r_out + r_in)
    c = 0.25 * g1 * (r_out - r_in)
    if un < 0.0:  # inflow: entropy and tangential velocity of the free stream
        entropy = free[3] / free[0] ** gamma
        ut_x, ut_y = free[1] - un_fs * nx, free[2] - un_fs * ny
    else:
        entropy = p / rho**gamma
        ut_x, ut_y = u - un_in * nx, v - un_in * ny
    rho_b = (c * c / (gamma * entropy)) ** (1.0 / g1)
    return rho_b, ut_x + un * nx, ut_y + un * ny, rho_b * c * c / gamma


@njit(cache=True)
def fill_edges(W: np.ndarray, free: np.ndarray, gamma: float, farfield: bool) -> None:
    """Fill the ``NG`` boundary layers: characteristic far field, or zero-gradient if not ``farfield``.

    ``free`` ``(4, NY, NX)`` holds the outer state at each boundary cell (read at the cells next to
    the ghost layers only).
    """
    ny_, nx_ = W.shape[1], W.shape[2]
    for side in range(4):
        count = ny_ if side < 2 else nx_
        for k in range(NG, count - NG):
            if side == 0:  # left, outward normal (-1, 0)
                jj, ii, nx, ny = k, NG, -1.0, 0.0
            elif side == 1:  # right
                jj, ii, nx, ny = k, nx_ - NG - 1, 1.0, 0.0
            elif side == 2:  # bottom
                jj, ii, nx, ny = NG, k, 0.0, -1.0
            else:  # top
                jj, ii, nx, ny = ny_ - NG - 1, k, 0.0, 1.0
            rho, u, v, p = W[0, jj, ii], W[1, jj, ii], W[2, jj, ii], W[3, jj, ii]
            if farfield:
                rho, u, v, p = _farfield_state(rho, u, v, p, free[:, jj, ii], nx, ny, gamma)
            for layer in range(1, NG + 1):
                gj, gi = jj + int(ny) * layer, ii + int(nx) * layer
                W[0, gj, gi] = rho
                W[1, gj, gi] = u
                W[2, gj, gi] = v
                W[3, gj, gi] = p


@njit(cache=True)
def limited_slopes(W: np.ndarray, G: np.ndarray, kind: np.ndarray, xc: np.ndarray, yc: np.ndarray, limiter: int,
                   sx: np.ndarray, sy: np.ndarray, wx: np.ndarray, wy: np.ndarray, frozen: bool) -> None:
    """Limited slopes of ``W`` along ``x`` and ``y`` in every fluid cell (MUSCL, van Leer 1979).

    A wall-ghost neighbour contributes the state it shows to this cell (``G``). With the van
    Albada limiter the weights of the one-sided slopes are stored in ``wx``, ``wy`` (shaped like
    ``W``); if ``frozen``, the stored weights are used instead of new ones (limiter freezing).
    """
    ny_, nx_ = W.shape[1], W.shape[2]
    inv_x = 1.0 / (xc[1:] - xc[:-1])
    inv_y = 1.0 / (yc[1:] - yc[:-1])
    for j in range(NG, ny_ - NG):
        for i in range(NG, nx_ - NG):
            if kind[j, i] != FLUID:
                continue
            gw, ge = kind[j, i - 1] == WALL_GHOST, kind[j, i + 1] == WALL_GHOST
            gs, gn = kind[j - 1, i] == WALL_GHOST, kind[j + 1, i] == WALL_GHOST
            for q in range(4):
                w0 = W[q, j, i]
                west = G[1, q, j, i - 1] if gw else W[q, j, i - 1]
                east = G[0, q, j, i + 1] if ge else W[q, j, i + 1]
                south = G[3, q, j - 1, i] if gs else W[q, j - 1, i]
                north = G[2, q, j + 1, i] if gn else W[q, j + 1, i]
                dmx, dpx = (w0 - west) * inv_x[i - 1], (east - w0) * inv_x[i]
                dmy, dpy = (w0 - south) * inv_y[j - 1], (north - w0) * inv_y[j]
                if frozen:
                    sx[q, j, i] = wx[q, j, i] * dmx + (1.0 - wx[q, j, i]) * dpx
                    sy[q, j, i] = wy[q, j, i] * dmy + (1.0 - wy[q, j, i]) * dpy
                    continue
                sx[q, j, i] = limited_slope(limiter, dmx, dpx)
                sy[q, j, i] = limited_slope(limiter, dmy, dpy)
                if limiter == 3:
                    wx[q, j, i] = albada_weight(dmx, dpx)
                    wy[q, j, i] = albada_weight(dmy, dpy)


@njit(cache=True, inline="always")
def _face_state(W: np.ndarray, G: np.ndarray, kind: np.ndarray, s: np.ndarray, j: int, i: int, half: float,
                seen_from: int, normal_x: bool) -> tuple[float, float, float, float]:
    """Face state ``(rho, u_n, u_t, p)`` of cell ``(j, i)``: MUSCL for fluid cells, else the cell state.

    ``half`` is the signed distance from the centre to the face; ``seen_from`` the direction
    of the fluid cell across the face (for wall ghosts).
    """
    if kind[j, i] == FLUID:
        r, u, v, p = W[0, j, i] + half * s[0, j, i], W[1, j, i] + half * s[1, j, i], \
            W[2, j, i] + half * s[2, j, i], W[3, j, i] + half * s[3, j, i]
    elif kind[j, i] == WALL_GHOST:
        r, u, v, p = G[seen_from, 0, j, i], G[seen_from, 1, j, i], G[seen_from, 2, j, i], G[seen_from, 3, j, i]
    else:
        r, u, v, p = W[0, j, i], W[1, j, i], W[2, j, i], W[3, j, i]
    if normal_x:
        return r, u, v, p
    return r, v, u, p


@njit(cache=True)
def residual(
    W: np.ndarray, G: np.ndarray, kind: np.ndarray, dx: np.ndarray, dy: np.ndarray, sx: np.ndarray, sy: np.ndarray,
    flux: int, gamma: float, R: np.ndarray,
) -> None:
    """Net outward flux per unit volume ``R``: ``flux`` of the face states on every face next to a fluid cell.

    Fluid cells give ``W +/- s dx / 2`` with the slopes ``sx``, ``sy`` of :func:`limited_slopes`
    (all zero: the first-order scheme); wall ghosts the state they show to that fluid cell.
    """
    R[:] = 0.0
    ny_, nx_ = W.shape[1], W.shape[2]
    for j in range(NG, ny_ - NG):  # x-faces between (j, i-1) and (j, i)
        for i in range(NG, nx_ - NG + 1):
            kl, kr = kind[j, i - 1] == FLUID, kind[j, i] == FLUID
            if not (kl or kr):
                continue
            rl, ul, vl, pl = _face_state(W, G, kind, sx, j, i - 1, 0.5 * dx[i - 1], 1, True)
            rr, ur, vr, pr = _face_state(W, G, kind, sx, j, i, -0.5 * dx[i], 0, True)
            f0, f1, f2, f3 = face_flux(flux, rl, ul, vl, pl, rr, ur, vr, pr, gamma)
            if kl:
                inv = 1.0 / dx[i - 1]
                R[0, j, i - 1] += f0 * inv
                R[1, j, i - 1] += f1 * inv
                R[2, j, i - 1] += f2 * inv
                R[3, j, i - 1] += f3 * inv
            if kr:
                inv = 1.0 / dx[i]
                R[0, j, i] -= f0 * inv
                R[1, j, i] -= f1 * inv
                R[2, j, i] -= f2 * inv
                R[3, j, i] -= f3 * inv
    for j in range(NG, ny_ - NG + 1):  # y-faces between (j-1, i) and (j, i); normal velocity v
        for i in range(NG, nx_ - NG):
            kl, kr = kind[j - 1, i] == FLUID, kind[j, i] == FLUID
            if not (kl or kr):
                continue
            rl, ul, vl, pl = _face_state(W, G, kind, sy, j - 1, i, 0.5 * dy[j - 1], 3, False)
            rr, ur, vr, pr = _face_state(W, G, kind, sy, j, i, -0.5 * dy[j], 2, False)
            f0, f1, f2, f3 = face_flux(flux, rl, ul, vl, pl, rr, ur, vr, pr, gamma)
            if kl:
                inv = 1.0 / dy[j - 1]
                R[0, j - 1, i] += f0 * inv
                R[1, j - 1, i] += f2 * inv
                R[2, j - 1, i] += f1 * inv
                R[3, j - 1, i] += f3 * inv
            if kr:
                inv = 1.0 / dy[j]
                R[0, j, i] -= f0 * inv
                R[1, j, i] -= f2 * inv
                R[2, j, i] -= f1 * inv
                R[3, j, i] -= f3 * inv


@njit(cache=True)
def local_time_step(W: np.ndarray, kind: np.ndarray, dx: np.ndarray, dy: np.ndarray, gamma: float, cfl: float,
                    dt: np.ndarray) -> None:
    """``dt = cfl / ((|u| + c)/dx + (|v| + c)/dy)`` in every fluid cell (0 elsewhere)."""
    for j in range(W.shape[1]):
        for i in range(W.shape[2]):
            if kind[j, i] != FLUID:
                dt[j, i] = 0.0
                continue
            c = math.sqrt(gamma * W[3, j, i] / W[0, j, i])
            dt[j, i] = cfl / ((abs(W[1, j, i]) + c) / dx[i] + (abs(W[2, j, i]) + c) / dy[j])


@njit(cache=True)
def stage_update(U0: np.ndarray, R: np.ndarray, dt: np.ndarray, alpha: float, kind: np.ndarray, U: np.ndarray) -> None:
    """``U = U0 - alpha dt R`` in the fluid cells (one stage of a multistage scheme)."""
    for q in range(4):
        for j in range(U.shape[1]):
            for i in range(U.shape[2]):
                if kind[j, i] == FLUID:
                    U[q, j, i] = U0[q, j, i] - alpha * dt[j, i] * R[q, j, i]


@njit(cache=True)
def rms_density_residual(R: np.ndarray, kind: np.ndarray) -> float:
    """Root mean square of ``R_rho`` (= ``-d rho / dt``) over the fluid cells."""
    total, count = 0.0, 0
    for j in range(R.shape[1]):
        for i in range(R.shape[2]):
            if kind[j, i] == FLUID:
                total += R[0, j, i] * R[0, j, i]
                count += 1
    return math.sqrt(total / max(count, 1))

