"""Evaluation of trained runs: median per-sample relative L1 (%) on the ID and OOD test sets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mambano_core.data.dataset import FieldPairDataset
from mambano_core.data.grids import check_resolution
from mambano_core.data.store import Store
from mambano_core.inference.run import ResolutionMode, infer
from mambano_core.models.registry import count_parameters, model_configuration
from mambano_core.runtime import resolve_device
from mambano_core.scoring import SplitScore, sample_errors
from mambano_core.training.checkpoint import load_checkpoint
from mambano_core.training.run_dir import BEST, resolve_checkpoint, run_of


@dataclass
class RunEvaluation:
    """The evaluation of one run."""

    run: str
    run_dir: str
    model: str
    benchmark: str
    parameters: int
    resolution: int
    train_resolution: int
    mode: str
    scores: dict[str, SplitScore] = field(default_factory=dict)
    configuration: str | None = None  # the model's named variant (MambaNO's), if it has names

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)


def per_sample_errors(
    checkpoint: Any, dataset: FieldPairDataset, mode: ResolutionMode, device: torch.device, batch_size: int = 16
) -> torch.Tensor:
    """Per-sample relative L1 (%) of a loaded checkpoint's model on a dataset (normalised fields)."""
    errors = []
    for start in range(0, len(dataset), batch_size):
        pairs = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        x = torch.stack([p[0] for p in pairs]).to(device)
        y = torch.stack([p[1] for p in pairs]).to(device)
        pred = infer(checkpoint.model, x, mode, checkpoint.data["resolution"], checkpoint.data["boundary"], batch_size,
                     normalization=checkpoint.normalization)
        errors.append(sample_errors(pred, y, x, checkpoint.data["benchmark"]).cpu())
    return torch.cat(errors)


def evaluate_run(
    run: str | Path,
    ood: bool = False,
    resolution: int | None = None,
    mode: ResolutionMode = "native",
    device: str = "auto",
    data_root: str | Path | None = None,
) -> RunEvaluation:
    """Evaluate a run's best checkpoint on ``test_id`` (and ``test_ood`` if ``ood``).

    Parameters
    ----------
    run
        A run directory or a checkpoint file.
    resolution
        Test grid size (default: the training grid); the store must hold that resolution.
    mode
        ``native`` or ``resample`` inference at a resolution other than the training one.
    data_root
        Root of the data stores (default: the one recorded in the run spec).
    """
    path = resolve_checkpoint(run, BEST)
    torch_device = resolve_device(device)
    checkpoint = load_checkpoint(path, map_location=torch_device)
    data = checkpoint.data
    resolution = data["resolution"] if resolution is None else check_resolution(resolution)
    store = Store(data_root or checkpoint.spec["data"]["root"], data["benchmark"])
    run_dir = run_of(path).path
    result = RunEvaluation(
        run=run_dir.name,
        run_dir=str(run_dir),
        model=checkpoint.model_name,
        benchmark=data["benchmark"],
        parameters=count_parameters(checkpoint.model),
        resolution=resolution,
        train_resolution=data["resolution"],
        mode=mode,
        configuration=model_configuration(checkpoint.model_name, checkpoint.model_args),
    )
    for split in ("test_id", "test_ood") if ood else ("test_id",):
        dataset = FieldPairDataset(
            store.split_file(split, resolution), data["input_variable"], data["output_variable"],
            checkpoint.normalization, resolution=resolution,
        )
        errors = per_sample_errors(checkpoint, dataset, mode, torch_device)
        result.scores["in" if split == "test_id" else "out"] = SplitScore.from_errors(errors)
    return result
