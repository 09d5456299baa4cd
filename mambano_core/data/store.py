"""The on-disk benchmark store: one netCDF file per split and resolution, plus a manifest.

Layout under ``root/<benchmark>/``::

    manifest.json                 benchmark, generator config, seeds, files with checksums,
                                  training-split normalisation statistics per resolution
    train_64.nc, val_64.nc, test_id_64.nc, test_ood_64.nc
    .partial/<split>_<res>/       chunks of an unfinished generation (resumed on rerun)
    .verified.json                cache of verified checksums (see :mod:`store_verify`)
    .manifest.lock                lock of the manifest (and so of the store's identity)
    .<split>_<res>.lock           lock of one split file: one generation writes it at a time

Lock files are never deleted: a lock is only exclusive while everyone locks the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shlex
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mambano_core.data.benchmarks import get_benchmark
from mambano_core.data.benchmarks.base import SPLIT_DISTRIBUTION, Benchmark
from mambano_core.data.executors import Executor, SerialExecutor
from mambano_core.data.netcdf import write_field_file
from mambano_core.data.normalization import Normalization, RunningMinMax
from mambano_core.data.seeding import SPLITS, sample_seed
from mambano_core.data.store_lock import (
    Notify, check_identity, claim_store, identity, json_normalised, new_manifest, split_lock,
)
from mambano_core.data.store_verify import MANIFEST_FORMAT, FileStatus, VerifiedCache, check_file, validate_manifest
from mambano_core.errors import DataError, MambanoError, MissingFileError, SpecError
from mambano_core.io_utils import atomic_path, atomic_write_text, file_lock, sha256_file, temporary_path

__all__ = [
    "MANIFEST_FORMAT", "FileStatus", "GenerationPlan", "Notify", "ProgressCallback", "Store", "compute_chunk",
    "file_key", "generate_store",
]

log = logging.getLogger("mambano.generate")
CHUNK_SIZE = 32
ProgressCallback = Callable[[str, int, int], None]  # (file key, samples done, samples total)


def file_key(split: str, resolution: int) -> str:
    """Name of a split file without extension, e.g. ``train_64``."""
    return f"{split}_{resolution}"


@dataclass(frozen=True)
class GenerationPlan:
    """What to generate: benchmark, seed, resolution and sample counts per split."""

    benchmark: Benchmark
    base_seed: int
    resolution: int
    counts: dict[str, int]

    def seeds(self, split: str) -> np.ndarray:
        """Per-sample seeds of a split (uint64)."""
        return np.array(
            [sample_seed(self.base_seed, self.benchmark.name, split, i) for i in range(self.counts[split])],
            dtype=np.uint64,
        )

    def fingerprint(self) -> str:
        """Short hash of the benchmark, base seed and generator parameters."""
        text = json.dumps([self.benchmark.name, self.base_seed, self.benchmark.config], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def file_attrs(self, split: str) -> dict[str, Any]:
        """Global attributes of a split file."""
        bench = self.benchmark
        return {
            "title": f"mambano benchmark {bench.name} ({split}, {self.resolution}x{self.resolution})",
            "pde": bench.name,
            "split": split,
            "resolution": self.resolution,
            "distribution": SPLIT_DISTRIBUTION[split],
            "boundary": bench.boundary,
            "input_variable": bench.input_name,
            "output_variable": bench.output_name,
            "normalize": bench.normalize,
            "base_seed": self.base_seed,
            "generator_params": bench.config,
            "grid": "x_i = i/s, y_j = j/s, i, j = 0..s-1; fields indexed [sample, y, x]",
        }


class Store:
    """A benchmark store directory: manifest, split files, normalisation statistics."""

    def __init__(self, root: str | Path, benchmark: str) -> None:
        self.dir = Path(root) / benchmark
        self.benchmark_name = benchmark

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def path(self, split: str, resolution: int) -> Path:
        """Path of a split file."""
        return self.dir / f"{file_key(split, resolution)}.nc"

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive lock of the manifest, held briefly to read-modify-write it."""
        return file_lock(self.dir / ".manifest.lock")

    def split_lock_path(self, key: str) -> Path:
        """Lock file held while a split file is checked, generated and recorded."""
        return self.dir / f".{key}.lock"

    def manifest(self) -> dict[str, Any]:
        """The manifest; :class:`MissingFileError` with a hint if there is none, :class:`DataError` if malformed."""
        if not self.manifest_path.is_file():
            raise MissingFileError(
                f"no data store at {self.dir} (missing manifest.json); "
                f"create it with: mambano generate {self.benchmark_name} --out {self.dir.parent}"
            )
        try:
            data = json.loads(self.manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.manifest_path} is not valid JSON: {exc}") from None
        return validate_manifest(data, self.manifest_path)

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def split_file(self, split: str, resolution: int) -> Path:
        """Existing split file listed in the manifest, checked against its size and checksum.

        The SHA-256 is computed once per version of the file and cached in the store
        (``.verified.json``), so repeated calls cost a ``stat``.

        Raises
        ------
        mambano_core.errors.MissingFileError
            If the manifest does not list the file or it does not exist.
        mambano_core.errors.DataError
            If the file differs from the manifest (truncated, modified).
        """
        manifest = self.manifest()
        key = file_key(split, resolution)
        entry = manifest["files"].get(key)
        path = self.path(split, resolution)
        if entry is None or not path.is_file():
            raise MissingFileError(
                f"{self.benchmark_name} has no {split} split at resolution {resolution} in {self.dir}; "
                f"create it with: {self.regenerate_command(split, resolution, manifest)}"
            )
        status = check_file(self.dir, key, entry, VerifiedCache(self.dir))
        if not status.ok:
            raise DataError(
                f"{path} is damaged ({status.detail}): it does not match {self.manifest_path}; "
                f"regenerate it with: {self.regenerate_command(split, resolution, manifest)}"
            )
        return path

    def regenerate_command(self, split: str, resolution: int, manifest: dict[str, Any] | None = None) -> str:
        """The ``mambano generate`` command line that (re)generates one split file of this store."""
        manifest = manifest or self.manifest()
        words = ["mambano", "generate", self.benchmark_name, "--resolution", str(resolution), "--split", split]
        entry = manifest["files"].get(file_key(split, resolution))
        if entry is not None:
            words += [f"--n-{split.replace('_', '-')}", str(entry["count"])]
        if manifest["base_seed"]:
            words += ["--seed", str(manifest["base_seed"])]
        for name, value in _config_overrides(manifest).items():
            words += ["--set", shlex.quote(f"{name}={_yaml_value(value)}")]
        return " ".join([*words, "--out", shlex.quote(str(self.dir.parent))])

    def extend_to(self, resolution: int, splits: Iterable[str], like: int) -> list[str]:
        """Generate ``splits`` at ``resolution`` with the samples they hold at grid ``like``.

        Same seeds, counts and generator parameters, so each sample is the same function on
        another grid (the resolution studies). Returns the splits that were missing and made.
        """
        manifest = self.manifest()
        files = manifest.get("files", {})
        counts = {}
        for split in splits:
            entry = files.get(file_key(split, like))
            if entry is None:
                raise DataError(f"{self.dir} has no {split} split at grid {like} to regenerate at {resolution}")
            counts[split] = entry["count"]
        missing = [split for split in counts if file_key(split, resolution) not in files]
        if missing:
            generate_store(self.benchmark_name, self.dir.parent, resolution, {s: counts[s] for s in missing},
                           base_seed=manifest["base_seed"], splits=missing, overrides=manifest.get("config"))
        return missing

    def normalization(self, resolution: int) -> Normalization:
        """Training-split min-max statistics at ``resolution`` (identity if the benchmark is not normalised)."""
        manifest = self.manifest()
        if not manifest.get("normalize", True):
            return Normalization.identity()
        stats = manifest.get("normalization", {}).get(str(resolution))
        if stats is None:
            raise MissingFileError(
                f"{self.dir} has no training split at resolution {resolution}, so no normalisation "
                f"statistics; generate it with: mambano generate {self.benchmark_name} --resolution {resolution}"
            )
        return Normalization.from_dict(stats)

    def check_files(self) -> list[FileStatus]:
        """Every file of the manifest checked in full (size and SHA-256, no cached digest)."""
        cache = VerifiedCache(self.dir)
        return [check_file(self.dir, key, entry, cache, trust_cache=False)
                for key, entry in sorted(self.manifest()["files"].items())]

    def verify(self) -> list[str]:
        """Keys of files that are missing or do not match the manifest."""
        return [status.key for status in self.check_files() if not status.ok]


def _yaml_value(value: Any) -> str:
    """``value`` as ``--set`` reads it (YAML): JSON, except the non-finite floats (``.inf``, ``.nan``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    return json.dumps(value)


def _config_overrides(manifest: dict[str, Any]) -> dict[str, Any]:
    """Generator parameters of a manifest that differ from its benchmark's defaults."""
    try:
        defaults = json_normalised(get_benchmark(manifest["benchmark"]).config)
    except (MambanoError, ValueError):
        return {}
    return {name: value for name, value in manifest["config"].items() if defaults.get(name) != value}


def generate_store(
    benchmark: str,
    root: str | Path,
    resolution: int,
    counts: dict[str, int],
    base_seed: int = 0,
    splits: Iterable[str] = SPLITS,
    overrides: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    executor: Executor | None = None,
    notify: Notify | None = None,
) -> Store:
    """Generate (or complete) the store of ``benchmark`` at ``resolution``.

    The store's identity (benchmark, base seed, generator parameters) is written to the manifest
    first, under the store's lock: a generation with another seed or parameters is refused, even
    one started at the same moment. Each split file is generated under its own lock, so a second
    generation of the same file waits for the first and then keeps its file; different splits
    are generated at once. A finished file is kept if its size and SHA-256 match the manifest,
    otherwise regenerated; an interrupted split resumes from its saved chunks. Samples are
    computed in chunks by ``executor`` (default: in this process); the files are the same bytes
    whichever executor ran them.

    Parameters
    ----------
    benchmark, root, resolution, counts, base_seed, splits, overrides
        What to generate where: ``counts`` maps each of ``splits`` to a sample count;
        ``overrides`` replace generator parameters; ``base_seed`` must be non-negative.
    overwrite
        Replace a store of another seed or parameters instead of refusing.
    progress
        Called with (file key, samples done, samples total).
    executor
        Where chunks are computed (default: this process).
    notify
        Called with a line for the user when a damaged file is regenerated or a lock is awaited
        (default: a warning on the ``mambano.generate`` logger).

    Raises
    ------
    mambano_core.errors.SpecError
        For a negative base seed or unknown benchmark or parameters.
    mambano_core.errors.DataError
        If the store holds data of another seed or parameters, or its manifest is malformed.
    """
    if int(base_seed) < 0:
        raise SpecError(f"the base seed must be a non-negative integer, got {base_seed}")
    bench = get_benchmark(benchmark, **(overrides or {}))
    store = Store(root, bench.name)
    tell = notify or log.warning
    claim_store(store, bench, base_seed, overwrite)
    plan = GenerationPlan(bench, base_seed, resolution, {s: counts[s] for s in splits})
    executor = executor or SerialExecutor()
    for split in plan.counts:
        with split_lock(store, file_key(split, resolution), tell):
            _generate_split(store, plan, split, executor, progress, tell)
    return store


def _generate_split(
    store: Store,
    plan: GenerationPlan,
    split: str,
    executor: Executor,
    progress: ProgressCallback | None,
    tell: Notify,
) -> None:
    key = file_key(split, plan.resolution)
    total = plan.counts[split]
    target = store.path(split, plan.resolution)
    # Read now, under the split lock: another generation may have finished this file meanwhile.
    entry = store.manifest()["files"].get(key)
    if entry is not None and entry["count"] == total:
        status = check_file(store.dir, key, entry, VerifiedCache(store.dir), trust_cache=False)
        if status.ok:
            if progress:
                progress(key, total, total)
            return
        detail = f" ({status.detail})" if status.detail else ""
        tell(f"{target} is {status.state}{detail}: regenerating it")
    seeds = plan.seeds(split)
    partial_dir = store.dir / ".partial" / key
    chunk = min(CHUNK_SIZE, plan.benchmark.samples_per_task)
    starts = list(range(0, total, chunk))
    chunks: dict[int, dict[str, np.ndarray]] = {}
    pending = []
    fingerprint = plan.fingerprint()
    for start in starts:
        saved = _load_chunk(partial_dir, start, seeds[start : start + chunk], fingerprint)
        if saved is not None:
            chunks[start] = saved
        else:
            task_args = (plan.benchmark.name, plan.benchmark.config, seeds[start : start + chunk],
                         SPLIT_DISTRIBUTION[split], plan.resolution)
            pending.append((start, compute_chunk, task_args))
    done = sum(len(c["seed"]) for c in chunks.values())
    if progress:
        progress(key, done, total)
    for start, arrays in executor.run(pending):
        _save_chunk(partial_dir, start, arrays, fingerprint)
        chunks[start] = arrays
        done += len(arrays["seed"])
        if progress:
            progress(key, done, total)
    arrays = {name: np.concatenate([chunks[s][name] for s in starts]) for name in chunks[starts[0]]}
    normalization = None
    if split == "train" and plan.benchmark.normalize:
        normalization = _minmax(arrays, plan.benchmark).to_dict()
    with temporary_path(target) as tmp:
        _write_split_file(tmp, plan, split, seeds, arrays)
        entry = {
            "path": target.name,
            "split": split,
            "resolution": plan.resolution,
            "distribution": SPLIT_DISTRIBUTION[split],
            "count": total,
            "size": tmp.stat().st_size,
            "sha256": sha256_file(tmp),
        }
        _record_file(store, plan, key, tmp, entry, normalization)
    shutil.rmtree(partial_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        partial_dir.parent.rmdir()  # only succeeds once no other split is in progress


def _record_file(
    store: Store, plan: GenerationPlan, key: str, tmp: Path, entry: dict[str, Any], normalization: dict[str, Any] | None
) -> None:
    """Move a finished file into place and add it to the manifest, under the store lock.

    Several processes may generate different splits of one store at once: each re-reads the
    manifest under the lock and adds its own file, so that none overwrites another's entries.
    The file only takes its place if the store still has this generation's identity.
    """
    target = store.dir / entry["path"]
    with store.lock():
        if store.manifest_path.is_file():
            current = store.manifest()
            check_identity(store, current, identity(plan.benchmark, plan.base_seed), while_running=True)
        else:  # deleted while this generation ran
            current = new_manifest(plan.benchmark, plan.base_seed)
        os.replace(tmp, target)
        current["files"][key] = entry
        if normalization is not None:
            current["normalization"][str(entry["resolution"])] = normalization
        store._write_manifest(current)
    VerifiedCache(store.dir).remember(target.name, target.stat(), entry["sha256"])


def compute_chunk(
    benchmark: str, config: dict[str, Any], seeds: np.ndarray, distribution: str, resolution: int
) -> dict[str, np.ndarray]:
    """Generate the samples of ``seeds`` (a pure task: runs in any process or on any Dask worker)."""
    bench = get_benchmark(benchmark, **config)
    inputs, outputs, params = [], [], {name: [] for name in bench.param_names}
    for seed in seeds:
        sample = bench.sample(int(seed), distribution, resolution)
        inputs.append(sample.input)
        outputs.append(sample.output)
        for name in bench.param_names:
            params[name].append(sample.params[name])
    return {
        bench.input_name: np.asarray(inputs, dtype=np.float32),
        bench.output_name: np.asarray(outputs, dtype=np.float32),
        "seed": np.asarray(seeds, dtype=np.uint64),
        **{f"param_{name}": np.asarray(values, dtype=np.float64) for name, values in params.items()},
    }


_IDENTITY = "store_identity"  # the array of a saved chunk that holds GenerationPlan.fingerprint()


def _chunk_path(partial_dir: Path, start: int) -> Path:
    return partial_dir / f"chunk_{start:07d}.npz"


def _load_chunk(partial_dir: Path, start: int, seeds: np.ndarray, fingerprint: str) -> dict[str, np.ndarray] | None:
    """A finished chunk saved by an interrupted run, if it holds exactly these seeds of this generation."""
    path = _chunk_path(partial_dir, start)
    if not path.is_file():
        return None
    try:
        with np.load(path) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except (OSError, ValueError):
        return None  # unreadable: recompute
    # A chunk of other generator parameters with the same seeds (left by a generation that an
    # --overwrite replaced) must not be reused.
    if str(arrays.pop(_IDENTITY, "")) != fingerprint:
        return None
    return arrays if np.array_equal(arrays.get("seed"), seeds) else None


def _save_chunk(partial_dir: Path, start: int, arrays: dict[str, np.ndarray], fingerprint: str) -> None:
    partial_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(_chunk_path(partial_dir, start)) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays, **{_IDENTITY: np.array(fingerprint)})


def _write_split_file(
    target: Path, plan: GenerationPlan, split: str, seeds: np.ndarray, arrays: dict[str, np.ndarray]
) -> None:
    bench = plan.benchmark
    fields = {bench.input_name: arrays[bench.input_name], bench.output_name: arrays[bench.output_name]}
    per_sample: dict[str, np.ndarray] = {"seed": seeds}
    per_sample.update({name: arrays[f"param_{name}"] for name in bench.param_names})
    write_field_file(target, fields, np.arange(len(seeds)), per_sample, plan.file_attrs(split))


def _minmax(arrays: dict[str, np.ndarray], bench: Benchmark) -> Normalization:
    inputs, outputs = RunningMinMax(), RunningMinMax()
    inputs.update(arrays[bench.input_name])
    outputs.update(arrays[bench.output_name])
    return Normalization(inputs.minimum, inputs.maximum, outputs.minimum, outputs.maximum)
