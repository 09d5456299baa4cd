"""A store's identity and locks: one seed and set of generator parameters per store, one writer per file.

The identity (benchmark, base seed, generator parameters) is written to the manifest when a
generation starts, under the manifest's lock, so that of two generations started at once with
other seeds or parameters exactly one goes on. Each split file has a lock of its own, held while
it is checked, generated and recorded: a second generation of the same file waits, then keeps the
finished file; generations of different files run at once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mambano_core import __version__
from mambano_core.data.benchmarks.base import Benchmark
from mambano_core.data.store_verify import MANIFEST_FORMAT
from mambano_core.errors import DataError
from mambano_core.io_utils import file_lock_or_wait

if TYPE_CHECKING:
    from mambano_core.data.store import Store

Notify = Callable[[str], None]  # a line for the user (a damaged file regenerated, waiting for a lock)


def json_normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparisons with a manifest."""
    return json.loads(json.dumps(value))


def identity(bench: Benchmark, base_seed: int) -> dict[str, Any]:
    """The manifest entries that must match for two generations to share a store."""
    return {"benchmark": bench.name, "base_seed": base_seed, "config": json_normalised(bench.config)}


def new_manifest(bench: Benchmark, base_seed: int) -> dict[str, Any]:
    """The manifest of a store with no file yet."""
    return {
        "format": MANIFEST_FORMAT,
        **identity(bench, base_seed),
        "boundary": bench.boundary,
        "input_variable": bench.input_name,
        "output_variable": bench.output_name,
        "normalize": bench.normalize,
        "tool_version": __version__,
        "files": {},
        "normalization": {},
    }


def claim_store(store: Store, bench: Benchmark, base_seed: int, overwrite: bool) -> None:
    """Create the manifest with this generation's identity, or check that the existing one has it.

    Parameters
    ----------
    store
        The store to generate into (created if missing).
    bench, base_seed
        What this generation will write.
    overwrite
        First delete whatever the store holds, lock files excepted.

    Raises
    ------
    mambano_core.errors.DataError
        If the store holds data of another benchmark, seed or generator parameters.
    """
    store.dir.mkdir(parents=True, exist_ok=True)
    with store.lock():
        if overwrite:
            _clear(store)
        if store.manifest_path.is_file():
            check_identity(store, store.manifest(), identity(bench, base_seed))
        else:
            store._write_manifest(new_manifest(bench, base_seed))


def _clear(store: Store) -> None:
    """Delete everything in the store but its lock files (other generations may be waiting on them)."""
    for child in store.dir.iterdir():
        if child.name.endswith(".lock"):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def check_identity(store: Store, manifest: dict[str, Any], asked: dict[str, Any], while_running: bool = False) -> None:
    """Raise a :class:`DataError` naming what differs if ``manifest`` does not have identity ``asked``.

    ``while_running``: the check is made when a finished file is recorded (the store was replaced
    by an ``--overwrite`` generation since this one started).
    """
    if all(manifest[name] == value for name, value in asked.items()):
        return
    held, wanted = [], []
    if manifest["benchmark"] != asked["benchmark"]:
        held.append(f"benchmark {manifest['benchmark']}")
        wanted.append(f"benchmark {asked['benchmark']}")
    if manifest["base_seed"] != asked["base_seed"]:
        held.append(f"seed {manifest['base_seed']}")
        wanted.append(f"seed {asked['base_seed']}")
    stored, config = manifest["config"], asked["config"]
    names = sorted(name for name in {*stored, *config} if stored.get(name) != config.get(name))
    if names:
        held.append("generator parameters " + ", ".join(f"{n}={json.dumps(stored.get(n))}" for n in names))
        wanted.append(", ".join(f"{n}={json.dumps(config.get(n))}" for n in names))
    prefix = "another generation replaced the store while this one ran: " if while_running else ""
    raise DataError(
        f"{prefix}{store.dir} holds {manifest['benchmark']} data generated with {' and '.join(held)}, "
        f"not {' and '.join(wanted)}; choose another --out, or pass --overwrite to replace it"
    )


@contextlib.contextmanager
def split_lock(store: Store, key: str, notify: Notify) -> Iterator[None]:
    """Hold the lock of split file ``key``; if another generation holds it, say so and wait."""
    target = store.dir / f"{key}.nc"
    with file_lock_or_wait(store.split_lock_path(key), lambda: notify(f"waiting for another generation of {target} to finish")):
        yield
