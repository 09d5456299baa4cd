"""Steady 2-D compressible Euler flow past a body on a Cartesian grid (immersed boundary).

Cell-centred finite volumes on a stretched tensor-product grid (:mod:`.grid`): MUSCL
reconstruction of the primitive variables with a slope limiter (van Leer 1979,
:mod:`.reconstruction`), HLLC or Rusanov fluxes (Toro 2009, :mod:`.fluxes`), ghost-cell slip walls
and characteristic far-field boundaries (:mod:`.kernels`). Steady states are reached by
implicit local time stepping (LU-SGS, :mod:`.implicit`) accelerated by FAS multigrid
(:mod:`.multigrid`), until the RMS density residual (the RMS of ``d rho / dt`` over fluid cells,
in units of ``rho_inf`` and ``chord / sqrt(p_inf / rho_inf)``) falls below a tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mambano_core.solvers.euler import implicit, kernels, multigrid
from mambano_core.solvers.euler.fluxes import FLUXES
from mambano_core.solvers.euler.geometry import Airfoil
from mambano_core.solvers.euler.grid import FLUID, Body, Grid, build_body
from mambano_core.solvers.euler.reconstruction import LIMITERS


@dataclass(frozen=True)
class FlowConditions:
    """Free stream: Mach number, angle of attack (degrees), ``gamma``, density and pressure."""

    mach: float = 0.729
    alpha_deg: float = 2.31
    gamma: float = 1.4
    rho: float = 1.0
    p: float = 1.0

    def primitive(self) -> np.ndarray:
        """Free-stream ``(rho, u, v, p)``."""
        speed = self.mach * math.sqrt(self.gamma * self.p / self.rho)
        alpha = math.radians(self.alpha_deg)
        return np.array([self.rho, speed * math.cos(alpha), speed * math.sin(alpha), self.p])


@dataclass(frozen=True)
class SolverSettings:
    """Discretisation and iteration controls of :func:`solve_steady`.

    Local time steps ``dt = cfl / ((|u|+c)/dx + (|v|+c)/dy)``, with ``cfl`` growing
    geometrically from ``cfl_start`` by ``cfl_growth`` per cycle up to ``cfl``; LU-SGS updates
    are damped so that ``rho`` and ``p`` change by at most ``max_change`` (relative) per cell.
    ``levels`` grids (1: single grid) form the multigrid hierarchy, V-cycles with one pre- and
    ``post_smooth`` post-smoothing steps. If the residual has not fallen below 0.9 times its
    previous minimum for ``stall_cycles`` cycles (multigrid can stall at a false fixed point
    where the coarse-grid correction undoes the smoothing, e.g. along the wake's contact
    discontinuity), the iteration goes on single-grid with ``cfl = single_grid_cfl`` for
    ``stall_cycles`` cycles before multigrid resumes. From the second stall on, once the residual
    is below ``freeze_below * tol`` (30 tol: the shocks have settled), the van Albada limiter is frozen (its weights
    kept from then on, :mod:`.reconstruction`): limit cycles of the limited scheme along the
    wake's slip line or at a shock foot otherwise undo every single-grid phase (measured:
    residuals cycling between 1e-5 and 4e-4 until ``max_cycles``); frozen far from convergence
    (residual 3e-2), the scheme diverged. ``freeze_limiter = False`` never freezes it: the RAE 2822
    at M 0.3 on the 1/256 grid diverged right after the freeze (residual 1.3e-4 to 0.5 in 50
    cycles, twice; issue #18, subsonic check) and without it cycles at 5e-5. The airfoil benchmark
    (data revision 2) freezes from ``freeze_below = 300``: with the curved wall and the vortex far
    field two OOD samples cycled between 1e-3 and 6e-3 along the trailing edge and the wake, above
    30 tol, and never froze; from 300 tol they converge in 525 and 548 cycles. Frozen that early, the
    scheme can run away (another OOD sample froze at 2.5e-3 and diverged 650 cycles later): with a
    finite ``unfreeze_above`` (the benchmark: 30), a frozen iteration whose residual rises above
    ``unfreeze_above`` times its value at the freeze goes back to the state of the freeze with the
    limiter live again, and freezes next only below a tenth of that residual.
    ``tol`` is the target RMS density residual; the first ``first_order_cycles`` cycles from a
    uniform start are first order.

    With ``far_field_vortex`` the outer state of the far field is the free stream plus the
    compressible point vortex of the airfoil's circulation (:func:`vortex_far_field`, measured
    every cycle by :func:`circulation`); without it (the airfoil data's revision 1) the far field sees
    the plain free stream, which at 20 chords lowers the RAE 2822's lift by about 3%
    (docs/airfoil.md, Case 6 validation). With ``curved_wall`` the wall ghosts carry the
    pressure balance of flow along a curved wall (:func:`.kernels.fill_wall_ghosts`); off (revision
    1), they mirror the image state. The airfoil benchmark uses both since its data revision 2.
    """

    flux: str = "hllc"
    limiter: str = "van_albada"
    cfl: float = 10.0
    cfl_start: float = 2.0
    cfl_growth: float = 1.1
    max_change: float = 0.2
    levels: int = 5
    tol: float = 1e-5
    max_cycles: int = 1500
    first_order_cycles: int = 20
    post_smooth: int = 1
    stall_cycles: int = 40
    single_grid_cfl: float = 50.0
    far_field_vortex: bool = False
    freeze_limiter: bool = True
    freeze_below: float = 30.0
    unfreeze_above: float = math.inf
    curved_wall: bool = False

    def ids(self) -> tuple[int, int]:
        """Numeric ids of the flux and limiter."""
        if self.flux not in FLUXES or self.limiter not in LIMITERS:
            raise ValueError(f"unknown flux {self.flux!r} or limiter {self.limiter!r}")
        return FLUXES[self.flux], LIMITERS[self.limiter]


@dataclass
class SteadyResult:
    """A (converged or stopped) solution: primitive states ``W`` ``(4, NY, NX)`` on ``grid``.

    ``residual`` is the last RMS density residual, ``cycles`` the number of multigrid cycles
    (single-grid steps when ``levels = 1``) and ``history`` the residual before every cycle.
    """

    grid: Grid
    body: Body
    W: np.ndarray
    residual: float
    cycles: int
    converged: bool
    history: np.ndarray = field(repr=False)


def apply_boundaries(
    W: np.ndarray, G: np.ndarray, body: Body, free: np.ndarray, gamma: float, farfield: bool = True,
    curved_wall: bool = False,
) -> None:
    """Fill the wall-ghost states ``G`` and the boundary layers of ``W`` in place.

    ``free`` ``(4, NY, NX)``: the outer state of the far field at each boundary cell;
    ``curved_wall``: curvature-corrected wall ghosts (:class:`SolverSettings`).
    """
    kernels.fill_wall_ghosts(W, G, body.gj, body.gi, body.gdir, body.sj, body.si, body.sw, body.normal,
                             body.curvature, body.span, curved_wall, gamma)
    kernels.fill_edges(W, free, gamma, farfield)


def uniform_state(grid: Grid, state: np.ndarray) -> np.ndarray:
    """``(4, NY, NX)`` array holding ``state`` everywhere."""
    return np.broadcast_to(np.asarray(state, dtype=np.float64)[:, None, None], (4,) + grid.shape).copy()


def vortex_far_field(grid: Grid, flow: FlowConditions, circulation_cw: float,
                     centre: tuple[float, float] = (0.25, 0.0)) -> np.ndarray:
    """Free stream plus a compressible point vortex at ``centre``, ``(4, NY, NX)`` primitive states.

    The far-field correction of Thomas & Salas ("Far-field boundary conditions for transonic lifting
    solutions to the Euler equations", AIAA J. 24, 1986) for a
    lifting airfoil: with ``Gamma`` the clockwise circulation (``C_L = 2 Gamma / U``, chord 1),
    ``beta = sqrt(1 - M^2)`` and polar coordinates ``(r, theta)`` about ``centre``,
    ``u = U cos a + Gamma beta sin(theta) / (2 pi r (1 - M^2 sin^2(theta - a)))``,
    ``v = U sin a - Gamma beta cos(theta) / (2 pi r (1 - M^2 sin^2(theta - a)))``; density and
    pressure follow isentropically at the free stream's total enthalpy.
    """
    free = flow.primitive()
    speed = math.hypot(free[1], free[2])
    alpha = math.radians(flow.alpha_deg)
    xx, yy = np.meshgrid(grid.xc - centre[0], grid.yc - centre[1])
    r = np.maximum(np.hypot(xx, yy), 1e-12)
    theta = np.arctan2(yy, xx)
    beta = math.sqrt(max(1.0 - flow.mach**2, 1e-12))
    factor = circulation_cw * beta / (2.0 * math.pi * r * (1.0 - flow.mach**2 * np.sin(theta - alpha) ** 2))
    u = free[1] + factor * np.sin(theta)
    v = free[2] - factor * np.cos(theta)
    g1 = flow.gamma - 1.0
    c2_free = flow.gamma * free[3] / free[0]
    ratio = np.maximum(1.0 + 0.5 * g1 * (speed**2 - u * u - v * v) / c2_free, 1e-6)  # (c / c_inf)^2
    return np.stack([free[0] * ratio ** (1.0 / g1), u, v, free[3] * ratio ** (flow.gamma / g1)])


def circulation(grid: Grid, W: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Counter-clockwise circulation of the velocity of ``W`` around the rectangle of cell centres nearest ``box``.

    ``box = (x0, x1, y0, y1)``; trapezoidal rule along the four sides (all cells on it must be fluid).
    """
    i0, i1 = np.searchsorted(grid.xc, [box[0], box[1]])
    j0, j1 = np.searchsorted(grid.yc, [box[2], box[3]])
    x, y = grid.xc[i0 : i1 + 1], grid.yc[j0 : j1 + 1]
    u, v = W[1], W[2]
    bottom = np.trapezoid(u[j0, i0 : i1 + 1], x)
    right = np.trapezoid(v[j0 : j1 + 1, i1], y)
    top = np.trapezoid(u[j1, i0 : i1 + 1], x)
    left = np.trapezoid(v[j0 : j1 + 1, i0], y)
    return float(bottom + right - top - left)


class _Level:
    """Arrays of one multigrid level (conservative ``U``, primitive ``W``, residual ``R``, forcing ``P``)."""

    def __init__(self, grid: Grid, body: Body, free: np.ndarray, gamma: float) -> None:
        self.grid, self.body, self.kind = grid, body, body.kind
        self.W = uniform_state(grid, free)
        self.free = uniform_state(grid, free)  # outer far-field state at the boundary cells
        self.G = np.zeros((4,) + self.W.shape)
        self.U, self.R, self.P, self.dU, self.sx, self.sy, self.U0, self.Rr = (np.zeros_like(self.W) for _ in range(8))
        self.wx, self.wy = np.zeros_like(self.W), np.zeros_like(self.W)  # van Albada weights (limiter freezing)
        self.dt, self.lam_x, self.lam_y = (np.zeros(grid.shape) for _ in range(3))
        self.active = body.kind == FLUID  # relaxed cells (reset by the restriction on coarse levels)
        kernels.to_conservative(self.W, gamma, self.U)


class _Solver:
    """FAS multigrid / LU-SGS iteration over a list of levels (finest first)."""

    def __init__(self, levels: list[_Level], flow: FlowConditions, settings: SolverSettings) -> None:
        self.levels, self.settings = levels, settings
        self.depth = len(levels)  # levels in use (1 after a multigrid stall)
        self.frozen = False  # limiter weights frozen (after repeated stalls)
        self.flux, self.limiter = settings.ids()
        self.gamma = flow.gamma

    def evaluate(self, lv: _Level, order: int, cfl: float, forcing: bool = True) -> float:
        """Primitives, boundaries, time step and ``R + P`` of the level's ``U``; returns RMS of ``R_rho``."""
        kernels.to_primitive(lv.U, lv.kind, self.gamma, lv.W)
        apply_boundaries(lv.W, lv.G, lv.body, lv.free, self.gamma, curved_wall=self.settings.curved_wall)
        kernels.local_time_step(lv.W, lv.kind, lv.grid.dx, lv.grid.dy, self.gamma, cfl, lv.dt)
        if order:
            kernels.limited_slopes(lv.W, lv.G, lv.kind, lv.grid.xc, lv.grid.yc, order, lv.sx, lv.sy, lv.wx, lv.wy,
                                   self.frozen)
        else:
            lv.sx[:] = 0.0
            lv.sy[:] = 0.0
        kernels.residual(lv.W, lv.G, lv.kind, lv.grid.dx, lv.grid.dy, lv.sx, lv.sy, self.flux, self.gamma, lv.R)
        res = kernels.rms_density_residual(lv.R, lv.kind)
        if forcing and lv is not self.levels[0]:  # the finest level has no forcing
            lv.R += lv.P
        return res

    def smooth(self, lv: _Level) -> None:
        """One damped LU-SGS step with the residual in ``lv.R``."""
        implicit.spectral_radii(lv.W, self.gamma, lv.lam_x, lv.lam_y)
        implicit.lusgs(lv.U, lv.R, lv.active, lv.grid.dx, lv.grid.dy, lv.dt, lv.lam_x, lv.lam_y, self.gamma, lv.dU)
        implicit.limited_update(lv.U, lv.dU, lv.active, self.gamma, self.settings.max_change)

    def cycle(self, level: int, order: int, cfl: float, stop_below: float = -1.0) -> float:
        """One V-cycle from ``level`` (pre-smoothing, coarse-grid correction, post-smoothing).

        Returns the RMS density residual before smoothing.

        Nothing is changed if that residual is below ``stop_below``.
        """
        lv = self.levels[level]
        res = self.evaluate(lv, order, cfl)
        if res < stop_below:
            return res
        self.smooth(lv)
        if level + 1 == self.depth:
            return res
        coarse = self.levels[level + 1]
        self.evaluate(lv, order, cfl)
        multigrid.restrict(lv.U, lv.R, lv.kind, lv.active, lv.grid.dx, lv.grid.dy, coarse.kind, coarse.grid.dx,
                           coarse.grid.dy, coarse.U, coarse.Rr, coarse.active)
        coarse.U0[:] = coarse.U
        self.evaluate(coarse, 0, cfl, forcing=False)
        coarse.P[:] = np.where(coarse.active, coarse.Rr - coarse.R, 0.0)
        self.cycle(level + 1, 0, cfl)
        multigrid.prolong_correction(lv.kind, coarse.kind, coarse.active, coarse.U, coarse.U0, lv.dU)
        implicit.limited_update(lv.U, lv.dU, lv.active, self.gamma, self.settings.max_change)
        for _ in range(self.settings.post_smooth):
            self.evaluate(lv, order, cfl)
            self.smooth(lv)
        return res


def solve_steady(
    grid: Grid,
    airfoil: Airfoil | None,
    flow: FlowConditions,
    settings: SolverSettings = SolverSettings(),
    initial: np.ndarray | None = None,
) -> SteadyResult:
    """Iterate to a steady state: LU-SGS with local time steps and FAS multigrid (see the module).

    Parameters
    ----------
    grid : Grid
        The computational grid (coarsened ``settings.levels - 1`` times for multigrid, so its
        cell counts must be divisible by ``2^(levels - 1)``).
    airfoil : Airfoil or None
        The body (``None``: free stream only).
    flow : FlowConditions
        Free stream and ``gamma``.
    settings : SolverSettings
        Scheme and stopping rule.
    initial : numpy.ndarray, optional
        Starting primitive state ``(4, NY, NX)``; the free stream by default (then the first
        ``settings.first_order_cycles`` cycles are first order).

    Returns
    -------
    SteadyResult
        Final state, final RMS density residual, cycle count and residual history.
    """
    _, limiter = settings.ids()
    free, gamma = flow.primitive(), flow.gamma
    grids = [grid]
    for _ in range(settings.levels - 1):
        grids.append(grids[-1].coarsened())
    levels = [_Level(g, build_body(g, airfoil), free, gamma) for g in grids]
    fine = levels[0]
    if initial is not None:
        fine.W[:] = initial
        kernels.to_conservative(fine.W, gamma, fine.U)
    first_order = settings.first_order_cycles if initial is None else 0
    solver = _Solver(levels, flow, settings)
    history: list[float] = []
    cycle, converged, res, switched = 0, False, math.inf, first_order
    stalls = 0
    freeze_cap = settings.freeze_below * settings.tol  # lowered after a frozen scheme ran away
    checkpoint: tuple[np.ndarray, float] | None = None  # state and residual when the limiter was frozen
    vortex = settings.far_field_vortex and airfoil is not None
    while cycle < settings.max_cycles:
        if vortex:  # the far field sees the current circulation (around the chord, 0.5 chord out)
            gamma_cw = -circulation(grid, fine.W, (-0.5, 1.5, -0.5, 0.5))
            for lv in levels:
                lv.free[:] = vortex_far_field(lv.grid, flow, gamma_cw)
        order = 0 if cycle < first_order else limiter
        cfl = min(settings.cfl, settings.cfl_start * settings.cfl_growth**cycle)
        if solver.depth < len(levels):  # single-grid cycles after a multigrid stall
            cfl = settings.single_grid_cfl
        res = solver.cycle(0, order, cfl, settings.tol if order == limiter else -1.0)
        history.append(res)
        if checkpoint is not None and not res <= settings.unfreeze_above * checkpoint[1]:  # NaN included
            # frozen too early, the frozen scheme runs away: back to the state at the freeze, limiter
            # live again, and freeze only below a tenth of that residual
            fine.U[:] = checkpoint[0]
            kernels.to_primitive(fine.U, fine.kind, gamma, fine.W)
            res = checkpoint[1]  # the residual of the state now held
            if not math.isfinite(history[-1]):
                history[-1] = res  # keeps the stall test's minima finite
            freeze_cap, checkpoint, solver.frozen = 0.1 * res, None, False
        elif not math.isfinite(res):
            raise FloatingPointError(f"Euler solver diverged at cycle {cycle}")
        converged = order == limiter and res < settings.tol
        if converged:
            break
        window = settings.stall_cycles
        if solver.depth < len(levels) and cycle - switched >= window:  # end of a single-grid phase
            solver.depth, switched = len(levels), cycle  # back to multigrid
            if (settings.freeze_limiter and stalls > 1 and res < freeze_cap and not solver.frozen
                    and limiter == LIMITERS["van_albada"]):
                solver.frozen = True  # stalled again close to convergence: freeze the limiter
                if math.isfinite(settings.unfreeze_above):
                    checkpoint = (fine.U.copy(), res)
        elif (solver.depth > 1 and order == limiter and cycle - switched >= 2 * window
              and min(history[-window:]) > 0.9 * min(history[:-window])):
            solver.depth, switched, stalls = 1, cycle, stalls + 1  # multigrid stalled: single-grid cycles
        cycle += 1
    kernels.to_primitive(fine.U, fine.kind, gamma, fine.W)
    apply_boundaries(fine.W, fine.G, fine.body, fine.free, gamma, curved_wall=settings.curved_wall)
    return SteadyResult(grid, fine.body, fine.W, res, cycle, converged, np.asarray(history))


def mach_number(W: np.ndarray, gamma: float = 1.4) -> np.ndarray:
    """Local Mach number ``|u| / c`` of primitive states ``W`` (leading axis 4)."""
    return np.hypot(W[1], W[2]) / np.sqrt(gamma * W[3] / W[0])


def sample_field(result: SteadyResult, values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of cell-centred ``values`` ``(NY, NX)`` at points, over fluid cells only.

    Weights of non-fluid cells are dropped and the rest renormalised; points without a fluid
    neighbour (inside the body) get NaN.
    """
    grid = result.grid
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    i0 = np.clip(np.searchsorted(grid.xc, x) - 1, 0, grid.xc.size - 2)
    j0 = np.clip(np.searchsorted(grid.yc, y) - 1, 0, grid.yc.size - 2)
    tx = np.clip((x - grid.xc[i0]) / (grid.xc[i0 + 1] - grid.xc[i0]), 0.0, 1.0)
    ty = np.clip((y - grid.yc[j0]) / (grid.yc[j0 + 1] - grid.yc[j0]), 0.0, 1.0)
    fluid = result.body.kind == FLUID
    total = np.zeros(x.shape)
    weight = np.zeros(x.shape)
    for dj, di, w in ((0, 0, (1 - tx) * (1 - ty)), (0, 1, tx * (1 - ty)), (1, 0, (1 - tx) * ty), (1, 1, tx * ty)):
        w = w * fluid[j0 + dj, i0 + di]
        total += w * values[j0 + dj, i0 + di]
        weight += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 1e-12, total / weight, np.nan)
