"""The airfoil protocol reaches training and evaluation: points inside the body never count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from typer.testing import CliRunner

from mambano_cli.app import app
from mambano_core.data.benchmarks import get_benchmark_class
from mambano_core.data.benchmarks.airfoil import Airfoil, apply_airfoil_mask
from mambano_core.data.dataset import FieldPairDataset
from mambano_core.data.netcdf import read_attrs, read_field
from mambano_core.data.resample_file import resample_file
from mambano_core.data.store import Store, generate_store
from mambano_core.evaluation.evaluate import evaluate_run
from mambano_core.scoring import relative_l1_percent
from mambano_core.training.checkpoint import load_checkpoint
from mambano_core.training.spec import spec_from_dict
from mambano_core.training.trainer import Trainer

# A very cheap solver (0.2 s a sample): the store's structure, not the flow's accuracy.
TOY = {"solver_spacing": 1 / 16, "far_field": 4.0, "stretching": 1.3, "levels": 2, "tol": 1e-3, "max_cycles": 100}


def test_errors_ignore_the_points_inside_the_airfoil() -> None:
    inputs = torch.zeros(1, 1, 8, 8)
    inputs[..., 2:4, 2:6] = 1.0
    target = torch.rand(1, 1, 8, 8) + 0.5
    prediction = target.clone()
    prediction[..., 2:4, 2:6] = 100.0  # wrong only inside the body
    mask = get_benchmark_class("airfoil").mask_for_error
    assert float(relative_l1_percent(*mask(prediction, target, inputs))) == 0.0
    assert float(relative_l1_percent(prediction, target)) > 10.0
    assert get_benchmark_class("poisson").mask_for_error(prediction, target, inputs)[0] is prediction


@pytest.fixture(scope="module")
def airfoil_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy airfoil store: 4/2/2/2 samples at 32, and test_id at 64 too."""
    root = tmp_path_factory.mktemp("airfoil")
    generate_store("airfoil", root, 32, {"train": 4, "val": 2, "test_id": 2, "test_ood": 2}, overrides=TOY)
    generate_store("airfoil", root, 64, {"test_id": 2}, splits=["test_id"], overrides=TOY)
    return root


def test_store_is_open_and_resamples_without_a_series(airfoil_store: Path, tmp_path: Path) -> None:
    store = Store(airfoil_store, "airfoil")
    assert store.manifest()["boundary"] == "open" and store.manifest()["normalize"] is False
    coarse, fine = store.split_file("test_id", 32), store.split_file("test_id", 64)
    assert read_attrs(coarse)["boundary"] == "open"
    mask, _, _ = read_field(coarse, "mask")
    assert set(np.unique(mask)) == {0.0, 1.0} and mask.sum() > 0
    info = resample_file(fine, tmp_path / "down.nc", 32)  # the file's own boundary attribute decides
    assert info["boundary"] == "open" and read_attrs(tmp_path / "down.nc")["resampling"] == "linear interpolation"
    for name in ("mask", "rho"):  # every other point of the 64 grid: the 32 file, bit for bit
        np.testing.assert_array_equal(read_field(tmp_path / "down.nc", name)[0], read_field(coarse, name)[0])


def test_training_and_evaluation_mask_the_airfoil(airfoil_store: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []

    def spy(prediction: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(prediction.requires_grad)
        return apply_airfoil_mask(prediction, target, inputs)

    monkeypatch.setattr(Airfoil, "mask_for_error", staticmethod(spy))
    spec = spec_from_dict({
        "data": {"benchmark": "airfoil", "root": str(airfoil_store), "resolution": 32},
        "model": {"name": "resnet", "args": {"channels": 4, "blocks": 1}},
        "training": {"epochs": 1, "batch_size": 2, "seed": 0, "threads": 1},
        "output": {"runs_dir": str(tmp_path / "runs")},
    })
    Trainer(spec).fit()
    assert calls.count(True) == 2 and calls.count(False) == 1  # two training steps (the loss), one validation
    record = json.loads((spec.run_dir / "metrics.jsonl").read_text().splitlines()[-1])

    checkpoint = load_checkpoint(spec.run_dir / "checkpoints" / "best.pt")
    store = Store(airfoil_store, "airfoil")

    def errors(split: str, resolution: int, masked: bool) -> torch.Tensor:
        data = FieldPairDataset(store.split_file(split, resolution), "mask", "rho", checkpoint.normalization)
        x, y = torch.stack([p[0] for p in data]), torch.stack([p[1] for p in data])
        with torch.no_grad():
            pred = checkpoint.model.eval()(x)
        return relative_l1_percent(*apply_airfoil_mask(pred, y, x)) if masked else relative_l1_percent(pred, y)

    masked, plain = errors("val", 32, True), errors("val", 32, False)
    assert not torch.allclose(masked, plain)  # the model's output inside the body is not 1
    assert record["val_rel_l1_mean"] == pytest.approx(float(masked.mean()), rel=1e-5)

    calls.clear()
    result = evaluate_run(spec.run_dir, device="cpu")
    assert calls == [False]
    assert result.scores["in"].mean == pytest.approx(float(errors("test_id", 32, True).mean()), rel=1e-5)
    # another resolution through the open (linear) resampling of input and output
    at_64 = evaluate_run(spec.run_dir, resolution=64, mode="resample", device="cpu")
    assert at_64.resolution == 64 and np.isfinite(at_64.scores["in"].median)


def test_generate_command_takes_generator_parameters(tmp_path: Path) -> None:
    sets = [arg for key, value in TOY.items() for arg in ("--set", f"{key}={value}")]
    args = ["generate", "airfoil", "--resolution", "16", "--n-train", "1", "--n-val", "1", "--n-test-id", "1",
            "--n-test-ood", "1", "--workers", "1", "--out", str(tmp_path), "--set", "mach=0.7", *sets, "--json"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = Store(tmp_path, "airfoil").manifest()
    assert manifest["config"]["mach"] == 0.7 and manifest["config"]["solver_spacing"] == 1 / 16
    assert manifest["boundary"] == "open" and len(manifest["files"]) == 4
    result = CliRunner().invoke(app, ["generate", "airfoil", "--out", str(tmp_path), "--set", "mach_number=0.7"],
                                catch_exceptions=False)
    assert result.exit_code == 3 and "mach_number" in result.output
