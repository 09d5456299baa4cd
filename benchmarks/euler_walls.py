"""The two wall treatments of the Euler solver on the RAE 2822 (issue #18; docs/airfoil.md, "The wall").

Run ``python benchmarks/euler_walls.py [--spacings 128 192 256] [--cache DIR]``. For the plain
mirror ghosts (data revision 1's) and the curvature-corrected ones (``SolverSettings(curved_wall=True)``)
it solves the unperturbed RAE 2822 on the benchmark grid family with the point-vortex far field at
20 chords and prints, per grid:

- at M 0.725, 2.55 deg against CFL3D's Euler grid ladder (UP3D project data, see ``euler_verification.py``)
  and at the benchmark's M 0.729, 2.31 deg against the measured AGARD AR-138 Case 6: the lift three
  ways (Cp read 1.5 cells off the wall, Cp extrapolated to the wall from 1 and 2 cells, the
  circulation) and the upper shock;
- at M 0.3 and 0.5, 2.31 deg (subcritical) against the panel method: the circulation lift scaled by
  Prandtl-Glauert's ``beta``, and its value extrapolated in M^2 to M = 0 from the two Mach numbers.

The solves are those of ``euler_verification.py`` (:func:`rae2822_cases.solve_rae2822`, same cache
names), about 40 CPU minutes for the defaults from an empty cache.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from mambano_core.solvers.euler.solver import FlowConditions

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts (benchmarks/ is not a package)
import rae2822_cases as cases  # noqa: E402

WALLS = {"mirror": {}, "curved": {"curved_wall": True}}


def lifts(spacing: int, flow: FlowConditions, wall: str, cache: Path | None) -> dict[str, float]:
    """``C_L`` three ways, the upper shock (Cp 1.5 cells out) and the run's cycles and CPU seconds."""
    data = cases.solve_rae2822(1.0 / spacing, cache, 20.0, vortex=True, flow=flow, **WALLS[wall])
    read = cases.rae2822_surface(data)
    wall_cp = cases.rae2822_wall_surface(data)
    return {"read": read["cl"], "wall": wall_cp["cl"], "circulation": cases.circulation_lift(data),
            "shock": read["shock_x"], "cycles": int(data["cycles"]), "cpu": float(data["cpu"]),
            "converged": float(data["residual"]) < 1e-5}


def _row(label: str, r: dict[str, float], reference_cl: float, reference_shock: float) -> str:
    lift = "  ".join(f"{r[k]:.4f} ({100 * (r[k] / reference_cl - 1):+5.2f}%)" for k in ("read", "wall", "circulation"))
    shock = "" if math.isnan(r["shock"]) else f"  {r['shock']:.4f} ({r['shock'] - reference_shock:+.4f})"
    note = "" if r["converged"] else "  (not converged)"
    return f"  {label:<14s} {r['cycles']:5d} {r['cpu']:5.0f}  {lift}{shock}{note}"


def transonic(spacings: list[int], cache: Path | None) -> None:
    """Both walls against CFL3D (M 0.725) and against the measured Case 6 (M 0.729)."""
    finest = cases.load_cfl3d_ladder()[-1]
    measured = cases.cp_table_summary(cases.load_cp_table())
    references = ((cases.CFL3D_FLOW, finest["cl"], finest["x_shock_upper"], f"CFL3D {finest['level']}"),
                  (FlowConditions(), measured["cl"], measured["shock_x"], "Case 6 measured"))
    for flow, cl, shock, name in references:
        print(f"RAE 2822, M {flow.mach}, {flow.alpha_deg} deg; in brackets: minus {name} "
              f"(C_L {cl:.4f}, shock {shock:.4f})")
        print("  wall, grid     cycles CPU s  C_L read 1.5 cells   C_L wall-extrapolated C_L circulation    upper shock")
        for wall in WALLS:
            for n in spacings:
                print(_row(f"{wall} 1/{n}", lifts(n, flow, wall, cache), cl, shock))


def subsonic(spacings: list[int], machs: list[float], cache: Path | None) -> None:
    """Both walls against the panel method: ``C_L beta`` per Mach number, extrapolated to M = 0."""
    reference = cases.panel_rae2822().cl_circulation
    print(f"RAE 2822, {cases.SUBSONIC_ALPHA_DEG} deg, subcritical; C_L * beta (Prandtl-Glauert) of the circulation "
          f"against the panel method's {reference:.4f} (%), and extrapolated in M^2 to M = 0")
    for wall in WALLS:
        for n in spacings:
            scaled = []
            for mach in machs:
                r = lifts(n, FlowConditions(mach=mach, alpha_deg=cases.SUBSONIC_ALPHA_DEG), wall, cache)
                scaled.append(r["circulation"] * math.sqrt(1.0 - mach**2) if r["converged"] else math.nan)
            cells = "  ".join(f"M {m:g}: {100 * (v / reference - 1):+5.2f}%" for m, v in zip(machs, scaled))
            zero, _ = cases.mach_extrapolation(tuple(machs[:2]), tuple(scaled[:2]))
            print(f"  {wall} 1/{n:<4d} {cells}  M -> 0: {100 * (zero / reference - 1):+5.2f}%")


def main() -> None:
    """Print the tables of both studies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacings", nargs="+", type=int, default=[128, 192, 256], help="core cells per chord")
    parser.add_argument("--subsonic-spacings", nargs="+", type=int, default=[128],
                        help="core cells per chord of the subsonic solves (M 0.3 does not converge on 1/256)")
    parser.add_argument("--machs", nargs=2, type=float, default=[0.3, 0.5], help="subsonic Mach numbers")
    parser.add_argument("--cache", type=Path, default=None, help="keep the solves here (npz) and reuse them")
    args = parser.parse_args()
    transonic(args.spacings, args.cache)
    subsonic(args.subsonic_spacings, args.machs, args.cache)


if __name__ == "__main__":
    main()
