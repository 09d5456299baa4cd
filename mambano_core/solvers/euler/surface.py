"""Surface quantities of a steady solution: pressure coefficients, lift and drag, the shock position.

The surface is sampled at the chord stations ``x = (1 - cos theta) / 2`` (``theta`` uniform in
``[0, pi]``, so the nose is resolved), a distance ``offset`` out along the outward normal: on an
immersed-boundary grid the cells next to the wall are partly solid, and the pressure is read
where the bilinear interpolant over fluid cells is defined (:func:`.solver.sample_field`). The
offset should shrink with the grid (e.g. 1.5 cells), so that the sampled values converge to the
wall values. Forces are the integral of the sampled pressure over the closed surface (no friction:
the Euler equations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mambano_core.solvers.euler.geometry import Airfoil
from mambano_core.solvers.euler.solver import FlowConditions, SteadyResult, sample_field


def critical_pressure_coefficient(mach: float, gamma: float = 1.4) -> float:
    """Pressure coefficient ``Cp*`` where the flow is sonic (isentropic from the free stream at ``mach``)."""
    ratio = (2.0 + (gamma - 1.0) * mach**2) / (gamma + 1.0)
    return 2.0 / (gamma * mach**2) * (ratio ** (gamma / (gamma - 1.0)) - 1.0)


@dataclass(frozen=True)
class SurfacePressure:
    """Pressure coefficients at the chord stations ``x`` of the upper and the lower surface.

    ``theta`` is the station parameter (``x = (1 - cos theta) / 2``); ``y_upper``, ``y_lower`` the
    surface ordinates there.
    """

    theta: np.ndarray
    x: np.ndarray
    y_upper: np.ndarray
    y_lower: np.ndarray
    cp_upper: np.ndarray
    cp_lower: np.ndarray


def _outward_normals(x: np.ndarray, y: np.ndarray, theta: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit outward normals of a surface ``y(x(theta))``: ``sign = 1`` upper, ``-1`` lower."""
    dx, dy = np.gradient(x, theta), np.gradient(y, theta)
    norm = np.hypot(dx, dy)
    return -sign * dy / norm, sign * dx / norm


def surface_pressure(result: SteadyResult, airfoil: Airfoil, flow: FlowConditions, offset: float,
                     n: int = 401, wall_extrapolation: bool = False) -> SurfacePressure:
    """Pressure coefficients ``(p - p_inf) / (rho_inf U_inf^2 / 2)`` on both surfaces of ``airfoil``.

    Parameters
    ----------
    result : SteadyResult
        A solution on a grid around ``airfoil`` (or the free stream: ``airfoil`` then only places
        the sample points).
    airfoil : Airfoil
        The surfaces.
    flow : FlowConditions
        Free stream (reference pressure and dynamic pressure).
    offset : float
        Distance from the surface, along the outward normal, at which the pressure is read.
    n : int
        Number of chord stations ``x_k = (1 - cos(pi k / (n - 1))) / 2``.
    wall_extrapolation : bool
        Read the pressure also at ``2 offset`` and extrapolate linearly to the wall:
        ``p = 2 p(offset) - p(2 offset)``. This removes the first-order error of the read-out, the
        normal pressure gradient ``rho V^2 / R`` over a curved wall (measured on the RAE 2822 at
        M 0.5 on the 1/256 grid, issue #18: lift 0.5981 read 1.5 cells out, 0.6118 extrapolated
        from 1 and 2 cells, 0.6131 from the circulation).
    """
    theta = np.linspace(0.0, np.pi, n)
    x = 0.5 * (1.0 - np.cos(theta))
    q = 0.5 * flow.gamma * flow.p * flow.mach**2  # rho_inf U_inf^2 / 2 = gamma p_inf M^2 / 2
    surfaces = []
    for y, sign in ((airfoil.upper(x), 1.0), (airfoil.lower(x), -1.0)):
        nx, ny = _outward_normals(x, y, theta, sign)
        p = sample_field(result, result.W[3], x + offset * nx, y + offset * ny)
        if wall_extrapolation:
            p = 2.0 * p - sample_field(result, result.W[3], x + 2.0 * offset * nx, y + 2.0 * offset * ny)
        surfaces.append((y, (p - flow.p) / q))
    (y_up, cp_up), (y_lo, cp_lo) = surfaces
    return SurfacePressure(theta, x, y_up, y_lo, cp_up, cp_lo)


def force_coefficients(surface: SurfacePressure, alpha_deg: float) -> tuple[float, float]:
    """Lift and (pressure) drag coefficients ``(C_L, C_D)``, chord 1, from the surface pressures.

    ``C = -(closed integral of Cp n ds)``: the normal force ``C_y = int (Cp_lo - Cp_up) dx`` and the
    axial force ``C_x = int (Cp_up dy_up - Cp_lo dy_lo)``, integrated in ``theta`` (the slopes
    are infinite at the round nose, the derivatives in ``theta`` are not), then rotated by the
    angle of attack.
    """
    t = surface.theta
    dx = np.gradient(surface.x, t)
    cy = np.trapezoid((surface.cp_lower - surface.cp_upper) * dx, t)
    cx = np.trapezoid(surface.cp_upper * np.gradient(surface.y_upper, t)
                      - surface.cp_lower * np.gradient(surface.y_lower, t), t)
    alpha = np.radians(alpha_deg)
    return float(cy * np.cos(alpha) - cx * np.sin(alpha)), float(cx * np.cos(alpha) + cy * np.sin(alpha))


def shock_position(x: np.ndarray, cp: np.ndarray, cp_star: float, after: float = 0.2) -> float:
    """Chord position of the last supersonic-to-subsonic crossing ``Cp = Cp*`` aft of ``after``.

    ``x`` increasing; the crossing is where ``Cp - Cp*`` goes from negative (supersonic) to
    non-negative, linearly interpolated. NaN if the flow is nowhere supersonic aft of ``after``.
    """
    x, d = np.asarray(x, dtype=np.float64), np.asarray(cp, dtype=np.float64) - cp_star
    k = np.nonzero((x[:-1] >= after) & (d[:-1] < 0.0) & (d[1:] >= 0.0))[0]
    if k.size == 0:
        return float("nan")
    k = k[-1]
    return float(x[k] + (x[k + 1] - x[k]) * d[k] / (d[k] - d[k + 1]))
