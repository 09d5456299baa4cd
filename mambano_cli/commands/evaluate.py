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
    from mambano_cli.display import console, emit_json, print_table
    from mambano_core.evaluation.evaluate import evaluate_run, find_runs
    from mambano_core.evaluation.tables import build_table, write_tables
    from mambano_core.inference import RESOLUTION_MODES

    if mode not in RESOLUTION_MODES:
        raise typer.BadParameter(f"choose one of {', '.join(RESOLUTION_MODES)}", param_hint="--mode")
    targets = list(runs) if runs else find_runs(runs_dir)
    evaluations = [evaluate_run(t, ood=ood, resolution=resolution, mode=mode, device=device, data_root=data_root) for t in targets]
    table = build_table(evaluations, ood, stats=stats, reference=reference)
    where = Path(runs_dir) if not runs else Path(evaluations[0].run_dir).parent
    md, csv_path = write_tables(table, where)
    title = "median relative L1 error (%)" + (f" at {resolution}x{resolution}, {mode}" if resolution else "")
    print_table(table, title)
    console.print(f"table written to {md} and {csv_path}")
    if json_output:
        emit_json([ev.to_dict() for ev in evaluations])
