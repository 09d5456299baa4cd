"""Training as one job of several processes (DDP, gloo on the CPU): equivalence, faults, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch
import yaml

from mambano_core.data.store import generate_store
from mambano_core.training.checkpoint import read_checkpoint

TINY_MAMBANO = {"name": "mambano", "args": {"channels": 4, "depths": [1, 1, 1, 1], "d_state": 4,
                                            "lift_channels": 8, "drop_path": 0.3}}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp-data")
    generate_store("poisson", root, 16, {"train": 16, "val": 8, "test_id": 4, "test_ood": 4}, base_seed=5)
    return root


def _spec(store: Path, folder: Path, name: str, model: dict[str, Any] | None = None, **training: Any) -> Path:
    spec = {
        "data": {"benchmark": "poisson", "root": str(store), "resolution": 16},
        "model": model or {"name": "resnet", "args": {"channels": 4, "blocks": 1}},
        "training": {"epochs": 2, "batch_size": 8, "seed": 3, "dist_timeout_s": 60, **training},
        "output": {"runs_dir": str(folder / "runs"), "name": name},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _train(spec: Path, *extra: str, nproc: int = 2, **kwargs: Any) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mambano_cli", "train", str(spec), "--nproc", str(nproc), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, **kwargs)


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_train_one_run_that_rank_0_alone_writes(store: Path, tmp_path: Path) -> None:
    result = _train(_spec(store, tmp_path, "pair", epochs=3), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["processes"] == 2 and summary["epochs_run"] == 3
    run = tmp_path / "runs" / "pair"
    assert [r["epoch"] for r in _records(run)] == [1, 2, 3]  # one line per epoch, not one per rank
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoints", "metrics.jsonl", "spec.yaml", "summary.json"]
    assert result.stderr.count("epoch    1") == 1  # one progress display
    state = read_checkpoint(run / "checkpoints" / "last.pt")["train_state"]
    assert state["world_size"] == 2 and len(state["rng_per_rank"]) == 2


def test_one_step_equals_a_single_process_averaging_the_two_ranks_losses(store: Path, tmp_path: Path) -> None:
    """8 training samples, global batch 8: one step, each rank on its 4 samples (its own batch
    statistics); DDP averages the gradients, which is the gradient of the mean of the two losses."""
    from mambano_core.data.dataset import FieldPairDataset
    from mambano_core.data.store import Store
    from mambano_core.losses import relative_l1_loss
    from mambano_core.models.registry import build_model, resolved_model_args
    from mambano_core.runtime import seed_everything
    from mambano_core.training.sampler import EpochSampler

    result = _train(_spec(store, tmp_path, "step", epochs=1, recalibrate_bn=False), "--set", "data.n_train=8")
    assert result.returncode == 0, result.stderr
    trained = read_checkpoint(tmp_path / "runs" / "step" / "checkpoints" / "last.pt")["model_state"]

    torch.set_num_threads(1)
    seed_everything(3)
    model = build_model("resnet", resolved_model_args("resnet", {"channels": 4, "blocks": 1})).train()
    data = Store(store, "poisson")
    dataset = FieldPairDataset(data.split_file("train", 16), "f", "u", data.normalization(16), 8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-6)
    losses = []
    for rank in range(2):
        indices = list(EpochSampler(8, 3, 4, rank, 2))
        x = torch.stack([dataset[i][0] for i in indices])
        y = torch.stack([dataset[i][1] for i in indices])
        losses.append(relative_l1_loss(model(x), y))
    (sum(losses) / 2).backward()
    optimizer.step()
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(trained[name], parameter.detach(), rtol=1e-5, atol=1e-6, msg=name)
    moved = sum((trained[n] - p.detach()).abs().sum() for n, p in model.named_parameters())
    assert moved < 1e-4


def _is_rank(process: psutil.Process) -> bool:
    """A rank of the job: runs mambano_cli with a RANK in its environment (a child seen before its exec has none)."""
    try:
        return "mambano_cli" in " ".join(process.cmdline()) and "RANK" in process.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _children(parent: psutil.Process, count: int, timeout: float = 60) -> list[psutil.Process]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = [k for k in parent.children() if _is_rank(k)]
        if len(kids) == count:
            return sorted(kids, key=lambda k: int(k.environ()["RANK"]))
        time.sleep(0.1)
    raise AssertionError("the ranks did not start")


def _start(spec: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mambano_cli", "train", str(spec), "--nproc", "2", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for_epochs(run: Path, epochs: int, job: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not ((run / "metrics.jsonl").is_file() and len(_records(run)) >= epochs):
        assert job.poll() is None and time.time() < deadline, job.stderr.read() if job.stderr else ""
        time.sleep(0.05)


def test_a_rank_killed_mid_run_resumes_to_the_uninterrupted_weights_bit_for_bit(store: Path, tmp_path: Path) -> None:
    """DropPath draws random numbers on every rank: each rank's RNG state is in last.pt."""
    full = _train(_spec(store, tmp_path / "full", "run", TINY_MAMBANO, epochs=4))
    assert full.returncode == 0, full.stderr
    spec = _spec(store, tmp_path / "cut", "run", TINY_MAMBANO, epochs=4)
    run = tmp_path / "cut" / "runs" / "run"
    job = _start(spec)
    ranks = _children(psutil.Process(job.pid), 2)
    _wait_for_epochs(run, 2, job)  # epoch 1's last.pt is written after its log line: wait for epoch 2's
    ranks[1].kill()  # SIGKILL, mid epoch 3
    job.wait(timeout=60)
    assert job.returncode != 0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in ranks)
    resumed = _train(spec, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = read_checkpoint(tmp_path / "full" / "runs" / "run" / "checkpoints" / "last.pt")["model_state"]
    b = read_checkpoint(run / "checkpoints" / "last.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [(r["epoch"], r["val_rel_l1_mean"]) for r in _records(run)] == \
        [(r["epoch"], r["val_rel_l1_mean"]) for r in _records(tmp_path / "full" / "runs" / "run")]


@pytest.mark.parametrize("who", ["rank 0", "every rank"])
def test_ctrl_c_checkpoints_and_stops_every_rank(store: Path, tmp_path: Path, who: str) -> None:
    spec = _spec(store, tmp_path, "stop", TINY_MAMBANO, epochs=50)
    run = tmp_path / "runs" / "stop"
    job = _start(spec)
    ranks = _children(psutil.Process(job.pid), 2)
    _wait_for_epochs(run, 1, job)
    for process in ranks[:1] if who == "rank 0" else ranks:
        process.send_signal(signal.SIGINT)
    job.wait(timeout=60)
    assert job.returncode == 130, job.stderr.read() if job.stderr else ""
    state = read_checkpoint(run / "checkpoints" / "last.pt")["train_state"]["state"]
    assert state["epoch"] < 50 and not (run / "summary.json").exists()


def test_a_rank_that_raises_ends_the_job_with_its_error(store: Path, tmp_path: Path) -> None:
    from mambano_core.training.launch import launch

    spec = _spec(store, tmp_path, "fail", epochs=50, dist_timeout_s=30)
    script = (
        "import os, sys\n"
        "from mambano_core.training.spec import load_spec\n"
        "from mambano_core.training.trainer import Trainer\n"
        "def fail(trainer):\n"
        "    if trainer.ctx.rank == 1 and trainer.state.global_step == 3:\n"
        "        sys.exit(42)\n"
        f"Trainer(load_spec({str(spec)!r}), step_callback=fail).fit()\n"
    )
    started = time.perf_counter()
    code = launch(2, ["-c", script])
    assert code == 42
    assert time.perf_counter() - started < 60


def test_torchrun_runs_the_same_job_on_one_node_and_as_two_nodes(store: Path, tmp_path: Path) -> None:
    """The documented torchrun forms: --standalone on one machine, and --nnodes 2 with a c10d
    rendezvous (two 'nodes' of one process each, here both on this machine)."""
    from mambano_core.training.launch import free_port

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    one = _spec(store, tmp_path / "one", "run")
    result = subprocess.run([*torchrun, "--standalone", "--nproc-per-node", "2", "-m", "mambano_cli", "train", str(one)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    two = _spec(store, tmp_path / "two", "run")
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [subprocess.Popen([*torchrun, "--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank),
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "test",
                               "-m", "mambano_cli", "train", str(two)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
             for rank in range(2)]
    for node in nodes:
        node.wait(timeout=300)
        assert node.returncode == 0, node.stderr.read() if node.stderr else ""
    a = read_checkpoint(tmp_path / "one" / "runs" / "run" / "checkpoints" / "last.pt")["model_state"]
    b = read_checkpoint(tmp_path / "two" / "runs" / "run" / "checkpoints" / "last.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same job however it was started


def test_reproduce_gives_each_pair_a_job_of_several_processes(tmp_path: Path) -> None:
    from conftest import invoke

    result = invoke("reproduce", "--preset", "tiny", "--benchmarks", "poisson", "--models", "resnet,unet",
                    "--nproc-per-pair", "2", "--out", str(tmp_path), "--workers", "1")
    assert result.exit_code == 0, result.output
    for model in ("resnet", "unet"):
        summary = json.loads((tmp_path / "runs" / f"poisson-{model}" / "summary.json").read_text())
        assert summary["processes"] == 2 and summary["epochs_run"] == 2
    assert {r["model"] for r in json.loads((tmp_path / "results.json").read_text())} == {"resnet", "unet"}
