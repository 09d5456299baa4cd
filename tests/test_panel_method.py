"""The vortex panel method of the subsonic check (benchmarks/panel_method.py, issue #18) against the exact
Karman-Trefftz airfoil.

Fast. Bounds from the measured errors (Karman-Trefftz airfoil about ``-0.1 + 0.1i``, trailing-edge
angle 10 deg, alpha 4 deg, exact C_L 1.1297 on its chord 3.926): with 100, 200, 400 panels the
relative error of C_L from the circulation is -8.3e-4, -2.2e-4, -5.4e-5, from the pressure
-1.0e-3, -2.7e-4, -6.7e-5, and the mean (max) |Cp error| more than 0.05 chord from the trailing
edge 2.3e-3 (3.1e-2), 5.7e-4 (7.8e-3), 1.4e-4 (1.9e-3): second order, each error a quarter of the
last. The bounds are about twice the 400-panel errors, and every error must fall by a factor of 3
per doubling: a wrong Kutta condition, sign or influence term fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from benchmark_scripts import load_script

pm = load_script("panel_method")


def _exact_chord(airfoil) -> float:
    """Distance from the trailing edge to the farthest point of the mapped circle (fine sampling)."""
    z, _ = airfoil.surface(np.linspace(0.0, 2.0 * np.pi, 200001))
    return float(np.max(np.abs(z - airfoil.mapping(np.array([1.0 + 0j]))[0])))


def _errors(airfoil, n_panels: int, chord: float) -> tuple[float, float, float, float]:
    """Relative C_L errors (circulation, pressure) and mean, max |Cp error| 0.05 chord from the trailing edge."""
    x, y, phi = airfoil.points(n_panels)
    solution = pm.solve_airfoil(x, y, airfoil.alpha_deg, chord=chord)
    exact = airfoil.lift_coefficient(chord)
    _, cp_exact = airfoil.surface(phi)
    away = np.hypot(solution.x - x[0], solution.y - y[0]) > 0.05 * chord
    cp_error = np.abs(solution.cp - cp_exact)[away]
    return (solution.cl_circulation / exact - 1.0, solution.cl_pressure / exact - 1.0,
            float(cp_error.mean()), float(cp_error.max()))


def test_lift_and_pressure_converge_to_the_exact_karman_trefftz_airfoil() -> None:
    airfoil = pm.KarmanTrefftz(centre=-0.1 + 0.1j, te_angle_deg=10.0, alpha_deg=4.0)
    chord = _exact_chord(airfoil)
    assert airfoil.lift_coefficient(chord) == pytest.approx(1.1297, abs=1e-4)
    errors = np.abs(np.array([_errors(airfoil, n, chord) for n in (100, 200, 400)]))
    assert np.all(errors[1:] < errors[:-1] / 3.0), errors  # second order: each about a quarter
    cl_circulation, cl_pressure, cp_mean, cp_max = errors[-1]
    assert cl_circulation < 1.2e-4 and cl_pressure < 1.5e-4
    assert cp_mean < 3e-4 and cp_max < 4e-3


def test_the_pressure_has_no_drag_and_a_symmetric_section_no_lift() -> None:
    airfoil = pm.KarmanTrefftz(centre=-0.1 + 0.1j, te_angle_deg=10.0, alpha_deg=4.0)
    x, y, _ = airfoil.points(400)
    assert abs(pm.solve_airfoil(x, y, airfoil.alpha_deg).cd_pressure) < 5e-5  # d'Alembert; 2.1e-5 measured
    symmetric = pm.KarmanTrefftz(centre=-0.1 + 0j, te_angle_deg=15.0, alpha_deg=0.0)
    x, y, _ = symmetric.points(200)
    solution = pm.solve_airfoil(x, y, 0.0)
    assert abs(solution.cl_circulation) < 1e-12 and abs(solution.cl_pressure) < 1e-12
    np.testing.assert_allclose(solution.cp, solution.cp[::-1], atol=1e-10)  # lower mirrors upper


def test_points_must_run_clockwise() -> None:
    x, y, _ = pm.KarmanTrefftz().points(50)
    with pytest.raises(ValueError, match="clockwise"):
        pm.solve_airfoil(x[::-1], y[::-1], 4.0)


def test_airfoil_points_run_clockwise_from_the_trailing_edge() -> None:
    x, y = pm.airfoil_points(lambda s: 0.4 * s * (1 - s), lambda s: -0.2 * s * (1 - s), 8)
    assert x.size == 17 and (x[0], y[0]) == (1.0, 0.0) and (x[-1], y[-1]) == (1.0, 0.0)
    assert x[8] == 0.0 and np.all(y[1:8] < 0.0) and np.all(y[9:16] > 0.0)
    pm.panel_geometry(x, y)  # clockwise: accepted


def test_karman_tsien_reduces_to_prandtl_glauert_for_small_cp() -> None:
    cp0 = np.array([-1e-7, 2e-7])
    np.testing.assert_allclose(pm.karman_tsien(cp0, 0.5), cp0 / math.sqrt(0.75), rtol=1e-6)
    np.testing.assert_allclose(pm.karman_tsien(np.array([-0.8, 0.5]), 0.0), [-0.8, 0.5])
    assert pm.karman_tsien(np.array([-0.8]), 0.5)[0] < -0.8 / math.sqrt(0.75)  # more suction than PG
