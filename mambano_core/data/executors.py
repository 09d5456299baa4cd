"""Where generation tasks run: in this process, in local worker processes, or on a Dask cluster.

A task is a pure function call whose result comes back to the caller, which alone writes files;
so a run gives the same bytes whichever executor computed it, and remote workers need no
shared file system.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from mambano_core.errors import SpecError

log = logging.getLogger("mambano.generate")

Task = tuple[Any, Callable[..., Any], tuple[Any, ...]]  # (key, function, arguments)

# One BLAS/OpenMP thread per worker: workers already use every core, and results must not
# depend on how many threads a library happened to use.
_SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


class Executor:
    """Runs tasks and yields ``(key, result)`` as they finish (in any order)."""

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""


class SerialExecutor(Executor):
    """Runs tasks one after the other in this process."""

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Any, Any]]:
        for key, function, args in tasks:
            yield key, function(*args)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_POLL_S = 0.5


def _die_with_parent(parent: int, parent_death_signal: bool) -> None:
    """Worker initializer: end this worker when the process that started it ends.

    A killed ``mambano generate`` (SIGKILL, the OOM killer) cannot shut its pool down: without
    this its workers would wait for tasks forever, holding their memory and keeping the
    multiprocessing resource tracker alive. On Linux the kernel sends SIGTERM at once; a thread
    that polls the parent's pid covers other systems, and a pool started from a thread other than
    the main one (the kernel signal fires when the *thread* that started a worker ends, so it is
    only asked for when that thread is the main one).
    """
    if parent_death_signal and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            args = (ctypes.c_ulong(int(signal.SIGTERM)), *(ctypes.c_ulong(0) for _ in range(3)))  # prctl is variadic
            ctypes.CDLL(None, use_errno=True).prctl(ctypes.c_int(_PR_SET_PDEATHSIG), *args)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="mambano-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


class ProcessExecutor(Executor):
    """Local worker processes (spawned, one BLAS thread each)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Any, Any]]:
        if len(tasks) <= 1:
            yield from SerialExecutor().run(tasks)
            return
        context = multiprocessing.get_context("spawn")
        with _environment(_SINGLE_THREAD_ENV):
            pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(tasks)), mp_context=context, initializer=_die_with_parent,
                initargs=(os.getpid(), threading.current_thread() is threading.main_thread()),
            )
            try:
                futures = {pool.submit(function, *args): key for key, function, args in tasks}
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Tasks on a dask.distributed cluster: ``local`` starts one on this machine."""

    def __init__(self, address: str, workers: int | None = None) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise SpecError(
                "Dask generation needs the dask extra: pip install 'mambano[dask]'"
            ) from None
        if address == "local":
            self.cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=None, env=_SINGLE_THREAD_ENV,
            )
            self.client = Client(self.cluster)
        else:
            self.cluster = None
            try:
                self.client = Client(address, timeout=30)
            except OSError as exc:
                raise SpecError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        log.info("dask dashboard: %s", self.client.dashboard_link)

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Any, Any]]:
        from dask.distributed import as_completed as dask_completed

        futures = {self.client.submit(function, *args, pure=False): key for key, function, args in tasks}
        for future in dask_completed(list(futures)):
            yield futures[future], future.result()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(workers: int | None = None, dask: str | None = None) -> Executor:
    """Executor for ``workers`` local processes (None: all cores; 1: serial) or a Dask ``address``."""
    if dask:
        return DaskExecutor(dask, workers)
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise SpecError(f"the number of workers must be positive, got {workers}")
    return SerialExecutor() if workers == 1 else ProcessExecutor(workers)
