"""Full-approximation-storage (FAS) multigrid for the steady Euler equations on nested grids.

Jameson, "Solution of the Euler equations for two dimensional transonic flow by a multigrid
method", Appl. Math. Comput. 13 (1983); Brandt, Math. Comp. 31 (1977) for FAS. Coarse grids
take every other node (each coarse cell holds 2 x 2 fine cells), classify their own cells
against the body and use the first-order scheme. Only *regular* coarse cells (fluid, with four
regular children; on the finest level the fluid cells are regular) are relaxed and pass
corrections on; the other coarse fluid cells keep their restricted states (Dirichlet data), so
cells near the immersed boundary are left to the fine-grid smoother. A cycle on level ``l``:

1. pre-smooth: one LU-SGS step (:mod:`.implicit`) on ``R_l(U_l) + P_l = 0``;
2. restrict: ``U_{l+1}`` = volume average of the fluid children, and the forcing
   ``P_{l+1} = I(R_l(U_l) + P_l) - R_{l+1}(U_{l+1})`` on regular cells, with ``I`` the
   volume-weighted sum of the children's residuals;
3. recurse on level ``l + 1``;
4. correct: the coarse changes are interpolated bilinearly to the fine fluid cells (active coarse
   cells only; injection instead lets a limited second-order fine scheme stall), with the same
   positivity-preserving damping as the smoother;
5. post-smooth: one more LU-SGS step (without it, transonic cases with a CFL above ~10 stall).

The kernels below map between a fine level and the next coarse one (interior cell ``(J, I)`` of
the coarse grid holds the fine cells ``(NG + 2 (J - NG) + a, NG + 2 (I - NG) + b)``, ``a, b = 0, 1``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mambano_core.solvers.euler.grid import FLUID, NG


@njit(cache=True)
def restrict(
    U_f: np.ndarray, R_f: np.ndarray, kind_f: np.ndarray, active_f: np.ndarray, dx_f: np.ndarray, dy_f: np.ndarray,
    kind_c: np.ndarray, dx_c: np.ndarray, dy_c: np.ndarray, U_c: np.ndarray, Rr_c: np.ndarray, active: np.ndarray,
) -> None:
    """Volume-averaged fluid-child states ``U_c`` and volume-weighted residuals ``Rr_c`` (per coarse volume).

    ``active[J, I]`` (the coarse cells that are relaxed and pass corrections on) is set where the
    coarse cell is fluid and its four children are active on the fine level (``active_f``).
    """
    for jc in range(NG, kind_c.shape[0] - NG):
        for ic in range(NG, kind_c.shape[1] - NG):
            active[jc, ic] = False
            if kind_c[jc, ic] != FLUID:
                continue
            regular = True
            vol = 0.0
            acc = np.zeros(4)
            res = np.zeros(4)
            for a in range(2):
                jf = NG + 2 * (jc - NG) + a
                for b in range(2):
                    i_f = NG + 2 * (ic - NG) + b
                    regular = regular and active_f[jf, i_f]
                    if kind_f[jf, i_f] != FLUID:
                        continue
                    v = dx_f[i_f] * dy_f[jf]
                    vol += v
                    for q in range(4):
                        acc[q] += v * U_f[q, jf, i_f]
                        res[q] += v * R_f[q, jf, i_f]
            if vol > 0.0:
                active[jc, ic] = regular
                inv_c = 1.0 / (dx_c[ic] * dy_c[jc])
                for q in range(4):
                    U_c[q, jc, ic] = acc[q] / vol
                    Rr_c[q, jc, ic] = res[q] * inv_c


@njit(cache=True)
def prolong_correction(
    kind_f: np.ndarray, kind_c: np.ndarray, active: np.ndarray, U_c: np.ndarray, U_c0: np.ndarray, dU_f: np.ndarray
) -> None:
    """``dU_f``: bilinear interpolation of the coarse changes ``U_c - U_c0`` to the fine fluid cells.

    Weights 9/16 (parent), 3/16 (the two coarse neighbours on the child's sides) and 1/16
    (the diagonal one), restricted to active coarse cells and renormalised; fine cells whose
    parent is inactive get no correction.
    """
    dU_f[:] = 0.0
    for jf in range(NG, kind_f.shape[0] - NG):
        jc = NG + (jf - NG) // 2
        sj = 1 if (jf - NG) % 2 else -1
        for i_f in range(NG, kind_f.shape[1] - NG):
            ic = NG + (i_f - NG) // 2
            if not active[jc, ic] or kind_f[jf, i_f] != FLUID:
                continue
            si = 1 if (i_f - NG) % 2 else -1
            total = 0.0
            for dj, di, w in ((0, 0, 9.0), (sj, 0, 3.0), (0, si, 3.0), (sj, si, 1.0)):
                if active[jc + dj, ic + di]:
                    total += w
                    for q in range(4):
                        dU_f[q, jf, i_f] += w * (U_c[q, jc + dj, ic + di] - U_c0[q, jc + dj, ic + di])
            for q in range(4):
                dU_f[q, jf, i_f] /= total


