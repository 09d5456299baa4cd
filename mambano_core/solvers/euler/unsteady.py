"""Time-accurate integration with the steady solver's spatial operator (for verification).

The same MUSCL reconstruction and numerical flux as :func:`.solver.solve_steady`, advanced
with a global time step ``dt = cfl min(dx / (|u| + c), dy / (|v| + c))`` by the two-stage
strong-stability-preserving Runge-Kutta scheme of Shu & Osher, J. Comput. Phys. 77 (1988)
(Heun's method), with zero-gradient (transmissive) or characteristic boundaries. Used for the
Sod shock tube against :mod:`.riemann_exact`.
"""

from __future__ import annotations

import numpy as np

from mambano_core.solvers.euler import kernels
from mambano_core.solvers.euler.fluxes import FLUXES
from mambano_core.solvers.euler.grid import FLUID, Grid, build_body
from mambano_core.solvers.euler.reconstruction import LIMITERS


def solve_unsteady(
    grid: Grid,
    initial: np.ndarray,
    t_end: float,
    flux: str = "hllc",
    limiter: str = "van_leer",
    cfl: float = 0.5,
    gamma: float = 1.4,
    farfield: np.ndarray | None = None,
) -> np.ndarray:
    """Advance the primitive state ``initial`` ``(4, NY, NX)`` (no body) to ``t_end``.

    Parameters
    ----------
    grid : Grid
        Computational grid (arrays include the ghost layers).
    initial : numpy.ndarray
        Primitive state ``(rho, u, v, p)`` on ``grid``.
    t_end : float
        Final time.
    flux, limiter : str
        Names from :data:`.fluxes.FLUXES` and :data:`.reconstruction.LIMITERS`.
    cfl : float
        Courant number of the global time step (SSP-RK2 with MUSCL: ``<= 0.5`` keeps it TVD in 1-D).
    gamma : float
        Ratio of specific heats.
    farfield : numpy.ndarray, optional
        Free-stream state for characteristic boundaries; zero-gradient boundaries if ``None``.

    Returns
    -------
    numpy.ndarray
        The primitive state at ``t_end``.
    """
    body = build_body(grid, None)
    kind = body.kind
    flux_id, limiter_id = FLUXES[flux], LIMITERS[limiter]
    free = np.zeros(4) if farfield is None else np.asarray(farfield, dtype=np.float64)
    W = np.array(initial, dtype=np.float64)
    free = np.broadcast_to(free[:, None, None], W.shape).copy()  # the outer state at every boundary cell
    U = np.zeros_like(W)
    kernels.to_conservative(W, gamma, U)
    R, sx, sy, weights = np.zeros_like(W), np.zeros_like(W), np.zeros_like(W), np.zeros_like(W)
    G = np.zeros((4,) + W.shape)  # no body: no wall ghosts
    fluid = kind == FLUID

    def rhs(state: np.ndarray) -> np.ndarray:
        kernels.to_primitive(state, kind, gamma, W)
        kernels.fill_edges(W, free, gamma, farfield is not None)
        kernels.limited_slopes(W, G, kind, grid.xc, grid.yc, limiter_id, sx, sy, weights, weights, False)
        kernels.residual(W, G, kind, grid.dx, grid.dy, sx, sy, flux_id, gamma, R)
        return R

    t = 0.0
    while t < t_end * (1.0 - 1e-12):
        kernels.to_primitive(U, kind, gamma, W)
        c = np.sqrt(gamma * W[3] / W[0])
        rate = np.max(((np.abs(W[1]) + c) / grid.dx[None, :] + (np.abs(W[2]) + c) / grid.dy[:, None])[fluid])
        dt = min(cfl / rate, t_end - t)
        U1 = U - dt * rhs(U)
        U = 0.5 * U + 0.5 * (U1 - dt * rhs(U1))
        t += dt
    kernels.to_primitive(U, kind, gamma, W)
    return W
