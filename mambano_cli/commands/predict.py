"""``mambano predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def predict_command(
    input: Annotated[Path, typer.Option("--input", "-i", help="CF netCDF file with the input field(s), any grid size")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="run directory or checkpoint file (default: the most recent run)")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="output grid size (default: the input's)")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="netCDF file for the prediction")] = Path("prediction.nc"),
    plot: Annotated[Optional[Path], typer.Option(help="also write a PNG of input, prediction (and error)")] = None,
    mode: Annotated[str, typer.Option(help="native (run at the requested grid) or resample (at the training grid)")] = "native",
    variable: Annotated[Optional[str], typer.Option(help="input variable name (default: the model's input variable)")] = None,
    runs_dir: Annotated[Path, typer.Option(help="where to look for the most recent run")] = Path("runs"),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    json_output: Annotated[bool, typer.Option("--json", help="print a summary as JSON on stdout")] = False,
) -> None:
    """Write the model's prediction in physical units (normalisation undone)."""
    from mambano_cli.display import console, emit_json
    from mambano_core.inference import RESOLUTION_MODES
    from mambano_core.predict import latest_run, plot_prediction, predict, write_prediction

    if mode not in RESOLUTION_MODES:
        raise typer.BadParameter(f"choose one of {', '.join(RESOLUTION_MODES)}", param_hint="--mode")
    source = checkpoint or latest_run(runs_dir)
    result = predict(source, input, resolution=resolution, mode=mode, variable=variable, device=device)
    write_prediction(result, output)
    if plot:
        plot_prediction(result, plot)
    errors = result.relative_l1_percent()
    summary = {
        "checkpoint": str(result.checkpoint), "model": result.model, "samples": int(result.prediction.shape[0]),
        "resolution": result.resolution, "mode": result.mode, "output": str(output),
        "plot": str(plot) if plot else None,
        "median_rel_l1_percent": None if errors is None else float(sorted(errors)[len(errors) // 2]),
    }
    console.print(f"{result.model} from {result.checkpoint}: {summary['samples']} sample(s) at "
                  f"{result.resolution}x{result.resolution} -> {output}" + (f", plot {plot}" if plot else ""))
    if errors is not None:
        console.print(f"relative L1 against the truth in the file (physical units): median {summary['median_rel_l1_percent']:.2f}%")
    if json_output:
        emit_json(summary)
