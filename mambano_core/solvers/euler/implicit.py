"""Matrix-free LU-SGS relaxation of the implicit steady-state update (numba, one thread).

Yoon & Jameson, "Lower-upper symmetric-Gauss-Seidel method for the Euler and Navier-Stokes
equations", AIAA J. 26(9) (1988), in the matrix-free form of Sharov & Nakahashi, "Reordering of
hybrid unstructured grids for lower-upper symmetric Gauss-Seidel computations", AIAA J. 36(3)
(1998): the implicit Euler step ``(I/dt + dR/dU) dU = -R`` with the Rusanov-type splitting
``dF_f ~ 1/2 (dF_n(U_j) - lambda_f dU_j)`` of the off-diagonal flux Jacobians (``lambda_f`` the
larger spectral radius ``|u_n| + c`` of the two cells) is solved approximately by one forward
and one backward Gauss-Seidel sweep:

    D dU*_i = -R_i - sum_{j lower}  (A_f / V) 1/2 (dF_n(U_j; dU*_j) - lambda_f dU*_j)
    dU_i    = dU*_i - D^-1 sum_{j upper} (A_f / V) 1/2 (dF_n(U_j; dU_j) - lambda_f dU_j)

with ``D = 1/dt + sum_f (A_f / V) lambda_f / 2`` and ``dF_n(U; dU) = F_n(U + dU) - F_n(U)``.
Only the cells of a mask (the fluid cells; on coarse multigrid levels the regular ones) are
relaxed; the others, ghost cells included, keep ``dU = 0`` (explicit boundary conditions).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mambano_core.solvers.euler.grid import NG


@njit(cache=True, inline="always")
def _flux_change(U: np.ndarray, dU: np.ndarray, j: int, i: int, normal_x: bool, gamma: float, out: np.ndarray) -> None:
    """``out = F(U + dU) - F(U)`` of cell ``(j, i)`` along ``x`` (``normal_x``) or ``y``."""
    r0, m0, n0, e0 = U[0, j, i], U[1, j, i], U[2, j, i], U[3, j, i]
    r1, m1, n1, e1 = r0 + dU[0, j, i], m0 + dU[1, j, i], n0 + dU[2, j, i], e0 + dU[3, j, i]
    p0 = (gamma - 1.0) * (e0 - 0.5 * (m0 * m0 + n0 * n0) / r0)
    p1 = (gamma - 1.0) * (e1 - 0.5 * (m1 * m1 + n1 * n1) / r1)
    if normal_x:
        a0, a1 = m0 / r0, m1 / r1
        out[0] = m1 - m0
        out[1] = m1 * a1 + p1 - m0 * a0 - p0
        out[2] = n1 * a1 - n0 * a0
    else:
        a0, a1 = n0 / r0, n1 / r1
        out[0] = n1 - n0
        out[1] = m1 * a1 - m0 * a0
        out[2] = n1 * a1 + p1 - n0 * a0 - p0
    out[3] = a1 * (e1 + p1) - a0 * (e0 + p0)


@njit(cache=True)
def spectral_radii(W: np.ndarray, gamma: float, lam_x: np.ndarray, lam_y: np.ndarray) -> None:
    """``|u| + c`` and ``|v| + c`` of every cell."""
    for j in range(W.shape[1]):
        for i in range(W.shape[2]):
            c = math.sqrt(gamma * W[3, j, i] / W[0, j, i])
            lam_x[j, i] = abs(W[1, j, i]) + c
            lam_y[j, i] = abs(W[2, j, i]) + c


@njit(cache=True)
def lusgs(
    U: np.ndarray, R: np.ndarray, mask: np.ndarray, dx: np.ndarray, dy: np.ndarray, dt: np.ndarray,
    lam_x: np.ndarray, lam_y: np.ndarray, gamma: float, dU: np.ndarray,
) -> None:
    """One LU-SGS step (forward and backward sweep): ``dU`` for the residual ``R`` (see the module).

    Only the cells where ``mask`` is true are relaxed; the others keep ``dU = 0``.
    """
    ny_, nx_ = U.shape[1], U.shape[2]
    dU[:] = 0.0
    df = np.empty(4)
    for j in range(NG, ny_ - NG):  # forward sweep: west and south neighbours are "lower"
        for i in range(NG, nx_ - NG):
            if not mask[j, i]:
                continue
            lw, le = max(lam_x[j, i - 1], lam_x[j, i]), max(lam_x[j, i + 1], lam_x[j, i])
            ls, ln = max(lam_y[j - 1, i], lam_y[j, i]), max(lam_y[j + 1, i], lam_y[j, i])
            hx, hy = 0.5 / dx[i], 0.5 / dy[j]
            diag = 1.0 / dt[j, i] + hx * (lw + le) + hy * (ls + ln)
            for q in range(4):
                dU[q, j, i] = -R[q, j, i]
            if mask[j, i - 1]:
                _flux_change(U, dU, j, i - 1, True, gamma, df)
                for q in range(4):
                    dU[q, j, i] += hx * (df[q] + lw * dU[q, j, i - 1])
            if mask[j - 1, i]:
                _flux_change(U, dU, j - 1, i, False, gamma, df)
                for q in range(4):
                    dU[q, j, i] += hy * (df[q] + ls * dU[q, j - 1, i])
            for q in range(4):
                dU[q, j, i] /= diag
    for j in range(ny_ - NG - 1, NG - 1, -1):  # backward sweep: east and north neighbours are "upper"
        for i in range(nx_ - NG - 1, NG - 1, -1):
            if not mask[j, i]:
                continue
            lw, le = max(lam_x[j, i - 1], lam_x[j, i]), max(lam_x[j, i + 1], lam_x[j, i])
            ls, ln = max(lam_y[j - 1, i], lam_y[j, i]), max(lam_y[j + 1, i], lam_y[j, i])
            hx, hy = 0.5 / dx[i], 0.5 / dy[j]
            diag = 1.0 / dt[j, i] + hx * (lw + le) + hy * (ls + ln)
            if mask[j, i + 1]:
                _flux_change(U, dU, j, i + 1, True, gamma, df)
                for q in range(4):
                    dU[q, j, i] -= hx * (df[q] - le * dU[q, j, i + 1]) / diag
            if mask[j + 1, i]:
                _flux_change(U, dU, j + 1, i, False, gamma, df)
                for q in range(4):
                    dU[q, j, i] -= hy * (df[q] - ln * dU[q, j + 1, i]) / diag


@njit(cache=True)
def limited_update(U: np.ndarray, dU: np.ndarray, mask: np.ndarray, gamma: float, max_change: float) -> None:
    """``U += theta dU`` where ``mask``; per cell ``theta <= 1`` (halved up to 20 times) keeps the
    relative changes of ``rho`` and ``p`` below ``max_change`` (and both positive)."""
    for j in range(U.shape[1]):
        for i in range(U.shape[2]):
            if not mask[j, i]:
                continue
            r0, m0, n0, e0 = U[0, j, i], U[1, j, i], U[2, j, i], U[3, j, i]
            p0 = (gamma - 1.0) * (e0 - 0.5 * (m0 * m0 + n0 * n0) / r0)
            theta = 1.0
            for _ in range(20):
                r1 = r0 + theta * dU[0, j, i]
                m1, n1, e1 = m0 + theta * dU[1, j, i], n0 + theta * dU[2, j, i], e0 + theta * dU[3, j, i]
                p1 = (gamma - 1.0) * (e1 - 0.5 * (m1 * m1 + n1 * n1) / r1) if r1 > 0.0 else -1.0
                if abs(r1 - r0) <= max_change * r0 and abs(p1 - p0) <= max_change * p0:
                    break
                theta *= 0.5
            for q in range(4):
                U[q, j, i] += theta * dU[q, j, i]
