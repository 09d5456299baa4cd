"""Atomic file writes and checksums: never leave a half-written file behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    The temporary file is removed if the block raises, so ``target`` is either the old
    file or the complete new one, never a partial write. A folder that cannot be written, a
    full disk or a quota raise :class:`~mambano_core.errors.UsageError` naming ``target``, not
    the hidden temporary file.
    """
    target = Path(target)
    with _naming(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    try:
        with _naming(target):
            yield tmp
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


_CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EISDIR, errno.ENOTDIR}


@contextlib.contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Turn "cannot write here" errors into a message about ``target`` (exit code 2)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _CANNOT_WRITE:
            raise
        from mambano_core.errors import UsageError

        raise UsageError(f"cannot write {target}: {exc.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block.

    POSIX ``flock``: it serialises processes on one machine and on most network file systems, and
    is released if the holder dies. Where ``fcntl`` does not exist (Windows) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_output_path(target: str | Path) -> Path:
    """``target`` if a command may write it: absent in a writable folder, or a regular writable file.

    The atomic rename of :func:`atomic_path` would replace anything at the path (a directory
    entry, a device node, a read-only file as root), so outputs are checked first.

    Raises
    ------
    mambano_core.errors.UsageError
        Naming the path and what is wrong with it.
    """
    from mambano_core.errors import UsageError

    target = Path(target)
    if target.exists() or target.is_symlink():
        if target.is_dir():
            raise UsageError(f"output {target} is a directory; give a file name, e.g. {target / 'out.nc'}")
        if not target.is_file():
            raise UsageError(f"output {target} exists and is not a regular file; choose another name")
        if not _writable(target):
            raise UsageError(f"output {target} is a read-only file; choose another name or make it writable")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"cannot write {target}: {parent} is not a directory")
    if parent.is_dir() and not _writable(parent):
        raise UsageError(f"cannot write {target}: the folder {parent} is read-only")
    return target


def _writable(path: Path) -> bool:
    """Writable by this process and not marked read-only (root may write anything: the mode decides)."""
    import stat

    return os.access(path, os.W_OK) and bool(path.stat().st_mode & stat.S_IWUSR)


@contextlib.contextmanager
def file_lock_or_wait(path: str | Path, on_wait: Callable[[], None]) -> Iterator[None]:
    """Like :func:`file_lock`, but call ``on_wait()`` once before waiting if another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def temporary_path(target: str | Path) -> Iterator[Path]:
    """Yield a new hidden path beside ``target``, removed at the end unless it was moved away.

    For writes that are renamed onto ``target`` by the caller, e.g. under a lock.
    """
    target = Path(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
