"""keep_freed_memory: freed tensors are reused without page faults (glibc), and the opt-out works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mambano_core import memory

GLIBC = memory._glibc() is not None

# malloc a 64 MiB block, touch it, free it, and do it again: is the block on the heap (kept for
# reuse) or a private mapping (returned to the kernel at free), and how many pages did the second
# round fault in?
_PROBE = """
import ctypes, resource
from mambano_core.memory import keep_freed_memory
print(keep_freed_memory())
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
size = 64 << 20
for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    heap = [line.split()[0].split("-") for line in open("/proc/self/maps") if "[heap]" in line]
    on_heap = any(int(lo, 16) <= block < int(hi, 16) for lo, hi in heap)
    libc.free(block)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(on_heap, faults)
"""


def _probe(env_value: str | None) -> tuple[bool, bool, int]:
    env = {k: v for k, v in os.environ.items() if k != memory.ENV_MALLOC}
    if env_value is not None:
        env[memory.ENV_MALLOC] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    applied, on_heap, faults = out.stdout.split()
    return applied == "True", on_heap == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_freed_memory_is_reused_without_page_faults() -> None:
    applied, on_heap, faults = _probe(None)
    assert applied and on_heap
    assert faults < 100  # 64 MiB of fresh 4 KiB pages would be 16,384 faults


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_opt_out_leaves_malloc_alone() -> None:
    applied, on_heap, _ = _probe("default")
    assert not applied
    assert not on_heap  # glibc maps such a block privately and unmaps it at free


def test_opt_out_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memory.ENV_MALLOC, "default")
    assert memory.keep_freed_memory.__wrapped__() is False
