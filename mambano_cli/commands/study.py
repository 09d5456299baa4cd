"""``mambano study resolution|data|ablation``: the paper's studies as commands (thin: parse, call, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

PRESET_HELP = "protocol of the trained pairs: cpu-small, gpu-full or tiny"


def _progress() -> tuple[Any, Any]:
    """A rich progress bar and the ``progress(what, done, total)`` callback that drives it."""
    from mambano_cli.display import make_progress

    bar = make_progress()
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total)
        bar.update(tasks[what], completed=done, total=total)

    return bar, update


def _finish(result: dict[str, Any], json_output: bool, rows_key: str = "rows") -> None:
    from mambano_cli.display import console, emit_json

    console.print(result["markdown"].read_text(), markup=False, highlight=False)
    files = ", ".join(str(v) for k, v in result.items() if isinstance(v, Path))
    console.print(f"written: {files}")
    if json_output:
        from dataclasses import asdict, is_dataclass

        rows = [asdict(r) if is_dataclass(r) else r for r in result[rows_key]]
        emit_json({"rows": rows, **{k: (str(v) if isinstance(v, Path) else v) for k, v in result.items() if k != rows_key}})


def _items(values: list[str] | None) -> list[str]:
    """Values given as ``--x a,b --x c`` or ``--x "a b c"``, flattened."""
    return [item for value in values or [] for item in value.replace(",", " ").split()]


def _integers(values: list[str] | None, option: str) -> list[int]:
    try:
        return [int(item) for item in _items(values)]
    except ValueError:
        raise typer.BadParameter(f"not a list of integers: {values!r}", param_hint=option) from None


def _log(message: str) -> None:
    from mambano_cli.display import console

    console.print(message, style="dim", markup=False, highlight=False)


def resolution_command(
    runs: Annotated[list[Path], typer.Argument(help="run folders (or checkpoints) to evaluate")],
    resolutions: Annotated[Optional[list[str]], typer.Option("--resolutions", help="test grids, e.g. '32,48,64' (repeatable); default 32, 40, ..., 128")] = None,
    mode: Annotated[str, typer.Option(help="native, resample or both")] = "native",
    ood: Annotated[bool, typer.Option("--ood", help="also the out-of-distribution test set")] = False,
    out: Annotated[Path, typer.Option(help="study folder")] = Path("studies/resolution"),
    json_output: Annotated[bool, typer.Option("--json", help="print the table as JSON on stdout")] = False,
) -> None:
    """Error against grid resolution: the same test samples regenerated at every grid, every run evaluated."""
    from mambano_core.data.grids import check_resolution
    from mambano_core.studies.resolution import DEFAULT_RESOLUTIONS, parse_modes, resolution_study

    try:
        modes = parse_modes(mode)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mode") from None
    grids = [check_resolution(r, "--resolutions") for r in (_integers(resolutions, "--resolutions") or DEFAULT_RESOLUTIONS)]
    bar, update = _progress()
    with bar:
        result = resolution_study(runs, out, grids, modes, ood, log=_log, progress=update)
    _finish(result, json_output)


def data_command(
    benchmark: Annotated[str, typer.Option(help="benchmark name")] = "poisson",
    models: Annotated[list[str], typer.Option(help="models, e.g. 'mambano,cno,fno' (repeatable)")] = ["mambano,cno,fno"],
    sizes: Annotated[list[str], typer.Option(help="training-set sizes, e.g. '32,64,128,256' (repeatable)")] = ["32,64,128,256"],
    preset: Annotated[str, typer.Option(help=PRESET_HELP)] = "cpu-small",
    budget: Annotated[str, typer.Option(help="steps (the same optimiser steps for every size) or epochs")] = "steps",
    out: Annotated[Optional[Path], typer.Option(help="study folder (default: studies/data-<benchmark>)")] = None,
    jobs: Annotated[int, typer.Option(help="pairs trained at once")] = 1,
    set_: Annotated[list[str], typer.Option("--set", help="dotted override of every pair's spec (repeatable)")] = [],
    json_output: Annotated[bool, typer.Option("--json", help="print the table as JSON on stdout")] = False,
) -> None:
    """Error against the number of training samples, per model, with the fitted log-log slope."""
    from mambano_core.studies.data_efficiency import data_study
    from mambano_core.studies.presets import get_preset

    counts = _integers(sizes, "--sizes")
    bar, update = _progress()
    with bar:
        result = data_study(get_preset(preset), benchmark, _items(models), counts,
                            out or Path(f"studies/data-{benchmark}"), budget, jobs, overrides=set_, log=_log,
                            progress=update)
    _finish(result, json_output)


def ablation_command(
    benchmark: Annotated[str, typer.Option(help="benchmark name")] = "poisson",
    preset: Annotated[str, typer.Option(help=PRESET_HELP)] = "cpu-small",
    other_resolution: Annotated[Optional[int], typer.Option(help="second test grid (default: twice the training grid)")] = None,
    variants: Annotated[Optional[list[str]], typer.Option(help="variants, e.g. 'authors,no-mamba' (repeatable; default: all)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="study folder (default: studies/ablation-<benchmark>)")] = None,
    jobs: Annotated[int, typer.Option(help="pairs trained at once")] = 1,
    set_: Annotated[list[str], typer.Option("--set", help="dotted override of every pair's spec (repeatable)")] = [],
    json_output: Annotated[bool, typer.Option("--json", help="print the table as JSON on stdout")] = False,
) -> None:
    """MambaNO without its Mamba or convolution integration, with pointwise activations, with one scan direction."""
    from mambano_core.data.grids import check_resolution
    from mambano_core.studies.ablation import VARIANTS, ablation_study
    from mambano_core.studies.presets import get_preset

    chosen = _items(variants) or list(VARIANTS)
    other = None if other_resolution is None else check_resolution(other_resolution, "--other-resolution")
    bar, update = _progress()
    with bar:
        result = ablation_study(get_preset(preset), benchmark, out or Path(f"studies/ablation-{benchmark}"), other,
                                chosen, jobs, overrides=set_, log=_log, progress=update)
    _finish(result, json_output)


STUDIES = (
    ("resolution", resolution_command),
    ("data", data_command),
    ("ablation", ablation_command),
)
