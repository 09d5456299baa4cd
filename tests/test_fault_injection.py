"""Fault injection: a training process killed without warning (SIGKILL, no handler runs) resumes
from its last checkpoint and ends with the weights of a run that was never interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import tiny_spec_dict
from mambano_core.training.checkpoint import read_checkpoint
from mambano_core.training.spec import load_spec
from mambano_core.training.trainer import Trainer

RUN = Path("runs") / "poisson-resnet"


def _train_in_process(work: Path, epochs: int, resume: bool) -> None:
    old = Path.cwd()
    os.chdir(work)
    try:
        Trainer(load_spec("spec.yaml", [f"training.epochs={epochs}"]), resume=resume).fit()
    finally:
        os.chdir(old)


def _kill_during_training(work: Path) -> None:
    """Start ``mambano train`` and SIGKILL it once two epochs are logged."""
    exe = shutil.which("mambano") or str(Path(sys.executable).parent / "mambano")
    process = subprocess.Popen([exe, "train", "spec.yaml"], cwd=work, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    metrics = work / RUN / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"training ended before the kill: {err[-1000:]}"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform")
def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny_store: Path, tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for work in (killed, clean):
        work.mkdir()
        spec = tiny_spec_dict(tiny_store, Path("runs"), epochs=500)
        (work / "spec.yaml").write_text(yaml.safe_dump(spec))

    _kill_during_training(killed)
    resume_epoch = read_checkpoint(killed / RUN / "checkpoints" / "last.pt")["train_state"]["state"]["epoch"]
    assert resume_epoch >= 1
    target = resume_epoch + 2
    _train_in_process(killed, target, resume=True)
    _train_in_process(clean, target, resume=False)

    weights = [read_checkpoint(w / RUN / "checkpoints" / "last.pt")["model_state"] for w in (killed, clean)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    logs = [[json.loads(line) for line in (w / RUN / "metrics.jsonl").read_text().splitlines()] for w in (killed, clean)]
    assert [r["epoch"] for r in logs[0]] == list(range(1, target + 1))  # no epoch logged twice
    assert [r["val_rel_l1_mean"] for r in logs[0]] == [r["val_rel_l1_mean"] for r in logs[1]]
