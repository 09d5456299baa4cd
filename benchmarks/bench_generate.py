"""Seconds per generated sample for every registered benchmark (median of a few samples).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_generate.py [--samples 3] [--resolutions 64 128]
        [--benchmarks allen_cahn darcy ...] [--distribution id]

Prints one row per benchmark and resolution: the median wall-clock and CPU seconds of
``Benchmark.sample`` over ``--samples`` seeds (after one untimed warm-up sample, which fills
caches such as the sine and cosine matrices), and the projected wall-clock minutes for the
reference protocol's sample count on one process. The numbers depend on the machine: report
them with ``lscpu | head -20``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from mambano_core.data.benchmarks import available_benchmarks, get_benchmark


def time_samples(name: str, resolution: int, n_samples: int, distribution: str) -> tuple[float, float]:
    """Median (wall, CPU) seconds of one ``sample`` call of benchmark ``name`` at ``resolution``.

    Parameters
    ----------
    name : str
        A registered benchmark.
    resolution : int
        Grid size ``s``.
    n_samples : int
        Number of timed samples (seeds ``1..n_samples``).
    distribution : str
        ``id`` or ``ood``.

    Returns
    -------
    tuple of float
        Median wall-clock seconds and median CPU seconds (all threads of the process).
    """
    bench = get_benchmark(name)
    bench.sample(0, distribution, resolution)  # type: ignore[arg-type]  # warm-up
    wall, cpu = [], []
    for seed in range(1, n_samples + 1):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        bench.sample(seed, distribution, resolution)  # type: ignore[arg-type]
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    """Parse the arguments and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="timed samples per benchmark and resolution")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--benchmarks", nargs="+", default=available_benchmarks())
    parser.add_argument("--distribution", choices=["id", "ood"], default="id")
    args = parser.parse_args()
    print(f"{'benchmark':<26}{'res':>5}{'wall s/sample':>15}{'cpu s/sample':>14}{'reference set, min':>20}")
    for name in args.benchmarks:
        total = sum(get_benchmark(name).reference_counts.values())
        for resolution in args.resolutions:
            wall, cpu = time_samples(name, resolution, args.samples, args.distribution)
            print(f"{name:<26}{resolution:>5}{wall:>15.4f}{cpu:>14.4f}{total * wall / 60:>20.1f}", flush=True)


if __name__ == "__main__":
    main()
