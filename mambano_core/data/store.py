"""The on-disk benchmark store: one netCDF file per split and resolution, plus a manifest.

Layout under ``root/<benchmark>/``::

    manifest.json                 benchmark, generator config, seeds, files with checksums,
                                  training-split normalisation statistics per resolution
    train_64.nc, val_64.nc, test_id_64.nc, test_ood_64.nc
    .partial/<split>_<res>/       chunks of an unfinished generation (resumed on rerun)
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mambano_core import __version__
from mambano_core.data.benchmarks import get_benchmark
from mambano_core.data.benchmarks.base import SPLIT_DISTRIBUTION, Benchmark
from mambano_core.data.executors import Executor, SerialExecutor
from mambano_core.data.netcdf import write_field_file
from mambano_core.data.normalization import Normalization, RunningMinMax
from mambano_core.data.seeding import SPLITS, sample_seed
from mambano_core.errors import DataError, MissingFileError
from mambano_core.io_utils import atomic_path, atomic_write_text, file_lock, sha256_file

MANIFEST_FORMAT = "mambano-store/1"
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

    def manifest(self) -> dict[str, Any]:
        """The manifest; :class:`MissingFileError` with a hint if there is none."""
        if not self.manifest_path.is_file():
            raise MissingFileError(
                f"no data store at {self.dir} (missing manifest.json); "
                f"create it with: mambano generate {self.benchmark_name} --out {self.dir.parent}"
            )
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.manifest_path} is not valid JSON: {exc}") from None

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def split_file(self, split: str, resolution: int) -> Path:
        """Existing split file listed in the manifest, or a clear error."""
        entry = self.manifest().get("files", {}).get(file_key(split, resolution))
        path = self.path(split, resolution)
        if entry is None or not path.is_file():
            raise MissingFileError(
                f"{self.benchmark_name} has no {split} split at resolution {resolution} in {self.dir}; "
                f"create it with: mambano generate {self.benchmark_name} --resolution {resolution} "
                f"--out {self.dir.parent}"
            )
        return path

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

    def verify(self) -> list[str]:
        """Keys of files whose checksum does not match the manifest."""
        bad = []
        for key, entry in self.manifest().get("files", {}).items():
            path = self.dir / entry["path"]
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                bad.append(key)
        return bad


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
) -> Store:
    """Generate (or complete) the store of ``benchmark`` at ``resolution``.

    Finished split files whose generation parameters match are kept; an interrupted split
    resumes from its saved chunks. The manifest is rewritten after every finished file.
    Samples are computed in chunks by ``executor`` (default: in this process); the files are
    the same bytes whichever executor ran them.
    """
    bench = get_benchmark(benchmark, **(overrides or {}))
    store = Store(root, bench.name)
    store.dir.mkdir(parents=True, exist_ok=True)
    manifest = _load_or_new_manifest(store, bench, base_seed, overwrite)
    plan = GenerationPlan(bench, base_seed, resolution, {s: counts[s] for s in splits})
    executor = executor or SerialExecutor()
    for split in plan.counts:
        _generate_split(store, plan, split, manifest, executor, progress)
    return store


def _load_or_new_manifest(store: Store, bench: Benchmark, base_seed: int, overwrite: bool) -> dict[str, Any]:
    fresh = {
        "format": MANIFEST_FORMAT,
        "benchmark": bench.name,
        "boundary": bench.boundary,
        "input_variable": bench.input_name,
        "output_variable": bench.output_name,
        "normalize": bench.normalize,
        "base_seed": base_seed,
        "config": bench.config,
        "tool_version": __version__,
        "files": {},
        "normalization": {},
    }
    if overwrite and store.dir.exists():
        shutil.rmtree(store.dir)
        store.dir.mkdir(parents=True)
    if not store.manifest_path.is_file():
        return fresh
    manifest = store.manifest()
    same = manifest.get("base_seed") == base_seed and manifest.get("config") == json.loads(json.dumps(bench.config))
    if not same:
        raise DataError(
            f"{store.dir} holds {bench.name} data generated with other parameters or seed "
            f"(seed {manifest.get('base_seed')}); pass --overwrite to replace it or choose another --out"
        )
    return manifest


def _generate_split(
    store: Store,
    plan: GenerationPlan,
    split: str,
    manifest: dict[str, Any],
    executor: Executor,
    progress: ProgressCallback | None,
) -> None:
    key = file_key(split, plan.resolution)
    total = plan.counts[split]
    entry = manifest["files"].get(key)
    target = store.path(split, plan.resolution)
    if entry is not None and target.is_file():
        if entry["count"] == total:
            if progress:
                progress(key, total, total)
            return
        target.unlink()  # a different count was asked: regenerate this split
    seeds = plan.seeds(split)
    partial_dir = store.dir / ".partial" / key
    chunk = min(CHUNK_SIZE, plan.benchmark.samples_per_task)
    starts = list(range(0, total, chunk))
    chunks: dict[int, dict[str, np.ndarray]] = {}
    pending = []
    for start in starts:
        saved = _load_chunk(partial_dir, start, seeds[start : start + chunk])
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
        _save_chunk(partial_dir, start, arrays)
        chunks[start] = arrays
        done += len(arrays["seed"])
        if progress:
            progress(key, done, total)
    arrays = {name: np.concatenate([chunks[s][name] for s in starts]) for name in chunks[starts[0]]}
    _write_split_file(target, plan, split, seeds, arrays)
    entry = {
        "path": target.name,
        "split": split,
        "resolution": plan.resolution,
        "distribution": SPLIT_DISTRIBUTION[split],
        "count": total,
        "sha256": sha256_file(target),
    }
    normalization = None
    if split == "train" and plan.benchmark.normalize:
        normalization = _minmax(arrays, plan.benchmark).to_dict()
    _record_file(store, manifest, key, entry, normalization)
    shutil.rmtree(partial_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        partial_dir.parent.rmdir()  # only succeeds once no other split is in progress


def _record_file(
    store: Store, manifest: dict[str, Any], key: str, entry: dict[str, Any], normalization: dict[str, Any] | None
) -> None:
    """Add a finished file to the manifest on disk and to ``manifest``.

    Several processes may generate different splits of one store at once: each re-reads the
    manifest under a lock and adds its own file, so that none overwrites another's entries.
    """
    with file_lock(store.dir / ".manifest.lock"):
        current = store.manifest() if store.manifest_path.is_file() else manifest
        current["files"][key] = entry
        if normalization is not None:
            current.setdefault("normalization", {})[str(entry["resolution"])] = normalization
        store._write_manifest(current)
    manifest.update(current)


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


def _chunk_path(partial_dir: Path, start: int) -> Path:
    return partial_dir / f"chunk_{start:07d}.npz"


def _load_chunk(partial_dir: Path, start: int, seeds: np.ndarray) -> dict[str, np.ndarray] | None:
    """A finished chunk saved by an interrupted run, if it holds exactly these seeds."""
    path = _chunk_path(partial_dir, start)
    if not path.is_file():
        return None
    try:
        with np.load(path) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except (OSError, ValueError):
        return None  # unreadable: recompute
    return arrays if np.array_equal(arrays.get("seed"), seeds) else None


def _save_chunk(partial_dir: Path, start: int, arrays: dict[str, np.ndarray]) -> None:
    partial_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(_chunk_path(partial_dir, start)) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


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
