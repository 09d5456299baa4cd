"""``mambano eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def eval_command(
    runs: Annotated[Optional[list[Path]], typer.Argument(help="run directories or checkpoints (default: every run under --runs-dir)")] = None,
    ood: Annotated[bool, typer.Option("--ood", help="also evaluate the out-of-distribution test set")] = False,
    runs_dir: Annotated[Path, typer.Option(help="where runs live (used when no RUN is given)")] = Path("runs"),
    resolution: Annotated[Optional[int], typer.Option(help="test grid size (default: each run's training grid)")] = None,
    mode: Annotated[str, typer.Option(help="inference at other resolutions: native or resample")] = "native",
    data_root: Annotated[Optional[Path], typer.Option(help="root of the data stores (default: the run's)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    stats: Annotated[bool, typer.Option("--stats", help="show the interquartile range [q25, q75] in each cell")] = False,
    reference: Annotated[bool, typer.Option("--reference", help="add the published numbers of the reference table (CNO paper), labelled")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print results as JSON on stdout")] = False,
) -> None:
    """Evaluate runs and write the table as Markdown and CSV next to the runs."""
    from rich.markup import escape

    from mambano_cli.app import fail
    from mambano_cli.display import console, emit_json, print_table
    from mambano_core.errors import MambanoError
    from mambano_core.evaluation.evaluate import evaluate_run
    from mambano_core.evaluation.tables import build_table, write_tables
    from mambano_core.inference import RESOLUTION_MODES
    from mambano_core.training.run_dir import find_runs

    if mode not in RESOLUTION_MODES:
        raise typer.BadParameter(f"choose one of {', '.join(RESOLUTION_MODES)}", param_hint="--mode")
    targets = list(runs) if runs else [run.path for run in find_runs(runs_dir)]
    evaluations, failures = [], []
    for target in targets:  # a broken run is reported; the others are still evaluated
        try:
            evaluations.append(evaluate_run(target, ood=ood, resolution=resolution, mode=mode, device=device,
                                            data_root=data_root))
        except MambanoError as error:
            failures.append((target, error))
            console.print(f"[red]cannot evaluate {escape(str(target))}:[/red] {escape(str(error))}", markup=True,
                          highlight=False)
    if not evaluations:
        raise fail(failures[0][1])
    table = build_table(evaluations, ood, stats=stats, reference=reference)
    where = Path(runs_dir) if not runs else Path(evaluations[0].run_dir).parent
    md, csv_path = write_tables(table, where)
    title = "median relative L1 error (%)" + (f" at {resolution}x{resolution}, {mode}" if resolution else "")
    print_table(table, title)
    console.print(f"table written to {md} and {csv_path}")
    if json_output:
        emit_json([ev.to_dict() for ev in evaluations])
    if failures:
        console.print(f"{len(failures)} of {len(targets)} run(s) could not be evaluated (see above)")
        raise typer.Exit(failures[0][1].exit_code)
