"""The immersed wall of the Euler solver: surface curvature and the two kinds of ghost state.

The plain mirror (image state, normal velocity reversed) and the curvature correction after
Dadone & Grossman's curvature-corrected symmetry technique (AIAA J. 32, 1994; 42, 2004): the
ghost's pressure balances the flow turning along the curved wall, with the image's entropy and
total enthalpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mambano_core.solvers.euler import kernels
from mambano_core.solvers.euler.geometry import Airfoil, rae2822, surface_curvature
from mambano_core.solvers.euler.grid import airfoil_grid, build_body

GAMMA = 1.4


def _circle(radius: float = 0.5) -> Airfoil:
    """A circle of diameter 1 on the chord ``[0, 1]``."""

    def upper(x: np.ndarray) -> np.ndarray:
        return np.sqrt(np.clip(radius**2 - (np.asarray(x, dtype=np.float64) - radius) ** 2, 0.0, None))

    return Airfoil(upper=upper, lower=lambda x: -upper(x))


def test_surface_curvature_of_a_circle_and_of_the_rae2822_nose() -> None:
    theta = np.linspace(0.2, 2.9, 9)
    x, y = 0.5 + 0.5 * np.cos(theta), 0.5 * np.sin(theta)
    for side, sign in (("both", 1.0), ("upper", 1.0), ("both", -1.0), ("lower", -1.0)):
        kappa = surface_curvature(_circle(), x, sign * y, side)
        np.testing.assert_allclose(kappa, 2.0, rtol=1e-4)  # convex: positive, 1 / radius
    # the RAE 2822's nose radius 0.0083 (AGARD AR-138) and its flat mid-chord
    nose, mid = surface_curvature(rae2822(), np.array([0.0, 0.3]), np.array([0.0, 0.06]))
    assert 1 / nose == pytest.approx(0.0083, rel=0.05)
    assert 0.0 < mid < 1.0
    # one surface only: the leading edge belongs to both (a ghost on the chord line just behind the
    # nose, seen from above or below, has the leading edge as its nearest vertex)
    for side in ("upper", "lower"):
        at_nose = surface_curvature(rae2822(), np.array([0.0078]), np.array([0.0]), side)[0]
        assert 1 / at_nose == pytest.approx(0.0083, rel=0.05)


def _ghost(state: tuple[float, float, float, float], normal: tuple[float, float], curvature: float,
           span: float, corrected: bool) -> np.ndarray:
    """The ghost state of one ghost whose image point is the cell holding ``state``."""
    W = np.zeros((4, 3, 3))
    W[:, 1, 1] = state
    G = np.zeros((4, 4, 3, 3))
    one = np.array([1], dtype=np.int64)
    kernels.fill_wall_ghosts(
        W, G, np.array([0], np.int64), np.array([1], np.int64), np.array([3], np.int64),
        np.tile(one, (1, 4)), np.tile(one, (1, 4)), np.array([[1.0, 0.0, 0.0, 0.0]]),
        np.array([normal], dtype=np.float64), np.array([curvature]), np.array([span]), corrected, GAMMA,
    )
    return G[3, :, 0, 1]


def _enthalpy(rho: float, u: float, v: float, p: float) -> float:
    return GAMMA / (GAMMA - 1) * p / rho + 0.5 * (u * u + v * v)


def test_mirror_ghost_reverses_the_normal_velocity_only() -> None:
    normal = (0.6, 0.8)
    rho, u, v, p = 1.2, 0.7, 0.1, 0.9
    g = _ghost((rho, u, v, p), normal, curvature=5.0, span=0.02, corrected=False)
    un = u * normal[0] + v * normal[1]
    np.testing.assert_allclose(g, [rho, u - 2 * un * normal[0], v - 2 * un * normal[1], p], rtol=1e-14)


def test_curvature_corrected_ghost_balances_the_turning_flow() -> None:
    normal = (0.0, 1.0)
    rho, u, v, p = 1.1, 0.8, 0.05, 0.95
    kappa, span = 4.0, 0.02
    g = _ghost((rho, u, v, p), normal, kappa, span, corrected=True)
    # dp/dn = rho V_t^2 kappa across the span between ghost and image
    assert g[3] == pytest.approx(p - rho * u * u * kappa * span, rel=1e-12)
    assert g[3] / g[0] ** GAMMA == pytest.approx(p / rho**GAMMA, rel=1e-12)  # the image's entropy
    assert _enthalpy(*g) == pytest.approx(_enthalpy(rho, u, v, p), rel=1e-12)  # and total enthalpy
    # the mirrored velocity's direction, faster where the pressure is lower
    assert np.arctan2(g[2], g[1]) == pytest.approx(np.arctan2(-v, u), rel=1e-12)
    assert np.hypot(g[1], g[2]) > np.hypot(u, v)
    # a straight wall (or a concave one) gives the mirror (or a higher pressure)
    straight = _ghost((rho, u, v, p), normal, 0.0, span, corrected=True)
    np.testing.assert_allclose(straight, [rho, u, -v, p], rtol=1e-14)
    assert _ghost((rho, u, v, p), normal, -kappa, span, corrected=True)[3] > p


def test_curvature_correction_is_bounded_near_a_sharp_nose() -> None:
    turn = kernels.MAX_CURVATURE_SPAN
    # kappa span = 1.2 is capped: the pressure drop is rho V_t^2 times the cap (0.4), not 0.96
    rho, u, v, p = 1.0, math.sqrt(0.8), 0.0, 1.0
    g = _ghost((rho, u, v, p), (0.0, 1.0), curvature=120.0, span=0.01, corrected=True)
    assert g[3] == pytest.approx(p - rho * u * u * turn, rel=1e-12)
    # a faster flow would drop the pressure below half the image's: the floor holds it there
    g = _ghost((rho, 1.5, v, p), (0.0, 1.0), curvature=120.0, span=0.01, corrected=True)
    assert g[3] == pytest.approx(0.5 * p, rel=1e-12)
    assert np.all(np.isfinite(g)) and g[0] > 0 and g[3] > 0


def test_ghost_spans_reach_from_the_ghost_to_its_image_point() -> None:
    grid = airfoil_grid(1 / 64, (-0.25, 1.25, -0.3, 0.4), 5.0, 1.2, 1)
    body = build_body(grid, rae2822())
    size = 1 / 64
    assert np.all(body.span > 0.0)
    assert np.all(body.span < 3.0 * size)  # mirror of a ghost within a cell of the wall
    kappa = body.curvature
    assert kappa.max() == pytest.approx(1 / 0.0083, rel=0.1)  # ghosts at the nose
    assert np.median(kappa) < 5.0  # most of the wall is nearly flat
