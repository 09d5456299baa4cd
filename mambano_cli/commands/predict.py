"""``mambano predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def predict_command(
    input: Annotated[Path, typer.Option("--input", "-i", help="CF netCDF file with the input field(s), any grid size")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="run directory or checkpoint file (default: the most recent run)")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="output grid size, 8 to 4096 (default: the input's)")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="netCDF file for the prediction")] = Path("prediction.nc"),
    plot: Annotated[Optional[Path], typer.Option(help="also write a PNG of input, prediction (and error)")] = None,
    mode: Annotated[str, typer.Option(help="native (run at the requested grid) or resample (at the training grid)")] = "native",
    variable: Annotated[Optional[str], typer.Option(help="the file's input variable, when it is not named like the model's input")] = None,
    runs_dir: Annotated[Path, typer.Option(help="where to look for the most recent run")] = Path("runs"),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    json_output: Annotated[bool, typer.Option("--json", help="print a summary as JSON on stdout")] = False,
) -> None:
    """Write the model's prediction in physical units (normalisation undone)."""
    from mambano_cli.display import console, emit_json
    from mambano_core.inference import RESOLUTION_MODES
    from mambano_core.inference.predict import plot_prediction, predict, write_prediction
    from mambano_core.io_utils import check_output_path
    from mambano_core.training.run_dir import latest_run

    if mode not in RESOLUTION_MODES:
        raise typer.BadParameter(f"choose one of {', '.join(RESOLUTION_MODES)}", param_hint="--mode")
    for path in (output, plot):
        if path is not None:
            check_output_path(path)  # before the work, not after it
    source = checkpoint or latest_run(runs_dir).path
    result = predict(source, input, resolution=resolution, mode=mode, variable=variable, device=device)
    write_prediction(result, output)
    if plot:
        plot_prediction(result, plot)
    score = result.score()
    summary = {
        "checkpoint": str(result.checkpoint), "model": result.model, "samples": int(result.prediction.shape[0]),
        "resolution": result.resolution, "mode": result.mode, "output": str(output),
        "plot": str(plot) if plot else None, "input_variable": result.input_name,
        "median_rel_l1_percent": None if score is None else score.median,
    }
    console.print(f"{result.model} from {result.checkpoint}: {summary['samples']} sample(s) of "
                  f"{result.input_name} at {result.resolution}x{result.resolution} -> {output}"
                  + (f", plot {plot}" if plot else ""))
    if score is not None:
        console.print(f"relative L1 against the truth in the file (physical units, the benchmark's mask): "
                      f"median {score.median:.2f}% [{score.q25:.2f}, {score.q75:.2f}]")
    if json_output:
        emit_json(summary)
