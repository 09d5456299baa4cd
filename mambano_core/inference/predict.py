"""Predictions in physical units on any grid, from a checkpoint and a netCDF input file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mambano_core.data.grids import check_resolution
from mambano_core.data.netcdf import read_input_file, write_field_file
from mambano_core.inference.run import ResolutionMode, infer
from mambano_core.io_utils import check_output_path
from mambano_core.runtime import resolve_device
from mambano_core.scoring import SplitScore, sample_errors
from mambano_core.training.checkpoint import LoadedCheckpoint, load_checkpoint
from mambano_core.training.run_dir import BEST, resolve_checkpoint


@dataclass
class Prediction:
    """Input, prediction (and truth, when the input file holds it) on the requested grid."""

    checkpoint: Path
    model: str
    benchmark: str
    input_name: str
    output_name: str
    input: np.ndarray
    prediction: np.ndarray
    truth: np.ndarray | None
    sample_ids: np.ndarray
    boundary: str
    mode: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        return int(self.prediction.shape[-1])

    def errors(self) -> torch.Tensor | None:
        """Per-sample relative L1 (%) against the truth in physical units, with the benchmark's
        mask (:func:`mambano_core.scoring.sample_errors`), if the truth is known."""
        if self.truth is None:
            return None
        as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))[:, None]  # noqa: E731
        return sample_errors(as_tensor(self.prediction), as_tensor(self.truth), as_tensor(self.input), self.benchmark)

    def score(self) -> SplitScore | None:
        """Median, quartiles and mean of :meth:`errors`, if the truth is known."""
        errors = self.errors()
        return None if errors is None else SplitScore.from_errors(errors)


def _to_grid(values: np.ndarray, resolution: int, boundary: str) -> np.ndarray:
    if values.shape[-1] == resolution:
        return values
    from mambano_core.ops.resample import resample

    return np.asarray(resample(values, resolution, boundary))


def predict(
    checkpoint: str | Path,
    input_path: str | Path,
    resolution: int | None = None,
    mode: ResolutionMode = "native",
    variable: str | None = None,
    device: str = "auto",
) -> Prediction:
    """Predict the output field for every sample of ``input_path``.

    The input file is read once (any grid size; its variable named like the model's input,
    unless ``variable`` names another), band-limited resampled to ``resolution`` (default: its
    own), normalised with the checkpoint's training statistics, run through the model (``mode``:
    native or resample) and the output is returned in physical units.
    """
    ckpt_path = resolve_checkpoint(checkpoint, BEST)
    torch_device = resolve_device(device)
    ckpt = load_checkpoint(ckpt_path, map_location=torch_device)
    in_name, out_name, boundary = ckpt.data["input_variable"], ckpt.data["output_variable"], ckpt.data["boundary"]
    values, used, truth, sample_ids, attrs = read_input_file(input_path, in_name, variable, out_name)
    resolution = values.shape[-1] if resolution is None else check_resolution(resolution)
    fields = _to_grid(values, resolution, boundary)
    x = ckpt.normalization.encode_input(torch.from_numpy(fields).float()[:, None]).to(torch_device)
    y = infer(ckpt.model, x, mode, ckpt.data["resolution"], boundary, normalization=ckpt.normalization)
    prediction = ckpt.normalization.decode_output(y[:, 0].double().cpu()).numpy()
    return Prediction(
        checkpoint=ckpt_path, model=ckpt.model_name, benchmark=ckpt.data["benchmark"], input_name=used,
        output_name=out_name, input=fields, prediction=prediction,
        truth=None if truth is None else _to_grid(truth, resolution, boundary),
        sample_ids=sample_ids, boundary=boundary, mode=mode, attrs={"source_attrs": attrs},
    )


def write_prediction(result: Prediction, path: str | Path, checkpoint_info: LoadedCheckpoint | None = None) -> None:
    """Write input, prediction (named like the training output) and truth as CF netCDF."""
    check_output_path(path)
    fields = {result.input_name: result.input, result.output_name: result.prediction}
    if result.truth is not None:
        fields[f"{result.output_name}_true"] = result.truth
    write_field_file(path, fields, result.sample_ids, attrs={
        "title": f"mambano prediction of {result.model}",
        "checkpoint": str(result.checkpoint),
        "model": result.model,
        "resolution": result.resolution,
        "boundary": result.boundary,
        "resolution_mode": result.mode,
        "units": "physical (normalisation undone)",
    })


def plot_prediction(result: Prediction, path: str | Path, sample: int = 0) -> None:
    """PNG of input and prediction, plus truth and error when the truth is known."""
    check_output_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(result.input[sample], f"input {result.input_name}"), (result.prediction[sample], f"prediction {result.output_name}")]
    if result.truth is not None:
        panels += [(result.truth[sample], "truth"), (np.abs(result.prediction[sample] - result.truth[sample]), "|error|")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (image, title) in zip(axes[0], panels):
        handle = ax.imshow(image, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
        ax.set_title(title)
        fig.colorbar(handle, ax=ax, fraction=0.046)
    fig.suptitle(f"{result.model}, {result.resolution}x{result.resolution}, sample {int(result.sample_ids[sample])}")
    fig.tight_layout()
    from mambano_core.io_utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
