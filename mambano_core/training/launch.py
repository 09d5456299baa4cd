"""``mambano train --nproc N``: N local processes of one distributed job, without torchrun.

The launcher sets the environment torchrun would (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``), gives each process ``cores / N`` threads unless
``OMP_NUM_THREADS`` is set, and watches them: when one fails the others are stopped at once, and
the launcher exits with that process's exit code (so mambano's documented codes survive, which
torchrun replaces by its own). Ctrl-C reaches every process from the terminal; the launcher
itself waits for them (they agree to stop at the same step, rank 0 saves a checkpoint).
Several machines: use torchrun (docs/distributed.md).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from mambano_core.errors import MambanoError

#: Seconds the other processes get to exit after a failure before they are killed.
GRACE_S = 10.0


class DistributedJobFailed(MambanoError):
    """A process of a distributed job failed; the job's exit code is that process's."""

    title = "distributed job failed"

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def free_port() -> int:
    """A TCP port free on this machine now (for the job's rendezvous on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_environment(rank: int, nproc: int, port: int) -> dict[str, str]:
    """The environment of local process ``rank`` of ``nproc``."""
    env = dict(os.environ)
    env.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc),
                "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    return env


def launch(nproc: int, command: Sequence[str]) -> int:
    """Run ``python COMMAND...`` as ``nproc`` ranks of one job; the job's exit code.

    Parameters
    ----------
    nproc
        Processes (at least 2).
    command
        Arguments after ``python``, e.g. ``["-m", "mambano_cli", "train", "spec.yaml"]``.

    Returns
    -------
    int
        0 when every process succeeded; else the exit code of the first that failed (a process
        killed by a signal gives 128 + the signal number).
    """
    if nproc < 2:
        raise ValueError(f"a distributed job needs at least 2 processes, got {nproc}")
    port = free_port()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers get Ctrl-C themselves
    try:
        procs = [subprocess.Popen([sys.executable, *command], env=worker_environment(rank, nproc, port))
                 for rank in range(nproc)]
        return _watch(procs)
    finally:
        signal.signal(signal.SIGINT, previous)


def _watch(procs: list[subprocess.Popen]) -> int:
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            _stop(procs)
            code = failed[0]
            return 128 - code if code < 0 else code
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM the processes still running, SIGKILL them after :data:`GRACE_S`."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
