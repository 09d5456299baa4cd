"""CUDA checks of MambaNO: one short script for a machine with a GPU (issue #3).

1. Selective scan on the device: the ``torch`` backend (and ``cuda``, mamba-ssm's kernel, when it
   imports) against the ``loop`` oracle, values and gradients, float32.
2. Training: MambaNO (default size) for a few AdamW steps on a fixed batch with each backend;
   the loss must fall and stay finite. Also one bfloat16-autocast step.
3. Speed: forward+backward of a batch of 16 at 64^2 and 128^2 per backend (CUDA-synchronised,
   median of ``--repeats``) and the peak allocated device memory.

It prints a readable report and, with ``--out DIR``, writes ``cuda_check.json`` there. It runs on
the CPU too (``--device cpu``, small sizes) so that it can be tried before a GPU is lent::

    python benchmarks/cuda_check.py --out "$OUT"                       # on the GPU machine
    python benchmarks/cuda_check.py --device cpu --sizes 32 --steps 3   # a dry run here
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mambano_core.models.registry import build_model, count_parameters  # noqa: E402
from mambano_core.ops.scan import available_backends, selective_scan_fn  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check_scan(device: torch.device, backends: list[str], length: int) -> dict[str, Any]:
    """Values and gradients of each backend against ``loop`` (grouped B/C, z, D, bias, softplus)."""
    g = torch.Generator().manual_seed(0)
    batch, dim, groups, n = 2, 16, 4, 16
    leaves = {
        "u": torch.randn(batch, dim, length, generator=g),
        "delta": torch.randn(batch, dim, length, generator=g) * 0.5,
        "A": -torch.exp(torch.randn(dim, n, generator=g) * 0.5),
        "B": torch.randn(batch, groups, n, length, generator=g),
        "C": torch.randn(batch, groups, n, length, generator=g),
        "D": torch.randn(dim, generator=g),
        "z": torch.randn(batch, dim, length, generator=g),
        "delta_bias": torch.randn(dim, generator=g) * 0.1,
    }
    probe = torch.randn(batch, dim, length, generator=g).to(device)

    def run(backend: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        args = {k: v.to(device).requires_grad_() for k, v in leaves.items()}
        out = selective_scan_fn(**args, delta_softplus=True, backend=backend)
        grads = torch.autograd.grad((out * probe).sum(), list(args.values()))
        return out.detach(), dict(zip(args, grads))

    ref_out, ref_grads = run("loop")
    result = {}
    for backend in backends:
        out, grads = run(backend)
        errors = {"out": _rel(out, ref_out), **{k: _rel(grads[k], ref_grads[k]) for k in grads}}
        result[backend] = {"max_rel_error": max(errors.values()), "errors": errors}
    return result


def _smooth_batch(batch: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and a smooth nonlinear target on the unit square (a fixed toy operator)."""
    g = torch.Generator().manual_seed(1)
    coef = torch.randn(batch, 4, 4, generator=g)
    x = torch.linspace(0, 1, size)
    modes = torch.stack([torch.sin((k + 1) * torch.pi * x) for k in range(4)])  # (4, size)
    a = torch.einsum("bkl,ki,lj->bij", coef, modes, modes)[:, None]
    return a.to(device), (torch.tanh(a) * 0.5 + a**2 * 0.1).to(device)


def check_training(device: torch.device, backend: str, size: int, steps: int) -> dict[str, Any]:
    """A few AdamW steps of MambaNO on one batch: losses, and one bf16-autocast step."""
    torch.manual_seed(0)
    model = build_model("mambano", {"in_channels": 1, "out_channels": 1, "scan_backend": backend}).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    a, u = _smooth_batch(4, size, device)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = (model(a) - u).abs().mean() / u.abs().mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    amp_dtype = torch.bfloat16
    with torch.autocast(device.type, dtype=amp_dtype):
        amp_loss = (model(a).float() - u).abs().mean() / u.abs().mean()
    amp_loss.backward()
    return {
        "parameters": count_parameters(model),
        "losses": losses,
        "loss_fell": losses[-1] < losses[0],
        "finite": all(math.isfinite(v) for v in losses),
        "bf16_autocast_loss": float(amp_loss.detach()),
    }


def time_step(device: torch.device, backend: str, size: int, repeats: int) -> dict[str, float]:
    """Median forward+backward time of a batch of 16 and the peak device memory."""
    torch.manual_seed(0)
    model = build_model("mambano", {"in_channels": 1, "out_channels": 1, "scan_backend": backend}).to(device)
    x = torch.randn(16, 1, size, size, device=device)

    def step() -> float:
        model.zero_grad(set_to_none=True)
        _sync(device)
        start = time.perf_counter()
        model(x).square().mean().backward()
        _sync(device)
        return time.perf_counter() - start

    step()  # warm-up: kernels, filters, autotuning
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = [step() for _ in range(repeats)]
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {"seconds": statistics.median(times), "min_seconds": min(times), "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scan-length", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --device cpu for a dry run")
    backends = [b for b in ("torch", "cuda", "fused") if b in available_backends(device)]
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "backends": backends,
    }
    print(f"device {report['device']}, torch {torch.__version__}, scan backends {backends}")

    report["scan"] = check_scan(device, backends, args.scan_length)
    for backend, r in report["scan"].items():
        print(f"scan {backend:6s} vs loop (L={args.scan_length}): max relative error {r['max_rel_error']:.2e}")

    report["training"] = {}
    for backend in backends:
        r = check_training(device, backend, args.sizes[0], args.steps)
        report["training"][backend] = r
        print(f"train {backend:6s} at {args.sizes[0]}^2: loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f} "
              f"(fell: {r['loss_fell']}, finite: {r['finite']}), bf16 autocast loss {r['bf16_autocast_loss']:.4f}")

    report["timing"] = {}
    for backend in backends:
        for size in args.sizes:
            r = time_step(device, backend, size, args.repeats)
            report["timing"][f"{backend}@{size}"] = r
            print(f"fwd+bwd b16 {backend:6s} {size}^2: {r['seconds']:.4f} s (min {r['min_seconds']:.4f}), "
                  f"peak {r['peak_mib']:.0f} MiB")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cuda_check.json").write_text(json.dumps(report, indent=2))
    ok = all(r["max_rel_error"] < 1e-4 for r in report["scan"].values()) and all(
        r["loss_fell"] and r["finite"] for r in report["training"].values()
    )
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
