"""Keep freed memory in the process so large CPU tensors stop page-faulting at every step.

PyTorch's CPU tensors come from the C library's ``malloc``. By default glibc gives freed memory
back to the kernel: it unmaps large blocks and trims the top of the heap. So every training step
touches its (batch, 4, channels, H*W) intermediates in new pages, which the kernel must fault in
and zero. On the 2-core dev machine a MambaNO step at 64^2 (batch 16) took 57,000-376,000 minor
page faults and 0.25-1.5 s of system time. With freed memory kept for reuse it took almost none,
and the step was about 8% faster (median of three fresh processes each, ``docs/performance.md``).
PyTorch's caching allocator does the same on the GPU.

:func:`keep_freed_memory` raises glibc's mmap and trim thresholds. The CLI and
:class:`~mambano_core.training.trainer.Trainer` call it. Set ``MAMBANO_MALLOC=default`` to leave
malloc as it is. Nothing happens on other C libraries (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from typing import Any, Callable

log = logging.getLogger("mambano.memory")

ENV_MALLOC = "MAMBANO_MALLOC"
_M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc <malloc.h>)
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap, which keeps them for reuse (glibc's default: 128 KiB,
#: adapting up to 32 MiB). It bounds the largest block kept.
MMAP_THRESHOLD = 1 << 30
#: Free memory at the top of the heap kept rather than returned to the kernel.
TRIM_THRESHOLD = (1 << 31) - 1  # the largest value of mallopt's C int


def _glibc() -> ctypes.CDLL | None:
    """The running process's C library if it is glibc (has ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - attribute lookup is the glibc test
    except (OSError, AttributeError):
        return None
    return libc


def opted_out() -> bool:
    """Whether ``MAMBANO_MALLOC`` asks to leave malloc at its defaults."""
    return os.environ.get(ENV_MALLOC, "").strip().lower() in ("default", "0", "off")


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks for reuse (once per process).

    The cost: the process's resident memory stays near its high-water mark between steps
    instead of shrinking. The peak does not change.

    Returns
    -------
    bool
        Whether the setting was applied. It is not applied with ``MAMBANO_MALLOC=default``, or
        when the C library is not glibc.
    """
    if opted_out():
        return False
    libc = _glibc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD))) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(TRIM_THRESHOLD))
    )
    log.debug("malloc keeps freed memory: %s", ok)
    return ok


def saved_tensor_bytes(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of ``fn(*args, **kwargs)``.

    Counted with :func:`torch.autograd.graph.saved_tensors_hooks`, each storage once (views of
    one tensor count once); parameters and inputs that an op saves are included. The result of
    ``fn`` is dropped, so its graph is freed on return.

    Returns
    -------
    int
        The total of the saved storages' sizes in bytes.
    """
    import torch

    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args, **kwargs)
    return sum(storages.values())
