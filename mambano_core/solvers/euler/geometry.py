"""Airfoil geometry: the RAE 2822 section, Hicks-Henne bumps, inside tests and surface distances.

The RAE 2822 ordinates are the 65-station table of Cook, McDonald & Firmin, "Aerofoil RAE 2822 -
Pressure distributions, and boundary layer and wake measurements", AGARD AR-138 (1979), Table 6.1,
as distributed by the NASA NPARC Alliance Validation Archive
(https://www.grc.nasa.gov/WWW/wind/valid/raetaf/geom.txt): chord 1 from ``(0, 0)`` to ``(1, 0)``,
stations ``x_k = (1 - cos(pi k / 64)) / 2``, ``k = 0..64``, maximum thickness 0.1211 at 0.38.

Between the stations each surface is a cubic spline in the angle ``theta`` with
``x = (1 - cos theta) / 2``: the closed curve ``theta in [-pi, pi]`` (lower surface for
``theta < 0``) is smooth through the leading edge, where ``y ~ sqrt(x) ~ sin(theta / 2)``, so the
spline keeps the round nose (radius 0.0083 chord, as tabulated for the RAE 2822: 0.00827).

Shapes are perturbed by Hicks-Henne bumps (Hicks & Henne, "Wing design by numerical
optimization", J. Aircraft 15(7), 1978): ``b_i(x) = sin^3(pi x^(q_i))``, ``q_i = ln(1/2) / ln(p_i)``,
which peaks (value 1) at ``x = p_i`` and vanishes at both ends, added to the upper and to the lower
surface with their own amplitudes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree

# AGARD AR-138 Table 6.1 (NPARC geom.txt): y/c of the upper and lower surfaces at x_k, k = 0..64.
RAE2822_UPPER = np.array([
    0.000000, 0.003165, 0.006306, 0.009416, 0.012480, 0.015489, 0.018441, 0.021348, 0.024219,
    0.027062, 0.029874, 0.032644, 0.035360, 0.038011, 0.040585, 0.043071, 0.045457, 0.047729,
    0.049874, 0.051885, 0.053753, 0.055470, 0.057026, 0.058414, 0.059629, 0.060660, 0.061497,
    0.062133, 0.062562, 0.062779, 0.062774, 0.062530, 0.062029, 0.061254, 0.060194, 0.058845,
    0.057218, 0.055344, 0.053258, 0.050993, 0.048575, 0.046029, 0.043377, 0.040641, 0.037847,
    0.035017, 0.032176, 0.029347, 0.026554, 0.023817, 0.021153, 0.018580, 0.016113, 0.013769,
    0.011562, 0.009508, 0.007622, 0.005915, 0.004401, 0.003092, 0.002001, 0.001137, 0.000510,
    0.000128, 0.000000,
])
RAE2822_LOWER = np.array([
    0.000000, -0.003160, -0.006308, -0.009443, -0.012559, -0.015649, -0.018707, -0.021722,
    -0.024685, -0.027586, -0.030416, -0.033170, -0.035843, -0.038431, -0.040929, -0.043326,
    -0.045610, -0.047773, -0.049805, -0.051694, -0.053427, -0.054994, -0.056376, -0.057547,
    -0.058459, -0.059046, -0.059236, -0.058974, -0.058224, -0.056979, -0.055257, -0.053099,
    -0.050563, -0.047719, -0.044642, -0.041397, -0.038043, -0.034631, -0.031207, -0.027814,
    -0.024495, -0.021289, -0.018232, -0.015357, -0.012690, -0.010244, -0.008027, -0.006048,
    -0.004314, -0.002829, -0.001592, -0.000600, 0.000157, 0.000694, 0.001033, 0.001197,
    0.001212, 0.001112, 0.000935, 0.000719, 0.000497, 0.000296, 0.000137, 0.000035, 0.000000,
])
RAE2822_THETA = np.pi * np.arange(65) / 64.0
RAE2822_X = 0.5 * (1.0 - np.cos(RAE2822_THETA))

SurfaceFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Airfoil:
    """A closed airfoil of chord 1 on ``[0, 1]``: ``lower(x) <= y <= upper(x)``.

    ``upper`` and ``lower`` map chord positions ``x in [0, 1]`` to ordinates; they must meet at
    ``x = 0`` and ``x = 1`` and satisfy ``lower < upper`` in between.
    """

    upper: SurfaceFunction
    lower: SurfaceFunction

    def thickness(self, x: np.ndarray) -> np.ndarray:
        """``upper(x) - lower(x)``."""
        x = np.asarray(x, dtype=np.float64)
        return self.upper(x) - self.lower(x)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean array: the points ``(x, y)`` lie strictly inside the airfoil."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        inside = np.zeros(x.shape, dtype=bool)
        chord = (x > 0.0) & (x < 1.0)
        xc, yc = x[chord], y[chord]
        inside[chord] = (yc > self.lower(xc)) & (yc < self.upper(xc))
        return inside

    def polyline(self, n: int = 2001, side: str = "both") -> tuple[np.ndarray, np.ndarray]:
        """Counter-clockwise surface polyline, cosine-clustered (``n`` points per surface).

        ``side = "both"``: closed, TE along the upper surface to the LE and along the lower
        surface back to the TE (``2n - 1`` points); ``"upper"`` (TE to LE) or ``"lower"`` (LE to
        TE): one surface.
        """
        x = 0.5 * (1.0 - np.cos(np.linspace(0.0, np.pi, n)))
        if side == "upper":
            return x[::-1], self.upper(x)[::-1]
        if side == "lower":
            return x, self.lower(x)
        if side != "both":
            raise ValueError(f"side must be 'both', 'upper' or 'lower', got {side!r}")
        px = np.concatenate([x[::-1], x[1:]])
        py = np.concatenate([self.upper(x)[::-1], self.lower(x[1:])])
        return px, py


def _rae2822_spline() -> CubicSpline:
    """Cubic spline ``y(theta)``, ``theta in [-pi, pi]`` (lower surface for ``theta < 0``)."""
    theta = np.concatenate([-RAE2822_THETA[::-1], RAE2822_THETA[1:]])
    y = np.concatenate([RAE2822_LOWER[::-1], RAE2822_UPPER[1:]])
    return CubicSpline(theta, y)


_SPLINE = _rae2822_spline()


def _theta(x: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip(1.0 - 2.0 * np.asarray(x, dtype=np.float64), -1.0, 1.0))


def rae2822_upper(x: np.ndarray) -> np.ndarray:
    """Upper surface of the RAE 2822 (spline through the AGARD AR-138 ordinates)."""
    return _SPLINE(_theta(x))


def rae2822_lower(x: np.ndarray) -> np.ndarray:
    """Lower surface of the RAE 2822 (spline through the AGARD AR-138 ordinates)."""
    return _SPLINE(-_theta(x))


def hicks_henne(x: np.ndarray, peaks: np.ndarray, power: float = 3.0) -> np.ndarray:
    """Hicks-Henne bumps ``sin^power(pi x^q_i)``, ``q_i = ln(1/2)/ln(p_i)`` (Hicks & Henne 1978).

    Parameters
    ----------
    x : numpy.ndarray
        Chord positions in ``[0, 1]``, any shape.
    peaks : numpy.ndarray
        Peak positions ``p_i in (0, 1)``, shape ``(n,)``.
    power : float
        Exponent of the sine (3 in the benchmark).

    Returns
    -------
    numpy.ndarray
        Shape ``(n,) + x.shape``; bump ``i`` is 1 at ``p_i`` and 0 at ``x = 0`` and ``x = 1``.
    """
    peaks = np.asarray(peaks, dtype=np.float64)
    if peaks.ndim != 1 or np.any((peaks <= 0.0) | (peaks >= 1.0)):
        raise ValueError(f"bump peaks must lie in (0, 1), got {peaks}")
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    q = np.log(0.5) / np.log(peaks)
    # pi x^q lies in [0, pi]: the sine is non-negative (clipped against rounding at x = 1).
    return np.maximum(np.sin(np.pi * x[None, ...] ** q.reshape((-1,) + (1,) * x.ndim)), 0.0) ** power


def perturbed_rae2822(a_upper: np.ndarray, a_lower: np.ndarray, peaks: np.ndarray) -> Airfoil:
    """RAE 2822 with Hicks-Henne bumps: ``y = y_ref + sum_i a_i sin^3(pi x^q_i)`` on each surface.

    Parameters
    ----------
    a_upper, a_lower : numpy.ndarray
        Bump amplitudes (chord units) of the upper and lower surface, shape ``(n,)`` each.
    peaks : numpy.ndarray
        Bump peak positions, shape ``(n,)``.

    Returns
    -------
    Airfoil
        The perturbed shape (not checked for validity: see :meth:`Airfoil.thickness`).
    """
    a_up = np.asarray(a_upper, dtype=np.float64)
    a_lo = np.asarray(a_lower, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.float64)
    if not (a_up.shape == a_lo.shape == peaks.shape):
        raise ValueError("a_upper, a_lower and peaks must have the same shape")

    def upper(x: np.ndarray) -> np.ndarray:
        return rae2822_upper(x) + np.tensordot(a_up, hicks_henne(x, peaks), axes=1)

    def lower(x: np.ndarray) -> np.ndarray:
        return rae2822_lower(x) + np.tensordot(a_lo, hicks_henne(x, peaks), axes=1)

    return Airfoil(upper=upper, lower=lower)


def rae2822() -> Airfoil:
    """The unperturbed RAE 2822."""
    return Airfoil(upper=rae2822_upper, lower=rae2822_lower)


def naca_symmetric(thickness: float = 0.12) -> Airfoil:
    """Symmetric NACA 4-digit section (closed trailing edge, coefficient -0.1036), for tests."""

    def half(x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        poly = 0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3 - 0.1036 * x**4
        return 5.0 * thickness * poly

    return Airfoil(upper=half, lower=lambda x: -half(x))


def closest_surface_points(
    airfoil: Airfoil, x: np.ndarray, y: np.ndarray, side: str = "both", n: int = 4001
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closest surface points to the points ``(x, y)`` (1-D arrays) and the outward normals there.

    The surface is the counter-clockwise polyline of :meth:`Airfoil.polyline` (``side``: the
    whole surface, or only the upper or the lower one); the nearest vertex is found with a k-d tree and the point is
    projected on the two segments that meet there. The outward normal is that of the segment
    holding the closest point (the tangent turned clockwise).

    Returns
    -------
    tuple of numpy.ndarray
        ``(bx, by, nx, ny)``: closest points and unit outward normals, each shaped like ``x``.
    """
    px, py = airfoil.polyline(n, side)
    tree = cKDTree(np.column_stack([px, py]))
    _, k = tree.query(np.column_stack([x, y]))
    best = np.full(x.shape, np.inf)
    bx, by, nx, ny = (np.zeros_like(x) for _ in range(4))
    for k0, k1 in ((np.maximum(k - 1, 0), k), (k, np.minimum(k + 1, px.size - 1))):
        ex, ey = px[k1] - px[k0], py[k1] - py[k0]
        length2 = np.maximum(ex * ex + ey * ey, 1e-300)
        length = np.sqrt(length2)
        t = np.clip(((x - px[k0]) * ex + (y - py[k0]) * ey) / length2, 0.0, 1.0)
        cx, cy = px[k0] + t * ex, py[k0] + t * ey
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        better = (d2 < best) & (k1 > k0)
        best = np.where(better, d2, best)
        bx, by = np.where(better, cx, bx), np.where(better, cy, by)
        nx, ny = np.where(better, ey / length, nx), np.where(better, -ex / length, ny)
    return bx, by, nx, ny


def surface_curvature(airfoil: Airfoil, x: np.ndarray, y: np.ndarray, side: str = "both", n: int = 4001) -> np.ndarray:
    """Curvature of the surface at its vertex nearest to each point ``(x, y)``, positive where convex.

    The turning of the closed counter-clockwise polyline of :meth:`Airfoil.polyline` per unit
    length at its vertices (the difference of the adjacent segments' directions over half their
    summed lengths), 0 at the trailing edge (a corner). ``side`` restricts the nearest vertex to
    the upper or the lower surface (both include the leading edge, where the curvature is largest).
    """
    px, py = airfoil.polyline(n, "both")  # TE, upper surface, LE (vertex n - 1), lower surface, TE
    ex, ey = np.diff(px), np.diff(py)
    angle = np.unwrap(np.arctan2(ey, ex))
    length = np.hypot(ex, ey)
    kappa = np.zeros(px.size)
    kappa[1:-1] = np.diff(angle) / np.maximum(0.5 * (length[1:] + length[:-1]), 1e-300)
    candidates = {"both": slice(None), "upper": slice(0, n), "lower": slice(n - 1, None)}[side]
    _, k = cKDTree(np.column_stack([px[candidates], py[candidates]])).query(np.column_stack([x, y]))
    return kappa[candidates][k]
