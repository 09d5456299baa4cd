"""Surface pressure, forces and shock position of Euler solutions (issue #18).

Fast: the extraction on cases with known answers (free stream: Cp = 0 and no force; a uniform
pressure jump across the airfoil: the normal force of a flat plate; a sonic crossing on a
piecewise-linear Cp). The symmetric profile at zero incidence (equal upper and lower Cp, no lift) is in
``test_euler_solver.py``. The transcribed reference tables reproduce their sources' own derived
numbers. Slow: the unperturbed RAE 2822 on the benchmark grid against AGARD AR-138 Case 6
(``benchmarks/data/rae2822_case6_cp.csv``) and the grid study of docs/airfoil.md, and at M 0.725,
2.55 deg against the CFL3D Euler grid ladder (``benchmarks/data/rae2822_cfl3d_euler_*.csv``), and at
M 0.5, 2.31 deg against a vortex panel method (``benchmarks/panel_method.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from benchmark_scripts import load_script

from mambano_core.solvers.euler.geometry import rae2822
from mambano_core.solvers.euler.grid import FLUID, Grid, airfoil_grid
from mambano_core.solvers.euler.solver import (
    FlowConditions,
    SolverSettings,
    circulation,
    mach_number,
    solve_steady,
    vortex_far_field,
)
from mambano_core.solvers.euler.surface import (
    SurfacePressure,
    critical_pressure_coefficient,
    force_coefficients,
    shock_position,
    surface_pressure,
)


def test_free_stream_has_zero_pressure_coefficient_and_no_force() -> None:
    grid = airfoil_grid(1 / 16, (-0.25, 1.25, -0.3, 0.4), 10.0, 1.2, 4)
    flow = FlowConditions()
    result = solve_steady(grid, None, flow, SolverSettings(levels=3, tol=0.0, max_cycles=5, first_order_cycles=5))
    surface = surface_pressure(result, rae2822(), flow, offset=1.5 / 16)
    assert np.max(np.abs(surface.cp_upper)) < 1e-12 and np.max(np.abs(surface.cp_lower)) < 1e-12
    cl, cd = force_coefficients(surface, flow.alpha_deg)
    assert abs(cl) < 1e-12 and abs(cd) < 1e-12


def test_forces_of_a_uniform_pressure_jump_are_those_of_a_flat_plate() -> None:
    # Cp = -1 above and +1 below: normal force 2 (per unit chord), no axial force on a closed
    # contour (the surfaces start and end at the same points), so C_L = 2 cos(a), C_D = 2 sin(a).
    theta = np.linspace(0.0, np.pi, 801)
    x = 0.5 * (1.0 - np.cos(theta))
    airfoil = rae2822()
    surface = SurfacePressure(theta, x, airfoil.upper(x), airfoil.lower(x), -np.ones_like(x), np.ones_like(x))
    cl, cd = force_coefficients(surface, 2.31)
    assert cl == pytest.approx(2.0 * math.cos(math.radians(2.31)), abs=1e-5)
    assert cd == pytest.approx(2.0 * math.sin(math.radians(2.31)), abs=1e-5)
    # A pressure proportional to the ordinate's slope in theta gives a known axial force.
    cp = np.gradient(airfoil.upper(x), theta)
    surface = SurfacePressure(theta, x, airfoil.upper(x), airfoil.lower(x), cp, np.zeros_like(x))
    cl, cd = force_coefficients(surface, 0.0)
    assert cd == pytest.approx(np.trapezoid(cp**2, theta), rel=1e-12)


def test_shock_position_is_the_interpolated_last_sonic_crossing() -> None:
    star = critical_pressure_coefficient(0.729)
    assert star == pytest.approx(-0.6658, abs=1e-4)  # isentropic, M = 1 at Cp* (gamma = 1.4)
    assert critical_pressure_coefficient(1.0) == pytest.approx(0.0, abs=1e-15)
    x = np.array([0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 1.0])
    cp = np.array([1.0, -1.0, -0.5, -1.2, -1.0, -0.2, 0.1])  # supersonic twice; the aft pocket ends at 0.6..0.7
    expected = 0.6 + 0.1 * (star + 1.0) / 0.8
    assert shock_position(x, cp, star) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(shock_position(x, np.zeros_like(x), star))


def test_case6_table_is_the_transcribed_record() -> None:
    module = load_script("euler_verification")
    data = module.load_cp_table()
    assert data["upper"][0].size == 53 and data["lower"][0].size == 50
    for x, _ in data.values():
        assert np.all(np.diff(x) >= 0) and x[0] >= 0.0 and x[-1] < 1.0
    summary = module.cp_table_summary(data)
    # The pressure lift of the measured points and the sonic crossing between the taps at 0.55 and 0.575.
    assert summary["cl"] == pytest.approx(0.743, abs=0.005)
    assert 0.55 < summary["shock_x"] < 0.58


def test_cfl3d_tables_are_the_transcribed_record() -> None:
    module = load_script("euler_verification")
    data = module.load_cp_table(module.CFL3D_CP_CSV)
    assert data["upper"][0].size == 281 and data["lower"][0].size == 281
    for x, _ in data.values():
        assert np.all(np.diff(x) > 0) and x[0] == 0.0 and x[-1] == 1.0
    ladder = module.load_cfl3d_ladder()
    assert [row["level"] for row in ladder] == ["L1", "L2", "L3", "L4"]
    finest = ladder[-1]
    assert (finest["nj"], finest["nk"], finest["cl"], finest["x_shock_upper"]) == (785, 137, 0.981571, 0.629856)
    # The Cp table reproduces the source's own derived numbers: its shock (same definition, Cp* at
    # M 0.725 = -0.680663 in the source) to the printed digits, and its lift to the axial-force term
    # that the normal force of the points leaves out (C_A sin(alpha), about 0.0014 here).
    summary = module.cp_table_summary(data, module.CFL3D_FLOW)
    assert critical_pressure_coefficient(module.CFL3D_FLOW.mach) == pytest.approx(-0.680663, abs=1e-6)
    assert summary["shock_x"] == pytest.approx(finest["x_shock_upper"], abs=1e-6)
    assert summary["cl"] == pytest.approx(finest["cl"], abs=3e-3)


def test_vortex_far_field_carries_the_circulation_and_the_free_stream_enthalpy() -> None:
    grid = Grid.from_nodes(np.linspace(-9.75, 10.25, 401), np.linspace(-10.0, 10.0, 401))
    flow = FlowConditions()
    free = flow.primitive()
    np.testing.assert_allclose(vortex_far_field(grid, flow, 0.0), np.broadcast_to(free[:, None, None], (4,) + grid.shape),
                               rtol=0, atol=1e-14)
    gamma_cw = 0.44  # C_L = 2 Gamma / U ~ 0.7 at M 0.729
    W = vortex_far_field(grid, flow, gamma_cw)
    # The circulation() of the field around the vortex is minus the clockwise circulation, on any box.
    for box in ((-1.0, 1.5, -1.0, 1.0), (-5.0, 6.0, -4.0, 4.0)):
        assert circulation(grid, W, box) == pytest.approx(-gamma_cw, rel=2e-3)
    # Faster above the airfoil than below; total enthalpy and entropy those of the free stream.
    j_up, j_lo, i = np.searchsorted(grid.yc, 3.0), np.searchsorted(grid.yc, -3.0), np.searchsorted(grid.xc, 0.25)
    assert W[1, j_up, i] > free[1] > W[1, j_lo, i]
    g = flow.gamma
    enthalpy = g / (g - 1) * W[3] / W[0] + 0.5 * (W[1] ** 2 + W[2] ** 2)
    np.testing.assert_allclose(enthalpy, g / (g - 1) * free[3] / free[0] + 0.5 * (free[1] ** 2 + free[2] ** 2), rtol=1e-12)
    np.testing.assert_allclose(W[3] / W[0] ** g, free[3] / free[0] ** g, rtol=1e-12)


@pytest.mark.slow
def test_rae2822_benchmark_setting_against_case6() -> None:
    # docs/airfoil.md, "The wall": the benchmark's grid and settings (data revision 2: curved wall,
    # point-vortex far field) at the benchmark's conditions against the measured Case 6.
    module = load_script("euler_verification")
    measured = module.cp_table_summary(module.load_cp_table())
    data = module.solve_rae2822(1 / 128, **module.benchmark_options())
    r = module.rae2822_surface(data)
    # Inviscid: more lift than measured and the shock aft of it. Over both walls and the grids 1/128-1/256
    # the excess measured 0.14-0.20 in C_L (read-outs and circulation) and 0.040-0.059 chord in shock.
    assert measured["cl"] + 0.10 < r["cl"] < measured["cl"] + 0.24
    assert measured["shock_x"] + 0.03 < r["shock_x"] < measured["shock_x"] + 0.07
    # The recorded table (docs/airfoil.md, "The wall", curved 1/128) to the iteration error.
    assert module.circulation_lift(data) == pytest.approx(0.9456, abs=2e-3)
    assert r["cl"] == pytest.approx(0.9219, abs=2e-3)
    assert r["shock_x"] == pytest.approx(0.6343, abs=2e-3)


@pytest.mark.slow
def test_rae2822_revision1_setting_against_case6_and_the_grid_study() -> None:
    # Data revision 1's setting (mirror wall, plain far field at 20 chords), the Case 6 study's first row.
    module = load_script("euler_verification")
    measured = module.cp_table_summary(module.load_cp_table())
    r = module.rae2822_surface(module.solve_rae2822(1 / 128))
    # Inviscid: more lift than measured and the shock aft of the measured one (no boundary layer to
    # displace it), by amounts of the size the grid study in docs/airfoil.md gives.
    assert measured["cl"] + 0.08 < r["cl"] < measured["cl"] + 0.16
    assert measured["shock_x"] + 0.02 < r["shock_x"] < measured["shock_x"] + 0.06
    # The benchmark grid reproduces the recorded grid study (docs/airfoil.md) to the iteration error.
    assert r["cl"] == pytest.approx(0.8565, abs=2e-3)
    assert r["shock_x"] == pytest.approx(0.6124, abs=2e-3)


@pytest.mark.slow
def test_rae2822_mirror_wall_against_the_cfl3d_euler_ladder() -> None:
    # The mirror wall ghosts (data revision 1) with the point-vortex far field, the CFL3D study's first row.
    module = load_script("euler_verification")
    flow, finest = module.CFL3D_FLOW, module.load_cfl3d_ladder()[-1]
    r = module.rae2822_surface(module.solve_rae2822(1 / 128, vortex=True, flow=flow))
    # Tolerances from the measured scatter (docs/airfoil.md, "Against an Euler solution of another
    # code"): the gap between our finest grid (1/256, vortex far field) and CFL3D's finest (L4),
    # C_L -0.040 and shock -0.0137 chord, plus what our grid changes from 1/128 to 1/256 (C_L
    # +0.0165, shock +0.0071), plus the spread of the CFL3D ladder L1-L4 (C_L 0.0083, shock 0.0032):
    # 0.065 and 0.024 chord. The benchmark grid measured -0.057 and -0.021; the iteration error at
    # tol = 1e-5 is ~1e-4. The signs are asserted too: less lift and the shock upstream, as on every grid.
    assert finest["cl"] - 0.065 < r["cl"] < finest["cl"]
    assert finest["x_shock_upper"] - 0.024 < r["shock_x"] < finest["x_shock_upper"]
    # Cp away from the shock (upper 0.05-0.5, lower 0.05-0.95): the mean difference stays within 0.03
    # (measured up to 0.019 in size over the three grids) and no point differs by 0.06 (measured 0.053).
    for mean, top in module.cp_differences(r, module.load_cp_table(module.CFL3D_CP_CSV)).values():
        assert abs(mean) < 0.03 and top < 0.06
    # The benchmark grid reproduces the recorded table (docs/airfoil.md) to the iteration error.
    assert r["cl"] == pytest.approx(0.9248, abs=2e-3)
    assert r["shock_x"] == pytest.approx(0.6091, abs=2e-3)


@pytest.mark.slow
def test_rae2822_subsonic_lift_against_the_panel_method() -> None:
    # docs/airfoil.md, "Subsonic check against a panel method": M 0.5, 2.31 deg, benchmark grid,
    # point-vortex far field.
    module = load_script("euler_verification")
    reference = module.panel_rae2822().cl_circulation
    assert reference == pytest.approx(0.5325, abs=5e-4)  # 400 panels; 200 and 800 panels within 3e-4 of it
    flow = FlowConditions(mach=0.5, alpha_deg=module.SUBSONIC_ALPHA_DEG)
    data = module.solve_rae2822(1 / 128, vortex=True, flow=flow)
    result = module.steady_result(data)
    assert mach_number(data["W"])[result.body.kind == FLUID].max() < 0.8  # subcritical (measured 0.717)
    beta = math.sqrt(1.0 - flow.mach**2)
    lift = module.circulation_lift(data)
    # Prandtl-Glauert-scaled lift from the circulation against the panel method: measured 2.4% low on
    # this grid, 0.7% and 0.25% low on 1/192 and 1/256; the M^2 term beyond Prandtl-Glauert adds ~0.8%
    # at M 0.5 (measured on 1/192). Below the panel value, by less than 3.5%.
    assert -0.035 < beta * lift / reference - 1.0 < 0.0
    # Cp extrapolated to the wall (1 and 2 cells out) recovers the lift of the circulation to 0.9%
    # (measured); read 1.5 cells out (the transonic studies' read-out) it loses 4.4%.
    wall = module.rae2822_wall_surface(data)
    assert abs(wall["cl"] / lift - 1.0) < 0.015
    # The benchmark grid reproduces the recorded table (docs/airfoil.md) to the iteration error.
    assert lift == pytest.approx(0.6000, abs=2e-3)
    assert module.rae2822_surface(data)["cl"] == pytest.approx(0.5737, abs=2e-3)


@pytest.mark.slow
def test_rae2822_benchmark_setting_against_the_cfl3d_euler_ladder() -> None:
    # docs/airfoil.md, "The wall": the benchmark's grid and settings (data revision 2: the
    # curvature-corrected wall ghosts and the point-vortex far field) at CFL3D's conditions.
    module = load_script("euler_verification")
    assert module.benchmark_options() == {"vortex": True, "curved_wall": True, "freeze_below": 300.0,
                                          "unfreeze_above": 30.0}
    flow, finest = module.CFL3D_FLOW, module.load_cfl3d_ladder()[-1]
    data = module.solve_rae2822(1 / 128, flow=flow, **module.benchmark_options())
    lift = module.circulation_lift(data)
    r = module.rae2822_surface(data)
    # The lift of the circulation within 1% of CFL3D L4's (measured +0.45% on this grid, -0.1% on 1/256;
    # the mirror ghosts: -3.5% and -2.75% on 1/256); the shock upstream of CFL3D's by less than 0.012 chord
    # (measured 0.007 on this grid, 0.002 on 1/256; the mirror ghosts 0.021 and 0.014).
    assert abs(lift / finest["cl"] - 1.0) < 0.01
    assert finest["x_shock_upper"] - 0.012 < r["shock_x"] < finest["x_shock_upper"]
    # The benchmark grid reproduces the recorded table (docs/airfoil.md) to the iteration error.
    assert lift == pytest.approx(0.9860, abs=2e-3)
    assert r["cl"] == pytest.approx(0.9611, abs=2e-3)
    assert r["shock_x"] == pytest.approx(0.6227, abs=2e-3)
