"""``mambano generate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from mambano_core.data.store import Store

SPLIT_CHOICES = ("all", "train", "val", "test_id", "test_ood")


def generate_command(
    name: Annotated[str, typer.Argument(help="benchmark name (poisson, wave, transport_smooth, transport_discontinuous, ...)")],
    resolution: Annotated[Optional[int], typer.Option(help="grid size s (s x s points), 8 to 4096; default: the benchmark's")] = None,
    split: Annotated[list[str], typer.Option(help="split(s) to generate: all, train, val, test_id, test_ood (repeatable)")] = ["all"],
    n_train: Annotated[Optional[int], typer.Option(help="training samples (default: small laptop count)")] = None,
    n_val: Annotated[Optional[int], typer.Option(help="validation samples")] = None,
    n_test_id: Annotated[Optional[int], typer.Option(help="in-distribution test samples")] = None,
    n_test_ood: Annotated[Optional[int], typer.Option(help="out-of-distribution test samples")] = None,
    reference_counts: Annotated[bool, typer.Option("--reference-counts", help="use the sample counts of the reference protocol")] = False,
    seed: Annotated[int, typer.Option(help="base seed; every sample's seed derives from it and is stored")] = 0,
    out: Annotated[Path, typer.Option(help="root directory of the data stores")] = Path("data"),
    workers: Annotated[Optional[int], typer.Option(help="local worker processes (default: all cores; 1: in this process)")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", "--dask", help="run on a Dask cluster: a scheduler ADDRESS, or 'local' for a local cluster (needs mambano[dask])")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="generator parameter KEY=VALUE (YAML value), e.g. --set mach=0.75 (repeatable)")] = [],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a store generated with other parameters")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="check every file of the store against its manifest (size, SHA-256) and generate nothing; exit 4 if any is damaged or missing")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the manifest as JSON on stdout")] = False,
) -> None:
    from mambano_cli.display import GenerationProgress, console, emit_json, make_progress
    from mambano_core.data.benchmarks import get_benchmark
    from mambano_core.data.seeding import SPLITS
    from mambano_core.data.executors import make_executor
    from mambano_core.data.grids import check_resolution
    from mambano_core.data.store import Store, generate_store
    from mambano_core.training.spec import apply_overrides

    bad = [s for s in split if s not in SPLIT_CHOICES]
    if bad:
        raise typer.BadParameter(f"unknown split(s) {bad}; choose from {', '.join(SPLIT_CHOICES)}", param_hint="--split")
    overrides = apply_overrides({}, set_)
    bench = get_benchmark(name, **overrides)
    splits = list(SPLITS) if "all" in split else [s for s in SPLITS if s in split]
    counts = dict(bench.reference_counts if reference_counts else bench.default_counts)
    for key, value in (("train", n_train), ("val", n_val), ("test_id", n_test_id), ("test_ood", n_test_ood)):
        if value is not None:
            if value < 1:
                raise typer.BadParameter(f"sample counts must be positive, got {value}", param_hint=f"--n-{key.replace('_', '-')}")
            counts[key] = value
    resolution = bench.default_resolution if resolution is None else check_resolution(resolution)
    if seed < 0:
        raise typer.BadParameter(f"must be a non-negative integer, got {seed}", param_hint="--seed")
    if workers is not None and workers < 1:
        raise typer.BadParameter(f"must be positive, got {workers}", param_hint="--workers")
    for path in (out, out / bench.name):
        if path.exists() and not path.is_dir():
            raise typer.BadParameter(f"{path} is a file; --out takes the directory that holds the data stores "
                                     f"(this one goes to OUT/{bench.name})", param_hint="--out")
    if verify:
        if overwrite:
            raise typer.BadParameter("--verify checks a store and changes nothing; drop --overwrite", param_hint="--verify")
        _verify(Store(out, bench.name))
        return
    executor = make_executor(workers, scheduler)
    try:
        with make_progress() as progress:
            def notify(text: str) -> None:
                progress.console.print(text, style="yellow", markup=False, highlight=False, soft_wrap=True)

            store = generate_store(bench.name, out, resolution, counts, base_seed=seed, splits=splits,
                                   overrides=overrides, overwrite=overwrite, progress=GenerationProgress(progress),
                                   executor=executor, notify=notify)
    finally:
        executor.close()
    manifest = store.manifest()
    if json_output:
        emit_json(manifest)
    console.print(f"wrote {', '.join(f'{s}_{resolution}.nc' for s in splits)} and manifest.json to {store.dir}")


def _verify(store: Store) -> None:
    """Print each file's state; DataError (exit 4) if any is damaged or missing."""
    from mambano_cli.display import console
    from mambano_core.errors import DataError

    statuses = store.check_files()
    manifest = store.manifest()
    for status in statuses:
        console.print(status.describe(), style=None if status.ok else "red", markup=False, highlight=False, soft_wrap=True)
        if not status.ok:
            entry = manifest["files"][status.key]
            command = store.regenerate_command(entry.get("split", status.key.rsplit("_", 1)[0]), entry["resolution"], manifest)
            console.print(f"  regenerate it with: {command}", markup=False, highlight=False, soft_wrap=True)
    bad = [status for status in statuses if not status.ok]
    if bad:
        raise DataError(f"{len(bad)} of {len(statuses)} files of {store.dir} are damaged or missing (listed above)")
    console.print(f"all {len(statuses)} files of {store.dir} match manifest.json")
