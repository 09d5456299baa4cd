"""Verification studies of the Euler solver (the numbers and figures of docs/airfoil.md).

Run ``python benchmarks/euler_verification.py OUT_DIR [--studies sod transonic samples]``;
it prints the tables and writes PNG figures to ``OUT_DIR``. The transonic grid study solves the
RAE 2822 on three grids (1/64, 1/128, 1/256 chord) and takes several minutes on one core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mambano_core.solvers.euler.geometry import Airfoil, rae2822
from mambano_core.solvers.euler.grid import NG, Grid, airfoil_grid
from mambano_core.solvers.euler.riemann_exact import sample_riemann
from mambano_core.solvers.euler.solver import FlowConditions, SolverSettings, SteadyResult, sample_field, solve_steady
from mambano_core.solvers.euler.unsteady import solve_unsteady

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


def surface_cp(result: SteadyResult, airfoil: Airfoil, flow: FlowConditions, x: np.ndarray,
               offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Pressure coefficients ``(upper, lower)`` sampled ``offset`` away from the surface along the normal."""
    q = 0.5 * flow.gamma * flow.p * flow.mach**2
    out = []
    for surface, sign in ((airfoil.upper, 1.0), (airfoil.lower, -1.0)):
        y = surface(x)
        slope = np.gradient(y, x)
        norm = np.hypot(slope, 1.0)
        px, py = x - sign * offset * slope / norm, y + sign * offset / norm
        out.append((sample_field(result, result.W[3], px, py) - flow.p) / q)
    return out[0], out[1]


def transonic(spacing: float, tol: float = 1e-5) -> dict[str, float | np.ndarray]:
    """RAE 2822 at the benchmark conditions on the benchmark grid with core spacing ``spacing``."""
    grid = airfoil_grid(spacing, (-0.25, 1.25, -0.35, 0.7), 20.0, 1.1, 16)
    flow = FlowConditions()
    start = time.process_time()
    result = solve_steady(grid, rae2822(), flow, SolverSettings(tol=tol, max_cycles=4000))
    cpu = time.process_time() - start
    x = 0.5 * (1.0 - np.cos(np.linspace(0.0, np.pi, 401)))
    cp_up, cp_lo = surface_cp(result, rae2822(), flow, x, 1.5 / 128)
    cl = np.trapezoid(cp_lo - cp_up, x) * np.cos(np.radians(flow.alpha_deg))
    jump = np.where(x[1:] > 0.2, np.diff(cp_up), 0.0)
    return {"spacing": spacing, "cells": int((result.body.kind == 1).sum()), "cycles": result.cycles,
            "cpu": cpu, "cl": float(cl), "shock_x": float(x[np.argmax(jump)]), "x": x, "cp_up": cp_up,
            "cp_lo": cp_lo, "history": result.history}


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


def _plot_transonic(out: Path) -> None:
    import matplotlib.pyplot as plt

    print("RAE 2822, M = 0.729, alpha = 2.31 deg (Euler)")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    for spacing in (1 / 64, 1 / 128, 1 / 256):
        r = transonic(spacing)
        print(f"  h = 1/{round(1 / spacing)}: {r['cells']} fluid cells, {r['cycles']} cycles to 1e-5, "
              f"{r['cpu']:.0f} s CPU, C_L = {r['cl']:.3f}, upper shock at x = {r['shock_x']:.3f}")
        ax.plot(r["x"], -r["cp_up"], label=f"h = 1/{round(1 / spacing)}")
        ax.plot(r["x"], -r["cp_lo"], color=ax.lines[-1].get_color(), lw=0.8)
        bx.semilogy(r["history"], label=f"h = 1/{round(1 / spacing)}")
    ax.set(xlabel="x / c", ylabel="-Cp (1.5/128 off the wall)", title="RAE 2822, M 0.729, 2.31 deg")
    bx.set(xlabel="multigrid cycle", ylabel="RMS density residual")
    ax.legend()
    bx.legend()
    fig.savefig(out / "rae2822.png", dpi=90, bbox_inches="tight")


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


def main() -> None:
    """Run the selected studies, print their tables and write their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--studies", nargs="+", default=["sod", "transonic", "samples"],
                        choices=["sod", "transonic", "samples"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    studies = {"sod": _plot_sod, "transonic": _plot_transonic, "samples": _plot_samples}
    for name in args.studies:
        studies[name](args.out)


if __name__ == "__main__":
    main()
