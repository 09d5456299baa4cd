"""Local generation workers die with the ``mambano generate`` process that started them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")


def _alive(processes: list) -> list:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process semantics")
def test_killing_generate_ends_its_worker_processes_and_resource_tracker(tmp_path: Path) -> None:
    # Slow enough (tens of seconds per worker) that the workers are mid-task when the parent dies.
    command = [sys.executable, "-m", "mambano_cli.app", "generate", "poisson", "--resolution", "256",
               "--split", "train", "--n-train", "2000", "--workers", "2", "--out", str(tmp_path)]
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    descendants: list = []
    try:
        deadline = time.monotonic() + 180
        while not list(tmp_path.glob("poisson/.partial/train_256/chunk_*.npz")):  # workers are computing
            assert parent.poll() is None, "generate ended early"
            assert time.monotonic() < deadline, "no chunk was finished in time"
            time.sleep(0.2)
        descendants = psutil.Process(parent.pid).children(recursive=True)
        assert len(descendants) >= 3, descendants  # two workers and the resource tracker
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(descendants) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(descendants), [p.cmdline() for p in _alive(descendants)]
    finally:
        if parent.poll() is None:
            parent.kill()
        for process in _alive(descendants):
            process.kill()
