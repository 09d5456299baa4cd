"""Thread count of the native OpenMP kernels (shared by every ``ops/native`` library)."""

from __future__ import annotations

import os

import torch

# Set in a child forked after this process may have started GNU OpenMP's pool: the pool does
# not survive fork() (a parallel region there can hang), so such a child runs one thread.
_forked_from_openmp = False
_hook_registered = False


def _mark_forked_child() -> None:
    global _forked_from_openmp
    _forked_from_openmp = True


def num_threads() -> int:
    """Threads for the next native kernel: PyTorch's count, or 1 in a child forked after OpenMP started."""
    global _hook_registered
    if _forked_from_openmp:
        return 1
    threads = max(1, torch.get_num_threads())
    if threads > 1 and not _hook_registered:  # the caller is about to start the pool
        os.register_at_fork(after_in_child=_mark_forked_child)
        _hook_registered = True
    return threads
