"""``mambano upsample``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def upsample_command(
    input: Annotated[Path, typer.Argument(help="netCDF field file (e.g. written by mambano generate)")],
    resolution: Annotated[int, typer.Option(help="target grid size (8 to 4096)")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="output file (default: <input>_<resolution>.nc)")] = None,
    boundary: Annotated[Optional[str], typer.Option(help="dirichlet, periodic or open (default: the file's 'boundary' attribute)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print a summary as JSON on stdout")] = False,
) -> None:
    """Resample every field: sine series for zero-Dirichlet data, Fourier for periodic, linear for open windows."""
    from mambano_cli.display import console, emit_json
    from mambano_core.data.resample_file import BOUNDARIES, resample_file

    if boundary is not None and boundary not in BOUNDARIES:
        raise typer.BadParameter(f"choose one of {', '.join(BOUNDARIES)}", param_hint="--boundary")
    target = output or input.with_name(f"{input.stem}_{resolution}.nc")
    info = resample_file(input, target, resolution, boundary)
    console.print(f"resampled {', '.join(info['variables'])} ({info['samples']} samples) from "
                  f"{info['from']} to {info['to']} ({info['boundary']}) -> {target}")
    if json_output:
        emit_json({**info, "output": str(target)})
