"""Linear-strength vortex panel method for a 2-D airfoil, and the exact Karman-Trefftz airfoil.

Incompressible, inviscid flow past a closed airfoil with a sharp trailing edge (issue #18: the
subsonic check of the Euler solver, docs/airfoil.md). The method is that of J. Katz and A. Plotkin,
*Low-Speed Aerodynamics*, 2nd ed., Cambridge University Press, 2001, sec. 11.4 ("Linear-strength
vortex method"); the code is written from the method's definition, not from the book's listing:

- The surface is ``N`` straight panels between ``N + 1`` points ordered **clockwise**: from the
  trailing edge along the lower surface to the nose and back along the upper surface to the trailing
  edge (first and last point: the trailing edge, on both surfaces).
- The vortex sheet strength ``gamma`` (clockwise positive) varies linearly on each panel and is
  continuous at the points: ``N + 1`` unknowns ``gamma_j`` at the points.
- ``N`` equations: no flow through the panel at each panel's mid-point (the control point), plus
  the Kutta condition ``gamma_1 + gamma_{N+1} = 0`` (no net vorticity at the trailing edge, whose
  two sides then carry the same speed).
- The surface speed at a control point is the sheet strength there (the mean of the panel's two
  point values): the flow inside the closed body is at rest, so the jump across the sheet is the
  outer speed (summing the induced velocities on the outer side gives the same limit but converges
  at first order only, through the kinks between panels: on the Karman-Trefftz airfoil of
  tests/test_panel_method.py with 800 panels, mean Cp errors 1.5e-3 against 4e-5 away from the
  trailing edge). ``Cp = 1 - (V_t / U)^2``. The lift follows from the circulation
  ``Gamma = closed integral of gamma ds`` (Kutta-Joukowski, ``C_L = 2 Gamma / (U c)``) and,
  independently, from the pressure integral ``-sum Cp n ds``.

The exact reference is the Karman-Trefftz airfoil (L. M. Milne-Thomson, *Theoretical
Hydrodynamics*, 5th ed., Macmillan, 1968, chapter VII; Katz & Plotkin chapter 6): the circle
through ``zeta = 1`` about ``mu`` mapped by
``z = n ((zeta + 1)^n + (zeta - 1)^n) / ((zeta + 1)^n - (zeta - 1)^n)``, ``n = 2 - tau / pi``
(``tau``: trailing-edge angle; ``n = 2`` is Joukowski's airfoil). With the circle's radius ``R``
and ``1 - mu = R exp(-i beta)``, the Kutta condition gives ``Gamma = 4 pi U R sin(alpha + beta)``,
and the surface speed is ``|dW/dzeta| / |dz/dzeta|``. A cusped trailing edge (zero angle, Joukowski's
airfoil) is not handled: the panels of the two surfaces there overlap and the system becomes
ill-conditioned (measured: the error grows beyond 200 panels).

No ``from __future__ import annotations`` here: the scripts and tests load this file by path
(importlib), and dataclasses need evaluated annotations then.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Panels:
    """Geometry of ``N`` straight panels: start points ``(x0, y0)``, lengths, unit tangents ``(tx, ty)``
    (along the point order), unit outward normals ``(nx, ny)`` (the tangent turned counter-clockwise,
    outward for clockwise points) and control points ``(xc, yc)`` (mid-points)."""

    x0: np.ndarray
    y0: np.ndarray
    length: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    xc: np.ndarray
    yc: np.ndarray


@dataclass(frozen=True)
class PanelSolution:
    """A solved panel method.

    ``gamma``: sheet strengths at the ``N + 1`` points (clockwise positive, in units of ``U``);
    ``x``, ``y``: control points; ``speed``: tangential velocity there along the panel tangent
    (the sheet strength, units of ``U``); ``cp``: ``1 - speed^2``; ``cl_circulation``: ``2 Gamma / (U c)``;
    ``cl_pressure``, ``cd_pressure``: the integrated pressure force normal and parallel to the free
    stream (``cd_pressure`` vanishes in exact potential flow, d'Alembert); ``chord``: ``c``.
    """

    panels: Panels
    gamma: np.ndarray
    x: np.ndarray
    y: np.ndarray
    speed: np.ndarray
    cp: np.ndarray
    cl_circulation: float
    cl_pressure: float
    cd_pressure: float
    chord: float


def panel_geometry(x: np.ndarray, y: np.ndarray) -> Panels:
    """The panels between consecutive surface points.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``N + 1`` points, clockwise (trailing edge, lower surface, nose, upper surface, trailing
        edge); the first and last coincide at a closed sharp trailing edge.

    Returns
    -------
    Panels
        The ``N`` panels.

    Raises
    ------
    ValueError
        If the points run counter-clockwise (positive signed area) or are fewer than four.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 4:
        raise ValueError("x and y must be 1-D arrays of the same length, at least 4 points")
    if np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) > 0.0:
        raise ValueError("the surface points must run clockwise (trailing edge, lower surface, nose, upper)")
    dx, dy = np.diff(x), np.diff(y)
    length = np.hypot(dx, dy)
    tx, ty = dx / length, dy / length
    return Panels(x[:-1], y[:-1], length, tx, ty, -ty, tx, x[:-1] + 0.5 * dx, y[:-1] + 0.5 * dy)


def _local_integrals(xl: np.ndarray, zl: np.ndarray, length: np.ndarray,
                     own: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angle and log terms of a straight panel ``[0, L] x {0}`` seen from local points ``(xl, zl)``.

    Returns ``(dtheta, log_ratio, length)`` broadcast: ``dtheta`` the angle the panel subtends
    (``pi`` on the panel's own outer side, flagged by ``own``), ``log_ratio = ln(r_start / r_end)``.
    """
    cross, dot = zl * length, xl * (xl - length) + zl * zl
    dtheta = np.where(own, np.pi, np.arctan2(cross, dot))
    r_start2, r_end2 = xl * xl + zl * zl, (xl - length) ** 2 + zl * zl
    log_ratio = np.where(own, 0.0, 0.5 * np.log(r_start2 / np.where(own, 1.0, r_end2)))
    return dtheta, log_ratio, np.broadcast_to(length, xl.shape)


def influence(panels: Panels, px: np.ndarray, py: np.ndarray,
              own: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Velocity induced at points by unit sheet strengths at the panel points.

    A clockwise point vortex ``G`` at ``(s, 0)`` induces ``(u, w) = G / (2 pi r^2) (z, -(x - s))`` at
    local ``(x, z)``; integrating ``gamma(s) = gamma_a + (gamma_b - gamma_a) s / L`` over the panel
    gives closed forms in the subtended angle and ``ln(r_start / r_end)``.

    Parameters
    ----------
    panels : Panels
        The panels.
    px, py : numpy.ndarray
        ``M`` points.
    own : numpy.ndarray or None
        ``(M, N)`` booleans: point ``i`` is panel ``j``'s control point, seen from the outer side
        (the panel's own contribution there is taken in the limit). None: no point lies on a panel.

    Returns
    -------
    tuple of numpy.ndarray
        ``(U, V)``, each ``(M, N + 1)``: global ``x`` and ``y`` velocity per unit ``gamma_j``.
    """
    dx = np.asarray(px, dtype=np.float64)[:, None] - panels.x0[None, :]
    dy = np.asarray(py, dtype=np.float64)[:, None] - panels.y0[None, :]
    xl = dx * panels.tx + dy * panels.ty
    zl = dx * panels.nx + dy * panels.ny
    if own is None:
        own = np.zeros(xl.shape, dtype=bool)
    zl = np.where(own, 0.0, zl)
    dtheta, log_ratio, length = _local_integrals(xl, zl, panels.length[None, :], own)
    # Integrals of z / r^2 and (x - s) / r^2 against 1 and s over the panel.
    i0u, i0w = dtheta, log_ratio
    i1u = xl * dtheta - zl * log_ratio
    i1w = xl * log_ratio - length + zl * dtheta
    scale = 1.0 / (2.0 * np.pi)
    ua, ub = scale * (i0u - i1u / length), scale * i1u / length  # local u per gamma_a, gamma_b
    wa, wb = -scale * (i0w - i1w / length), -scale * i1w / length
    m, n = xl.shape
    U, V = np.zeros((m, n + 1)), np.zeros((m, n + 1))
    for coeff_u, coeff_w, offset in ((ua, wa, 0), (ub, wb, 1)):
        U[:, offset : offset + n] += coeff_u * panels.tx + coeff_w * panels.nx
        V[:, offset : offset + n] += coeff_u * panels.ty + coeff_w * panels.ny
    return U, V


def _chord(x: np.ndarray, y: np.ndarray) -> float:
    """Distance from the trailing edge (first point) to the farthest surface point (the leading edge)."""
    return float(np.max(np.hypot(x - x[0], y - y[0])))


def solve_airfoil(x: np.ndarray, y: np.ndarray, alpha_deg: float, chord: float | None = None) -> PanelSolution:
    """Incompressible flow past the airfoil of surface points ``(x, y)`` at angle of attack ``alpha_deg``.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``N + 1`` surface points, clockwise from the trailing edge (see :func:`panel_geometry`).
    alpha_deg : float
        Free-stream direction, degrees counter-clockwise from the ``x`` axis; speed ``U = 1``.
    chord : float or None
        Reference length of the coefficients; None: the distance from the trailing edge (the
        first point) to the farthest point.

    Returns
    -------
    PanelSolution
        Sheet strengths, surface speed and Cp at the control points, lift and drag.
    """
    panels = panel_geometry(x, y)
    n = panels.length.size
    alpha = np.radians(alpha_deg)
    free = np.array([np.cos(alpha), np.sin(alpha)])
    U, V = influence(panels, panels.xc, panels.yc, own=np.eye(n, dtype=bool))
    matrix = np.zeros((n + 1, n + 1))
    rhs = np.zeros(n + 1)
    matrix[:n] = U * panels.nx[:, None] + V * panels.ny[:, None]
    rhs[:n] = -(free[0] * panels.nx + free[1] * panels.ny)
    matrix[n, 0] = matrix[n, n] = 1.0  # Kutta: gamma_1 + gamma_{N+1} = 0
    gamma = np.linalg.solve(matrix, rhs)
    speed = 0.5 * (gamma[:-1] + gamma[1:])  # the interior is at rest: the outer speed is gamma
    cp = 1.0 - speed**2
    if chord is None:
        chord = _chord(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    circulation = float(np.sum(0.5 * (gamma[:-1] + gamma[1:]) * panels.length))
    force_x = -float(np.sum(cp * panels.nx * panels.length)) / chord
    force_y = -float(np.sum(cp * panels.ny * panels.length)) / chord
    return PanelSolution(panels, gamma, panels.xc, panels.yc, speed, cp, 2.0 * circulation / chord,
                         force_y * free[0] - force_x * free[1], force_x * free[0] + force_y * free[1], chord)


def airfoil_points(upper: Callable[[np.ndarray], np.ndarray], lower: Callable[[np.ndarray], np.ndarray],
                   n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clockwise surface points of an airfoil ``lower(x) <= y <= upper(x)`` on ``[0, 1]``.

    Parameters
    ----------
    upper, lower : callable
        Ordinates of the two surfaces at chord positions (arrays); they meet at ``x = 0`` and ``x = 1``.
    n : int
        Panels per surface; the points are cosine-spaced, ``x_k = (1 - cos(pi k / n)) / 2``.

    Returns
    -------
    tuple of numpy.ndarray
        ``2 n + 1`` points: trailing edge, lower surface, nose, upper surface, trailing edge.
    """
    xs = 0.5 * (1.0 - np.cos(np.pi * np.arange(n + 1) / n))
    x = np.concatenate([xs[::-1], xs[1:]])
    y = np.concatenate([lower(xs)[::-1], upper(xs[1:])])
    return x, y


def karman_tsien(cp0: np.ndarray, mach: float) -> np.ndarray:
    """Karman-Tsien compressibility correction of an incompressible ``Cp``:
    ``Cp = Cp0 / (beta + M^2 / (1 + beta) Cp0 / 2)``, ``beta = sqrt(1 - M^2)``."""
    beta = np.sqrt(1.0 - mach**2)
    return cp0 / (beta + mach**2 / (1.0 + beta) * 0.5 * cp0)


@dataclass(frozen=True)
class KarmanTrefftz:
    """The Karman-Trefftz airfoil of the circle through ``zeta = 1`` about ``centre``, trailing-edge
    angle ``te_angle_deg``, in a free stream of speed 1 at ``alpha_deg`` (exact potential flow)."""

    centre: complex = -0.1 + 0.1j
    te_angle_deg: float = 10.0
    alpha_deg: float = 4.0

    @property
    def radius(self) -> float:
        """Radius of the circle: it passes through ``zeta = 1``."""
        return abs(1.0 - self.centre)

    @property
    def exponent(self) -> float:
        """``n = 2 - tau / pi``."""
        return 2.0 - np.radians(self.te_angle_deg) / np.pi

    @property
    def circulation(self) -> float:
        """Clockwise circulation that puts the rear stagnation point at ``zeta = 1``: ``4 pi R sin(alpha + beta)``."""
        beta = -np.angle(1.0 - self.centre)
        return float(4.0 * np.pi * self.radius * np.sin(np.radians(self.alpha_deg) + beta))

    def mapping(self, zeta: np.ndarray) -> np.ndarray:
        """``z(zeta)``, written with ``q = ((zeta - 1) / (zeta + 1))^n`` (principal branch, continuous
        on and outside the circle)."""
        q = ((zeta - 1.0) / (zeta + 1.0)) ** self.exponent
        return self.exponent * (1.0 + q) / (1.0 - q)

    def surface(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surface points ``z`` and exact ``Cp`` at the circle angles ``phi`` (``zeta = mu + R e^{i phi}``)."""
        zeta = self.centre + self.radius * np.exp(1j * phi)
        alpha = np.radians(self.alpha_deg)
        s = zeta - self.centre
        dw = np.exp(-1j * alpha) - self.radius**2 * np.exp(1j * alpha) / s**2 + 1j * self.circulation / (2 * np.pi * s)
        n = self.exponent
        a, b = (zeta + 1.0) ** n, (zeta - 1.0) ** n
        dz = 4.0 * n * n * a * b / ((zeta * zeta - 1.0) * (a - b) ** 2)
        return self.mapping(zeta), 1.0 - np.abs(dw / dz) ** 2

    def points(self, n_panels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n_panels + 1`` clockwise surface points from the trailing edge (equal steps in ``phi``)
        and the circle angles of the panels' mid-points (``phi`` at the mid-step)."""
        beta = -np.angle(1.0 - self.centre)
        phi = -beta - 2.0 * np.pi * np.arange(n_panels + 1) / n_panels
        z = self.mapping(self.centre + self.radius * np.exp(1j * phi))
        z[0] = z[-1] = self.mapping(np.array([1.0 + 0j]))[0].real  # the trailing edge, exactly
        return z.real, z.imag, 0.5 * (phi[:-1] + phi[1:])

    def lift_coefficient(self, chord: float) -> float:
        """Exact ``C_L = 2 Gamma / (U c)`` for the chord ``c``."""
        return 2.0 * self.circulation / chord
