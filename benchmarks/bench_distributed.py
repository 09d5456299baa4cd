"""One process with T threads against T processes with one thread each (DDP, gloo), same spec.

    python benchmarks/bench_distributed.py --epochs 5            # demo-size MambaNO on Poisson 32^2
    python benchmarks/bench_distributed.py --model cno --epochs 5

Generates a small Poisson store (32^2, 128/32 samples) in a temporary folder, trains the same
spec both ways from the same seed, and prints steps per second (from the runs' epoch times),
the ratio, and the best validation error of each (the runs differ: each process normalises its
share of the batch and draws its own DropPath masks). Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

MODELS = {
    "mambano": {"name": "mambano", "args": {"channels": 8, "lift_channels": 16}},
    "cno": {"name": "cno", "args": {}},
}


def _train(spec: Path, nproc: int, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "mambano_cli", "train", str(spec), "--json", "--nproc", str(nproc)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout[result.stdout.index("{"):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="mambano")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2, help="T: processes of the job, threads of the single process")
    args = parser.parse_args()
    from mambano_core.data.store import generate_store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_store("poisson", root / "data", 32, {"train": 128, "val": 32, "test_id": 8, "test_ood": 8})
        rows = []
        for label, nproc, threads in (("1 process", 1, args.processes), (f"{args.processes} processes", args.processes, 1)):
            spec = {"data": {"benchmark": "poisson", "root": str(root / "data"), "resolution": 32},
                    "model": MODELS[args.model], "training": {"epochs": args.epochs, "batch_size": 16, "seed": 0},
                    "output": {"runs_dir": str(root / "runs"), "name": f"run{nproc}"}}
            path = root / f"spec{nproc}.yaml"
            path.write_text(yaml.safe_dump(spec))
            summary = _train(path, nproc, threads)
            records = [json.loads(line) for line in (root / "runs" / f"run{nproc}" / "metrics.jsonl").read_text().splitlines()]
            steps = 128 // 16 * len(records[1:])
            seconds = sum(r["time_s"] for r in records[1:])  # epoch 1 holds the numba compilation
            rows.append((label, threads, steps / seconds, summary["best_val_rel_l1_mean"]))
    print(f"{args.model}, Poisson 32^2, batch 16 (global), {args.epochs} epochs, epochs 2.. timed:")
    for label, threads, rate, best in rows:
        print(f"  {label:12s} ({threads} thread(s) each): {rate:6.2f} steps/s, best validation {best:.2f} %")
    print(f"  ratio {args.processes} processes / 1 process: {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
