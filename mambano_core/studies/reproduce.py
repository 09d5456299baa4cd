"""``mambano reproduce``: generate what is missing, train every (model, benchmark) pair with one
protocol, evaluate In/Out and write the table and a short report. Finished pairs are skipped and
interrupted ones resumed, so rerunning the same command completes the study.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mambano_core.errors import SpecError
from mambano_core.io_utils import atomic_write_text
from mambano_core.studies.presets import ALL_BENCHMARKS, ALL_MODELS, Preset
from mambano_core.training.run_dir import RunDir

Log = Callable[[str], None]
#: Called as ``progress(what, done, total)`` after each pair of a study is trained or evaluated.
Progress = Callable[[str, int, int], None]


@dataclass
class Pair:
    """One training job of a study: a benchmark, a model and the run spec (``label`` names a
    variant, e.g. ``mambano n=64``)."""

    benchmark: str
    model: str
    spec: dict[str, Any]
    label: str = ""

    @property
    def name(self) -> str:
        """How tables, logs and plots name the pair."""
        return self.label or self.model

    @property
    def run(self) -> RunDir:
        return RunDir.named(self.spec["output"]["runs_dir"], self.spec["output"]["name"])

    @property
    def run_dir(self) -> Path:
        return self.run.path

    def status(self) -> str:
        """``done`` (finished), ``resume`` (a last checkpoint exists) or ``new``."""
        return {"finished": "done", "resumable": "resume", "new": "new"}[self.run.state()]


def select(requested: Sequence[str] | None, known: Sequence[str], available: Sequence[str], what: str) -> list[str]:
    """The requested names (default: every known one that is available), validated."""
    if not requested:
        return [name for name in known if name in available]
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise SpecError(f"unknown {what} {', '.join(unknown)}; available: {', '.join(available)}")
    return list(requested)


def plan_pairs(
    preset: Preset, benchmarks: list[str], models: list[str], out: Path, overrides: Sequence[str] = ()
) -> list[Pair]:
    """Run specs of every pair under ``out/runs``, data under ``out/data``; ``overrides`` are
    dotted ``key=value`` changes of every spec (as ``mambano train --set``)."""
    from mambano_core.training.spec import apply_overrides

    pairs = []
    for bench in benchmarks:
        for model in models:
            args = preset.args_for(model, bench)
            if _takes_resolution(model):  # models tied to one grid (DeepONet, FFNN) are built for it
                args.setdefault("resolution", preset.resolution_for(bench))
            spec = {
                "data": {"benchmark": bench, "root": str(out / "data"), "resolution": preset.resolution_for(bench)},
                "model": {"name": model, "args": args},
                "training": preset.training_for(model, bench),
                "output": {"runs_dir": str(out / "runs"), "name": f"{bench}-{model}"},
            }
            pairs.append(Pair(bench, model, apply_overrides(spec, list(overrides))))
    return pairs


def _takes_resolution(model: str) -> bool:
    import inspect

    from mambano_core.models.registry import model_class

    return "resolution" in inspect.signature(model_class(model).__init__).parameters


def generate_data(preset: Preset, benchmarks: list[str], out: Path, workers: int | None, log: Log) -> None:
    """Generate (or complete) every benchmark's store at the preset's resolution and counts."""
    from mambano_core.data.benchmarks import get_benchmark_class
    from mambano_core.data.executors import make_executor
    from mambano_core.data.store import generate_store

    executor = make_executor(workers)
    try:
        for bench in benchmarks:
            counts = preset.counts_for(bench, get_benchmark_class(bench).reference_counts)
            log(f"data: {bench} at {preset.resolution_for(bench)}^2, {counts}")
            generate_store(bench, out / "data", preset.resolution_for(bench), counts, executor=executor,
                           overrides=preset.generator_overrides.get(bench))
    finally:
        executor.close()


def train_pair(
    spec: dict[str, Any], resume: bool, device: str | None = None, threads: int | None = None, nproc: int = 1
) -> dict[str, Any]:
    """Train one pair (also the task run in worker processes); returns the run summary.

    With ``nproc`` > 1 the pair is one distributed job of that many local processes
    (:func:`mambano_core.training.launch.launch`), started from the spec written to the run folder's
    side (``<runs_dir>/<name>.spec.yaml``).
    """
    from mambano_core.training.spec import spec_from_dict
    from mambano_core.training.trainer import Trainer

    spec = json.loads(json.dumps(spec))
    if device:
        spec["training"]["device"] = device
    if threads:
        spec["training"]["threads"] = threads
    run_spec = spec_from_dict(spec)
    if nproc <= 1:
        return Trainer(run_spec, resume=resume, overwrite=not resume).fit()
    from mambano_core.training.launch import DistributedJobFailed, launch
    from mambano_core.training.run_dir import RunDir
    from mambano_core.training.spec import dump_spec

    path = Path(spec["output"]["runs_dir"]) / f"{run_spec.run_name}.spec.yaml"
    dump_spec(run_spec, path)
    code = launch(nproc, ["-m", "mambano_cli", "train", str(path), "--resume" if resume else "--overwrite"])
    if code:
        raise DistributedJobFailed(f"the {nproc}-process job of {path} failed with exit code {code}", code)
    return RunDir.named(spec["output"]["runs_dir"], run_spec.run_name).summary()


def _devices(jobs: int) -> list[str | None]:
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i % torch.cuda.device_count()}" for i in range(jobs)]
    return [None] * jobs


_WORKER_DEVICE: str | None = None


def _claim_device(devices: Any) -> None:
    """Pool initializer: each worker process takes one device for its whole life."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = devices.get()


def worker_device() -> str | None:
    """The device this worker process claimed (None in the main process or on CPU)."""
    return _WORKER_DEVICE


def _train_on_worker_device(spec: dict[str, Any], resume: bool, threads: int, nproc: int) -> dict[str, Any]:
    return train_pair(spec, resume, worker_device(), threads, nproc)


def device_pool(devices: list[str | None]) -> ProcessPoolExecutor:
    """A process pool with one worker per entry of ``devices``, each pinned to its own entry.

    Devices belong to workers, not to tasks: a task assigned a device up front could start while
    another task still ran on that GPU and leave a second GPU idle.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()  # handed to each worker when it starts (no manager process needed)
    for device in devices:
        queue.put(device)
    return ProcessPoolExecutor(max_workers=len(devices), mp_context=context,
                               initializer=_claim_device, initargs=(queue,))


def write_specs(pairs: Sequence[Pair], out: Path) -> Path:
    """Each pair's run spec as ``out/specs/<run name>.yaml`` (what the study trains), resolved."""
    from mambano_core.training.spec import dump_spec, spec_from_dict

    folder = out / "specs"
    for pair in pairs:  # a bad override or argument fails here, before anything is generated or trained
        spec = spec_from_dict(pair.spec, source=f"the {pair.benchmark} x {pair.name} spec")
        dump_spec(spec, folder / f"{spec.run_name}.yaml")
    return folder


def train_pairs(
    pairs: list[Pair], jobs: int, log: Log, nproc_per_pair: int = 1, progress: Progress | None = None
) -> None:
    """Train every pair not done yet: sequentially, or ``jobs`` at a time in processes (one GPU each);
    each pair as one process, or as a distributed job of ``nproc_per_pair`` processes."""
    todo = [p for p in pairs if p.status() != "done"]
    done = len(pairs) - len(todo)
    for pair in pairs:
        if pair.status() == "done":
            log(f"skip {pair.benchmark} x {pair.name}: already trained")
    if progress:
        progress("train", done, len(pairs))
    threads = max(1, (os.cpu_count() or 1) // (jobs * nproc_per_pair))
    if jobs <= 1:
        for pair in todo:
            log(f"train {pair.benchmark} x {pair.name} ({pair.status()})")
            train_pair(pair.spec, pair.status() == "resume", None, threads if nproc_per_pair > 1 else None,
                       nproc_per_pair)
            done += 1
            if progress:
                progress("train", done, len(pairs))
        return
    with device_pool(_devices(jobs)) as pool:
        futures = {pool.submit(_train_on_worker_device, p.spec, p.status() == "resume", threads, nproc_per_pair): p
                   for p in todo}
        for future in as_completed(futures):
            pair = futures[future]
            future.result()
            done += 1
            log(f"finished {pair.benchmark} x {pair.name}")
            if progress:
                progress("train", done, len(pairs))


def reproduce(
    preset: Preset,
    out: str | Path,
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    jobs: int = 1,
    workers: int | None = None,
    log: Log = lambda message: None,
    overrides: Sequence[str] = (),
    nproc_per_pair: int = 1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the whole study; returns the table and the paths of its files and the report.

    ``overrides`` (dotted ``key=value``) change every pair's spec, e.g. a variant of a model or
    of the protocol; they are recorded in ``study.json`` and the report.
    """
    from mambano_core.data.benchmarks import available_benchmarks
    from mambano_core.models.registry import available_models

    out = Path(out)
    benchmarks = select(benchmarks, ALL_BENCHMARKS, available_benchmarks(), "benchmark(s)")
    models = select(models, ALL_MODELS, available_models(), "model(s)")
    if jobs < 1 or nproc_per_pair < 1:
        raise SpecError(f"--jobs and --nproc-per-pair must be positive, got {jobs} and {nproc_per_pair}")
    if nproc_per_pair > 1 and jobs > 1 and _devices(1)[0] is not None:
        raise SpecError("on GPUs, --nproc-per-pair runs one pair at a time (each process takes one GPU): use --jobs 1")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "study.json", json.dumps(
        {"preset": preset.name, "description": preset.description, "benchmarks": benchmarks, "models": models,
         "overrides": list(overrides)}, indent=2))
    pairs = plan_pairs(preset, benchmarks, models, out, overrides)
    write_specs(pairs, out)
    generate_data(preset, benchmarks, out, workers, log)
    train_pairs(pairs, jobs, log, nproc_per_pair, progress)
    from mambano_core.studies.report import write_results

    return write_results(pairs, preset, out, log, overrides)
