"""``mambano reproduce``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def _split(value: Optional[str]) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def reproduce_command(
    preset: Annotated[str, typer.Option(help="cpu-small (a few hours on 2 CPU cores), gpu-full (the paper's protocol) or tiny")] = "cpu-small",
    benchmarks: Annotated[Optional[str], typer.Option(help="comma-separated benchmarks (default: all available)")] = None,
    models: Annotated[Optional[str], typer.Option(help="comma-separated models (default: all registered)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="study directory (default: reproduce/<preset>)")] = None,
    jobs: Annotated[int, typer.Option(help="pairs trained at once (processes; one GPU each when there are GPUs)")] = 1,
    nproc_per_pair: Annotated[int, typer.Option("--nproc-per-pair", min=1, help="processes of each pair's distributed (DDP) job")] = 1,
    workers: Annotated[Optional[int], typer.Option(help="processes for data generation (default: all cores)")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="dotted override of every pair's run spec, e.g. --set training.recalibrate_bn=false (repeatable)")] = [],
    json_output: Annotated[bool, typer.Option("--json", help="print the results as JSON on stdout")] = False,
) -> None:
    """Train every (model, benchmark) pair with one protocol and write the results table and a report.

    Rerunning completes an interrupted study: data and finished pairs are kept, interrupted pairs resume.
    """
    from mambano_cli.display import console, emit_json, print_table
    from mambano_core.studies.presets import get_preset
    from mambano_core.studies.reproduce import reproduce

    chosen = get_preset(preset)
    target = out or Path("reproduce") / chosen.name
    console.print(f"[bold]reproduce[/bold] ({chosen.name}): {chosen.description}\nstudy directory: {target}")
    result = reproduce(chosen, target, _split(benchmarks), _split(models), jobs=jobs, workers=workers,
                       log=lambda message: console.print(message, style="dim", markup=False), overrides=set_,
                       nproc_per_pair=nproc_per_pair)
    print_table(result["table"], "median relative L1 error (%)")
    console.print(f"report: {result['report']}; tables: {result['markdown']}, {result['csv']}, {result['json']}")
    if json_output:
        emit_json({key: str(value) for key, value in result.items() if key != "table"})
