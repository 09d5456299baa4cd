"""Shared fixtures: a tiny Poisson store and tiny run specs (seconds of CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

# Tiny tensors: one thread avoids OpenMP oversubscription (measured 10-50x slowdowns on a busy
# 2-core machine) and keeps CPU results independent of the thread count.
torch.set_num_threads(1)

TINY_COUNTS = {"train": 24, "val": 8, "test_id": 8, "test_ood": 8}
TINY_RESOLUTION = 16


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a tiny Poisson store at 16x16 (24/8/8/8 samples)."""
    from mambano_core.data.store import generate_store

    root = tmp_path_factory.mktemp("data")
    generate_store("poisson", root, TINY_RESOLUTION, TINY_COUNTS, base_seed=3)
    return root


def tiny_spec_dict(data_root: Path, runs_dir: Path, **training: Any) -> dict[str, Any]:
    """A run spec training a very small ResNet for a couple of epochs."""
    return {
        "data": {"benchmark": "poisson", "root": str(data_root), "resolution": TINY_RESOLUTION},
        "model": {"name": "resnet", "args": {"channels": 4, "blocks": 1}},
        "training": {"epochs": 2, "batch_size": 8, "seed": 7, "threads": 1, **training},
        "output": {"runs_dir": str(runs_dir)},
    }


@pytest.fixture
def tiny_spec_file(tmp_path: Path, tiny_store: Path) -> Path:
    """A YAML spec file for the tiny store, with runs under tmp_path/runs."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict(tiny_store, tmp_path / "runs")))
    return path


def invoke(*args: str, cwd: Path | None = None) -> Any:
    """Run the ``mambano`` CLI in this process (from ``cwd``); the click Result."""
    import os

    from typer.testing import CliRunner

    from mambano_cli.app import app

    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
