"""Native CPU kernels: C sources compiled at first use, loaded with ctypes.

The hot loops of MambaNO on the CPU (the cross selective scan, the alias-free filters) are small C
files next to this module. :func:`load` compiles one with the machine's C compiler (``$CC``, else
``cc``/``gcc``; ``-O3 -march=native -fopenmp``) into a per-user cache, once per source, compiler
and flags, and returns the loaded library. Without a compiler, or with ``MAMBANO_NATIVE=0``, it
returns ``None`` and says so once; callers then run their pure-PyTorch or numba path, with the
same results to float32 rounding.

OpenMP: the libraries link ``libgomp.so.1``. PyTorch's CPU wheel ships a ``libgomp.so.1`` too and
loads it first; the dynamic loader reuses a loaded library of the same soname, so the kernels
and PyTorch share one OpenMP pool (no second set of spinning threads).
"""

from typing import TYPE_CHECKING

from mambano_core.ops.native.build import NativeUnavailable, load, native_enabled
from mambano_core.ops.native.threads import num_threads

if TYPE_CHECKING:
    from torch import Tensor


def data_pointer(t: "Tensor | None") -> int | None:
    """The address of a contiguous tensor's data for a C argument (``None`` -> NULL)."""
    return None if t is None else t.data_ptr()


def check(code: int, what: str) -> None:
    """Raise if a kernel entry point returned a nonzero status (``-1``: out of memory, ``-2``: bad sizes)."""
    if code != 0:
        raise RuntimeError(f"native {what} failed (code {code}: out of memory or bad sizes)")


#: The C sources of this package (``<name>.c`` next to this module).
LIBRARIES = ("scan", "fir", "norm_gate")


def compile_all() -> dict[str, bool]:
    """Build (or load from the cache) every native library now; whether each one is available.

    A first build takes a few seconds per library; ``make demo`` calls this before it trains.
    """
    return {name: load(name) is not None for name in LIBRARIES}


__all__ = ["LIBRARIES", "NativeUnavailable", "check", "compile_all", "data_pointer", "load", "native_enabled", "num_threads"]
