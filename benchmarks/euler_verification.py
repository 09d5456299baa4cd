"""Verification studies of the Euler solver (the numbers and figures of docs/airfoil.md).

Run ``python benchmarks/euler_verification.py OUT_DIR [--studies sod transonic cfl3d subsonic benchmark samples]
[--cache DIR]``;
it prints the tables and writes PNG figures to ``OUT_DIR``. The transonic study (issue #18) solves
the unperturbed RAE 2822 at the benchmark conditions on the benchmark's grid family at the core
spacings ``--spacings`` (default 1/128, the benchmark's, 1/192 and 1/256) and, on the first, with
the far field ``--far-fields`` chords out; it compares the surface pressure, the upper-surface
shock and the lift with the measured Case 6 of AGARD AR-138 (``data/rae2822_case6_cp.csv``, source
in the file). About 15 CPU minutes on one core for the defaults. The cfl3d study (issue #18) solves
it at M 0.725, 2.55 deg on the same grid family (``--cfl3d-spacings``, point-vortex far field at 20
chords; the first spacing also with the plain far field at 20 chords and at 80, as CFL3D's) and
compares it with the CFL3D Euler grid ladder of the UP3D project (``data/rae2822_cfl3d_euler_*.csv``,
sources in the files): about 8 CPU minutes for the defaults. The subsonic study (issue #18) solves
it at alpha 2.31 deg and the subcritical Mach numbers ``--subsonic-machs`` (0.3, 0.5) on the same
grid family (``--subsonic-spacings``, point-vortex far field at 20 chords) and compares the lift
(times ``beta = sqrt(1 - M^2)``, Prandtl-Glauert) and Cp (Karman-Tsien) with a vortex panel method
(``panel_method.py``): about 25 CPU minutes for the defaults. The benchmark study solves it on
the benchmark grid with the benchmark's setting (data revision 2, ``benchmark_options``) and with
revision 1's, at Case 6's and CFL3D's conditions, and draws both against the references (4 solves,
about 4 CPU minutes). The stats study prints the density
statistics per split of a generated store (``--store ROOT --resolution S``). The solves, read-outs
and reference tables of the RAE 2822 studies live in ``rae2822_cases.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mambano_core.solvers.euler.grid import FLUID, NG, Grid
from mambano_core.solvers.euler.riemann_exact import sample_riemann
from mambano_core.solvers.euler.solver import FlowConditions, mach_number
from mambano_core.solvers.euler.surface import critical_pressure_coefficient
from mambano_core.solvers.euler.unsteady import solve_unsteady

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling scripts (benchmarks/ is not a package)
from rae2822_cases import (  # noqa: E402  (re-exported: the tests read them from here too)
    CFL3D_CP_CSV,
    CFL3D_FLOW,
    SUBSONIC_ALPHA_DEG,
    SUBSONIC_CP_RANGE,
    SUBSONIC_PANELS,
    benchmark_options,
    circulation_lift,
    cp_differences,
    cp_table_summary,
    load_cfl3d_ladder,
    load_cp_table,
    mach_extrapolation,
    momentum_lift,
    panel_cp_table,
    panel_rae2822,
    rae2822_surface,
    rae2822_wall_surface,
    solve_rae2822,
    steady_result,
    wall_entropy,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

SOD_LEFT, SOD_RIGHT = (1.0, 0.0, 1.0), (0.125, 0.0, 0.1)


def sod(n: int, limiter: str, t_end: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell centres, computed and exact density of the Sod tube on ``n`` cells at ``t_end``."""
    grid = Grid.from_nodes(np.linspace(0.0, 1.0, n + 1), np.linspace(0.0, 4.0 / n, 5))
    W0 = np.zeros((4,) + grid.shape)
    left = grid.xc[None, :] < 0.5
    W0[0] = np.where(left, SOD_LEFT[0], SOD_RIGHT[0])
    W0[3] = np.where(left, SOD_LEFT[2], SOD_RIGHT[2])
    W = solve_unsteady(grid, W0, t_end, limiter=limiter)
    x = grid.xc[NG:-NG]
    return x, W[0, NG, NG:-NG], sample_riemann(SOD_LEFT, SOD_RIGHT, (x - 0.5) / t_end)[0]


def _run_row(r: dict[str, float | np.ndarray]) -> str:
    """One table row of a :func:`rae2822_surface` result: grid, far field, cells, cycles, CPU s, C_L, C_D, shock."""
    far = f"{r['far_field']:6.0f}{' vortex' if r['vortex'] else '       '}"
    return (f"  1/{round(1 / r['spacing']):<5d} {far}  {r['cells']:11d}  {r['cycles']:6d}  {r['cpu']:5.0f}  "
            f"{r['cl']:.4f}  {r['cd']:.4f}  {r['shock_x']:.4f}")


def _cp_difference_row(label: str, differences: dict[str, tuple[float, float]]) -> str:
    """``label`` and the :func:`cp_differences` of both surfaces: ``mean (max |.|) | mean (max |.|)``."""
    return f"  {label:<7s} " + " | ".join(f"{mean:+.3f} ({top:.3f})" for mean, top in differences.values())


def _draw_cp(axis: Axes, runs: dict[str, dict[str, float | np.ndarray]],
             table: dict[str, tuple[np.ndarray, np.ndarray]], table_label: str, flow: FlowConditions, markersize: float = 4.0) -> None:
    """-Cp of ``runs`` (label -> :func:`rae2822_surface` result) as lines, ``table`` as markers, and -Cp*."""
    for label, r in runs.items():
        line, = axis.plot(r["x"], -r["cp_up"], lw=1, label=label)
        axis.plot(r["x"], -r["cp_lo"], color=line.get_color(), lw=1)
    for surface, marker in (("upper", "o"), ("lower", "s")):
        axis.plot(table[surface][0], -table[surface][1], marker, ms=markersize, mfc="none", color="k",
                  label=f"{table_label}, {surface}")
    axis.axhline(-critical_pressure_coefficient(flow.mach), color="grey", lw=0.6, ls=":")


def _plot_sod(out: Path) -> None:
    import matplotlib.pyplot as plt

    print("Sod, L1 error of the density at t = 0.2")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for limiter in ("minmod", "van_leer"):
        errors = []
        for n in (100, 200, 400, 800):
            x, rho, exact = sod(n, limiter)
            errors.append(np.mean(np.abs(rho - exact)))
            if n == 200:
                ax.plot(x, rho, ".", ms=3, label=f"{limiter}, 200 cells")
        orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
        table = " ".join(f"{e:.2e}" for e in errors)
        print(f"  {limiter:9s} {table}  orders " + " ".join(f"{o:.2f}" for o in orders))
    ax.plot(x, exact, "k-", lw=1, label="exact")
    ax.set(xlabel="x", ylabel="density", title="Sod shock tube, t = 0.2 (HLLC + MUSCL, SSP-RK2)")
    ax.legend()
    fig.savefig(out / "sod.png", dpi=90, bbox_inches="tight")


def _plot_transonic(out: Path, spacings: list[int], far_fields: list[float], vortex_far_fields: list[float],
                    cache: Path | None) -> None:
    import matplotlib.pyplot as plt

    exp = load_cp_table()
    ref = cp_table_summary(exp)
    print("RAE 2822, M = 0.729, alpha = 2.31 deg (Euler); AGARD AR-138 Case 6 measured: "
          f"C_L (normal force of the points) = {ref['cl']:.3f}, upper sonic crossing x = {ref['shock_x']:.3f}")
    print("  core h  far field  fluid cells  cycles  CPU s   C_L     C_D     upper shock x/c")
    runs = [(n, 20.0, False) for n in spacings] + [(spacings[0], f, False) for f in far_fields if f != 20.0]
    runs += [(spacings[0], f, True) for f in vortex_far_fields]
    results = {}
    for n, far, vortex in runs:
        results[n, far, vortex] = rae2822_surface(solve_rae2822(1.0 / n, cache, far, vortex=vortex))
        print(_run_row(results[n, far, vortex]))
    print("  Cp - Cp(measured) at the taps away from the shock, mean (max |.|): "
          "upper 0.05 < x < 0.5 | lower 0.05 < x < 0.95")
    for n in spacings:
        print(_cp_difference_row(f"1/{n}", cp_differences(results[n, 20.0, False], exp)))
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 4.2), gridspec_kw={"width_ratios": [2, 1, 1]})
    grids = {f"Euler, h = 1/{n}": results[n, 20.0, False] for n in spacings}
    for axis in (ax, bx):
        _draw_cp(axis, grids, exp, "Case 6 experiment", FlowConditions())
    ax.set(xlabel="x / c", ylabel="-Cp", title="RAE 2822, M 0.729, 2.31 deg: Euler (this solver) and AGARD AR-138 Case 6")
    ax.legend(fontsize=8)
    bx.set(xlim=(0.45, 0.75), ylim=(0.2, 1.4), xlabel="x / c", title="upper-surface shock")
    for n in spacings:
        cx.semilogy(results[n, 20.0, False]["history"], lw=0.8, label=f"h = 1/{n}")
    cx.set(xlabel="multigrid cycle", ylabel="RMS density residual")
    cx.legend(fontsize=8)
    fig.savefig(out / "rae2822.png", dpi=90, bbox_inches="tight")


def _plot_benchmark(out: Path, cache: Path | None) -> None:
    """The benchmark's setting (data revision 2) and revision 1's on the benchmark grid, against Case 6 and CFL3D."""
    import matplotlib.pyplot as plt

    finest = load_cfl3d_ladder()[-1]
    references = ((FlowConditions(), load_cp_table(), "Case 6 experiment", 4.0),
                  (CFL3D_FLOW, load_cp_table(CFL3D_CP_CSV), f"CFL3D {finest['level']} (UP3D data)", 2.5))
    print("RAE 2822 on the benchmark grid (1/128): data revision 2 (the benchmark's setting) and revision 1; "
          "Cp extrapolated to the wall")
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.2))
    for axis, (flow, table, label, size) in zip(axes, references):
        runs = {}
        for name, options in (("revision 2", benchmark_options()), ("revision 1", {})):
            data = solve_rae2822(1 / 128, cache, 20.0, flow=flow, **options)
            wall = rae2822_wall_surface(data)
            runs[f"{name}, h = 1/128"] = wall
            print(f"  M {flow.mach}, {flow.alpha_deg} deg, {name}: {int(data['cycles'])} cycles, C_L circulation "
                  f"{circulation_lift(data):.4f}, wall Cp {wall['cl']:.4f}, upper shock {wall['shock_x']:.4f}")
        _draw_cp(axis, runs, table, label, flow, markersize=size)
        axis.set(xlabel="x / c", ylabel="-Cp",
                 title=f"RAE 2822, M {flow.mach}, {flow.alpha_deg} deg: the benchmark's solver")
        axis.legend(fontsize=7)
    fig.savefig(out / "rae2822_benchmark.png", dpi=90, bbox_inches="tight")


def _plot_cfl3d(out: Path, spacings: list[int], cache: Path | None) -> None:
    """This solver against the CFL3D Euler grid ladder at M 0.725, 2.55 deg (docs/airfoil.md)."""
    import matplotlib.pyplot as plt

    flow, table, ladder = CFL3D_FLOW, load_cp_table(CFL3D_CP_CSV), load_cfl3d_ladder()
    points, finest_ref = cp_table_summary(table, flow), ladder[-1]
    print(f"RAE 2822, M = {flow.mach}, alpha = {flow.alpha_deg} deg (Euler): this solver against CFL3D "
          "(UP3D project reference data, not peer-reviewed; sources in benchmarks/data)")
    print(f"  CFL3D {finest_ref['level']} Cp table: normal-force lift of the points {points['cl']:.4f}, "
          f"upper sonic crossing {points['shock_x']:.6f} "
          f"(files: C_L {finest_ref['cl']:.6f}, shock {finest_ref['x_shock_upper']:.6f})")
    print("  core h  far field  fluid cells  cycles  CPU s   C_L     C_D     upper shock x/c")
    runs = [(n, 20.0, True) for n in spacings] + [(spacings[0], far, False) for far in (20.0, 80.0)]
    results = {(n, far, vortex): rae2822_surface(solve_rae2822(1.0 / n, cache, far, vortex=vortex, flow=flow))
               for n, far, vortex in runs}
    for key in runs:
        print(_run_row(results[key]))
    for row in ladder:
        grid = f"{row['nj']:.0f} x {row['nk']:.0f}"
        print(f"  CFL3D {row['level']}, C-grid {grid:9s}, far field 80      "
              f"{row['cl']:.4f}  {row['cd']:.4f}  {row['x_shock_upper']:.4f}")
    best = results[spacings[-1], 20.0, True]
    lift, shock = 100 * (best["cl"] / finest_ref["cl"] - 1), best["shock_x"] - finest_ref["x_shock_upper"]
    print(f"  1/{spacings[-1]} vortex - CFL3D {finest_ref['level']}: C_L {lift:+.2f}%, shock {shock:+.4f} chord")
    print("  other lift read-outs (subsonic study): C_L from Cp extrapolated to the wall from 1 and 2 cells, "
          "its shock, Cp - Cp(CFL3D) as above; C_L from the circulation; both minus CFL3D's C_L (%)")
    for n in spacings:
        data = solve_rae2822(1.0 / n, cache, 20.0, vortex=True, flow=flow)
        wall, circulated = rae2822_wall_surface(data), circulation_lift(data)
        print(f"  1/{n:<4d} wall {wall['cl']:.4f} ({100 * (wall['cl'] / finest_ref['cl'] - 1):+.2f}%), shock "
              f"{wall['shock_x']:.4f}, {_cp_difference_row('', cp_differences(wall, table)).strip()}; "
              f"circulation {circulated:.4f} ({100 * (circulated / finest_ref['cl'] - 1):+.2f}%)")
    print(f"  Cp - Cp(CFL3D {finest_ref['level']}) at its points away from the shock, mean (max |.|): "
          "upper 0.05 < x < 0.5 | lower 0.05 < x < 0.95")
    for n, far, vortex in runs:
        label = f"1/{n}{' v' if vortex else f' {far:g}'}"
        print(_cp_difference_row(label, cp_differences(results[n, far, vortex], table)))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    grids = {f"this solver, h = 1/{n}, {'vortex ' if vortex else ''}far field {far:g}": results[n, far, vortex]
             for n, far, vortex in runs}
    for axis in (ax, bx):
        _draw_cp(axis, grids, table, f"CFL3D {finest_ref['level']} (UP3D data)", flow, markersize=2.5)
    ax.set(xlabel="x / c", ylabel="-Cp",
           title=f"RAE 2822, M {flow.mach}, {flow.alpha_deg} deg, Euler: this solver and CFL3D")
    ax.legend(fontsize=7, loc="center", bbox_to_anchor=(0.32, 0.63))
    bx.set(xlim=(0.5, 0.75), ylim=(0.1, 1.6), xlabel="x / c", title="upper-surface shock")
    fig.savefig(out / "rae2822_cfl3d.png", dpi=90, bbox_inches="tight")


def _subsonic_row(data: dict[str, np.ndarray], scaled: np.ndarray, reference: float) -> str:
    """A row of the subsonic study: the run, ``C_L`` three ways (``scaled``: times ``beta``), and the wall entropy."""
    mach, n = float(data["mach"]), round(1 / float(data["spacing"]))
    fluid = steady_result(data).body.kind == FLUID
    lifts = scaled / np.sqrt(1.0 - mach**2)
    entropy = wall_entropy(data, 0.3) + wall_entropy(data, 0.95)
    return (f"  {mach:.2f} 1/{n:<4d} {int(data['cycles']):6d}  {float(data['residual']):.0e}  "
            f"{float(data['cpu']):5.0f}  "
            f"{mach_number(data['W'])[fluid].max():.3f}       " + "  ".join(f"{v:.4f}" for v in lifts)
            + "  |          " + "  ".join(f"{v:.4f}" for v in scaled)
            + "  |                " + "  ".join(f"{100 * (v / reference - 1):+5.2f}" for v in scaled)
            + "  | " + " ".join(f"{100 * e:+.2f}%" for e in entropy))


def _plot_subsonic(out: Path, machs: list[float], spacings: list[int], panels: int, cache: Path | None) -> None:
    """This solver against the panel method in subcritical flow (Prandtl-Glauert, Karman-Tsien; docs/airfoil.md)."""
    import matplotlib.pyplot as plt

    print(f"RAE 2822, alpha = {SUBSONIC_ALPHA_DEG} deg, subcritical: this solver (point-vortex far field at 20 "
          "chords) against a linear-strength vortex panel method (incompressible; Katz & Plotkin 2001, sec. 11.4)")
    ladder = {n: panel_rae2822(n) for n in sorted({panels // 2, panels, 2 * panels})}
    print("  panel method, C_L from the circulation | from the pressure: " + ", ".join(
        f"{2 * n} panels {p.cl_circulation:.5f} | {p.cl_pressure:.5f}" for n, p in ladder.items()))
    panel = ladder[panels]
    reference = panel.cl_circulation
    print(f"  reference: {2 * panels} panels, C_L0 = {reference:.4f}; beta = sqrt(1 - M^2); "
          "C_L from Cp read 1.5 cells off the wall (Cp1.5), from Cp extrapolated to the wall from 1 and 2 "
          "cells (wall), and from the circulation (Gamma, box 0.5 chord out)")
    print("  M    core h  cycles  resid.  CPU s  max M  C_L: Cp1.5  wall    Gamma  | C_L beta: Cp1.5  wall    Gamma  "
          "| minus C_L0 (%): Cp1.5   wall  Gamma | entropy x = 0.3 up, lo; x = 0.95 up, lo")
    results, scaled, balance = {}, {}, {}
    for mach in machs:
        flow, beta = FlowConditions(mach=mach, alpha_deg=SUBSONIC_ALPHA_DEG), float(np.sqrt(1.0 - mach**2))
        for n in spacings:
            data = solve_rae2822(1.0 / n, cache, 20.0, vortex=True, flow=flow)
            if not float(data["residual"]) < 1e-5:  # diverged after the limiter freezing (M 0.3, 1/256): without
                data = solve_rae2822(1.0 / n, cache, 20.0, vortex=True, flow=flow, freeze_limiter=False,
                                     max_cycles=1500)
            results[mach, n, "Cp1.5"] = rae2822_surface(data)
            results[mach, n, "wall"] = rae2822_wall_surface(data)
            scaled[mach, n] = beta * np.array([results[mach, n, "Cp1.5"]["cl"], results[mach, n, "wall"]["cl"],
                                               circulation_lift(data)])
            print(_subsonic_row(data, scaled[mach, n], reference))
            balance[mach, n] = momentum_lift(data) - circulation_lift(data)
    print("  C_L from the momentum balance around the same box minus that from the circulation: "
          + ", ".join(f"M {mach:.2f} 1/{n} {value:+.4f}" for (mach, n), value in balance.items()))
    if len(machs) == 2:
        print(f"  C_L beta extrapolated in M^2 to M = 0 from M = {machs[0]}, {machs[1]} (v0 + k M^2): "
              "v0, minus C_L0 (%), k / v0")
        for n in spacings:
            fits = [mach_extrapolation((machs[0], machs[1]), (scaled[machs[0], n][k], scaled[machs[1], n][k]))
                    for k in range(3)]
            print(f"  1/{n:<4d} " + " | ".join(f"{label} {v0:.4f} {100 * (v0 / reference - 1):+5.2f}% {k / v0:+.3f}"
                                              for label, (v0, k) in zip(("Cp1.5", "wall", "Gamma"), fits)))
    lo, hi = SUBSONIC_CP_RANGE
    print(f"  Cp - Cp(panel, Karman-Tsien) at its control points, {lo} < x < {hi}, mean (max |.|): upper | lower")
    for mach in machs:
        table = panel_cp_table(panel, mach)
        for n in spacings:
            ranges = {"upper": SUBSONIC_CP_RANGE, "lower": SUBSONIC_CP_RANGE}
            for read in ("Cp1.5", "wall"):
                print(_cp_difference_row(f"{mach:.2f} 1/{n:<3d} {read:5s}",
                                         cp_differences(results[mach, n, read], table, ranges)))
    fig, axes = plt.subplots(1, len(machs), figsize=(6.5 * len(machs), 4.2), squeeze=False)
    for axis, mach in zip(axes[0], machs):
        grids = {f"this solver, h = 1/{n}, Cp at the wall": results[mach, n, "wall"] for n in spacings}
        flow = FlowConditions(mach=mach, alpha_deg=SUBSONIC_ALPHA_DEG)
        _draw_cp(axis, grids, panel_cp_table(panel, mach), f"panel method + Karman-Tsien ({2 * panels})", flow,
                 markersize=1.5)
        axis.set(xlabel="x / c", ylabel="-Cp", ylim=(-1.2, 2.0),
                 title=f"RAE 2822, M {mach}, {SUBSONIC_ALPHA_DEG} deg: Euler and panel method")
        axis.legend(fontsize=7)
    fig.savefig(out / "rae2822_subsonic.png", dpi=90, bbox_inches="tight")


def _plot_samples(out: Path) -> None:
    import matplotlib.pyplot as plt

    from mambano_core.data.benchmarks import get_benchmark

    bench = get_benchmark("airfoil")
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    extent = bench.config["window"]
    for ax, (seed, dist) in zip(axes, ((1, "id"), (2, "id"), (1, "ood"), (2, "ood"))):
        start = time.process_time()
        sample = bench.sample(seed, dist, 128)
        print(f"  sample {seed} {dist}: {sample.params['cycles']:.0f} cycles, "
              f"residual {sample.params['residual']:.1e}, {time.process_time() - start:.0f} s CPU")
        image = ax.imshow(sample.output, origin="lower", extent=extent, cmap="jet", vmin=0.55, vmax=1.25)
        ax.contour(sample.input, [0.5], colors="k", linewidths=0.8, extent=extent)
        ax.set_title(f"{dist.upper()} seed {seed}: density")
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(out / "samples.png", dpi=80, bbox_inches="tight")


def _print_stats(root: Path, resolution: int) -> None:
    """Density statistics per split of an airfoil store at ``resolution`` (docs/benchmarks.md)."""
    import xarray as xr

    from mambano_core.data.store import Store

    store = Store(root, "airfoil")
    print(f"airfoil store {store.dir}, {resolution}^2: rho over all points (body at 1) | fluid points only")
    print("| split | samples | mean | std | min | max | mean (fluid) | std (fluid) |")
    print("|---|---|---|---|---|---|---|---|")
    fields = {}
    for split in ("train", "val", "test_id", "test_ood"):
        with xr.open_dataset(store.path(split, resolution)) as ds:  # read only: no checksum cache written
            rho, mask = ds["rho"].values.astype(np.float64), ds["mask"].values > 0.5
        fields[split] = rho, mask
        fluid = rho[~mask]
        print(f"| {split} | {rho.shape[0]} | {rho.mean():.4f} | {rho.std():.4f} | {rho.min():.4f} | "
              f"{rho.max():.4f} | {fluid.mean():.4f} | {fluid.std():.4f} |")
    mean_field = fields["train"][0].mean(axis=0)
    for split in ("test_id", "test_ood"):  # the trivial model: the training mean field, 1 inside the body
        rho, mask = fields[split]
        error = np.abs(np.where(mask, 1.0, mean_field) - rho).sum(axis=(1, 2)) / np.abs(rho).sum(axis=(1, 2))
        print(f"  {split}: median relative L1 of the training mean field {100 * np.median(error):.2f}%")


def main() -> None:
    """Run the selected studies, print their tables and write their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--studies", nargs="+", default=["sod", "transonic", "samples"],
                        choices=["sod", "transonic", "cfl3d", "subsonic", "benchmark", "samples", "stats"])
    parser.add_argument("--spacings", nargs="+", type=int, default=[128, 192, 256],
                        help="transonic study: core cells per chord (the first is the benchmark's)")
    parser.add_argument("--far-fields", nargs="+", type=float, default=[20.0, 40.0, 80.0],
                        help="transonic study: far-field distances (chords) solved at the first spacing")
    parser.add_argument("--vortex-far-fields", nargs="+", type=float, default=[20.0, 40.0],
                        help="transonic study: far fields solved at the first spacing with the point-vortex far field")
    parser.add_argument("--cfl3d-spacings", nargs="+", type=int, default=[128, 192, 256],
                        help="cfl3d study: core cells per chord, point-vortex far field "
                        "(the first also plain, 20 and 80 chords)")
    parser.add_argument("--subsonic-machs", nargs="+", type=float, default=[0.3, 0.5],
                        help="subsonic study: free-stream Mach numbers (subcritical; two give the M^2 extrapolation)")
    parser.add_argument("--subsonic-spacings", nargs="+", type=int, default=[128, 192, 256],
                        help="subsonic study: core cells per chord, point-vortex far field at 20 chords")
    parser.add_argument("--panels", type=int, default=SUBSONIC_PANELS,
                        help="subsonic study: panels per surface of the panel method (also half and twice as many)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the transonic, cfl3d and subsonic solves here (npz) and reuse them")
    parser.add_argument("--store", type=Path, default=Path("data"),
                        help="stats study: root of the data stores (mambano generate airfoil --out ROOT)")
    parser.add_argument("--resolution", type=int, default=128, help="stats study: resolution of the store's files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    studies = {"sod": lambda out: _plot_sod(out), "samples": lambda out: _plot_samples(out),
               "transonic": lambda out: _plot_transonic(out, args.spacings, args.far_fields,
                                                           args.vortex_far_fields, args.cache),
               "cfl3d": lambda out: _plot_cfl3d(out, args.cfl3d_spacings, args.cache),
               "benchmark": lambda out: _plot_benchmark(out, args.cache),
               "subsonic": lambda out: _plot_subsonic(out, args.subsonic_machs, args.subsonic_spacings, args.panels,
                                                         args.cache),
               "stats": lambda out: _print_stats(args.store, args.resolution)}
    for name in args.studies:
        studies[name](args.out)


if __name__ == "__main__":
    main()
