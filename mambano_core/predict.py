"""Predictions in physical units on any grid, from a checkpoint and a netCDF input file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mambano_core.data.netcdf import read_field, read_sample_ids, write_field_file
from mambano_core.errors import DataError, MissingFileError
from mambano_core.inference import ResolutionMode, infer
from mambano_core.training.checkpoint import BEST, LoadedCheckpoint, load_checkpoint, resolve_checkpoint
from mambano_core.training.trainer import resolve_device


@dataclass
class Prediction:
    """Input, prediction (and truth, when the input file holds it) on the requested grid."""

    checkpoint: Path
    model: str
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

    def relative_l1_percent(self) -> np.ndarray | None:
        """Per-sample relative L1 (%) against the truth in physical units, if known."""
        if self.truth is None:
            return None
        err = np.abs(self.prediction - self.truth).mean(axis=(1, 2))
        return 100.0 * err / np.maximum(np.abs(self.truth).mean(axis=(1, 2)), 1e-12)


def latest_run(runs_dir: str | Path) -> Path:
    """The run under ``runs_dir`` whose best checkpoint was written last."""
    candidates = sorted(Path(runs_dir).glob(f"*/checkpoints/{BEST}"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise MissingFileError(f"no trained run under {runs_dir}; train one first or pass --checkpoint")
    return candidates[-1].parent.parent


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

    The input is read (any grid size), band-limited resampled to ``resolution`` (default:
    its own), normalised with the checkpoint's training statistics, run through the model
    (``mode``: native or resample) and the output is returned in physical units.
    """
    ckpt_path = resolve_checkpoint(checkpoint, BEST)
    torch_device = resolve_device(device)
    ckpt = load_checkpoint(ckpt_path, map_location=torch_device)
    in_name, out_name, boundary = ckpt.data["input_variable"], ckpt.data["output_variable"], ckpt.data["boundary"]
    values, used, attrs = read_field(input_path, variable or _default_variable(input_path, in_name))
    resolution = resolution or values.shape[-1]
    if resolution < 8:
        raise DataError(f"--resolution must be at least 8, got {resolution}")
    truth = _read_truth(input_path, out_name, values.shape)
    fields = _to_grid(values, resolution, boundary)
    x = ckpt.normalization.encode_input(torch.from_numpy(fields).float()[:, None]).to(torch_device)
    y = infer(ckpt.model, x, mode, ckpt.data["resolution"], boundary)
    prediction = ckpt.normalization.decode_output(y[:, 0].double().cpu()).numpy()
    return Prediction(
        checkpoint=ckpt_path, model=ckpt.model_name, input_name=used, output_name=out_name,
        input=fields, prediction=prediction,
        truth=None if truth is None else _to_grid(truth, resolution, boundary),
        sample_ids=read_sample_ids(input_path, len(values)), boundary=boundary, mode=mode,
        attrs={"source_attrs": attrs},
    )


def _default_variable(path: str | Path, input_name: str) -> str | None:
    """The checkpoint's input variable if the file has it, else let read_field pick the only field."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return input_name if input_name in handle else None
    except OSError:
        return None  # read_field reports the problem with the file


def _read_truth(path: str | Path, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    import h5py

    with h5py.File(path, "r") as handle:
        if name not in handle:
            return None
    truth, _, _ = read_field(path, name)
    return truth if truth.shape == shape else None


def write_prediction(result: Prediction, path: str | Path, checkpoint_info: LoadedCheckpoint | None = None) -> None:
    """Write input, prediction (named like the training output) and truth as CF netCDF."""
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
