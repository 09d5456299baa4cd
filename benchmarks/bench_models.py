"""Speed and memory of the registered models; MambaNO's scaling with the grid size.

MambaNO (Zheng et al., NeurIPS 2024) claims O(N) cost in the number of grid points N: its
forward time at 256^2 over 64^2 (16x the points) should stay near 16 (target <= 20).

Prints
1. MambaNO (default size) forward time at 64^2, 128^2, 256^2 (batch 4, ``torch.no_grad``) and
   the 256/64 ratio;
2. forward + backward time per batch of 16 at 64^2 for every model in ``available_models()``,
   with parameter counts and peak memory, at the default sizes and at about 2M parameters
   (``EQUAL_PARAMETER_ARGS``), each as a ratio to CNO (Raonic et al. 2023) in the same run.

Every measurement runs in a fresh subprocess, so the peak resident set size (RSS; on CUDA the
peak allocated device memory) belongs to that measurement alone. Times are medians of
``--repeats`` runs after one warm-up run; "CPU s" is the process CPU time (all threads), less
sensitive than wall time to other processes competing for the cores. Usage::

    python benchmarks/bench_models.py [--sizes 64 128 256] [--models mambano unet] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mambano_core.memory import keep_freed_memory, opted_out  # noqa: E402
from mambano_core.models.registry import available_models, build_model, count_parameters  # noqa: E402


#: Arguments that bring each model to about 2M parameters (one input, one output channel).
EQUAL_PARAMETER_ARGS: dict[str, dict[str, Any]] = {
    "mambano": {},  # default C = 16: 1.85M
    "cno": {"channels": 26},  # 1.95M (default c = 32: 2.94M)
    "fno": {"width": 32},  # 2.10M
    "deeponet": {},  # 2.40M
    "galerkin_transformer": {"width": 208, "ffn_width": 416},  # 2.00M
    "unet": {"channels": 16},  # 1.94M
    "resnet": {"channels": 96, "blocks": 12},  # 2.00M
    "ffnn": {},  # 2.30M
}


def scan_backend_in_use(device: str) -> str:
    """The backend that ``selective_scan_fn(backend="auto")`` resolves to on ``device``."""
    from mambano_core.ops.scan import resolve_backend

    return resolve_backend("auto", device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Time one model on one input shape; ``job['train']`` adds the backward pass."""
    torch.manual_seed(0)
    device, repeats = job["device"], job["repeats"]
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    args = {"in_channels": 1, "out_channels": 1, **job.get("args", {})}
    model = build_model(job["model"], args).to(device)
    x = torch.randn(job["batch"], 1, job["size"], job["size"], device=device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def step() -> None:
        if job["train"]:
            model.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
        else:
            with torch.no_grad():
                model(x)
        _sync(device)

    model.train(job["train"])
    step()  # warm-up: filter design, kernel compilation, allocator
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return {
        **job,
        "params": count_parameters(model),
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu_times),
        "peak_mib": _peak_memory_mib(device),
        "baseline_mib": rss_before,
    }


def run_isolated(job: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`measure` in a fresh interpreter and return its result."""
    cmd = [sys.executable, __file__, "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch", type=int, default=4, help="batch of the forward scaling runs")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=None, help="default: all registered")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-equal-parameters", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def _scaling(args: argparse.Namespace, base: dict[str, Any]) -> None:
    print(f"\nMambaNO forward (default size, batch {args.batch}, no_grad)")
    print(f"{'grid':>8} {'seconds':>10} {'ms/sample':>10} {'CPU s':>10} {'peak MiB':>10}")
    results = {}
    for size in args.sizes:
        job = {**base, "model": "mambano", "size": size, "batch": args.batch, "train": False}
        r = run_isolated(job)
        results[size] = r["seconds"]
        per_sample = 1e3 * r["seconds"] / args.batch
        cpu = r["cpu_seconds"]
        print(f"{size:>6}^2 {r['seconds']:>10.3f} {per_sample:>10.1f} {cpu:>10.2f} {r['peak_mib']:>10.0f}")
    lo, hi = min(results), max(results)
    if hi > lo:
        ratio, points = results[hi] / results[lo], (hi / lo) ** 2
        print(
            f"time ratio {hi}^2 / {lo}^2 = {ratio:.1f} "
            f"(points ratio {points:.0f}; O(N) target <= 20 for 256/64)"
        )


def _extra_mib(result: dict[str, Any]) -> float:
    """Memory the measurement added: CUDA peak, or peak RSS over the process's RSS before it."""
    if result["device"].startswith("cuda"):
        return result["peak_mib"]
    return max(result["peak_mib"] - result["baseline_mib"], 1.0)


def _training(args: argparse.Namespace, base: dict[str, Any], equal_parameters: bool) -> None:
    models = args.models or available_models()
    if "cno" in available_models() and "cno" not in models:
        models = ["cno", *models]  # the reference of the ratios
    sizes = "about 2M parameters" if equal_parameters else "default sizes"
    print(f"\nforward + backward, batch {args.train_batch} at {args.train_size}^2 ({sizes})")
    print(
        f"{'model':>20} {'params':>12} {'s/batch':>10} {'CPU s':>10} {'peak MiB':>10} "
        f"{'time/CNO':>9} {'mem/CNO':>8}"
    )
    rows = {}
    for name in models:
        model_args = EQUAL_PARAMETER_ARGS.get(name, {}) if equal_parameters else {}
        job = {**base, "model": name, "args": model_args, "size": args.train_size,
               "batch": args.train_batch, "train": True}  # fmt: skip
        try:
            rows[name] = run_isolated(job)
        except RuntimeError as exc:
            print(f"{name:>20} failed: {exc}")
    ref = rows.get("cno")
    for name, r in rows.items():
        ratios = (
            f"{r['seconds'] / ref['seconds']:>9.2f} {_extra_mib(r) / _extra_mib(ref):>8.2f}"
            if ref
            else f"{'-':>9} {'-':>8}"
        )
        print(
            f"{name:>20} {r['params']:>12,} {r['seconds']:>10.3f} {r['cpu_seconds']:>10.2f} "
            f"{r['peak_mib']:>10.0f} {ratios}"
        )


def main() -> None:
    """Entry point (also the subprocess worker with ``--worker``)."""
    args = _parse()
    if args.worker:
        keep_freed_memory()  # as the CLI and the trainer do; MAMBANO_MALLOC=default to compare
        print(json.dumps(measure(json.loads(args.worker))))
        return
    base = {"device": args.device, "repeats": args.repeats, "threads": args.threads}
    threads = args.threads or torch.get_num_threads()
    print(f"torch {torch.__version__}, device {args.device}, threads {threads}")
    print(f"selective scan backend for 'auto': {scan_backend_in_use(args.device)}")
    print(f"malloc: {'left at its defaults' if opted_out() else 'keeps freed memory'} (mambano_core.memory)")
    cuda = args.device.startswith("cuda")
    print(
        "peak memory: "
        + ("max CUDA memory allocated" if cuda else "peak RSS of the process")
        + "; mem/CNO compares "
        + ("those peaks" if cuda else "the RSS added by the measurement (peak - RSS after model build)")
    )
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes distort wall times)")
    if not args.skip_scaling:
        _scaling(args, base)
    if not args.skip_training:
        _training(args, base, equal_parameters=False)
        if not args.skip_equal_parameters:
            _training(args, base, equal_parameters=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
