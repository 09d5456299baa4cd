"""Compile a C source of this package at first use and load it (see :mod:`mambano_core.ops.native`)."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Environment variable: ``0`` turns the native kernels off (the fallback paths run).
ENV_NATIVE = "MAMBANO_NATIVE"
#: Environment variable: folder of the compiled libraries (default ``~/.cache/mambano/native``).
ENV_CACHE = "MAMBANO_NATIVE_CACHE"
#: Compiler flags. No -ffast-math: every sum keeps its order, so results are bit-reproducible.
CFLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=gnu11", "-fno-math-errno")

_SOURCES = Path(__file__).resolve().parent
_logger = logging.getLogger("mambano.native")


class NativeUnavailable(RuntimeError):
    """A native kernel was required but cannot be built or loaded here."""


def native_enabled() -> bool:
    """Whether native kernels may be used (``MAMBANO_NATIVE`` is not ``0``)."""
    return os.environ.get(ENV_NATIVE, "1").strip().lower() not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    return None


def _cache_dir() -> Path:
    root = os.environ.get(ENV_CACHE)
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mambano" / "native"


@functools.cache
def _compiler_id(cc: str) -> str:  # one `cc --version` per process, not one per library
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60)
    return out.stdout.splitlines()[0] if out.stdout else cc


def _notice(message: str) -> None:
    """One warning line (on stderr when logging is not configured: Python's last-resort handler)."""
    _logger.warning("mambano: %s", message)


def _build(source: Path, target: Path, cc: str) -> None:
    """Compile ``source`` into ``target`` atomically (a temporary file renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        cmd = [cc, *CFLAGS, str(source), "-o", tmp, "-lm"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise NativeUnavailable(f"{' '.join(cmd)} failed:\n{result.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def load(name: str) -> ctypes.CDLL | None:
    """The compiled library of ``<name>.c`` (in this folder), or ``None`` with a one-line notice.

    Compiled once per source text, compiler and flags into :func:`_cache_dir`; later processes
    load the cached file. ``None`` when ``MAMBANO_NATIVE=0``, when no C compiler is found, or
    when compilation fails (the compiler's message goes to the debug log).
    """
    if not native_enabled():
        return None
    source = _SOURCES / f"{name}.c"
    cc = _compiler()
    if cc is None:
        _notice(f"no C compiler found (set CC); the {name} kernels fall back to the slower portable path")
        return None
    try:
        import torch  # noqa: F401  # loads PyTorch's libgomp.so.1 first, so OpenMP is shared

        key = hashlib.sha256(
            "\0".join([source.read_text(), _compiler_id(cc), *CFLAGS, sys.platform]).encode()
        ).hexdigest()[:16]
        target = _cache_dir() / f"{name}-{key}.so"
        if not target.exists():
            _build(source, target, cc)
        return ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError, NativeUnavailable) as exc:
        _logger.debug("native build of %s failed: %s", name, exc)
        _notice(f"could not build the native {name} kernels ({str(exc).splitlines()[0][:200]}); "
                "falling back to the slower portable path")
        return None
