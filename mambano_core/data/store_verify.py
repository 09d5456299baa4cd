"""Checks of a data store against its manifest: the manifest's shape, each file's size and SHA-256.

Hashing a large file at every ``mambano train`` or ``eval`` would cost seconds, so a verified digest
is cached in ``.verified.json`` in the store, keyed by the file's name and stat signature (size,
mtime, ctime, inode). Replacing or rewriting a file changes its signature (ctime cannot be set back
by a user), so each version of a file is hashed once.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mambano_core.errors import DataError, UsageError
from mambano_core.io_utils import atomic_write_text, sha256_file

MANIFEST_FORMAT = "mambano-store/1"
VERIFIED_CACHE = ".verified.json"

_MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {
    "format": str, "benchmark": str, "base_seed": int, "config": dict, "files": dict, "boundary": str,
    "input_variable": str, "output_variable": str, "normalize": (bool, int),
}
_ENTRY_KEYS: dict[str, type | tuple[type, ...]] = {"path": str, "sha256": str, "count": int, "resolution": int}


def _has_type(value: Any, kind: type | tuple[type, ...]) -> bool:
    if kind is int and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def validate_manifest(data: Any, path: Path) -> dict[str, Any]:
    """Return ``data`` if it has the shape of a store manifest.

    Parameters
    ----------
    data
        The parsed JSON of the manifest.
    path
        The manifest file, named in the error.

    Raises
    ------
    mambano_core.errors.DataError
        Naming ``path`` and what is wrong with it.
    """
    if not isinstance(data, dict):
        problems = [f"it holds a JSON {type(data).__name__}, not an object"]
    else:
        problems = [f"'{key}' is missing" if key not in data else f"'{key}' has the wrong type"
                    for key, kind in _MANIFEST_KEYS.items() if not _has_type(data.get(key), kind)]
        if not problems and data["format"] != MANIFEST_FORMAT:
            problems.append(f"its format is {data['format']!r}; this version of mambano reads {MANIFEST_FORMAT!r}")
        if not _has_type(data.get("normalization", {}), dict):
            problems.append("'normalization' has the wrong type")
        for key, entry in data["files"].items() if _has_type(data.get("files"), dict) else ():
            if not isinstance(entry, dict) or not all(_has_type(entry.get(k), t) for k, t in _ENTRY_KEYS.items()):
                problems.append(f"the entry of file '{key}' is malformed")
    if problems:
        raise DataError(
            f"{path} is not a valid data store manifest: {'; '.join(problems)}; "
            "regenerate the store with mambano generate ... --overwrite"
        )
    return data


@dataclass(frozen=True)
class FileStatus:
    """The state of one store file: ``ok``, ``damaged`` or ``missing``, and why."""

    key: str
    path: Path
    state: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def describe(self) -> str:
        """``name: state (detail)``."""
        return f"{self.path.name}: {self.state}" + (f" ({self.detail})" if self.detail else "")


def _signature(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


class VerifiedCache:
    """SHA-256 digests of a store's files, each valid while its file's stat signature is unchanged.

    The cache is an optimisation only: unreadable, it is ignored; unwritable (a read-only store),
    files are hashed at every check.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / VERIFIED_CACHE
        self.entries = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            files = json.loads(self.path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return files if isinstance(files, dict) else {}

    def lookup(self, name: str, stat: os.stat_result) -> str | None:
        """The cached digest of file ``name`` if it was hashed at this stat signature."""
        entry = self.entries.get(name)
        if isinstance(entry, dict) and entry.get("signature") == _signature(stat):
            return entry.get("sha256")
        return None

    def remember(self, name: str, stat: os.stat_result, digest: str) -> None:
        """Record the digest of file ``name`` at stat signature ``stat``."""
        self.entries[name] = {"signature": _signature(stat), "sha256": digest}
        merged = {**self._load(), name: self.entries[name]}  # keep what other processes added meanwhile
        with contextlib.suppress(OSError, UsageError):  # a read-only store: hash at every call instead
            atomic_write_text(self.path, json.dumps({"format": 1, "files": merged}, indent=1, sort_keys=True) + "\n")


def check_file(directory: Path, key: str, entry: dict[str, Any], cache: VerifiedCache, trust_cache: bool = True) -> FileStatus:
    """Compare a store file with its manifest ``entry``: size first, then SHA-256.

    Parameters
    ----------
    directory
        The store directory.
    key
        The file's key in the manifest, e.g. ``train_64``.
    entry
        Its manifest entry: ``path``, ``sha256`` and ``size`` (absent in stores written by older versions).
    cache
        Digests already computed; updated with the one computed here.
    trust_cache
        Use a cached digest when the file's stat signature matches (False: always hash).
    """
    path = directory / entry["path"]
    try:
        before = path.stat()
    except FileNotFoundError:
        return FileStatus(key, path, "missing")
    if not path.is_file():
        return FileStatus(key, path, "damaged", "not a regular file")
    size = entry.get("size")
    if isinstance(size, int) and before.st_size != size:
        return FileStatus(key, path, "damaged", f"{before.st_size} bytes, the manifest says {size}")
    digest = cache.lookup(path.name, before) if trust_cache else None
    if digest is None:
        digest = sha256_file(path)
        if _signature(path.stat()) == _signature(before):  # not replaced while it was hashed
            cache.remember(path.name, before, digest)
    if digest != entry["sha256"]:
        return FileStatus(key, path, "damaged", "its SHA-256 differs from the manifest's")
    return FileStatus(key, path, "ok")
