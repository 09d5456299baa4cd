"""`mambano train` runs on each numerical benchmark through its examples/ spec (tiny sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mambano_cli.app import app
from mambano_core.data.store import generate_store

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("benchmark", ["allen_cahn", "navier_stokes", "darcy"])
def test_train_runs_on_the_numerical_benchmarks(benchmark: str, tmp_path: Path) -> None:
    generate_store(benchmark, tmp_path / "data", 16, {"train": 4, "val": 2}, splits=("train", "val"))
    overrides = [
        f"data.root={tmp_path / 'data'}", "data.resolution=16", f"output.runs_dir={tmp_path / 'runs'}",
        "model.name=resnet", "model.args={channels: 4, blocks: 1}", "training.epochs=2",
        "training.batch_size=2", "training.threads=1",
    ]
    args = ["train", str(EXAMPLES / f"{benchmark}.yaml")] + [item for o in overrides for item in ("--set", o)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / f"{benchmark}-resnet" / "checkpoints" / "best.pt").is_file()
