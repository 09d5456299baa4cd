"""The unperturbed RAE 2822 on the benchmark's grid family: cached solves, read-outs, reference tables.

Shared by the verification scripts of issue #18 (``euler_verification.py``, ``euler_walls.py``) and
their tests: :func:`solve_rae2822` solves (and caches) the section at given conditions and settings,
:func:`rae2822_surface`, :func:`circulation_lift` and :func:`momentum_lift` read its lift three
ways, and the loaders read the entered reference data of ``data/`` (AGARD AR-138 Case 6, the CFL3D
Euler ladder; sources in the files) and the panel method's incompressible solution.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mambano_core.data.benchmarks.airfoil import Airfoil
from mambano_core.solvers.euler.geometry import rae2822
from mambano_core.solvers.euler.grid import FLUID, Grid, airfoil_grid, build_body
from mambano_core.solvers.euler.solver import (
    FlowConditions,
    SolverSettings,
    SteadyResult,
    circulation,
    sample_field,
    solve_steady,
)
from mambano_core.solvers.euler.surface import (
    critical_pressure_coefficient,
    force_coefficients,
    shock_position,
    surface_pressure,
)

DATA = Path(__file__).parent / "data"
CASE6_CSV = DATA / "rae2822_case6_cp.csv"
CFL3D_CP_CSV = DATA / "rae2822_cfl3d_euler_m0725_a255.csv"
CFL3D_FORCES_CSV = DATA / "rae2822_cfl3d_euler_forces.csv"
#: The conditions of the CFL3D Euler grid ladder (sources in the two files above); the benchmark's
#: are ``FlowConditions()`` (AGARD AR-138 Case 6).
CFL3D_FLOW = FlowConditions(mach=0.725, alpha_deg=2.55)
#: The benchmark's grid family (core, stretching, multigrid multiple) around the unperturbed RAE 2822.
RAE_CORE, RAE_STRETCHING, RAE_MULTIPLE = (-0.25, 1.25, -0.35, 0.7), 1.1, 16
#: Cp is read this many core cells off the wall (along the normal): it converges to the wall value.
CP_OFFSET_CELLS = 1.5
#: The wall read-out: Cp at this many cells and twice as far, extrapolated linearly to the wall.
WALL_OFFSET_CELLS = 1.0
#: Chord ranges, away from the shock and the trailing edge, over which Cp is compared with a table.
CP_RANGES = {"upper": (0.05, 0.5), "lower": (0.05, 0.95)}
#: The subsonic study (issue #18): angle of attack (Case 6's), panels per surface of the panel method,
#: and the chord range (both surfaces, away from the nose and the trailing edge) of its Cp comparison.
SUBSONIC_ALPHA_DEG, SUBSONIC_PANELS, SUBSONIC_CP_RANGE = 2.31, 200, (0.05, 0.95)


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a csv file whose header follows ``#`` comment lines, keyed by the header."""
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if line.strip() and not line.startswith("#")))


def load_cp_table(path: Path = CASE6_CSV) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A tabulated surface pressure.

    Parameters
    ----------
    path : Path
        A csv file with the columns ``surface`` (upper/lower), ``x_c`` and either ``cp`` or
        ``minus_cp`` (-Cp): the measured Case 6 of AGARD AR-138 (default) or the CFL3D Euler
        solution (:data:`CFL3D_CP_CSV`); sources in the files.

    Returns
    -------
    dict
        ``{"upper": (x, cp), "lower": (x, cp)}``, ``x`` increasing.
    """
    rows = _read_csv(path)
    out = {}
    for surface in ("upper", "lower"):
        picked = [row for row in rows if row["surface"] == surface]
        x = np.array([float(row["x_c"]) for row in picked])
        cp = np.array([float(row["cp"]) if "cp" in row else -float(row["minus_cp"]) for row in picked])
        order = np.argsort(x, kind="stable")
        out[surface] = (x[order], cp[order])
    return out


def load_cfl3d_ladder(path: Path = CFL3D_FORCES_CSV) -> list[dict[str, float | str]]:
    """The CFL3D Euler grid ladder at :data:`CFL3D_FLOW` (source in the file).

    Parameters
    ----------
    path : Path
        The csv file of the ladder.

    Returns
    -------
    list of dict
        One row per grid, coarsest first: ``level`` (str), ``nj``, ``nk``, ``cl``, ``cd``,
        ``x_shock_upper`` and the file's other columns (float).
    """
    return [{key: value if key == "level" else float(value) for key, value in row.items()} for row in _read_csv(path)]


def cp_table_summary(data: dict[str, tuple[np.ndarray, np.ndarray]],
                     flow: FlowConditions = FlowConditions()) -> dict[str, float]:
    """Lift and shock position of tabulated surface points.

    Parameters
    ----------
    data : dict
        A :func:`load_cp_table` result.
    flow : FlowConditions
        The conditions of the table (angle of attack and ``Cp*``); the benchmark's by default.

    Returns
    -------
    dict
        ``cl``: the normal-force lift ``int (Cp_lo - Cp_up) dx cos(alpha)`` of the points
        (trapezoids; no axial force); ``shock_x``: the upper-surface sonic crossing (:func:`shock_position`).
    """
    (xu, cu), (xl, cl) = data["upper"], data["lower"]
    lift = (np.trapezoid(cl, xl) - np.trapezoid(cu, xu)) * np.cos(np.radians(flow.alpha_deg))
    return {"cl": float(lift), "shock_x": shock_position(xu, cu, critical_pressure_coefficient(flow.mach))}


def cp_differences(run: dict[str, float | np.ndarray], table: dict[str, tuple[np.ndarray, np.ndarray]],
                   ranges: dict[str, tuple[float, float]] = CP_RANGES) -> dict[str, tuple[float, float]]:
    """Cp differences from a table away from the shock and the trailing edge.

    Parameters
    ----------
    run : dict
        A :func:`rae2822_surface` result, interpolated linearly to the table's points.
    table : dict
        A :func:`load_cp_table` result.
    ranges : dict
        Per surface, the chord range ``(lo, hi)`` compared; :data:`CP_RANGES` (away from the
        shock and the trailing edge) by default.

    Returns
    -------
    dict
        Per surface (``upper``, ``lower``): the mean and the maximum ``|.|`` of ``Cp(run) - Cp(table)``
        at the table's points in ``ranges``.
    """
    out = {}
    for surface, key in (("upper", "cp_up"), ("lower", "cp_lo")):
        (lo, hi), (x, cp) = ranges[surface], table[surface]
        keep = (x > lo) & (x < hi)
        diff = np.interp(x[keep], run["x"], run[key]) - cp[keep]
        out[surface] = (float(diff.mean()), float(np.abs(diff).max()))
    return out


def solve_rae2822(spacing: float, cache: Path | None = None, far_field: float = 20.0, tol: float = 1e-5,
                  vortex: bool = False, flow: FlowConditions = FlowConditions(),
                  **options: float) -> dict[str, np.ndarray]:
    """The unperturbed RAE 2822 on the benchmark grid family, cached.

    The grid is the benchmark's (core ``[-0.25, 1.25] x [-0.35, 0.7]``, stretching 1.1, five
    multigrid levels, aligned with the chord).

    Parameters
    ----------
    spacing : float
        Core spacing (chords).
    cache : Path or None
        Folder of the cached solves (npz, named by Mach number, angle, spacing, far field and
        ``tol``; caches written before the names carried Mach number and angle, 2026-12-03, are
        not found and solved again); None: solve without caching.
    far_field : float
        Distance of the far field (chords from mid-chord).
    tol : float
        Target RMS density residual.
    vortex : bool
        Point-vortex far-field state (``SolverSettings.far_field_vortex``; the benchmark's since data revision 2).
    flow : FlowConditions
        Free stream; the benchmark's conditions (AGARD AR-138 Case 6) by default.
    **options
        Other :class:`SolverSettings` fields (``max_cycles`` is 4000 unless given); each is named
        in the cache file.

    Returns
    -------
    dict
        The primitive state ``W``, the grid nodes, the residual history, cycles, CPU seconds, the
        final residual and the settings (``mach`` and ``alpha_deg`` included).
    """
    tag = ("_vortex" if vortex else "") + "".join(f"_{key}{value:g}" for key, value in sorted(options.items()))
    stem = f"rae2822_m{flow.mach:g}_a{flow.alpha_deg:g}_h{round(1 / spacing)}_ff{far_field:g}{tag}_tol{tol:g}"
    name = None if cache is None else cache / f"{stem}.npz"
    if name is not None and name.exists():
        return dict(np.load(name))
    grid = airfoil_grid(spacing, RAE_CORE, far_field, RAE_STRETCHING, RAE_MULTIPLE)
    start = time.process_time()
    settings = SolverSettings(**{"tol": tol, "max_cycles": 4000, "far_field_vortex": vortex, **options})
    result = solve_steady(grid, rae2822(), flow, settings)
    cpu = time.process_time() - start
    data = {"W": result.W, "x_nodes": grid.x_nodes, "y_nodes": grid.y_nodes, "history": result.history,
            "cycles": np.array(result.cycles), "cpu": np.array(cpu), "residual": np.array(result.residual),
            "spacing": np.array(spacing), "far_field": np.array(far_field), "vortex": np.array(vortex),
            "mach": np.array(flow.mach), "alpha_deg": np.array(flow.alpha_deg)}
    if name is not None:
        name.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(name, **data)
    return data


def benchmark_options() -> dict[str, Any]:
    """The benchmark's far field and wall as :func:`solve_rae2822` keywords (``Airfoil.default_config()``).

    Data revision 2 (issue #18): ``{"vortex": True, "curved_wall": True, "freeze_below": 300.0,
    "unfreeze_above": 30.0}``. A setting equal to :class:`SolverSettings`' default is left out, so
    that the cache names stay those of the default settings.
    """
    config, default = Airfoil.default_config(), SolverSettings()
    options: dict[str, Any] = {"vortex": bool(config["far_field_vortex"])}
    for key in ("curved_wall", "freeze_below", "unfreeze_above"):
        if config[key] != getattr(default, key):
            options[key] = config[key]
    return options


def stored_flow(data: dict[str, np.ndarray]) -> FlowConditions:
    """The conditions a :func:`solve_rae2822` result was solved at (the benchmark's if it stores none)."""
    return FlowConditions(float(data["mach"]), float(data["alpha_deg"])) if "mach" in data else FlowConditions()


def steady_result(data: dict[str, np.ndarray]) -> SteadyResult:
    """The :class:`SteadyResult` of a :func:`solve_rae2822` result (grid and body rebuilt)."""
    grid = Grid.from_nodes(data["x_nodes"], data["y_nodes"])
    return SteadyResult(grid, build_body(grid, rae2822()), data["W"], float(data["residual"]), int(data["cycles"]),
                        True, data["history"])


def rae2822_surface(data: dict[str, np.ndarray], flow: FlowConditions | None = None,
                    offset_cells: float = CP_OFFSET_CELLS,
                    wall_extrapolation: bool = False) -> dict[str, float | np.ndarray]:
    """Surface Cp, C_L, C_D and the upper shock of a solve.

    Parameters
    ----------
    data : dict
        A :func:`solve_rae2822` result.
    flow : FlowConditions or None
        The solve's conditions; None: those stored with it (the benchmark's for a solve that
        stores none). Conditions other than the stored ones raise ``ValueError``.
    offset_cells : float
        Cp is read this many core cells off the wall, along the normal.
    wall_extrapolation : bool
        Extrapolate Cp linearly to the wall from ``offset_cells`` and twice as far
        (:func:`surface_pressure`).

    Returns
    -------
    dict
        Grid and run data (``spacing``, ``far_field``, ``vortex``, ``cells``, ``cycles``, ``cpu``,
        ``residual``, ``history``), ``cl``, ``cd``, ``shock_x`` and the surface ``x``, ``cp_up``, ``cp_lo``.
    """
    stored = stored_flow(data)
    if flow is not None and (flow.mach, flow.alpha_deg) != (stored.mach, stored.alpha_deg):
        raise ValueError(f"the solve is at M = {stored.mach}, alpha = {stored.alpha_deg}, not {flow}")
    flow = stored if flow is None else flow
    result, airfoil = steady_result(data), rae2822()
    spacing = float(data["spacing"])
    surface = surface_pressure(result, airfoil, flow, offset_cells * spacing, wall_extrapolation=wall_extrapolation)
    cl, cd = force_coefficients(surface, flow.alpha_deg)
    shock = shock_position(surface.x, surface.cp_upper, critical_pressure_coefficient(flow.mach))
    return {"spacing": spacing, "far_field": float(data["far_field"]), "vortex": bool(data.get("vortex", False)),
            "cells": int((result.body.kind == FLUID).sum()),
            "cycles": int(data["cycles"]), "cpu": float(data["cpu"]), "residual": float(data["residual"]),
            "cl": cl, "cd": cd, "shock_x": shock, "x": surface.x, "cp_up": surface.cp_upper,
            "cp_lo": surface.cp_lower, "history": data["history"]}


@functools.cache
def _panel_method() -> ModuleType:
    """``benchmarks/panel_method.py``, loaded by path (``benchmarks`` is not a package)."""
    spec = importlib.util.spec_from_file_location("panel_method", Path(__file__).parent / "panel_method.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rae2822_wall_surface(data: dict[str, np.ndarray]) -> dict[str, float | np.ndarray]:
    """:func:`rae2822_surface` with Cp extrapolated to the wall from 1 and 2 cells out (issue #18)."""
    return rae2822_surface(data, offset_cells=WALL_OFFSET_CELLS, wall_extrapolation=True)


def panel_rae2822(panels_per_surface: int = SUBSONIC_PANELS, alpha_deg: float = SUBSONIC_ALPHA_DEG):
    """Incompressible potential flow past the RAE 2822 (``panel_method.solve_airfoil``, chord 1).

    The panel points are the section's surfaces at ``panels_per_surface + 1`` cosine-spaced chord
    stations each (``panel_method.airfoil_points``); returns the ``PanelSolution``.
    """
    pm, airfoil = _panel_method(), rae2822()
    x, y = pm.airfoil_points(airfoil.upper, airfoil.lower, panels_per_surface)
    return pm.solve_airfoil(x, y, alpha_deg, chord=1.0)


def panel_cp_table(solution, mach: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The Cp of a :func:`panel_rae2822` solution corrected to ``mach`` by Karman-Tsien, per surface.

    Returns
    -------
    dict
        ``{"upper": (x, cp), "lower": (x, cp)}`` at the control points, ``x`` increasing (the
        :func:`load_cp_table` format).
    """
    cp, half = _panel_method().karman_tsien(solution.cp, mach), solution.cp.size // 2  # lower surface first
    return {"upper": (solution.x[half:], cp[half:]), "lower": (solution.x[:half][::-1], cp[:half][::-1])}


def circulation_lift(data: dict[str, np.ndarray]) -> float:
    """``C_L = 2 Gamma / U`` (Kutta-Joukowski, chord 1) of a :func:`solve_rae2822` result.

    ``Gamma`` is the clockwise circulation around the rectangle ``[-0.5, 1.5] x [-0.5, 0.5]``
    (:func:`circulation`, the box the point-vortex far field measures).
    """
    flow = stored_flow(data)
    speed = float(np.hypot(*flow.primitive()[1:3]))
    grid = Grid.from_nodes(data["x_nodes"], data["y_nodes"])
    return -2.0 * circulation(grid, data["W"], (-0.5, 1.5, -0.5, 0.5)) / speed


def momentum_lift(data: dict[str, np.ndarray],
                  box: tuple[float, float, float, float] = (-0.5, 1.5, -0.5, 0.5)) -> float:
    """``C_L`` of a :func:`solve_rae2822` result from the momentum balance around a rectangle.

    The force on the body is ``-closed integral of (p n + rho V (V . n)) ds`` around the rectangle
    of cell centres nearest ``box = (x0, x1, y0, y1)`` (trapezoidal rule; the discrete scheme
    conserves momentum in the fluid cells, so this is the force the wall exerts); its component
    normal to the free stream over ``rho U^2 / 2``.
    """
    flow = stored_flow(data)
    grid, (rho, u, v, p) = Grid.from_nodes(data["x_nodes"], data["y_nodes"]), data["W"]
    i0, i1 = np.searchsorted(grid.xc, box[:2])
    j0, j1 = np.searchsorted(grid.yc, box[2:])
    force = np.zeros(2)
    sides = ((j0, slice(i0, i1 + 1), grid.xc, 0, -1), (j1, slice(i0, i1 + 1), grid.xc, 0, 1),
             (slice(j0, j1 + 1), i0, grid.yc, -1, 0), (slice(j0, j1 + 1), i1, grid.yc, 1, 0))
    for rows, cols, along, nx, ny in sides:
        normal_speed = u[rows, cols] * nx + v[rows, cols] * ny
        side = along[cols] if nx == 0 else along[rows]
        force -= [np.trapezoid(p[rows, cols] * nx + rho[rows, cols] * u[rows, cols] * normal_speed, side),
                  np.trapezoid(p[rows, cols] * ny + rho[rows, cols] * v[rows, cols] * normal_speed, side)]
    alpha = np.radians(flow.alpha_deg)
    return float((force[1] * np.cos(alpha) - force[0] * np.sin(alpha)) / (0.5 * flow.gamma * flow.p * flow.mach**2))


def wall_entropy(data: dict[str, np.ndarray], x: float, offset_cells: float = CP_OFFSET_CELLS) -> tuple[float, float]:
    """Numerical entropy ``(p / rho^gamma) / (p_inf / rho_inf^gamma) - 1`` near the wall.

    Read ``offset_cells`` core cells above the upper and below the lower surface at chord
    position ``x`` (bilinear over fluid cells); returns ``(upper, lower)``.
    """
    result, airfoil = steady_result(data), rae2822()
    flow = stored_flow(data)
    entropy = result.W[3] / result.W[0] ** flow.gamma / (flow.p / flow.rho**flow.gamma) - 1.0
    offset, at = offset_cells * float(data["spacing"]), np.array([x])
    upper = sample_field(result, entropy, at, airfoil.upper(at) + offset)[0]
    lower = sample_field(result, entropy, at, airfoil.lower(at) - offset)[0]
    return float(upper), float(lower)


def mach_extrapolation(machs: tuple[float, float], values: tuple[float, float]) -> tuple[float, float]:
    """``(v0, k)`` of the line ``v = v0 + k M^2`` through two values at two Mach numbers."""
    (m1, m2), (v1, v2) = machs, values
    k = (v2 - v1) / (m2**2 - m1**2)
    return v1 - k * m1**2, k
