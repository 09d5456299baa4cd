"""Thread count of the CPU kernels on GNU OpenMP, and what a forked child may use.

One owner for both OpenMP users of the package: the native libraries (``ops/native``) and numba's
``omp`` layer of the ``fused`` scan backend. GNU OpenMP's pool does not survive ``fork()`` (a
parallel region there can hang, and numba terminates such a process), so a child forked after
the pool started runs its kernels on one thread.
"""

from __future__ import annotations

import os

import torch

_forked_from_openmp = False
_hook_registered = False


def _mark_forked_child() -> None:
    global _forked_from_openmp
    _forked_from_openmp = True


def openmp_started() -> None:
    """Record that this process runs (or is about to run) an OpenMP pool: forked children see it."""
    global _hook_registered
    if not _hook_registered:
        os.register_at_fork(after_in_child=_mark_forked_child)
        _hook_registered = True


def forked_from_openmp() -> bool:
    """Whether this process was forked after its parent started an OpenMP pool."""
    return _forked_from_openmp


def num_threads() -> int:
    """Threads for the next native kernel: PyTorch's count, or 1 in a child forked after OpenMP started."""
    if _forked_from_openmp:
        return 1
    threads = max(1, torch.get_num_threads())
    if threads > 1:  # the caller is about to start the pool
        openmp_started()
    return threads
