"""Where a training step of MambaNO (and CNO) spends its time, and how close the scan is to the CPU's limit.

Prints, for one forward+backward step (batch 16 at 64^2 by default, each model in a fresh process):

1. the step's wall time by part, forward and backward together (module and autograd-node hooks,
   see :class:`PartTimer`): scan forward, scan backward, alias-free activations (and resampling
   blocks), the alias-free SiLU gate, convolutions, projections (linear maps), normalisations,
   copies (permutes, reshapes, concatenations), the rest; the step's wall time (median of
   unprofiled steps); memory three ways: the tensors autograd keeps for the backward
   (distinct storages, parameters included), the peak of the C heap in use during a step (glibc's ``mallinfo2``,
   sampled), and the process's peak resident memory, which adds the libraries and the heap's
   fragmentation (freed blocks that later, larger requests could not reuse);
2. a roofline line for the selective scan: the machine's vector throughput, measured in the same
   run with the kernel's own code (multiply-add and exp, every thread busy at once), the
   operations one state update needs (forward: 1 exp + 4 multiply-adds; backward: 1 exp + 12),
   the bound for MambaNO's level-0 scan call (batch 16, 4 directions x 32 channels, L 4096, N 16)
   and the kernel's measured time as a multiple of it; backward / forward;
3. with ``--ab COMMIT``: the same MambaNO step at another commit (a temporary git worktree),
   alternated with this tree's, ``--rounds`` times, and the ratio of the medians;
4. with ``--ratio-rounds N``: the models' steps in N alternating rounds of fresh processes, and
   each one's ratio to the last model (MambaNO / CNO under the same host conditions).

Usage::

    python benchmarks/profile_step.py [--models mambano cno] [--batch 16] [--size 64] [--ab 41caf21]
        [--ratio-rounds 6]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]

#: Forward parts by module class name (hooks on every instance); the module's output node in the
#: autograd graph is tagged with the same part, so its backward is counted there too.
MODULE_PARTS = {
    "AliasFreeLReLU": "alias-free activations",
    "PointwiseLReLU": "alias-free activations",
    "AliasFreeSiLU": "gate (alias-free SiLU)",
    "SiLU": "gate (alias-free SiLU)",
    "Conv2d": "convolutions",
    "Linear": "projections (matmul)",
    "LayerNorm": "normalisations",
    "BatchNorm2d": "normalisations",
}
#: Backward nodes not tagged by a module, by substrings of their class name; first match wins.
NODE_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("scan backward", ("NativeCrossScan", "FusedScan", "SelectiveScan", "ParallelScan")),
    ("alias-free activations", ("FusedActivation", "BandedApply", "LeakyRelu")),
    ("gate (alias-free SiLU)", ("Silu",)),
    ("convolutions", ("Convolution",)),
    ("projections (matmul)", ("Mm", "Addmm", "Bmm", "SharedInputMatmul", "Linear")),
    ("normalisations", ("Norm",)),
    ("copies", ("Copy", "Cat", "Flip", "Clone", "Permute", "Transpose", "View", "Reshape", "Split", "Chunk",
                "Expand", "Contiguous", "Index", "Select", "Slice", "Stack", "Cross")),
)
PART_ORDER = ("scan forward", "scan backward", "alias-free activations", "gate (alias-free SiLU)", "convolutions",
              "projections (matmul)", "normalisations", "copies", "rest of forward", "rest of backward",
              "optimizer-free total")

#: Operations per state update the scan needs (see the module docstring): (exps, multiply-adds).
OPS_FORWARD = (1, 4)
OPS_BACKWARD = (1, 12)


def _node_part(node) -> str:
    tagged = node.metadata.get("part")
    if tagged:
        return tagged
    name = type(node).__name__
    for part, keys in NODE_PARTS:
        if any(k in name for k in keys):
            return part
    return "rest of backward"


class PartTimer:
    """Wall time of a training step by part, from module hooks (forward) and autograd node hooks.

    torch.profiler slowed MambaNO's step 4-7x here (about 50,000 events), which distorts the
    split; these hooks cost a few microseconds per module or node.
    """

    def __init__(self, model) -> None:
        self.times: dict[str, float] = {}  # forward
        self.backward: dict[str, float] = {}
        self._open: dict[int, float] = {}
        for module in model.modules():
            part = MODULE_PARTS.get(type(module).__name__)
            if part:
                module.register_forward_pre_hook(self._pre)
                module.register_forward_hook(self._post(part))

    def _add(self, part: str, seconds: float) -> None:
        self.times[part] = self.times.get(part, 0.0) + seconds

    def _add_backward(self, part: str, node) -> None:
        self.backward[part] = self.backward.get(part, 0.0) + time.perf_counter() - self._open.pop(id(node))

    def split(self, forward: float, backward: float) -> dict[str, float]:
        """Forward and backward time per part; what no part claims is 'rest of forward/backward'."""
        parts = {k: self.times.get(k, 0.0) + self.backward.get(k, 0.0) for k in {*self.times, *self.backward}}
        parts.pop("rest of backward", None)
        parts["rest of forward"] = forward - sum(self.times.values())
        parts["rest of backward"] = backward - sum(v for k, v in self.backward.items() if k != "rest of backward")
        parts["optimizer-free total"] = forward + backward
        return parts

    def _pre(self, module, args) -> None:
        self._open[id(module)] = time.perf_counter()

    def _post(self, part: str):
        def hook(module, args, output) -> None:
            self._add(part, time.perf_counter() - self._open.pop(id(module)))
            if getattr(output, "grad_fn", None) is not None:
                output.grad_fn.metadata["part"] = part

        return hook

    def wrap_scan(self, fn):
        """``fn`` (the native cross scan) timed as the scan's forward."""

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self._add("scan forward", time.perf_counter() - start)
            return out

        return timed

    def hook_backward(self, root) -> None:
        """Time every node of the graph under ``root`` in the coming backward."""
        seen, stack = set(), [root]
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            part = _node_part(node)
            node.register_prehook(lambda grads, n=node: self._open.__setitem__(id(n), time.perf_counter()) or None)
            node.register_hook(lambda gi, go, n=node, p=part: self._add_backward(p, n) or None)
            stack.extend(next_node for next_node, _ in node.next_functions)


def _build(model: str, args: dict | None = None):
    from mambano_core.models.registry import build_model

    return build_model(model, {"in_channels": 1, "out_channels": 1, **(args or {})})


def profile_worker(job: dict) -> dict:
    """Time ``job['repeats']`` training steps of one model, then one more split by part."""
    import torch

    torch.manual_seed(0)
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    sys.path.insert(0, job["root"])  # mambano_core from the tree under test
    from mambano_core.memory import keep_freed_memory

    keep_freed_memory()  # as training does
    model = _build(job["model"], job.get("args")).train()
    x = torch.randn(job["batch"], 1, job["size"], job["size"])

    def step(timer: PartTimer | None = None) -> None:
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss = model(x).square().mean()
        forward = time.perf_counter() - start
        if timer is not None:
            timer.hook_backward(loss.grad_fn)
        start = time.perf_counter()
        loss.backward()
        if timer is not None:
            timer.times["forward total"] = forward
            timer.times["backward total"] = time.perf_counter() - start

    step()
    times = []
    for _ in range(job["repeats"]):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    parts: dict[str, float] = {}
    if job["profile"]:
        timer = PartTimer(model)
        try:
            from mambano_core.ops.scan import cross

            cross.cross_selective_scan = timer.wrap_scan(cross.cross_selective_scan)
        except ImportError:
            pass
        step(timer)
        parts = timer.split(timer.times.pop("forward total"), timer.times.pop("backward total"))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the sampled step
    return {
        "model": job["model"],
        "seconds": statistics.median(times),
        "all": times,
        "peak_mib": peak_rss,
        # memory only in the profiled run (the A/B's old trees lack the library's counter)
        "saved_mib": saved_for_backward_mib(model, x) if job["profile"] else None,
        "heap_peak_mib": heap_in_use_peak_mib(step) if job["profile"] else None,
        "parts": parts,
    }


def saved_for_backward_mib(model: Any, x: Any) -> float:
    """MiB of the distinct storages autograd keeps for the backward of ``model(x)`` (parameters included)."""
    from mambano_core.memory import saved_tensor_bytes

    return saved_tensor_bytes(model, x) / 2**20


def heap_in_use_peak_mib(step: Callable[[], None]) -> float | None:
    """Peak MiB of the C heap in use (glibc ``mallinfo2``: allocated plus mmapped) while ``step()`` runs.

    Sampled every 0.2 ms from a thread (a lower bound: a shorter peak can fall between samples);
    ``None`` where the C library is not glibc 2.33+.
    """
    import ctypes
    import threading

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            info = mallinfo2()
            peak[0] = max(peak[0], info.uordblks + info.hblkhd)
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        step()
    finally:
        done.set()
        sampler.join()
    return peak[0] / 2**20


def run_worker(job: dict, python: str = sys.executable, env: dict | None = None) -> dict:
    """:func:`profile_worker` in a fresh interpreter (its own peak memory)."""
    cmd = [python, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip()[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _throughput(threads: int) -> dict[str, float]:
    """Per-element ns of a multiply-add and an exp, with ``threads`` threads probing at once."""
    from mambano_core.ops.scan.cross import probe_vector_throughput

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:  # ctypes calls release the GIL
        results = list(pool.map(lambda _: probe_vector_throughput(0.3), range(threads)))
    return {key: statistics.median(r[key] for r in results) / threads for key in ("fma_ns", "exp_ns")}


def roofline(threads: int, batch: int = 16, repeats: int = 3) -> None:
    """Time MambaNO's level-0 scan call with the native kernel and print it against the bound."""
    import torch

    from mambano_core.memory import keep_freed_memory
    from mambano_core.ops.scan.cross import cross_selective_scan, native_cross_scan_available

    keep_freed_memory()

    if not native_cross_scan_available():
        print("roofline: the native scan kernel is not available (no C compiler?)")
        return
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    K, d, N, H, W = 4, 32, 16, 64, 64
    L = H * W
    rank = 1  # MambaNO's level 0: ceil(16 / 16)
    x_proj = (torch.randn(K, rank + 2 * N, d) * d**-0.5).requires_grad_()
    dt_proj = (torch.randn(K, d, rank) * rank**-0.5).requires_grad_()
    u = torch.randn(batch, L, d, requires_grad=True)
    A, D, bias = -torch.rand(K, d, N) * 3 - 0.5, torch.randn(K, d), torch.randn(K, d) * 0.5 - 2
    fwd, bwd = [], []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        y = cross_selective_scan(u, x_proj, dt_proj, A, D, bias, H, W)
        t1 = time.perf_counter()
        y.backward(torch.ones_like(y))
        fwd.append(t1 - t0)
        bwd.append(time.perf_counter() - t1)
    f, b = statistics.median(fwd[1:]), statistics.median(bwd[1:])
    rate = _throughput(threads)
    updates = batch * K * d * L * N

    def bound(ops: tuple[int, int]) -> float:
        return updates * (ops[0] * rate["exp_ns"] + ops[1] * rate["fma_ns"]) * 1e-9

    both = (OPS_FORWARD[0] + OPS_BACKWARD[0], OPS_FORWARD[1] + OPS_BACKWARD[1])
    print(f"\nroofline, {threads} thread(s): vector throughput per element, all threads busy: "
          f"multiply-add {rate['fma_ns'] * 1e3:.1f} ps, exp {rate['exp_ns'] * 1e3:.0f} ps")
    print(f"level-0 scan (batch {batch}, {K}x{d} channels, L {L}, N {N}): {updates / 1e6:.0f}M state updates")
    print("| pass | ops per update | bound | measured | measured / bound |")
    print("|---|---|---|---|---|")
    for name, ops, t in (("forward", OPS_FORWARD, f), ("backward", OPS_BACKWARD, b), ("forward+backward", both, f + b)):
        print(f"| {name} | {ops[0]} exp + {ops[1]} FMA | {bound(ops) * 1e3:.0f} ms | {t * 1e3:.0f} ms | {t / bound(ops):.2f}x |")
    print(f"scan backward / forward: {b / f:.2f}")


def _print_profile(results: list[dict]) -> None:
    names = [r["model"] for r in results]
    print("\nstep profile: wall seconds per step by part (forward and backward), % of the step")
    print("| part | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for part in PART_ORDER[:-1]:
        cells = []
        for r in results:
            total = r["parts"].get("optimizer-free total", 1.0)
            v = r["parts"].get(part, 0.0)
            cells.append(f"{v:.3f} ({100 * v / total:.0f} %)")
        print(f"| {part} | " + " | ".join(cells) + " |")
    print("| **profiled step** | " + " | ".join(f"**{r['parts'].get('optimizer-free total', 0):.3f} s**" for r in results) + " |")
    print("| step wall time, median of the unprofiled steps | " + " | ".join(f"{r['seconds']:.3f} s" for r in results) + " |")
    print("| tensors saved for the backward | " + " | ".join(f"{r['saved_mib']:.0f} MiB" for r in results) + " |")
    heap = [r.get("heap_peak_mib") for r in results]
    if all(h is not None for h in heap):
        print("| peak heap in use during a step (malloc) | " + " | ".join(f"{h:.0f} MiB" for h in heap) + " |")
    print("| peak memory (RSS) | " + " | ".join(f"{r['peak_mib']:.0f} MiB" for r in results) + " |")
    if len(results) > 1:
        base = results[-1]
        for r in results[:-1]:
            line = (f"{r['model']} / {base['model']}: {r['seconds'] / base['seconds']:.2f}x time, "
                    f"{r['peak_mib'] / base['peak_mib']:.2f}x peak memory (RSS), "
                    f"{r['saved_mib'] / base['saved_mib']:.2f}x saved tensors")
            if r.get("heap_peak_mib") and base.get("heap_peak_mib"):
                line += f", {r['heap_peak_mib'] / base['heap_peak_mib']:.2f}x peak heap in use"
            print(line)


def ab(commit: str, job: dict, rounds: int, config: str | None = None) -> None:
    """Alternate this tree's MambaNO step with ``commit``'s (a temporary worktree).

    ``config`` names a MambaNO configuration for this tree (e.g. ``v0.1``, the network that was
    the default at older commits); the old tree always builds its default.
    """
    args = {}
    if config:
        from mambano_core.models.mambano import CONFIGURATIONS

        args = CONFIGURATIONS[config]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)
        try:
            old, new = [], []
            for _ in range(rounds):
                old.append(run_worker({**job, "root": str(tree), "profile": False})["seconds"])
                new.append(run_worker({**job, "root": str(ROOT), "profile": False, "args": args})["seconds"])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    mo, mn = statistics.median(old), statistics.median(new)
    label = f" (this tree: configuration {config!r})" if config else ""
    print(f"\nA/B {job['model']} step{label} (batch {job['batch']}, {job['size']}^2), {rounds} alternating rounds of "
          f"{job['repeats']} steps: {commit} {mo:.3f} s (all {', '.join(f'{t:.2f}' for t in old)}), "
          f"this tree {mn:.3f} s (all {', '.join(f'{t:.2f}' for t in new)}): {mo / mn:.2f}x faster")


def alternate_models(models: list[str], job: dict, rounds: int) -> None:
    """Time the models' steps in alternating fresh processes and print each one's ratio to the last.

    Separate, consecutive runs of two models take their ratio across whatever the host did in
    between (the same CNO step ran 0.59-0.91 s within an hour here); alternating them round by
    round compares them under the same conditions.
    """
    times: dict[str, list[float]] = {m: [] for m in models}
    for i in range(rounds):
        for model in models if i % 2 == 0 else models[::-1]:
            times[model].append(run_worker({**job, "model": model, "profile": False})["seconds"])
    base = models[-1]
    medians = {m: statistics.median(t) for m, t in times.items()}
    print(f"\nsteps in {rounds} alternating rounds (batch {job['batch']}, {job['size']}^2, median of {job['repeats']} "
          "steps per round): " + "; ".join(
              f"{m} {medians[m]:.3f} s (all {', '.join(f'{t:.2f}' for t in times[m])})" for m in models))
    for model in models[:-1]:
        paired = statistics.median(a / b for a, b in zip(times[model], times[base]))
        print(f"{model} / {base}: {medians[model] / medians[base]:.2f}x (ratio of the medians), "
              f"{paired:.2f}x (median of the rounds' ratios)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mambano", "cno"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--ab", metavar="COMMIT", help="also time the MambaNO step at COMMIT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ab-config", help="MambaNO configuration of this tree in the A/B (e.g. v0.1)")
    parser.add_argument("--skip-roofline", action="store_true")
    parser.add_argument("--ratio-rounds", type=int, default=0,
                        help="also time the models in this many alternating rounds (their ratio under one condition)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ratio_rounds < 0 or (args.ratio_rounds and len(args.models) < 2):
        parser.error("--ratio-rounds needs a count >= 1 and at least two --models")
    if args.worker:
        print(json.dumps(profile_worker(json.loads(args.worker))))
        return
    sys.path.insert(0, str(ROOT))
    import torch

    threads = args.threads or torch.get_num_threads()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} thread(s); "
          f"load average {os.getloadavg()[0]:.2f}")
    job = {"batch": args.batch, "size": args.size, "threads": threads, "repeats": args.repeats, "root": str(ROOT)}
    results = [run_worker({**job, "model": m, "profile": True}) for m in args.models]
    _print_profile(results)
    if not args.skip_roofline:
        roofline(threads, args.batch)
    if args.ratio_rounds and len(args.models) > 1:
        alternate_models(args.models, job, args.ratio_rounds)
    if args.ab:
        ab(args.ab, {**job, "model": "mambano"}, args.rounds)
        if args.ab_config:
            ab(args.ab, {**job, "model": "mambano"}, args.rounds, args.ab_config)


if __name__ == "__main__":
    main()
