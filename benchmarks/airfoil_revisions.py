"""Convergence, cost and change of the airfoil data between revisions of its solver settings (issue #18).

Run ``OMP_NUM_THREADS=1 python benchmarks/airfoil_revisions.py [--seeds 10] [--compare 3] [--workers 2]``.

Revision 2 (the default since issue #18) solves with the point-vortex far field and the
curvature-corrected wall ghosts, and freezes the limiter after repeated multigrid stalls from a
residual of 300 ``tol`` (going back if the frozen iteration runs away); revision 1 (the data before
it) with the plain far field, the mirror ghosts and the freeze from 30 ``tol`` for good
(``far_field_vortex = curved_wall = False``, ``freeze_below = 30``, ``unfreeze_above = inf``).
For ID and OOD seeds ``0 .. seeds-1`` the script solves revision 2 and prints per sample the
multigrid cycles, the final residual and the CPU seconds of ``Airfoil.sample``
(``time.process_time``, as ``bench_generate.py``). For the first ``--compare`` seeds of each
distribution it also solves revision 1 and prints how much the density changed on the 128^2
window: the relative L1 difference (%) with the benchmark's mask
(``mambano_core.scoring.sample_errors``, the number every model error is measured in) and the
largest pointwise change with its place. The numbers depend on the machine: report them with
``lscpu | head -20``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from mambano_core.data.benchmarks import get_benchmark
from mambano_core.data.benchmarks.airfoil import Airfoil
from mambano_core.scoring import sample_errors

RESOLUTION = 128


def solve(task: tuple[int, str, int]) -> dict[str, Any]:
    """One sample of revision ``task[2]`` (1 or 2): its fields, cycles, residual and CPU seconds."""
    seed, distribution, revision = task
    bench = get_benchmark("airfoil", **(Airfoil.revision_1 if revision == 1 else {}))
    start = time.process_time()
    sample = bench.sample(seed, distribution, RESOLUTION)  # type: ignore[arg-type]
    return {"seed": seed, "distribution": distribution, "revision": revision, "input": sample.input,
            "output": sample.output, "cycles": int(sample.params["cycles"]),
            "residual": sample.params["residual"], "cpu": time.process_time() - start,
            "tol": float(bench.config["tol"])}


def change(new: dict[str, Any], old: dict[str, Any]) -> tuple[float, float, float, float]:
    """Masked relative L1 (%) of revision 1's density against revision 2's, the largest |difference| and its (x, y)."""
    as_tensor = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))[None, None]  # noqa: E731
    error = sample_errors(as_tensor(old["output"]), as_tensor(new["output"]), as_tensor(new["input"]), "airfoil")
    difference = np.abs(new["output"] - old["output"])
    row, column = np.unravel_index(np.argmax(difference), difference.shape)
    x0, x1, y0, y1 = (float(v) for v in get_benchmark("airfoil").config["window"])
    return (float(error[0]), float(difference[row, column]),
            x0 + (x1 - x0) * column / RESOLUTION, y0 + (y1 - y0) * row / RESOLUTION)


def main() -> None:
    """Solve, then print one row per sample and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="ID and OOD seeds 0..seeds-1 of revision 2")
    parser.add_argument("--compare", type=int, default=3, help="of these, the first N also solved as revision 1")
    parser.add_argument("--workers", type=int, default=2, help="processes (one sample each at a time)")
    args = parser.parse_args()
    tasks = [(seed, dist, 2) for dist in ("id", "ood") for seed in range(args.seeds)]
    tasks += [(seed, dist, 1) for dist in ("id", "ood") for seed in range(min(args.compare, args.seeds))]
    with ProcessPoolExecutor(args.workers) as pool:
        results = {(r["seed"], r["distribution"], r["revision"]): r for r in pool.map(solve, tasks)}
    print("| distribution | seed | cycles | residual | CPU s | rel. L1 change from revision 1 (%) "
          "| max change at (x, y) |")
    print("|---|---|---|---|---|---|---|")
    for dist in ("id", "ood"):
        rows = [results[(seed, dist, 2)] for seed in range(args.seeds)]
        for r in rows:
            old = results.get((r["seed"], dist, 1))
            moved = "| |" if old is None else "| {:.3f} | {:.3f} at ({:.2f}, {:.2f}) |".format(*change(r, old))
            print(f"| {dist.upper()} | {r['seed']} | {r['cycles']} | {r['residual']:.1e} | {r['cpu']:.0f} {moved}")
        converged = sum(r["residual"] < r["tol"] for r in rows)
        cycles = statistics.median(r["cycles"] for r in rows)
        print(f"  {dist.upper()}: {converged}/{len(rows)} converged; median {cycles:.0f}"
              f" cycles, median {statistics.median(r['cpu'] for r in rows):.1f} CPU s")
    old_rows = [r for key, r in results.items() if key[2] == 1]
    if old_rows:
        print(f"  revision 1, the same seeds: median {statistics.median(r['cycles'] for r in old_rows):.0f} cycles, "
              f"median {statistics.median(r['cpu'] for r in old_rows):.1f} CPU s")


if __name__ == "__main__":
    main()
