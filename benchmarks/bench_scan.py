"""Benchmark of the selective-scan backends against mambapy's parallel scan (pscan).

Mamba selective scan (Gu & Dao 2023); mambapy's pscan is Blelloch's scan in PyTorch. For each size
(batch, L, dim, N) it prints the forward and forward+backward times (median of ``--repeats`` runs
after a warm-up) and the peak memory over the forward+backward runs, each measured in its own
subprocess so that peaks do not mix. The peak is the resident-set high-water mark (VmHWM, reset
through /proc/self/clear_refs after the warm-up where the kernel allows it, ru_maxrss otherwise)
minus the resident set once the libraries are loaded (a tiny call first) and the inputs exist; it
counts the gradients and any buffer a backend keeps between calls.

mambapy runs in its native (batch, L, dim) layout, and its timing includes what its
``selective_scan`` builds around pscan: exp(delta A), delta B x, the C contraction and D x. The
other backends get mamba-ssm's (batch, dim, L) layout with shared B, C (batch, N, L) and D.

Usage::

    python benchmarks/bench_scan.py [--repeats 5] [--sizes small,large] [--threads N]

mambapy is optional (``pip install mambapy``, or put it on PYTHONPATH); it is skipped if absent.
The ``(cpu)`` column is the process CPU time of one forward+backward (all threads): on a shared
machine it is steadier than wall time, which other processes stretch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZES = {"small": (2, 4096, 32, 16), "large": (4, 16384, 64, 16)}
BACKENDS = ("loop", "torch", "mambapy", "fused")
ROOT = Path(__file__).resolve().parents[1]


def _rss_kib() -> int:
    """Current resident set size in KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_kib(reset_ok: bool) -> int:
    """Peak RSS (KiB) since the last reset, or over the process lifetime."""
    if reset_ok:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _inputs(backend: str, size: tuple[int, int, int, int]) -> tuple[Any, list]:
    """The scan callable and its leaf tensors (requires_grad) for one backend."""
    import torch

    batch, length, dim, n = size
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, dim, length, generator=g)
    delta = torch.rand(batch, dim, length, generator=g) * 0.1
    A = -torch.rand(dim, n, generator=g)
    B, C = torch.randn(batch, n, length, generator=g), torch.randn(batch, n, length, generator=g)
    D = torch.randn(dim, generator=g)
    if backend == "mambapy":
        from mambapy.pscan import pscan

        leaves = [x.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(), A,
                  B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(), D]  # fmt: skip

        def fn(x, delta, A, B, C, D):  # mambapy.mamba.MambaBlock.selective_scan
            deltaA = torch.exp(delta.unsqueeze(-1) * A)
            BX = delta.unsqueeze(-1) * B.unsqueeze(2) * x.unsqueeze(-1)
            hs = pscan(deltaA, BX)
            return (hs @ C.unsqueeze(-1)).squeeze(3) + D * x

    else:
        from mambano_core.ops.scan import selective_scan_fn

        leaves = [x, delta, A, B, C, D]

        def fn(x, delta, A, B, C, D):
            return selective_scan_fn(x, delta, A, B, C, D, backend=backend)

    for t in leaves:
        t.requires_grad_(True)
    return fn, leaves


def worker(backend: str, size: tuple[int, int, int, int], repeats: int, backward: bool) -> dict:
    """Measure one (backend, size) in this process; returns times (s) and peak memory (MiB)."""
    import torch

    tiny_fn, tiny = _inputs(backend, (1, 8, 2, 2))
    tiny_fn(*tiny).sum().backward()  # imports, numba kernels (disk cache), one-off allocations
    fn, leaves = _inputs(backend, size)
    base = _rss_kib()

    def step() -> None:
        out = fn(*leaves)
        if backward:
            out.backward(torch.ones_like(out))
            for t in leaves:
                t.grad = None

    step()  # warm-up (numba compilation or cache load, allocator and workspace caches)
    reset_ok = _reset_peak()
    fwd, full, cpu = [], [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(*leaves)
        t1 = time.perf_counter()
        if backward:
            out.backward(torch.ones_like(out))
            for t in leaves:
                t.grad = None
        t2, c2 = time.perf_counter(), time.process_time()
        del out
        fwd.append(t1 - t0)
        full.append(t2 - t0)
        cpu.append(c2 - c0)
    result = {"fwd": statistics.median(fwd), "cpu": statistics.median(cpu)}
    if backward:
        result["fwd_bwd"] = statistics.median(full)
    result["peak_mib"] = max(0, _peak_kib(reset_ok) - base) / 1024
    return result


def _run_worker(backend: str, name: str, repeats: int, backward: bool, threads: int | None) -> dict:
    """Run :func:`worker` in a fresh interpreter; returns its result or an error entry."""
    cmd = [sys.executable, __file__, "--worker", backend, "--sizes", name, "--repeats", str(repeats)]
    cmd += [] if backward else ["--forward-only"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mambapy_available() -> bool:
    """Whether mambapy imports in a subprocess (with the same PYTHONPATH)."""
    proc = subprocess.run([sys.executable, "-c", "import mambapy.pscan"], capture_output=True)
    return proc.returncode == 0


def _machine() -> str:
    """One line describing the machine, the libraries and the load."""
    import torch

    try:
        import numba

        nb = numba.__version__
    except ImportError:
        nb = "absent"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} "
            f"threads), numba {nb}, Python {platform.python_version()}; load average {load}")  # fmt: skip


def _fmt(value: float | None, unit: str = "s") -> str:
    """Right-aligned number or a dash."""
    if value is None:
        return "-".rjust(9)
    return f"{value:8.4f}{unit}" if unit == "s" else f"{value:7.1f}{unit}"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--threads", type=int, default=None, help="torch and numba threads")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--forward-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [s for s in args.sizes.split(",") if s]
    if args.worker:
        print(json.dumps(worker(args.worker, SIZES[names[0]], args.repeats, not args.forward_only)))
        return
    print(_machine())
    backends = [b for b in args.backends.split(",") if b]
    if "mambapy" in backends and not _mambapy_available():
        print("mambapy is not importable: skipped (pip install mambapy)")
        backends.remove("mambapy")
    header = (f"{'backend':8} {'size (B,L,D,N)':20} {'fwd':>9} {'fwd+bwd':>9} {'(cpu)':>9} "
              f"{'peak':>9}  fwd+bwd and peak vs mambapy")  # fmt: skip
    print(header + "\n" + "-" * len(header))
    for name in names:
        results: dict[str, dict] = {}
        for backend in backends:
            if backend == "loop" and name != "small":
                continue  # a Python loop over 16k steps: minutes, and not informative
            results[backend] = _run_worker(backend, name, args.repeats, True, args.threads)
        ref = results.get("mambapy", {})
        for backend, res in results.items():
            size = str(SIZES[name]).replace(" ", "")
            if "error" in res:
                print(f"{backend:8} {size:20} error: {res['error']}")
                continue
            ratio = ""
            if ref.get("fwd_bwd") and backend != "mambapy":
                ratio = (f"time x{res['fwd_bwd'] / ref['fwd_bwd']:.2f}, "
                         f"memory x{res['peak_mib'] / max(ref['peak_mib'], 1e-9):.2f}")  # fmt: skip
            print(f"{backend:8} {size:20} {_fmt(res['fwd'])} {_fmt(res.get('fwd_bwd'))} "
                  f"{_fmt(res['cpu'])} {_fmt(res['peak_mib'], 'M')}  {ratio}")  # fmt: skip
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
